"""Members and invites: listing, inviting, re-inviting, withdrawing, roles, leaving."""

from __future__ import annotations

from teams_util import (
    audit_actions,
    create_workspace,
    error,
    ids,
    invite,
    roles,
    snapshot,
    stepped_up,
)


async def test_members_list_shows_members_and_pending_invites(api):
    ann = await api.sign_in("ann@acme.com")
    workspace, ann_id = await ids(api, ann)
    r = await invite(api, ann, workspace, "Bob@Acme.com ")
    assert r.status_code == 201
    invite_id = r.json()["data"]["handle"].split("/")[1]

    r = await api.get(f"/workspaces/{workspace}/members", ann)
    assert r.status_code == 200
    lines = r.text.splitlines()
    assert "# members: 1, pending invites: 1" in lines
    assert "# total: 2" in lines
    assert any(
        x.startswith(f"user/{ann_id} email=ann@acme.com role=admin joined_at=") for x in lines
    )
    assert any(
        x.startswith(f"invite/{invite_id} email=bob@acme.com role=member invited_by=ann@acme.com")
        and "invited_at=" in x
        for x in lines
    )
    j = (await api.json("GET", f"/workspace/{workspace}/members", ann)).status_code
    assert j == 404  # wrong prefix: no such route
    j = await api.json("GET", f"/workspaces/workspace/{workspace}/members", ann)
    assert [row["handle"] for row in j.json()["data"]] == [f"user/{ann_id}", f"invite/{invite_id}"]
    assert j.json()["data"][1]["invited_by"] == "ann@acme.com"


async def test_reinvite_updates_the_role_and_inviting_a_member_is_409(api, clock):
    ann = await api.sign_in("ann@acme.com")
    workspace, _ = await ids(api, ann)
    r = await invite(api, ann, workspace, "bob@acme.com")
    assert r.status_code == 201 and r.json()["data"]["role"] == "member"
    first_id = r.json()["data"]["handle"]

    # Re-inviting as admin needs step-up (it grants admin), then updates the same invite.
    r = await stepped_up(
        api,
        "POST",
        f"/workspaces/{workspace}/invites",
        ann,
        "ann@acme.com",
        json={"email": "bob@acme.com", "role": "admin"},
    )
    assert r.status_code == 200, r.text
    assert r.json()["data"]["handle"] == first_id and r.json()["data"]["role"] == "admin"
    assert (await api.rt.db.one("SELECT COUNT(*), MAX(role) FROM invites")) == (1, "admin")
    r = await api.post(
        f"/workspaces/{workspace}/invites", ann, json={"email": "bob@acme.com", "role": "member"}
    )
    assert r.status_code == 200 and r.text.startswith("# updated\n")
    clock.advance(3600)  # past the hourly cap of 3 invitation mails to one address
    r = await stepped_up(
        api,
        "POST",
        f"/workspaces/{workspace}/invites",
        ann,
        "ann@acme.com",
        json={"email": "bob@acme.com", "role": "admin"},
    )
    assert r.status_code == 200

    bob = await api.sign_in("bob@acme.com")
    assert (await ids(api, bob))[0] == workspace
    assert await roles(api, workspace) == {"ann@acme.com": "admin", "bob@acme.com": "admin"}
    assert (await api.rt.db.one("SELECT COUNT(*) FROM invites"))[0] == 0

    before = await snapshot(api)
    r = await invite(api, ann, workspace, "bob@acme.com")
    assert r.status_code == 409
    assert error(r)["code"] == "already_member"
    assert "/role" in error(r)["hint"]
    assert await snapshot(api) == before
    actions = await audit_actions(api, workspace)
    assert actions.count("invite.update") == 3
    assert "invite.create" in actions and "member.join" in actions


async def test_withdrawn_invite_does_not_join(api):
    ann = await api.sign_in("ann@acme.com")
    workspace, _ = await ids(api, ann)
    r = await invite(api, ann, workspace, "bob@acme.com")
    handle = r.json()["data"]["handle"]
    r = await api.delete(f"/workspaces/{workspace}/invites/{handle}", ann)
    assert r.status_code == 200, r.text
    assert f"# withdrawn {handle} (bob@acme.com)" in r.text
    r = await api.json("DELETE", f"/workspaces/{workspace}/invites/{handle}", ann)
    assert r.status_code == 404 and error(r)["code"] == "not_found"
    bob = await api.sign_in("bob@acme.com")
    assert (await ids(api, bob))[0] != workspace
    assert await roles(api, workspace) == {"ann@acme.com": "admin"}
    assert "invite.withdraw" in await audit_actions(api, workspace)


async def test_an_existing_user_joins_on_next_sign_in_and_keeps_their_workspace(api):
    bob = await api.sign_in("bob@acme.com")
    bob_home, _ = await ids(api, bob)
    ann = await api.sign_in("ann@acme.com")
    workspace, _ = await ids(api, ann)
    assert (await invite(api, ann, workspace, "bob@acme.com")).status_code == 201
    bob2 = await api.sign_in("bob@acme.com")
    assert (await ids(api, bob2))[0] == bob_home  # joins, but lands where he worked
    rows = (await api.json("GET", "/workspaces", bob2)).json()["data"]
    assert {row["handle"] for row in rows} == {f"workspace/{bob_home}", f"workspace/{workspace}"}
    assert (await ids(api, bob))[0] == bob_home  # his old token is untouched


async def test_last_admin_can_be_neither_demoted_nor_removed(api):
    ann = await api.sign_in("ann@acme.com")
    workspace, ann_id = await ids(api, ann)
    await invite(api, ann, workspace, "bob@acme.com")
    bob = await api.sign_in("bob@acme.com")
    _, bob_id = await ids(api, bob)
    before = await snapshot(api)

    r = await api.json(
        "POST", f"/workspaces/{workspace}/members/{ann_id}/role", ann, json={"role": "member"}
    )
    assert r.status_code == 409 and error(r)["code"] == "last_admin"
    assert "promote another member" in error(r)["hint"]
    r = await api.json("DELETE", f"/workspaces/{workspace}/members/user/{ann_id}", ann)
    assert r.status_code == 409 and error(r)["code"] == "last_admin"
    assert "delete the workspace" in error(r)["hint"]
    assert await snapshot(api) == before

    # Once Bob is an admin too, Ann may step down and then leave.
    r = await stepped_up(
        api,
        "POST",
        f"/workspaces/{workspace}/members/{bob_id}/role",
        ann,
        "ann@acme.com",
        json={"role": "admin"},
    )
    assert r.status_code == 200
    r = await api.post(
        f"/workspaces/{workspace}/members/{ann_id}/role", ann, json={"role": "member"}
    )
    assert r.status_code == 200, r.text
    assert "# updated: role admin -> member" in r.text
    # Ann's token now carries the member role: admin routes refuse it at once.
    assert (await invite(api, ann, workspace, "cat@acme.com")).status_code == 403
    # Bob, now the last admin, cannot demote himself.
    r = await api.json(
        "POST", f"/workspaces/{workspace}/members/{bob_id}/role", bob, json={"role": "member"}
    )
    assert r.status_code == 409
    # Same role again is a no-op, not an error.
    r = await api.post(
        f"/workspaces/{workspace}/members/{bob_id}/role", bob, json={"role": "admin"}
    )
    assert r.status_code == 200 and "# unchanged: already admin" in r.text
    assert "member.role" in await audit_actions(api, workspace)


async def test_leaving(api):
    ann = await api.sign_in("ann@acme.com")
    workspace, ann_id = await ids(api, ann)
    await invite(api, ann, workspace, "bob@acme.com")
    bob = await api.sign_in("bob@acme.com")
    _, bob_id = await ids(api, bob)
    own = await create_workspace(api, bob, "Bob's")

    # A member cannot remove someone else...
    r = await api.json("DELETE", f"/workspaces/{workspace}/members/{ann_id}", bob)
    assert r.status_code == 403 and error(r)["code"] == "admin_required"
    # ...but can leave.
    r = await api.delete(f"/workspaces/{workspace}/members/{bob_id}", bob)
    assert r.status_code == 200, r.text
    assert f"# left workspace/{workspace}; tokens revoked: 1" in r.text
    assert (await api.get("/whoami", bob)).status_code == 401
    assert await roles(api, workspace) == {"ann@acme.com": "admin"}
    assert "member.leave" in await audit_actions(api, workspace)
    # His next sign-in lands in what he still has.
    bob2 = await api.sign_in("bob@acme.com")
    assert (await ids(api, bob2))[0] == own


async def test_a_removed_member_invited_back_does_not_revive_old_tokens(api):
    ann = await api.sign_in("ann@acme.com")
    workspace, _ = await ids(api, ann)
    await invite(api, ann, workspace, "bob@acme.com")
    bob = await api.sign_in("bob@acme.com")
    _, bob_id = await ids(api, bob)
    r = await api.delete(f"/workspaces/{workspace}/members/{bob_id}", ann)
    assert r.status_code == 200
    assert "member.remove" in await audit_actions(api, workspace)
    await invite(api, ann, workspace, "bob@acme.com")
    bob2 = await api.sign_in("bob@acme.com")
    assert (await ids(api, bob2))[0] == workspace
    assert (await api.get("/whoami", bob)).status_code == 401


async def test_invite_mail_failure_keeps_the_invite(api):
    ann = await api.sign_in("ann@acme.com")
    workspace, _ = await ids(api, ann)
    api.inbox.refuse = True
    r = await api.post(f"/workspaces/{workspace}/invites", ann, json={"email": "bob@acme.com"})
    assert r.status_code == 201, r.text
    assert "mailed=false" in r.text
    assert "could not be sent" in r.text
    api.inbox.refuse = False
    bob = await api.sign_in("bob@acme.com")
    assert (await ids(api, bob))[0] == workspace


async def test_invites_are_rate_limited(api):
    ann = await api.sign_in("ann@acme.com")
    workspace, _ = await ids(api, ann)
    for _ in range(3):
        r = await invite(api, ann, workspace, "bob@acme.com")
        assert r.status_code in (200, 201), r.text
    before = len(api.inbox.to("bob@acme.com"))
    r = await invite(api, ann, workspace, "bob@acme.com")
    assert r.status_code == 429
    assert error(r)["code"] == "rate_limited"
    assert int(r.headers["Retry-After"]) > 0
    assert len(api.inbox.to("bob@acme.com")) == before


async def test_an_invite_never_moves_an_existing_users_sign_in(api):
    """An invitation nobody asked for must not redirect a user's next token (and the writes of
    their agent) into the inviter's workspace: they join it, but land where they worked."""
    victim = await api.sign_in("vic@corp.com")
    home = (await api.json("GET", "/whoami", victim)).json()["data"]["workspace"]["handle"]
    attacker = await api.sign_in("mallory@evil.com")
    trap = await create_workspace(api, attacker, "vic's workspace")
    assert (await invite(api, attacker, trap, "vic@corp.com")).status_code == 201

    r = await api.post("/auth/request", json={"email": "vic@corp.com"})
    code = api.inbox.code_for("vic@corp.com")
    r = await api.post("/auth/verify", json={"email": "vic@corp.com", "code": code})
    assert r.status_code == 201, r.text
    assert f"# joined workspace/{trap}" in r.text
    assert f"to work there: POST /workspaces/{trap}/tokens" in r.text
    assert f"workspace={home}" in r.text  # the new token still acts at home
    members = await api.get(f"/workspaces/{trap}/members", attacker)
    assert "email=vic@corp.com role=member" in members.text  # joined, as the issue asks
