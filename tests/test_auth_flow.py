"""Sign-in end to end over a real socket, plus the rules of /auth/request around it."""

from __future__ import annotations

from typing import Any

from foundation_util import JSON, assert_error, count, counts, records


async def test_end_to_end_over_a_socket(live: Any) -> None:
    api, server = live
    r = await api.post("/auth/request", json={"email": "jane@acme.com"})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "text/plain; charset=utf-8"
    assert all(line.startswith("# ") for line in r.text.splitlines())
    mail = api.inbox.to("jane@acme.com")
    assert len(mail) == 1
    code = api.inbox.code_for("jane@acme.com")

    r = await api.post(
        "/auth/verify", json={"email": "jane@acme.com", "code": code, "token_name": "Claude"}
    )
    assert r.status_code == 201, r.text
    (rec,) = records(r.text)
    token = rec["token"]
    assert token.startswith("ck_") and len(token) > 40
    assert rec["handle"].startswith("token/t_")
    assert rec["name"] == "Claude"
    assert rec["workspace"].startswith("workspace/w_")
    assert rec["email"] == "jane@acme.com"

    r = await api.get("/whoami", token)
    assert r.status_code == 200, r.text
    lines = {rec["handle"].partition("/")[0]: rec for rec in records(r.text)}
    assert lines["user"]["email"] == "jane@acme.com"
    assert lines["user"]["role"] == "admin"
    assert lines["workspace"]["handle"] == rec["workspace"]
    assert lines["workspace"]["plan"] == "free"
    assert lines["token"]["handle"] == rec["handle"]
    assert lines["token"]["name"] == "Claude"

    r = await api.get("/tokens", token)
    assert r.status_code == 200
    assert "# total: 1" in r.text.splitlines()
    (listed,) = records(r.text)
    assert listed["handle"] == rec["handle"] and listed["current"] == "true"

    r = await api.delete(f"/tokens/{rec['handle']}", token)
    assert r.status_code == 200, r.text
    assert rec["handle"] in r.text

    r = await api.get("/whoami", token)
    assert_error(r, 401, "invalid_token")
    assert r.headers["www-authenticate"] == "Bearer"


async def test_first_sign_in_creates_user_and_workspace_second_reuses_them(api: Any) -> None:
    first = await api.sign_in("jane@acme.com")
    before = await counts(api.app)
    assert before["users"] == 1 and before["workspaces"] == 1 and before["memberships"] == 1
    second = await api.sign_in("jane@acme.com", token_name="laptop")
    after = await counts(api.app)
    assert after["users"] == 1 and after["workspaces"] == 1 and after["tokens"] == 2
    a = (await api.json("GET", "/whoami", first)).json()["data"]
    b = (await api.json("GET", "/whoami", second)).json()["data"]
    assert a["workspace"]["handle"] == b["workspace"]["handle"]
    assert a["user"]["handle"] == b["user"]["handle"]
    assert b["token"]["name"] == "laptop"
    assert a["token"]["name"] == "default"
    assert a["workspace"]["role"] == "admin"


async def test_audit_rows_for_sign_in_mint_and_revoke_hold_no_secrets(api: Any) -> None:
    token = await api.sign_in("jane@acme.com")
    code = api.inbox.code_for("jane@acme.com")
    who = (await api.json("GET", "/whoami", token)).json()["data"]
    r = await api.delete(f"/tokens/{who['token']['handle']}", token)
    assert r.status_code == 200
    rows = await api.rt.db.all("SELECT action, target, detail, actor_email, actor_token FROM audit")
    actions = [row[0] for row in rows]
    for action in (
        "user.create",
        "workspace.create",
        "token.create",
        "auth.sign_in",
        "token.revoke",
    ):
        assert action in actions
    revoke = next(row for row in rows if row[0] == "token.revoke")
    assert revoke[1] == who["token"]["handle"]
    dump = repr(rows)
    assert token not in dump and token[3:] not in dump
    assert code not in dump


async def test_unknown_and_known_email_get_identical_replies(api: Any) -> None:
    await api.sign_in("known1@acme.com")
    replies = []
    for address in ("known1@acme.com", "unkno1@acme.com"):
        for headers in ({}, JSON):
            r = await api.post("/auth/request", json={"email": address}, headers=headers)
            replies.append((address, r))
    for (addr_a, a), (addr_b, b) in ((replies[0], replies[2]), (replies[1], replies[3])):
        assert a.status_code == b.status_code == 200
        # per request: the id, and the address's rate-limit count (one more each time)
        drop = {"date", "x-request-id", "x-ratelimit-remaining", "x-ratelimit-reset"}
        ha = {k: v for k, v in a.headers.items() if k not in drop}
        hb = {k: v for k, v in b.headers.items() if k not in drop}
        assert ha == hb
        assert a.text.replace(addr_a, "<email>") == b.text.replace(addr_b, "<email>")
    # Both really got a code: the reply does not hide a difference in what happened either.
    assert len(api.inbox.to("unkno1@acme.com")) == 2


async def test_email_is_trimmed_and_lower_cased(api: Any) -> None:
    r = await api.json("POST", "/auth/request", json={"email": "  Jane.Doe@ACME.com \n"})
    assert r.status_code == 200, r.text
    assert r.json()["data"]["email"] == "jane.doe@acme.com"
    code = api.inbox.code_for("jane.doe@acme.com")
    spaced = f" {code[:3]} {code[3:]}\t"  # as copied from a mail: spaces do not count
    r = await api.json("POST", "/auth/verify", json={"email": "JANE.DOE@acme.COM ", "code": spaced})
    assert r.status_code == 201, r.text
    assert r.json()["data"]["email"] == "jane.doe@acme.com"


async def test_invalid_emails_are_400_and_send_nothing(api: Any) -> None:
    bad = [
        "",
        "   ",
        "jane",
        "jane@",
        "@acme.com",
        "jane@acme",
        "ja ne@acme.com",
        "jane@ac me.com",
        "ja\tne@acme.com",
        "jane@acme.com\r\nBcc: evil@x.com",
        "ja\x7fne@acme.com",
        "ja\x01ne@acme.com",
        "jane@@acme.com",
        "<jane@acme.com>",
        "a" * 65 + "@acme.com",
        "jane@" + "a" * 250 + ".com",
        ".jane@acme.com",  # dots first, last or twice: mail servers refuse them
        "jane.@acme.com",
        "ja..ne@acme.com",
        "jane@127.0.0.1",  # no top-level name
        "ja\u200bne@acme.com",  # a zero-width space nobody can see
    ]
    before = await counts(api.app)
    for address in bad:
        for headers in ({}, JSON):
            r = await api.post("/auth/request", json={"email": address}, headers=headers)
            assert_error(r, 400, "invalid_email")
    r = await api.post("/auth/verify", json={"email": "jane@", "code": "123456"})
    assert_error(r, 400, "invalid_email")
    assert api.inbox.messages == []
    assert await counts(api.app) == before
    assert await count(api.rt.db, "rate_hits") == 0


async def test_an_address_the_mail_server_will_not_take_is_400_not_try_again(api: Any) -> None:
    """A recipient the mail server refuses for good (550; or, on a relay without SMTPUTF8,
    an address with an accent before the @) is the address's problem (400), not an outage to
    retry (503); the code is withdrawn either way."""
    api.inbox.unknown = ("nobody@acme.com",)
    before = await counts(api.app)
    r = await api.post("/auth/request", json={"email": "nobody@acme.com"}, headers=JSON)
    error = assert_error(r, 400, "email_refused")
    assert "will not deliver to this address" in error["message"]
    assert "try again" not in error["hint"]
    assert api.inbox.messages == []
    after = await counts(api.app)
    assert after["codes"] == before["codes"]
