"""Logs never hold a login code or a token: capture everything across a full flow and grep."""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from conftest import CODE_RE, Smtp, serve
from foundation_util import JSON
from mcp_util import mcp_session, text_of

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


def capture_everything(caplog: pytest.LogCaptureFixture) -> None:
    """Every logger at DEBUG, but those of the test's own helpers, which are not the server
    under test: aiosmtpd (our fake mail server) logs the DATA it receives. uvicorn's own access
    log is off in `crmkit serve` (it would print raw query strings); pytest attaches its
    capture handler to that disabled logger anyway, so it is left out here and test_cli proves
    the served log has no uvicorn access line. httpx stays on: the server's MCP tool runs its
    requests through httpx in-process (`server_side` tells those from the test's own)."""
    for outsider in ("mail.log", "uvicorn.access"):
        caplog.set_level(logging.WARNING, logger=outsider)
    # Last, because set_level also sets the capture handler's own level.
    caplog.set_level(logging.DEBUG, logger="crmkit")
    caplog.set_level(logging.DEBUG)


def server_side(caplog: pytest.LogCaptureFixture) -> str:
    """The captured log, formatted (tracebacks too), but what the test's own HTTP and MCP
    clients logged: they log every URL and tool call they send (codes and all) on the test's
    thread, while uvicorn serves from a thread of its own."""
    test_thread = threading.get_ident()
    return "\n".join(
        "%s %s" % (rec.name, caplog.handler.format(rec))
        for rec in caplog.records
        if rec.thread != test_thread or rec.name.split(".")[0] == "crmkit"
    )


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
    capture_everything(caplog)
    http, app = logged_server
    email = "jane@acme.com"
    tokens: list[str] = []

    async def sign_in(token_name: str) -> str:
        r = await http.post("/auth/request", json={"email": email})
        assert r.status_code == 200
        code = smtp.inbox.code_for(email)
        wrong = "%06d" % ((int(code) + 1) % 10**6)
        r = await http.post("/auth/verify?code=" + wrong, json={"email": email, "code": wrong})
        assert r.status_code == 400  # unknown_parameter, but the access log still saw it
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
    assert r.status_code == 400  # unknown parameters: refused, and logged redacted
    assert (await http.get(f"/tokens?access_token={second}", headers=auth)).status_code == 400
    fake = "ck_" + "Z" * 43
    tokens.append(fake)
    r = await http.get("/whoami", headers={"Authorization": f"Bearer {fake}"})
    assert r.status_code == 401
    r = await http.get("/whoami", headers={**JSON, "Authorization": f"Bearer {second}"})
    handle = r.json()["data"]["token"]["handle"]
    assert (await http.delete(f"/tokens/{handle}", headers=auth)).status_code == 200
    r = await http.get("/whoami", headers={"Authorization": f"Bearer {second}"})
    assert r.status_code == 401  # revoked
    smtp.inbox.refuse = True
    assert (await http.post("/auth/request", json={"email": email})).status_code == 503

    codes = all_codes(smtp)
    assert len(codes) >= 2 and len(tokens) == 3
    access = [rec.getMessage() for rec in caplog.records if rec.name == "crmkit.access"]
    assert len(access) >= 10, "the access log was on"
    redacted = next(line for line in access if "keep=visible" in line)
    assert "code=***&token=***&confirm=***&keep=visible" in redacted
    logged = server_side(caplog)
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


@pytest.mark.parametrize(
    ("path", "query", "logged"),
    [
        ("/workspaces/w_x", "code=654321", "/workspaces/w_x?code=***"),
        ("/contacts/c_x", "confirm=abc.def&x=1", "/contacts/c_x?confirm=***&x=1"),
        ('/c/x" 200', 'a="', "/c/x%22%20200?a=%22"),
        ("/whoami", "", "/whoami"),
    ],
)
def test_one_function_masks_what_a_log_line_shows_of_a_url(
    path: str, query: str, logged: str
) -> None:
    from crmkit.web.edge import masked_target

    assert masked_target(path, query) == logged


async def test_logs_never_contain_secrets_sent_through_mcp(
    logged_server: tuple[httpx.AsyncClient, Any],
    smtp: Smtp,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The MCP tool runs each request through the app in-process: a step-up code or a delete
    confirmation in the path it is given (`DELETE /workspaces/w_...?code=654321`) must reach
    the log masked, as the access log masks the same request over HTTP."""
    capture_everything(caplog)
    http, _ = logged_server
    email = "ann@acme.com"
    r = await http.post("/auth/request", json={"email": email})
    assert r.status_code == 200
    body = {"email": email, "code": smtp.inbox.code_for(email), "token_name": "mcp"}
    r = await http.post("/auth/verify", json=body, headers=JSON)
    assert r.status_code == 201, r.text
    token = r.json()["data"]["token"]
    url = str(http.base_url).rstrip("/")
    secrets: list[str] = [token]

    async with mcp_session(url, token) as session:

        async def call(method: str, path: str, **body: Any) -> tuple[bool, str]:
            args: dict[str, Any] = {"method": method, "path": path}
            if body:
                args["body"] = body
            result = await session.call_tool("request", args)
            return bool(result.is_error), text_of(result)

        # A two-step delete: the confirm token comes back in the reply, then goes in the path.
        failed, text = await call("POST", "/contacts", name="Doomed", email="d@acme.com")
        assert not failed, text
        contact = re.search(r"contact/c_[a-z0-9]+", text)
        assert contact, text
        failed, text = await call("DELETE", "/" + contact.group(0).replace("contact/", "contacts/"))
        confirm = re.search(r"^confirm: (\S+)$", text, re.M)
        assert failed and confirm, text
        secrets.append(confirm.group(1))
        failed, text = await call("DELETE", f"/contacts/{contact.group(0)}?confirm={confirm[1]}")
        assert not failed and "# deleted contact/" in text, text

        # A step-up: a wrong code, then the emailed one, in the query of a workspace delete.
        failed, text = await call("POST", "/workspaces", name="Doomed")
        assert not failed, text
        workspace = re.search(r"workspace/(w_[a-z0-9]+)", text)
        assert workspace, text
        path = f"/workspaces/{workspace[1]}"
        failed, text = await call("DELETE", path)
        assert failed and "error: escalation_required:" in text, text
        code = smtp.inbox.code_for(email)
        wrong = "%06d" % ((int(code) + 1) % 10**6)
        failed, text = await call("DELETE", f"{path}?code={wrong}")
        assert failed and "error: invalid_code:" in text, text
        failed, text = await call("DELETE", f"{path}?code={code}")
        assert not failed and "# deleted workspace/" in text, text
        secrets += [code, wrong]

    logged = server_side(caplog)
    # The in-process requests were logged, by the access log, masked.
    assert f"DELETE {path}?code=*** 200" in logged.replace('"', ""), logged
    assert "?confirm=*** 200" in logged.replace('"', ""), logged
    for secret in secrets:
        assert not re.search(rf"(?<![0-9A-Za-z_-]){re.escape(secret)}(?![0-9A-Za-z_-])", logged), (
            f"{secret} is in the log"
        )


def test_served_logging_keeps_httpx_quiet() -> None:
    """`crmkit serve` logs INFO and up, but httpx's INFO lines print every URL a client calls,
    query and all: its logger speaks from WARNING up."""
    from crmkit.app import configure_logging

    root = logging.getLogger()
    loggers = [root, *(logging.getLogger(name) for name in ("httpx", "httpcore"))]
    saved = [logger.level for logger in loggers]
    try:
        for logger in loggers[1:]:
            logger.setLevel(logging.NOTSET)
        # What basicConfig(level=INFO) does where no handler is set yet (under pytest one is,
        # so configure_logging's own call leaves the root as it is).
        root.setLevel(logging.INFO)
        configure_logging()
        assert root.isEnabledFor(logging.INFO)
        for logger in loggers[1:]:
            assert not logger.isEnabledFor(logging.INFO), logger.name
            assert logger.isEnabledFor(logging.WARNING), logger.name
    finally:
        for logger, level in zip(loggers, saved, strict=True):
            logger.setLevel(level)
