"""Workspaces: list, create, rename, switching tokens, deleting with all data."""

from __future__ import annotations

from teams_util import (
    audit_actions,
    create_workspace,
    error,
    ids,
    invite,
    mint,
    snapshot,
    stepped_up,
    workspace_rows,
    workspace_tables,
)


async def test_list_create_and_current_marker(api):
    token = await api.sign_in("ann@acme.com")
    first, _ = await ids(api, token)
    r = await api.post("/workspaces", token, json={"name": "Acme sales"})
    assert r.status_code == 201, r.text
    assert r.text.startswith("# created\n")
    second = r.text.split("workspace/")[2].split()[0]
    assert f"POST /workspaces/{second}/tokens" in r.text

    r = await api.get("/workspaces", token)
    assert r.status_code == 200
    records = [x for x in r.text.splitlines() if not x.startswith("# ")]
    assert len(records) == 2
    assert any(
        x.startswith(f"workspace/{first} ") and "role=admin" in x and "current=true" in x
        for x in records
    )
    assert any(
        x.startswith(f'workspace/{second} name="Acme sales" role=admin plan=free')
        and "current=false" in x
        for x in records
    )
    assert "# total: 2" in r.text

    # JSON carries the same rows.
    j = await api.json("GET", "/workspaces", token)
    data = {row["handle"]: row for row in j.json()["data"]}
    assert set(data) == {f"workspace/{first}", f"workspace/{second}"}
    assert data[f"workspace/{first}"]["current"] is True
    assert data[f"workspace/{second}"]["members"] == 1
    assert j.json()["total"] == 2
    assert "workspace.create" in await audit_actions(api, second)


async def test_rename_is_for_admins(api):
    ann = await api.sign_in("ann@acme.com")
    workspace, _ = await ids(api, ann)
    await invite(api, ann, workspace, "bob@acme.com")
    bob = await api.sign_in("bob@acme.com")

    r = await api.patch(f"/workspaces/{workspace}", bob, json={"name": "Bob's now"})
    assert r.status_code == 403
    assert "error: admin_required" in r.text

    r = await api.patch(f"/workspace/{workspace}", ann, json={"name": "x"})
    assert r.status_code == 404  # no such route
    r = await api.patch(f"/workspaces/workspace/{workspace}", ann, json={"name": "Acme"})
    assert r.status_code == 200, r.text
    assert r.text.startswith("# updated\n")
    assert "name=Acme" in r.text
    row = await api.rt.db.one("SELECT name FROM workspaces WHERE id = ?", (workspace,))
    assert row[0] == "Acme"
    assert "workspace.rename" in await audit_actions(api, workspace)

    r = await api.json("PATCH", f"/workspaces/{workspace}", ann, json={"name": "  "})
    assert r.status_code == 400
    r = await api.json(
        "PATCH", f"/workspaces/{workspace}", ann, json={"name": "A", "plan": "unlimited"}
    )
    assert r.status_code == 400
    assert error(r)["code"] == "unknown_field"
    assert error(r)["allowed"] == "name"


async def test_a_token_minted_for_workspace_two_sees_only_workspace_two(api):
    ann = await api.sign_in("ann@acme.com")
    first, _ = await ids(api, ann)
    second = await create_workspace(api, ann, "Second")

    r = await api.json("POST", f"/workspaces/{second}/tokens", ann, json={"name": "sync"})
    assert r.status_code == 201, r.text
    data = r.json()["data"]
    assert data["workspace"] == f"workspace/{second}"
    assert data["name"] == "sync"
    two = data["token"]
    assert two.startswith("ck_")

    who = (await api.json("GET", "/whoami", two)).json()["data"]
    assert who["workspace"]["handle"] == f"workspace/{second}"
    assert who["workspace"]["name"] == "Second"
    rows = (await api.json("GET", "/workspaces", two)).json()["data"]
    current = [row["handle"] for row in rows if row["current"]]
    assert current == [f"workspace/{second}"]
    # The first token still acts in the first workspace.
    assert (await ids(api, ann))[0] == first
    # The new token is audited in workspace two and listed among the user's tokens.
    assert "token.create" in await audit_actions(api, second)
    listing = (await api.get("/tokens", two)).text
    assert f"workspace=workspace/{second}" in listing and f"workspace=workspace/{first}" in listing


async def test_a_non_member_cannot_mint_for_a_workspace(api):
    ann = await api.sign_in("ann@acme.com")
    workspace, _ = await ids(api, ann)
    eve = await api.sign_in("eve@evil.test")
    before = await snapshot(api)

    r = await api.json("POST", f"/workspaces/{workspace}/tokens", eve, json={})
    assert r.status_code == 403
    assert error(r)["code"] == "not_a_member"
    assert "GET /workspaces" in error(r)["hint"]
    missing = await api.json("POST", "/workspaces/w_aaaaaaaaaaaa/tokens", eve, json={})
    assert missing.status_code == 403
    # Same reply for an existing and a missing workspace, apart from the id it names.
    assert error(missing)["message"].replace("w_aaaaaaaaaaaa", workspace) == error(r)["message"]
    assert error(missing)["hint"] == error(r)["hint"]
    assert (await api.post("/workspaces/nonsense/tokens", eve, json={})).status_code == 403
    assert await snapshot(api) == before


async def test_deleting_a_workspace_removes_its_rows_and_kills_its_tokens(api, clock):
    ann = await api.sign_in("ann@acme.com")
    home, _ = await ids(api, ann)
    doomed = await create_workspace(api, ann, "Doomed")
    doomed_token = await mint(api, ann, doomed)
    # Bob's only workspace is the doomed one; Cat is invited to it but has not signed in.
    assert (await invite(api, ann, doomed, "bob@acme.com")).status_code == 201
    bob = await api.sign_in("bob@acme.com")
    assert (await invite(api, ann, doomed, "cat@acme.com")).status_code == 201
    assert (await invite(api, ann, home, "dan@acme.com")).status_code == 201

    tables = await workspace_tables(api)
    assert {"audit", "invites", "memberships", "tokens"} <= set(tables)
    before = await workspace_rows(api, doomed)
    assert before["memberships"] == 2 and before["invites"] == 1 and before["tokens"] == 2
    home_before = await workspace_rows(api, home)

    # Step-up first: nothing is deleted until the code comes back.
    r = await api.json("DELETE", f"/workspaces/{doomed}", ann)
    assert r.status_code == 403
    assert error(r)["code"] == "escalation_required"
    assert (await workspace_rows(api, doomed))["workspaces"] == 1
    code = api.inbox.code_for("ann@acme.com")
    r = await api.delete(f"/workspaces/{doomed}?code={code}", ann)
    assert r.status_code == 200, r.text
    assert f"# deleted workspace/{doomed} (Doomed)" in r.text

    after = await workspace_rows(api, doomed)
    assert after == dict.fromkeys(after, 0)
    # The other workspace is untouched (apart from nothing: its rows are all still there).
    assert await workspace_rows(api, home) == home_before
    # The deletion itself is audited outside any workspace.
    assert "workspace.delete" in await audit_actions(api, None)

    # Its tokens stop at once; the same user's other workspace keeps working.
    assert (await api.get("/whoami", doomed_token)).status_code == 401
    assert (await api.get("/whoami", bob)).status_code == 401
    assert (await api.get("/whoami", ann)).status_code == 200
    rows = (await api.json("GET", "/workspaces", ann)).json()["data"]
    assert [row["handle"] for row in rows] == [f"workspace/{home}"]

    # Bob, left with no workspace, gets a fresh one at his next sign-in.
    clock.advance(60)
    bob_again = await api.sign_in("bob@acme.com")
    fresh, _ = await ids(api, bob_again)
    assert fresh not in (doomed, home)
    # Cat's invite went with the workspace: she signs in to a personal workspace.
    cat = await api.sign_in("cat@acme.com")
    assert (await ids(api, cat))[0] not in (doomed, home)


async def test_delete_is_for_admins_and_members_only(api):
    ann = await api.sign_in("ann@acme.com")
    workspace, _ = await ids(api, ann)
    await invite(api, ann, workspace, "bob@acme.com")
    bob = await api.sign_in("bob@acme.com")
    eve = await api.sign_in("eve@evil.test")
    before = await snapshot(api)
    r = await api.json("DELETE", f"/workspaces/{workspace}", bob)
    assert r.status_code == 403 and error(r)["code"] == "admin_required"
    r = await api.json("DELETE", f"/workspaces/{workspace}", eve)
    assert r.status_code == 404 and error(r)["code"] == "not_found"
    assert await snapshot(api) == before
    assert len(api.inbox.to("bob@acme.com")) == 2  # invite + sign-in code, no step-up code


async def test_stepped_up_delete_with_the_header(api):
    ann = await api.sign_in("ann@acme.com")
    other = await create_workspace(api, ann, "Other")
    r = await stepped_up(api, "DELETE", f"/workspaces/{other}", ann, "ann@acme.com", header=True)
    assert r.status_code == 200, r.text
    assert r.json()["data"] == {"deleted": f"workspace/{other}", "name": "Other", "rows_deleted": 4}


async def test_names_that_could_pass_for_others_are_refused(api):
    """A bidi override shows "\u202egnp.exe" as "exe.png"; a zero-width space hides in a name.
    Workspace and token names now follow the rule OAuth client names had."""
    ann = await api.sign_in("ann@acme.com")
    first, _ = await ids(api, ann)
    before = await snapshot(api)
    invisible = ("\u3164", "\u115f\u1160", "\u2800", "a\u034fb", "\ue000", "\u0378", "-\u200b")
    for name in ("\u202egnp.exe", "a\u200bb", "tab\there", "line\u2028two", *invisible):
        r = await api.json("POST", "/workspaces", ann, json={"name": name})
        assert (r.status_code, r.json()["error"]["code"]) == (400, "invalid_field"), name
        r = await api.json("POST", f"/workspaces/{first}/tokens", ann, json={"name": name})
        assert (r.status_code, r.json()["error"]["code"]) == (400, "invalid_field"), name
        r = await api.json("PATCH", f"/workspaces/{first}", ann, json={"name": name})
        assert (r.status_code, r.json()["error"]["code"]) == (400, "invalid_field"), name
    assert await snapshot(api) == before
    for name in ("Ünal & Söhne", "東京 sales", "a\u00a0b"):  # other scripts, a no-break space
        r = await api.json("PATCH", f"/workspaces/{first}", ann, json={"name": name})
        assert r.status_code == 200, (name, r.text)
