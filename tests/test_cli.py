"""The installed `crmkit` command: serve (with SMTP and in console mode), token, --help, errors."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import Smtp, free_port
from foundation_util import JSON, Process, clean_env, crmkit_command, run_cli

from crmkit import cli

# DESIGN.md section 8: every variable `crmkit serve --help` must document.
SECTION_8 = [
    "CRMKIT_DATABASE",
    "CRMKIT_HOST",
    "CRMKIT_PORT",
    "CRMKIT_BASE_URL",
    "CRMKIT_SECRET_KEY",
    "CRMKIT_SMTP_URL",
    "CRMKIT_MAIL_FROM",
    "CRMKIT_TOKEN_IDLE_DAYS",
    "CRMKIT_DEFAULT_PLAN",
    "CRMKIT_PLANS",
]


def start_serve(tmp_path: Path, **env: str) -> tuple[Process, str]:
    port = free_port()
    db = tmp_path / "served.db"
    proc = Process(
        [*crmkit_command(), "serve", "--port", str(port), "--db", str(db)],
        env=clean_env(**env),
        cwd=str(tmp_path),
    )
    try:
        proc.wait_for(r"Uvicorn running on http://127\.0\.0\.1:%d" % port)
    except BaseException:
        proc.stop()
        raise
    return proc, f"http://127.0.0.1:{port}"


def stopped(proc: Process) -> None:
    """SIGTERM: uvicorn shuts down cleanly, then re-raises the signal (so -15 is normal)."""
    assert proc.stop() in (0, -15)
    assert "Application shutdown complete" in proc.output()


async def sign_in_flow(http: httpx.AsyncClient, email: str, read_code: Any) -> str:
    r = await http.post("/auth/request", json={"email": email})
    assert r.status_code == 200, r.text
    code = read_code()
    r = await http.post("/auth/verify", json={"email": email, "code": code}, headers=JSON)
    assert r.status_code == 201, r.text
    token = r.json()["data"]["token"]
    r = await http.get("/whoami", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200, r.text
    assert f"email={email}" in r.text
    assert isinstance(token, str)
    return token


async def test_serve_signs_in_through_smtp(tmp_path: Path, smtp: Smtp) -> None:
    proc, url = start_serve(tmp_path, CRMKIT_SMTP_URL=smtp.url)
    try:
        async with httpx.AsyncClient(base_url=url) as http:
            r = await http.get("/readyz")
            assert r.status_code == 200 and r.text.startswith("# ready")
            token = await sign_in_flow(
                http, "jane@acme.com", lambda: smtp.inbox.code_for("jane@acme.com")
            )
            r = await http.get("/nope")
            assert r.status_code == 404 and r.headers["x-request-id"]
    finally:
        stopped(proc)
    log = proc.output()
    assert (tmp_path / "served.db").exists()
    # The access log is on, and it never shows the token or the code.
    assert '"POST /auth/verify" 201' in log
    assert "HTTP/1.1" not in log  # uvicorn's own access log (raw query strings) stays off
    assert token not in log
    assert smtp.inbox.code_for("jane@acme.com") not in log


async def test_serve_console_mode_logs_the_code(tmp_path: Path) -> None:
    proc, url = start_serve(tmp_path)
    try:
        async with httpx.AsyncClient(base_url=url) as http:

            def read_code() -> str:
                found = proc.wait_for(r"sign-in code is (\d{6})")
                return found.group(1)

            await sign_in_flow(http, "newcomer@example.com", read_code)
    finally:
        stopped(proc)
    assert "no CRMKIT_SMTP_URL set; mail to newcomer@example.com" in proc.output()


async def test_token_command_prints_a_working_token_once(api: Any, db_path: str) -> None:
    done = run_cli("token", "--email", " Ops@Acme.com ", "--db", db_path)
    assert done.returncode == 0, done.stderr
    token = done.stdout.strip()
    assert done.stdout == token + "\n"
    assert re.fullmatch(r"ck_[A-Za-z0-9_-]{40,}", token)
    assert token not in done.stderr and "shown once" in done.stderr
    r = await api.json("GET", "/whoami", token)
    assert r.status_code == 200, r.text
    data = r.json()["data"]
    assert data["user"]["email"] == "ops@acme.com"
    assert data["token"]["name"] == "cli"
    assert data["workspace"]["role"] == "admin"
    assert api.inbox.messages == []  # no mail involved

    # A second run for the same user reuses the user and workspace; --name labels the token.
    done = run_cli("token", "--email", "ops@acme.com", "--name", "nightly", "--db", db_path)
    assert done.returncode == 0, done.stderr
    second = done.stdout.strip()
    assert second != token
    r = await api.json("GET", "/tokens", second)
    names = sorted(t["name"] for t in r.json()["data"])
    assert names == ["cli", "nightly"]
    assert {t["workspace"] for t in r.json()["data"]} == {data["workspace"]["handle"]}


async def test_token_command_takes_scopes_and_an_expiry(api: Any, db_path: str) -> None:
    done = run_cli(
        "token",
        "--email",
        "ops@acme.com",
        "--scope",
        "read",
        "--expires-in-days",
        "7",
        "--db",
        db_path,
    )
    assert done.returncode == 0, done.stderr
    assert "scopes read;" in done.stderr
    token = done.stdout.strip()
    r = await api.json("GET", "/whoami", token)
    assert r.json()["data"]["token"]["scopes"] == "read"
    r = await api.json("POST", "/contacts", token, json={"name": "Ada"})
    assert r.status_code == 403 and r.json()["error"]["code"] == "insufficient_scope"
    done = run_cli("token", "--email", "ops@acme.com", "--scope", "sudo", "--db", db_path)
    assert done.returncode == 2 and "unknown scope 'sudo'" in done.stderr


def test_token_command_refuses_a_bad_email(tmp_path: Path, capsys: Any) -> None:
    db = str(tmp_path / "t.db")
    assert cli.main(["token", "--email", "not an email", "--db", db]) == 2
    err = capsys.readouterr()
    assert err.out == ""
    assert "not a valid email" in err.err


def test_serve_help_documents_every_variable() -> None:
    done = run_cli("serve", "--help")
    assert done.returncode == 0
    for name in SECTION_8:
        line = next(
            (ln for ln in done.stdout.splitlines() if ln.strip().startswith(name + " ")), None
        )
        assert line, f"{name} is not documented in `crmkit serve --help`"
        assert len(line.split(name, 1)[1].strip()) > 10, f"{name} has no description"
    for flag in ("--host", "--port", "--db"):
        assert flag in done.stdout


def test_serve_exits_2_on_bad_configuration(tmp_path: Path) -> None:
    done = run_cli("serve", "--db", str(tmp_path / "x.db"), CRMKIT_PORT="eighty")
    assert done.returncode == 2
    assert "CRMKIT_PORT" in done.stderr and "eighty" in done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "x.db").exists()


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("CRMKIT_PORT", "70000"),
        ("CRMKIT_SMTP_URL", "http://mail.example.com"),
        ("CRMKIT_DEFAULT_PLAN", "gold"),
        ("CRMKIT_PLANS", "{not json"),
        ("CRMKIT_TOKEN_IDLE_DAYS", "0"),
    ],
)
def test_main_reports_config_errors_naming_the_variable(
    name: str, value: str, monkeypatch: pytest.MonkeyPatch, capsys: Any, tmp_path: Path
) -> None:
    monkeypatch.setenv(name, value)
    assert cli.main(["serve", "--db", str(tmp_path / "x.db")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("crmkit: configuration error: ")
    assert name in err


async def test_serve_with_two_workers_shares_one_database(tmp_path: Path) -> None:
    """`--workers 2`: two processes answer on one port over one SQLite file. Writes from both
    at once all land, and racing upserts of one email still make exactly one contact."""
    port = free_port()
    db = tmp_path / "workers.db"
    proc = Process(
        [*crmkit_command(), "serve", "--port", str(port), "--db", str(db), "--workers", "2"],
        env=clean_env(),
        cwd=str(tmp_path),
    )
    try:
        proc.wait_for(r"Application startup complete", count=2)
        pids = set(re.findall(r"Started server process \[(\d+)\]", proc.output()))
        assert len(pids) == 2
        minted = run_cli("token", "--email", "ops@acme.com", "--db", str(db))
        assert minted.returncode == 0, minted.stderr
        auth = {"Authorization": f"Bearer {minted.stdout.strip().splitlines()[-1]}", **JSON}
        limits = httpx.Limits(max_connections=20)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", limits=limits) as http:
            import asyncio

            async def post(body: dict[str, str]) -> int:
                r = await http.post("/contacts", json=body, headers=auth)
                return r.status_code

            made = await asyncio.gather(
                *(post({"name": f"P {i}", "email": f"p{i}@x.co"}) for i in range(40))
            )
            assert made == [201] * 40
            raced = await asyncio.gather(
                *(post({"name": f"Same {i}", "email": "same@x.co"}) for i in range(20))
            )
            assert sorted(raced) == [200] * 19 + [201]
            r = await http.get("/contacts?limit=1", headers=auth)
            assert r.json()["total"] == 41
    finally:
        stopped(proc)
