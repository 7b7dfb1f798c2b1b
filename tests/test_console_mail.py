"""With no SMTP server, codes go to the console log: fine on a laptop, dangerous on a server
others reach. `crmkit serve` says so loudly at start-up and /readyz reports it."""

from __future__ import annotations

import logging
from pathlib import Path

import httpx
import pytest
from conftest import free_port
from foundation_util import JSON, Process, clean_env, crmkit_command

from crmkit.app import create_app
from crmkit.config import Settings


@pytest.mark.parametrize(
    ("env", "exposed"),
    [
        ({"CRMKIT_BASE_URL": "https://crm.example.com"}, True),
        ({"CRMKIT_HOST": "0.0.0.0"}, True),
        ({"CRMKIT_BASE_URL": "http://127.0.0.1:8000"}, False),
        ({"CRMKIT_BASE_URL": "http://localhost:8000"}, False),
        ({"CRMKIT_BASE_URL": "http://[::1]:8000"}, False),
        ({"CRMKIT_BASE_URL": "https://crm.example.com", "CRMKIT_SMTP_URL": "smtp://m:25"}, False),
    ],
)
def test_which_settings_expose_console_mail(env: dict[str, str], exposed: bool) -> None:
    assert Settings.from_env(env).console_mail_exposed is exposed


async def test_start_up_warns_and_readyz_reports(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = Settings.from_env(
        {"CRMKIT_DATABASE": str(tmp_path / "c.db"), "CRMKIT_BASE_URL": "https://crm.example.com"}
    )
    app = create_app(settings, access_log=False)
    with caplog.at_level(logging.WARNING, logger="crmkit"):
        await app.runtime.start()
    try:
        assert any("Anyone who can read the log" in r.getMessage() for r in caplog.records)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
            r = await http.get("/readyz")
            assert r.status_code == 200 and "warning: mail goes to the server's console" in r.text
            r = await http.get("/readyz", headers=JSON)
            assert "CRMKIT_SMTP_URL" in r.json()["data"]["warnings"][0]
    finally:
        await app.runtime.stop()
    quiet = Settings.from_env({"CRMKIT_DATABASE": str(tmp_path / "q.db")})
    app = create_app(quiet, access_log=False)
    await app.runtime.start()
    try:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
            r = await http.get("/readyz", headers=JSON)
            assert "warnings" not in r.json()["data"]
    finally:
        await app.runtime.stop()


def test_serve_prints_the_warning(tmp_path: Path) -> None:
    port = free_port()
    proc = Process(
        [*crmkit_command(), "serve", "--port", str(port), "--db", str(tmp_path / "s.db")],
        env=clean_env(CRMKIT_BASE_URL="https://crm.example.com"),
        cwd=str(tmp_path),
    )
    try:
        proc.wait_for(r"Anyone who can read the log can sign in as anyone")
        proc.wait_for(r"Application startup complete")
    finally:
        proc.stop()
