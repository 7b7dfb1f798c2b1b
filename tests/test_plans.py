"""Plans and caps: members (pending invites count), owned workspaces, whoami usage, the CLI."""

from __future__ import annotations

import asyncio

import pytest
from conftest import TEST_SECRET
from teams_util import audit_actions, create_workspace, error, ids, invite, snapshot

from crmkit import cli
from crmkit.accounts import plans
from crmkit.config import ConfigError, Settings


@pytest.fixture
def env():
    return {"CRMKIT_PLANS": '{"free": {"members": 3, "workspaces": 2}, "team": {"contacts": -1}}'}


async def test_members_cap_counts_pending_invites(api):
    ann = await api.sign_in("ann@acme.com")
    workspace, _ = await ids(api, ann)
    assert (await invite(api, ann, workspace, "bob@acme.com")).status_code == 201
    bob = await api.sign_in("bob@acme.com")  # joined: 2 members
    r = await invite(api, ann, workspace, "cat@acme.com")  # pending: 2 + 1 = 3
    cat_invite = r.json()["data"]["handle"]
    before = await snapshot(api)

    r = await api.post(f"/workspaces/{workspace}/invites", ann, json={"email": "dan@acme.com"})
    assert r.status_code == 403
    assert r.text.startswith("error: plan_limit_reached: the free plan allows 3 members")
    assert "cap: members\nused: 3\nlimit: 3\nplan: free\n" in r.text
    assert "withdraw a pending invite" in r.text and "crmkit plan" in r.text
    assert await snapshot(api) == before
    # As admin (which needs an emailed code): the cap is said before a code is mailed.
    mails = len(api.inbox.messages)
    r = await api.post(
        f"/workspaces/{workspace}/invites", ann, json={"email": "dan@acme.com", "role": "admin"}
    )
    assert r.status_code == 403 and r.text.startswith("error: plan_limit_reached: "), r.text
    assert len(api.inbox.messages) == mails and await snapshot(api) == before
    # Re-inviting someone already invited is not a new seat.
    r = await api.post(f"/workspaces/{workspace}/invites", ann, json={"email": "cat@acme.com"})
    assert r.status_code == 200

    # whoami shows the seats in use.
    r = await api.get("/whoami", bob)
    assert "usage/members used=3 limit=3 pending_invites=1" in r.text

    # Withdrawing frees a seat.
    assert (
        await api.delete(f"/workspaces/{workspace}/invites/{cat_invite}", ann)
    ).status_code == 200
    r = await api.post(f"/workspaces/{workspace}/invites", ann, json={"email": "dan@acme.com"})
    assert r.status_code == 201, r.text


async def test_workspaces_owned_cap_and_the_plan_command(api, db_path, monkeypatch):
    ann = await api.sign_in("ann@acme.com")
    home, _ = await ids(api, ann)
    await create_workspace(api, ann, "Second")
    before = await snapshot(api)
    r = await api.json("POST", "/workspaces", ann, json={"name": "Third"})
    assert r.status_code == 403
    body = error(r)
    assert body["code"] == "plan_limit_reached"
    assert (body["cap"], body["used"], body["limit"], body["plan"]) == (
        "workspaces",
        "2",
        "2",
        "free",
    )
    assert "you own 2" in body["message"]
    assert await snapshot(api) == before

    # A workspace someone else created does not count toward Ann's allowance.
    bob = await api.sign_in("bob@acme.com")
    bob_home, _ = await ids(api, bob)
    await invite(api, bob, bob_home, "ann@acme.com")
    await api.sign_in("ann@acme.com")
    r = await api.get("/whoami", ann)
    assert "usage/workspaces used=2 limit=2" in r.text

    # The operator moves Ann's workspace to the team plan: its caps apply at once.
    monkeypatch.setenv("CRMKIT_SECRET_KEY", TEST_SECRET)  # as the app has it (PostgreSQL)
    code = await asyncio.to_thread(cli.main, ["plan", f"workspace/{home}", "team", "--db", db_path])
    assert code == 0
    row = await api.rt.db.one("SELECT plan FROM workspaces WHERE id = ?", (home,))
    assert row[0] == "team"
    assert "workspace.plan" in await audit_actions(api, home)
    r = await api.get("/whoami", ann)
    assert "plan=team" in r.text
    assert "usage/contacts used=0 limit=-1" in r.text
    assert "usage/workspaces used=2 limit=10" in r.text
    r = await api.post("/workspaces", ann, json={"name": "Third"})
    assert r.status_code == 201, r.text


async def test_plan_command_refuses_unknown_plans_and_workspaces(api, db_path, capsys, monkeypatch):
    monkeypatch.setenv("CRMKIT_SECRET_KEY", TEST_SECRET)  # as the app has it (PostgreSQL)
    ann = await api.sign_in("ann@acme.com")
    home, _ = await ids(api, ann)
    assert await asyncio.to_thread(cli.main, ["plan", home, "gold", "--db", db_path]) == 2
    assert "allowed: free, team, unlimited" in capsys.readouterr().err
    assert (
        await asyncio.to_thread(cli.main, ["plan", "w_aaaaaaaaaaaa", "team", "--db", db_path]) == 2
    )
    assert "no workspace w_aaaaaaaaaaaa" in capsys.readouterr().err
    row = await api.rt.db.one("SELECT plan FROM workspaces WHERE id = ?", (home,))
    assert row[0] == "free"


async def test_whoami_lists_usage_in_text_and_json(api):
    ann = await api.sign_in("ann@acme.com")
    workspace, _ = await ids(api, ann)
    await invite(api, ann, workspace, "bob@acme.com")
    r = await api.get("/whoami", ann)
    assert r.status_code == 200
    lines = r.text.splitlines()
    for expected in (
        "usage/contacts used=0 limit=1000",
        "usage/companies used=0 limit=1000",
        "usage/deals used=0 limit=1000",
        "usage/members used=2 limit=3 pending_invites=1",
        "usage/workspaces used=1 limit=2",
    ):
        assert expected in lines
    # Every line is a record or a `# ` meta line.
    assert all(x.startswith("# ") or "/" in x.split()[0] for x in lines)
    j = (await api.json("GET", "/whoami", ann)).json()["data"]
    usage = {u["handle"]: u for u in j["usage"]}
    assert usage["usage/members"] == {
        "handle": "usage/members",
        "used": 2,
        "limit": 3,
        "pending_invites": 1,
    }
    assert usage["usage/contacts"] == {
        "handle": "usage/contacts",
        "used": 0,
        "limit": 1000,
        "pending_invites": None,
    }


def test_caps_merge_overrides_with_the_built_in_plans():
    settings = Settings.from_env({"CRMKIT_PLANS": '{"free": {"contacts": 3}}'})
    assert plans.caps(settings, "free") == {**plans.BUILTIN["free"], "contacts": 3}
    assert plans.caps(settings, "unlimited")["members"] == -1
    with pytest.raises(ConfigError, match="unknown cap free.seats"):
        Settings.from_env({"CRMKIT_PLANS": '{"free": {"seats": 3}}'})


async def test_check_cap_refuses_unknown_resources(api):
    ann = await api.sign_in("ann@acme.com")
    workspace, _ = await ids(api, ann)
    async with api.rt.db.write() as tx:
        with pytest.raises(ValueError):
            await plans.check_cap(api.rt, tx, workspace, "widgets")
