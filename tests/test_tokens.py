"""Bearer tokens: hashing, idle expiry and renewal, listing, revoking, bad headers."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from foundation_util import JSON, assert_error, count, records

from crmkit.accounts import signin, users
from crmkit.clock import iso

DAY = 86400


async def whoami(api: Any, token: str) -> Any:
    return await api.json("GET", "/whoami", token)


async def token_handle(api: Any, token: str) -> str:
    r = await whoami(api, token)
    assert r.status_code == 200, r.text
    handle = r.json()["data"]["token"]["handle"]
    assert isinstance(handle, str)
    return handle


async def test_only_the_sha256_of_a_token_is_stored(api: Any) -> None:
    token = await api.sign_in("jane@acme.com")
    rows = await api.rt.db.all("SELECT hash FROM tokens")
    assert rows == [(hashlib.sha256(token.encode()).digest(),)]
    if api.rt.db.dialect.name != "sqlite":
        return  # what follows reads SQLite's files
    files = [Path(api.rt.settings.database + suffix) for suffix in ("", "-wal")]
    dump = b"".join(f.read_bytes() for f in files if f.exists())
    assert hashlib.sha256(token.encode()).digest() in dump  # we did read the data
    assert token.encode() not in dump


async def test_idle_token_expires(api: Any) -> None:
    token = await api.sign_in("jane@acme.com")
    clock = api.app.runtime.clock
    clock.advance(30 * DAY)
    assert (await whoami(api, token)).status_code == 200  # exactly 30 idle days: still alive
    clock.advance(30 * DAY + 1)
    for headers in ({}, JSON):
        r = await api.get("/whoami", token, headers=headers)
        err = assert_error(r, 401, "token_expired")
        assert r.headers["www-authenticate"] == "Bearer"
        assert "30 idle days" in err["message"]
        assert "/auth/request" in err["hint"]


async def test_use_renews_the_token(api: Any) -> None:
    token = await api.sign_in("jane@acme.com")
    clock = api.app.runtime.clock
    for _ in range(6):  # 120 days in all, never 30 idle
        clock.advance(20 * DAY)
        r = await whoami(api, token)
        assert r.status_code == 200, r.text
    expires = r.json()["data"]["token"]["expires_at"]
    assert expires == iso(clock.now() + 30 * DAY)
    assert (await api.json("GET", "/tokens", token)).json()["data"][0]["expires_at"] == expires


async def test_idle_days_is_configurable(api: Any) -> None:
    import dataclasses

    rt = api.rt
    rt.settings = dataclasses.replace(rt.settings, token_idle_days=2)
    token = await api.sign_in("jane@acme.com")
    rt.clock.advance(2 * DAY + 1)
    err = assert_error(await whoami(api, token), 401, "token_expired")
    assert "2 idle days" in err["message"]


async def test_last_used_is_written_at_most_once_a_minute(api: Any) -> None:
    token = await api.sign_in("jane@acme.com")
    clock = api.app.runtime.clock
    start = clock.now()

    async def last_used() -> int:
        row = await api.rt.db.one("SELECT last_used_at FROM tokens")
        return int(row[0])

    assert await last_used() == start
    clock.advance(59)
    for _ in range(3):
        assert (await whoami(api, token)).status_code == 200
    assert await last_used() == start
    clock.advance(1)
    assert (await whoami(api, token)).status_code == 200
    assert await last_used() == start + 60
    clock.advance(30)
    assert (await whoami(api, token)).status_code == 200
    assert await last_used() == start + 60


async def test_revoke_own_token_kills_it_at_once(api: Any) -> None:
    token = await api.sign_in("jane@acme.com")
    other = await api.sign_in("jane@acme.com", token_name="laptop")
    handle = await token_handle(api, token)
    bare = handle.partition("/")[2]
    r = await api.json("DELETE", f"/tokens/{bare}", other)
    assert r.status_code == 200, r.text
    assert r.json()["data"] == {"revoked": handle}
    for headers in ({}, JSON):
        r = await api.get("/whoami", token, headers=headers)
        err = assert_error(r, 401, "invalid_token")
        assert "/auth/request" in err["hint"]
    assert (await whoami(api, other)).status_code == 200
    # Revoking twice: it is no longer among your tokens.
    assert_error(await api.delete(f"/tokens/{bare}", other), 404, "not_found")
    # A token can revoke itself.
    other_handle = await token_handle(api, other)
    assert (await api.delete(f"/tokens/{other_handle}", other)).status_code == 200
    assert_error(await whoami(api, other), 401, "invalid_token")
    audit = await count(api.rt.db, "audit", "action = 'token.revoke'")
    assert audit == 2


async def test_revoking_another_users_token_is_404_and_changes_nothing(api: Any) -> None:
    jane = await api.sign_in("jane@acme.com")
    bob = await api.sign_in("bob@acme.com")
    bob_handle = await token_handle(api, bob)
    bob_bare = bob_handle.partition("/")[2]
    missing = "t_" + "a" * 12
    for headers in ({}, JSON):
        r = await api.delete(f"/tokens/{bob_bare}", jane, headers=headers)
        assert_error(r, 404, "not_found")
        ghost = await api.delete(f"/tokens/{missing}", jane, headers=headers)
        assert_error(ghost, 404, "not_found")
        # Same reply as a token that does not exist at all: nothing tells it exists.
        assert r.text.replace(bob_bare, missing) == ghost.text
    for bad in ("nonsense", "contact/c_abc", "token", "token/t_", "t_", "t_" + "A" * 12):
        assert_error(await api.delete(f"/tokens/{bad}", jane), 404, "not_found")
    assert (await whoami(api, bob)).status_code == 200
    assert await count(api.rt.db, "tokens", "revoked_at IS NOT NULL") == 0
    assert await count(api.rt.db, "audit", "action = 'token.revoke'") == 0


async def test_token_list_marks_current_and_spans_workspaces(api: Any) -> None:
    first = await api.sign_in("jane@acme.com", token_name="Claude")
    second = await api.sign_in("jane@acme.com", token_name="laptop")
    rt = api.rt
    async with rt.db.write() as tx:
        user = await users.ensure_user(rt, tx, "jane@acme.com")
        team = await users.create_workspace(rt, tx, user, "Team")
    elsewhere = await signin.sign_in(rt, "jane@acme.com", "team-sync", workspace_id=team)
    bob = await api.sign_in("bob@acme.com")

    r = await api.json("GET", "/tokens", first)
    assert r.status_code == 200
    body = r.json()
    assert body["total"] == 3 and body["next_cursor"] is None
    by_name = {t["name"]: t for t in body["data"]}
    assert set(by_name) == {"Claude", "laptop", "team-sync"}
    assert [t["name"] for t in body["data"] if t["current"]] == ["Claude"]
    assert by_name["team-sync"]["workspace"] == f"workspace/{team}"
    assert by_name["team-sync"]["workspace_name"] == "Team"
    assert by_name["Claude"]["workspace"] == by_name["laptop"]["workspace"] != f"workspace/{team}"
    assert by_name["team-sync"]["handle"] == f"token/{elsewhere.token.token_id}"
    for t in body["data"]:
        assert set(t) == {
            "handle",
            "name",
            "workspace",
            "workspace_name",
            "created_at",
            "last_used_at",
            "expires_at",
            "current",
            "scopes",
        }
        assert t["created_at"].endswith("Z") and t["expires_at"].endswith("Z")
        assert t["scopes"] == "read write admin"

    text = (await api.get("/tokens", second)).text
    lines = text.splitlines()
    assert lines[0] == "# total: 3"
    current = [rec["name"] for rec in records(text) if rec["current"] == "true"]
    assert current == ["laptop"]
    # Bob sees only his own.
    bobs = (await api.json("GET", "/tokens", bob)).json()
    assert [t["name"] for t in bobs["data"]] == ["default"]


async def test_revoked_and_expired_tokens_are_not_listed(api: Any) -> None:
    clock = api.app.runtime.clock
    old = await api.sign_in("jane@acme.com", token_name="old")
    clock.advance(29 * DAY)
    gone = await api.sign_in("jane@acme.com", token_name="gone")
    live = await api.sign_in("jane@acme.com", token_name="live")
    assert (await api.delete(f"/tokens/{await token_handle(api, gone)}", live)).status_code == 200
    names = [t["name"] for t in (await api.json("GET", "/tokens", live)).json()["data"]]
    assert names == ["live", "old"]
    clock.advance(1 * DAY + 1)  # "old" is now 30 days + 1 s idle
    names = [t["name"] for t in (await api.json("GET", "/tokens", live)).json()["data"]]
    assert names == ["live"]
    assert_error(await whoami(api, old), 401, "token_expired")


async def test_missing_authorization_is_auth_required(api: Any) -> None:
    for path in ("/whoami", "/tokens"):
        for headers in ({}, JSON):
            r = await api.get(path, headers=headers)
            err = assert_error(r, 401, "auth_required")
            assert r.headers["www-authenticate"] == "Bearer"
            assert "/auth/request" in err["hint"] and "/auth/verify" in err["hint"]
    r = await api.delete("/tokens/t_aaaaaaaaaaaa")
    assert_error(r, 401, "auth_required")


async def test_malformed_authorization_headers(api: Any) -> None:
    token = await api.sign_in("jane@acme.com")
    before = await api.rt.db.all("SELECT * FROM tokens")
    bad = [
        f"Basic {token}",
        "Bearer",
        "Bearer ",
        f"Token {token}",
        token,
        f"Bearer {token}x",
        f"Bearer {token[:-1]}",
        "Bearer ck_",
        "Bearer " + "x" * 5000,
        f"Bearer {token} extra",
    ]
    for value in bad:
        r = await api.get("/whoami", headers={"Authorization": value})
        err = assert_error(r, 401, "invalid_token")
        assert r.headers["www-authenticate"] == "Bearer"
        assert "/auth/request" in err["hint"]
        # a token sent without its scheme is told how to send it, not just to sign in again
        scheme_ok = value.lower().startswith("bearer ") and value.strip() != "Bearer"
        assert ("send it as Authorization" in err["hint"]) is not scheme_ok, (value, err)
    assert await api.rt.db.all("SELECT * FROM tokens") == before
    # The scheme is case-insensitive, as RFC 7235 says.
    r = await api.get("/whoami", headers={"Authorization": f"bearer {token}"})
    assert r.status_code == 200


async def test_token_of_a_removed_member_is_invalid(api: Any) -> None:
    token = await api.sign_in("jane@acme.com")
    async with api.rt.db.write() as tx:
        await tx.execute("DELETE FROM memberships")
    assert_error(await whoami(api, token), 401, "invalid_token")


async def test_a_revoke_is_audited_in_the_revoked_tokens_workspace(api):
    first = await api.sign_in("ann@acme.com")
    r = await api.json("POST", "/workspaces", first, json={"name": "Second"})
    second_ws = r.json()["data"]["handle"].partition("/")[2]
    r = await api.json("POST", f"/workspaces/{second_ws}/tokens", first, json={})
    second = r.json()["data"]
    assert (await api.delete(f"/tokens/{second['handle']}", first)).status_code == 200
    rows = await api.rt.db.all(
        "SELECT workspace_id FROM audit WHERE action = 'token.revoke' AND target = ?",
        (second["handle"],),
    )
    assert rows == [(second_ws,)]


async def test_no_trailing_slash_redirect_echoes_the_host(api):
    token = await api.sign_in("ann@acme.com")
    r = await api.get("/whoami/", token, headers={"Host": "evil.example"})
    assert r.status_code == 404
    assert "location" not in r.headers
