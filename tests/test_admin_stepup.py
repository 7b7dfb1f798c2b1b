"""A stolen admin token alone cannot demote or remove another admin: both need the code
emailed to the acting admin, bound to that action and that admin. Leaving, or demoting
oneself, needs none."""

from __future__ import annotations

import pytest
from teams_util import error, ids, invite, roles, snapshot


@pytest.fixture
async def admins(api):
    """Ann and Bob, both admins of Ann's workspace."""
    ann = await api.sign_in("ann@acme.com")
    workspace, _ = await ids(api, ann)
    await invite(api, ann, workspace, "bob@acme.com")
    bob = await api.sign_in("bob@acme.com")
    bob_id = (await ids(api, bob))[1]
    path = f"/workspaces/{workspace}/members/{bob_id}/role"
    r = await api.json("POST", path, ann, json={"role": "admin"})
    assert error(r)["code"] == "escalation_required"
    code = api.inbox.code_for("ann@acme.com")
    r = await api.json("POST", path + f"?code={code}", ann, json={"role": "admin"})
    assert r.status_code == 200, r.text
    return {"workspace": workspace, "ann": ann, "bob": bob, "bob_id": bob_id}


async def test_demoting_another_admin_needs_the_emailed_code(api, admins):
    workspace, ann = admins["workspace"], admins["ann"]
    path = f"/workspaces/{workspace}/members/{admins['bob_id']}/role"
    before = await snapshot(api)
    r = await api.json("POST", path, ann, json={"role": "member"})
    assert r.status_code == 403 and error(r)["code"] == "escalation_required"
    assert (await roles(api, workspace))["bob@acme.com"] == "admin"
    assert "demote bob@acme.com" in api.inbox.last_body("ann@acme.com")
    code = api.inbox.code_for("ann@acme.com")
    r = await api.json("POST", path + "?code=000000", ann, json={"role": "member"})
    assert r.status_code == 403 and error(r)["code"] == "invalid_code"
    r = await api.json("POST", path + f"?code={code}", ann, json={"role": "member"})
    assert r.status_code == 200, r.text
    assert (await roles(api, workspace))["bob@acme.com"] == "member"
    assert (await snapshot(api))["memberships"] == before["memberships"]


async def test_removing_another_admin_needs_the_emailed_code(api, admins):
    workspace, ann = admins["workspace"], admins["ann"]
    path = f"/workspaces/{workspace}/members/{admins['bob_id']}"
    r = await api.json("DELETE", path, ann)
    assert r.status_code == 403 and error(r)["code"] == "escalation_required"
    assert "remove the admin bob@acme.com" in api.inbox.last_body("ann@acme.com")
    assert "bob@acme.com" in await roles(api, workspace)
    assert (await api.get("/whoami", admins["bob"])).status_code == 200
    code = api.inbox.code_for("ann@acme.com")
    r = await api.json("DELETE", path + f"?code={code}", ann)
    assert r.status_code == 200, r.text
    assert "bob@acme.com" not in await roles(api, workspace)
    assert (await api.get("/whoami", admins["bob"])).status_code == 401


async def test_a_demote_code_does_not_remove(api, admins):
    workspace, ann = admins["workspace"], admins["ann"]
    role = f"/workspaces/{workspace}/members/{admins['bob_id']}/role"
    await api.json("POST", role, ann, json={"role": "member"})
    code = api.inbox.code_for("ann@acme.com")
    r = await api.json(
        "DELETE", f"/workspaces/{workspace}/members/{admins['bob_id']}?code={code}", ann
    )
    assert r.status_code == 403 and error(r)["code"] == "invalid_code"
    assert "bob@acme.com" in await roles(api, workspace)


async def test_leaving_and_demoting_oneself_need_no_code(api, admins):
    workspace, bob = admins["workspace"], admins["bob"]
    mails = len(api.inbox.messages)
    r = await api.json(
        "POST",
        f"/workspaces/{workspace}/members/{admins['bob_id']}/role",
        bob,
        json={"role": "member"},
    )
    assert r.status_code == 200, r.text
    r = await api.json("DELETE", f"/workspaces/{workspace}/members/{admins['bob_id']}", bob)
    assert r.status_code == 200, r.text
    assert len(api.inbox.messages) == mails  # nothing was mailed
