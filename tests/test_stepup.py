"""Step-up codes: bound to (user, action, target), single use, 5 wrong tries, rate-limited."""

from __future__ import annotations

import pytest
from teams_util import error, ids, invite, roles, snapshot

from crmkit.clock import iso


@pytest.fixture
async def team(api):
    """Ann (admin) with members Bob and Cat in her workspace."""
    ann = await api.sign_in("ann@acme.com")
    workspace, _ = await ids(api, ann)
    await invite(api, ann, workspace, "bob@acme.com")
    await invite(api, ann, workspace, "cat@acme.com")
    bob = await api.sign_in("bob@acme.com")
    cat = await api.sign_in("cat@acme.com")
    return {
        "workspace": workspace,
        "ann": ann,
        "bob_id": (await ids(api, bob))[1],
        "cat_id": (await ids(api, cat))[1],
    }


def role_path(team, who: str) -> str:
    return f"/workspaces/{team['workspace']}/members/{team[who + '_id']}/role"


async def promote(
    api, team, who: str = "bob", code: str | None = None, *, by=None, role="admin", header=False
):
    """POST the role change (admin by default) as Ann (or `by`), with `code` in the query
    or, with header=True, in X-Escalation-Code."""
    path = role_path(team, who)
    headers = {}
    if code is not None and header:
        headers["X-Escalation-Code"] = code
    elif code is not None:
        path += f"?code={code}"
    token = team["ann"] if by is None else by
    return await api.json("POST", path, token, json={"role": role}, headers=headers)


async def ask(api, team, who: str = "bob") -> str:
    """Ask to promote someone; returns the code emailed to Ann."""
    r = await promote(api, team, who)
    assert r.status_code == 403, r.text
    body = error(r)
    assert body["code"] == "escalation_required"
    assert body["sent_to"] == "ann@acme.com"
    assert "?code=" in body["hint"] and "X-Escalation-Code" in body["hint"]
    return api.inbox.code_for("ann@acme.com")


async def test_escalation_mail_names_the_action(api, team):
    await ask(api, team)
    mail = api.inbox.last_body("ann@acme.com")
    assert "promote bob@acme.com to admin" in mail
    assert await roles(api, team["workspace"]) == {
        "ann@acme.com": "admin",
        "bob@acme.com": "member",
        "cat@acme.com": "member",
    }


async def test_a_code_for_promoting_bob_unlocks_nothing_else(api, team):
    code = await ask(api, team, "bob")
    before = await snapshot(api)
    workspace = team["workspace"]

    r = await promote(api, team, "cat", code)
    assert r.status_code == 403 and error(r)["code"] == "invalid_code"
    r = await api.json(
        "DELETE", f"/workspaces/{workspace}", team["ann"], headers={"X-Escalation-Code": code}
    )
    assert r.status_code == 403 and error(r)["code"] == "invalid_code"
    assert (await roles(api, workspace))["cat@acme.com"] == "member"
    assert await snapshot(api) == before

    # It still promotes Bob, once.
    r = await api.post(
        role_path(team, "bob") + f"?code={code}", team["ann"], json={"role": "admin"}
    )
    assert r.status_code == 200, r.text
    assert (await roles(api, workspace))["bob@acme.com"] == "admin"
    r = await promote(api, team, "bob", code, role="member")
    assert r.status_code == 403 and error(r)["code"] == "invalid_code"  # not a demote code
    r = await promote(api, team, "bob", role="member")  # demoting an admin asks for a code
    assert r.status_code == 403 and error(r)["code"] == "escalation_required"
    demote = api.inbox.code_for("ann@acme.com")
    assert (await promote(api, team, "bob", demote, role="member")).status_code == 200
    r = await promote(api, team, "bob", code)
    assert r.status_code == 403 and error(r)["code"] == "invalid_code"  # single use


async def test_a_code_is_bound_to_the_user_who_asked(api, team):
    code = await ask(api, team, "bob")
    # Cat becomes an admin through Ann, then tries Ann's code for the same promotion.
    cat_code = await ask(api, team, "cat")
    r = await api.post(
        role_path(team, "cat") + f"?code={cat_code}", team["ann"], json={"role": "admin"}
    )
    assert r.status_code == 200
    cat = await api.sign_in("cat@acme.com")
    r = await promote(api, team, "bob", code, by=cat)
    assert r.status_code == 403 and error(r)["code"] == "invalid_code"
    assert (await roles(api, team["workspace"]))["bob@acme.com"] == "member"


async def test_five_wrong_codes_burn_it(api, team):
    code = await ask(api, team)
    wrong = "000000" if code != "000000" else "111111"
    for _ in range(5):
        r = await promote(api, team, "bob", wrong)
        assert r.status_code == 403 and error(r)["code"] == "invalid_code"
    r = await promote(api, team, "bob", code)
    assert r.status_code == 403 and error(r)["code"] == "invalid_code"
    assert (await roles(api, team["workspace"]))["bob@acme.com"] == "member"


async def test_the_header_works_and_codes_expire(api, team, clock):
    joined = iso(clock.now())  # Bob joined in the fixture, before the clock moves
    code = await ask(api, team)
    clock.advance(601)
    r = await promote(api, team, "bob", code, header=True)
    assert r.status_code == 403 and error(r)["code"] == "invalid_code"
    code = await ask(api, team)
    r = await promote(api, team, "bob", code, header=True)
    assert r.status_code == 200, r.text
    assert r.json()["data"] == {
        "handle": f"user/{team['bob_id']}",
        "email": "bob@acme.com",
        "role": "admin",
        "joined_at": joined,  # a promotion keeps the day they joined
    }


async def test_escalation_mails_are_rate_limited(api, team):
    for _ in range(5):
        await ask(api, team)
    sent = len(api.inbox.to("ann@acme.com"))
    r = await promote(api, team, "bob")
    assert r.status_code == 429
    assert error(r)["code"] == "rate_limited"
    assert int(r.headers["Retry-After"]) > 0
    assert len(api.inbox.to("ann@acme.com")) == sent


async def test_no_code_is_left_usable_when_the_mail_fails(api, team):
    api.inbox.refuse = True
    r = await promote(api, team, "bob")
    assert r.status_code == 503 and error(r)["code"] == "email_unavailable"
    row = await api.rt.db.one("SELECT COUNT(*) FROM codes WHERE key LIKE 'stepup:%'")
    assert row[0] == 0


async def test_codes_and_tokens_never_reach_the_log(settings, clock, smtp, caplog):
    """With the access log on, a full step-up leaves neither the code nor a token in the log."""
    import logging

    import httpx
    from conftest import Api

    from crmkit.app import create_app

    caplog.set_level(logging.DEBUG)
    app = create_app(settings, clock=clock, access_log=True)
    await app.runtime.start()
    try:
        transport = httpx.ASGITransport(app=app, client=("10.1.2.3", 5555))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            api = Api(http, smtp.inbox, app)
            ann = await api.sign_in("ann@acme.com")
            workspace, _ = await ids(api, ann)
            await invite(api, ann, workspace, "bob@acme.com")
            bob = await api.sign_in("bob@acme.com")
            bob_id = (await ids(api, bob))[1]
            path = f"/workspaces/{workspace}/members/{bob_id}/role"
            await api.post(path, ann, json={"role": "admin"})
            code = api.inbox.code_for("ann@acme.com")
            r = await api.post(f"{path}?code={code}", ann, json={"role": "admin"})
            assert r.status_code == 200
    finally:
        await app.runtime.stop()
    # Our own loggers (the test SMTP server's debug log shows the mail, as it should).
    ours = "\n".join(r.getMessage() for r in caplog.records if r.name.startswith("crmkit"))
    assert f"/workspaces/{workspace}/members" in ours  # the access log did run
    assert "role?code=***" in ours  # redacted
    for secret in (code, ann, bob):
        assert secret not in ours
