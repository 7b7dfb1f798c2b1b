"""Logs never hold a login code or a token: capture everything across a full flow and grep."""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from conftest import CODE_RE, Smtp, serve
from foundation_util import JSON

from crmkit.app import create_app
from crmkit.clock import FixedClock
from crmkit.config import Settings


@pytest.fixture
async def logged_server(
    settings: Settings, clock: FixedClock, smtp: Smtp
) -> AsyncIterator[tuple[httpx.AsyncClient, Any]]:
    """The app on uvicorn with our access log ON (the shared `live` fixture turns it off)."""
    async with serve(create_app(settings, clock=clock, access_log=True), smtp) as (api, _):
        yield api.http, api.app


def all_codes(smtp: Smtp) -> list[str]:
    found = []
    for message in smtp.inbox.messages:
        payload = message.get_payload(decode=True)
        assert isinstance(payload, bytes)
        found.extend(CODE_RE.findall(payload.decode()))
    return found


async def test_logs_never_contain_codes_or_tokens(
    logged_server: tuple[httpx.AsyncClient, Any],
    smtp: Smtp,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # The test's own helpers log what they see by design; they are not the server under test:
    # aiosmtpd (our fake mail server) logs the DATA it receives, httpx logs the URLs it calls.
    # uvicorn's own access log is off in `crmkit serve` (it would print raw query strings);
    # pytest attaches its capture handler to that disabled logger anyway, so it is left out
    # here and test_cli proves the served log has no uvicorn access line.
    for outsider in ("mail.log", "httpx", "httpcore", "uvicorn.access"):
        caplog.set_level(logging.WARNING, logger=outsider)
    # Last, because set_level also sets the capture handler's own level.
    caplog.set_level(logging.DEBUG, logger="crmkit")
    caplog.set_level(logging.DEBUG)
    http, app = logged_server
    email = "jane@acme.com"
    tokens: list[str] = []

    async def sign_in(token_name: str) -> str:
        r = await http.post("/auth/request", json={"email": email})
        assert r.status_code == 200
        code = smtp.inbox.code_for(email)
        wrong = "%06d" % ((int(code) + 1) % 10**6)
        r = await http.post("/auth/verify?code=" + wrong, json={"email": email, "code": wrong})
        assert r.status_code == 401
        body = {"email": email, "code": code, "token_name": token_name}
        r = await http.post("/auth/verify", json=body, headers=JSON)
        assert r.status_code == 201, r.text
        token = r.json()["data"]["token"]
        assert isinstance(token, str)
        tokens.append(token)
        return token

    first = await sign_in("one")
    second = await sign_in("two")
    auth = {"Authorization": f"Bearer {first}"}
    code = smtp.inbox.code_for(email)
    # Step-up-like secrets in the query string: the access log must redact them.
    r = await http.get(
        f"/whoami?code={code}&token={second}&confirm={second}&keep=visible", headers=auth
    )
    assert r.status_code == 200
    assert (await http.get(f"/tokens?access_token={second}", headers=auth)).status_code == 200
    fake = "ck_" + "Z" * 43
    tokens.append(fake)
    assert (await http.get("/whoami", headers={"Authorization": f"Bearer {fake}"})).status_code
    r = await http.get("/whoami", headers={**JSON, "Authorization": f"Bearer {second}"})
    handle = r.json()["data"]["token"]["handle"]
    assert (await http.delete(f"/tokens/{handle}", headers=auth)).status_code == 200
    assert (await http.get("/whoami", headers={"Authorization": f"Bearer {second}"})).status_code
    smtp.inbox.refuse = True
    assert (await http.post("/auth/request", json={"email": email})).status_code == 503

    codes = all_codes(smtp)
    assert len(codes) >= 2 and len(tokens) == 3
    access = [rec.getMessage() for rec in caplog.records if rec.name == "crmkit.access"]
    assert len(access) >= 10, "the access log was on"
    redacted = next(line for line in access if "keep=visible" in line)
    assert "code=***&token=***&confirm=***&keep=visible" in redacted
    logged = caplog.text + "\n".join(rec.getMessage() for rec in caplog.records)
    for secret in codes:
        assert not re.search(rf"(?<!\d){secret}(?!\d)", logged), f"code {secret} in the log"
    for secret in tokens:
        assert secret not in logged and secret[3:] not in logged, "a token is in the log"
    # The audit log too.
    rows = await app.runtime.db.all("SELECT * FROM audit")
    dump = repr(rows)
    assert rows and not any(s in dump for s in tokens)
    assert not any(re.search(rf"(?<!\d){s}(?!\d)", dump) for s in codes)


@pytest.mark.parametrize(
    ("query", "logged"),
    [
        ("stage=lead&created_at=gte:now-90d", "stage=lead&created_at=gte:now-90d"),
        ("code=123456&keep=a%20b", "code=***&keep=a%20b"),
        ("c%6Fde=123456", "c%6Fde=***"),  # an encoded key is still the key
        ("x=1&access_token=a&state=s", "x=1&access_token=***&state=***"),
        ("refresh_token=r&sort=-name", "refresh_token=***&sort=-name"),
        ("confirm=&token", "confirm=***&token"),
        ('a=x" 200 1ms id=fake&code=1', "a=x%22 200 1ms id=fake&code=***"),  # no early quote
        ("a=\\", "a=%5C"),
        ("", ""),
    ],
)
def test_the_access_log_keeps_the_query_as_sent_but_its_secrets(query: str, logged: str) -> None:
    from crmkit.web.edge import redact_query

    assert redact_query(query) == logged


@pytest.mark.parametrize(
    ("path", "logged"),
    [
        ("/contacts/c_abc", "/contacts/c_abc"),
        ('/c/x" 200 1.0ms id=forged\nnext', "/c/x%22%20200%201.0ms%20id=forged%0Anext"),
        ("/a\\b/\u00e9\u2028", "/a%5Cb/%C3%A9%E2%80%A8"),
    ],
)
def test_the_access_log_path_cannot_end_its_field_or_the_line(path: str, logged: str) -> None:
    from crmkit.web.edge import log_path

    assert log_path(path) == logged
