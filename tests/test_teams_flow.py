"""The whole team story over a real socket (uvicorn) and a real SMTP server."""

from __future__ import annotations

from teams_util import create_workspace, error, ids, invite, mint, roles, stepped_up


async def test_team_flow_over_a_real_socket(live):
    api, _server = live
    admin = await api.sign_in("ann@acme.com")
    workspace, _ = await ids(api, admin)

    # Ann invites Bob: he is emailed sign-in instructions naming this server.
    r = await invite(api, admin, workspace, "bob@acme.com")
    assert r.status_code == 201, r.text
    assert r.json()["data"]["handle"].startswith("invite/i_")
    assert r.json()["data"]["mailed"] is True
    mail = api.inbox.last_body("bob@acme.com")
    assert api.rt.settings.public_url in mail
    assert "POST http://testserver/auth/request" in mail

    # Bob signs in and is a member, with no further step and no personal workspace.
    r = await api.post("/auth/request", json={"email": "bob@acme.com"})
    code = api.inbox.code_for("bob@acme.com")
    r = await api.post("/auth/verify", json={"email": "bob@acme.com", "code": code})
    assert r.status_code == 201, r.text
    assert f"# joined workspace/{workspace}" in r.text
    bob = r.text.split("token=")[1].split()[0]
    bob_workspace, bob_id = await ids(api, bob)
    assert bob_workspace == workspace
    assert await roles(api, workspace) == {"ann@acme.com": "admin", "bob@acme.com": "member"}
    row = await api.rt.db.one("SELECT COUNT(*) FROM memberships WHERE user_id = ?", (bob_id,))
    assert row[0] == 1

    # Bob lists the members.
    r = await api.get(f"/workspaces/{workspace}/members", bob)
    assert r.status_code == 200, r.text
    lines = [x for x in r.text.splitlines() if not x.startswith("#")]
    assert len(lines) == 2
    assert any(x.startswith(f"user/{bob_id} email=bob@acme.com role=member") for x in lines)

    # Bob cannot invite.
    r = await invite(api, bob, workspace, "cat@acme.com")
    assert r.status_code == 403
    assert error(r)["code"] == "admin_required"
    assert (await api.rt.db.one("SELECT COUNT(*) FROM invites"))[0] == 0

    # Ann promotes Bob, confirming with the code emailed to her.
    r = await stepped_up(
        api,
        "POST",
        f"/workspaces/{workspace}/members/{bob_id}/role",
        admin,
        "ann@acme.com",
        json={"role": "admin"},
    )
    assert r.status_code == 200, r.text
    assert r.json()["data"]["role"] == "admin"

    # Now Bob can invite.
    r = await invite(api, bob, workspace, "cat@acme.com")
    assert r.status_code == 201, r.text

    # Bob has a workspace of his own too, with its own token.
    own = await create_workspace(api, bob, "Bob's side project")
    bob_own = await mint(api, bob, own)

    # Removing Bob (an admin now: that needs the emailed code) kills his token for this
    # workspace only.
    path = f"/workspaces/{workspace}/members/{bob_id}"
    r = await api.delete(path, admin)
    assert r.status_code == 403 and "escalation_required" in r.text, r.text
    r = await api.delete(path + f"?code={api.inbox.code_for('ann@acme.com')}", admin)
    assert r.status_code == 200, r.text
    assert "tokens revoked: 1" in r.text
    r = await api.get("/whoami", bob)
    assert r.status_code == 401
    assert "error: invalid_token" in r.text
    r = await api.get("/whoami", bob_own)
    assert r.status_code == 200
    assert f"workspace/{own}" in r.text
    assert (await api.get("/whoami", admin)).status_code == 200
