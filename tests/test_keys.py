"""The secret key never lives in the database: CRMKIT_SECRET_KEY, else a key file (SQLite:
<database>.key, created owner-only); a database from before keeps its key until the first
start moves it out; `crmkit rotate-key` replaces it. The database files are owner-only."""

from __future__ import annotations

import logging
import os
import sqlite3
import stat
from pathlib import Path

import httpx
import pytest
from conftest import Smtp
from foundation_util import JSON, run_cli

from crmkit.app import create_app
from crmkit.clock import FixedClock
from crmkit.config import ConfigError, Settings


def mode(path: str | Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def sqlite_settings(tmp_path: Path, smtp: Smtp, **env: str) -> Settings:
    return Settings.from_env(
        {"CRMKIT_DATABASE": str(tmp_path / "crm.db"), "CRMKIT_SMTP_URL": smtp.url, **env}
    )


async def start(settings: Settings, clock: FixedClock) -> object:
    app = create_app(settings, clock=clock, access_log=False)
    await app.runtime.start()
    return app


async def test_files_are_owner_only_and_the_key_file_is_made_beside(
    tmp_path: Path, smtp: Smtp, clock: FixedClock
) -> None:
    settings = sqlite_settings(tmp_path, smtp)
    app = await start(settings, clock)
    try:
        rt = app.runtime  # type: ignore[attr-defined]
        async with rt.db.write() as tx:  # a write, so the -wal and -shm files exist now
            await tx.execute("INSERT INTO meta (key, value) VALUES ('probe', 'x')")
        for suffix in ("", "-wal", "-shm", ".key"):
            assert mode(str(tmp_path / "crm.db") + suffix) == 0o600, suffix
        key = (tmp_path / "crm.db.key").read_text().strip()
        assert key == rt.secret_key and len(key) >= 32
        assert await rt.db.one("SELECT 1 FROM meta WHERE key = 'secret_key'") is None
    finally:
        await app.runtime.stop()  # type: ignore[attr-defined]


async def test_an_existing_database_readable_by_others_is_tightened(
    tmp_path: Path, smtp: Smtp, clock: FixedClock
) -> None:
    settings = sqlite_settings(tmp_path, smtp)
    app = await start(settings, clock)
    await app.runtime.stop()  # type: ignore[attr-defined]
    db = tmp_path / "crm.db"
    os.chmod(db, 0o644)
    os.chmod(tmp_path / "crm.db.key", 0o644)
    app = await start(settings, clock)
    try:
        assert mode(db) == 0o600 and mode(tmp_path / "crm.db.key") == 0o600
    finally:
        await app.runtime.stop()  # type: ignore[attr-defined]


async def test_a_key_kept_in_an_older_database_moves_to_the_key_file(
    tmp_path: Path, smtp: Smtp, clock: FixedClock, caplog: pytest.LogCaptureFixture
) -> None:
    settings = sqlite_settings(tmp_path, smtp)
    app = await start(settings, clock)
    await app.runtime.stop()  # type: ignore[attr-defined]
    # As an older version left it: the key in meta, no key file.
    old = "OLDKEY" + "q" * 58
    conn = sqlite3.connect(tmp_path / "crm.db")
    conn.execute("INSERT INTO meta (key, value) VALUES ('secret_key', ?)", (old,))
    conn.commit()
    conn.close()
    (tmp_path / "crm.db.key").unlink()
    with caplog.at_level(logging.WARNING, logger="crmkit.keys"):
        app = await start(settings, clock)
    try:
        rt = app.runtime  # type: ignore[attr-defined]
        assert rt.secret_key == old  # moved, not replaced: codes in flight still verify
        assert (tmp_path / "crm.db.key").read_text().strip() == old
        assert mode(tmp_path / "crm.db.key") == 0o600
        assert await rt.db.one("SELECT 1 FROM meta WHERE key = 'secret_key'") is None
        assert any("moved the secret key" in r.getMessage() for r in caplog.records)
        # Not a byte of it is left in the database's files.
        files = [tmp_path / n for n in ("crm.db", "crm.db-wal") if (tmp_path / n).exists()]
        assert b"".join(f.read_bytes() for f in files).find(old.encode()) == -1
    finally:
        await app.runtime.stop()  # type: ignore[attr-defined]


async def test_the_configured_key_wins_and_postgresql_needs_one(
    tmp_path: Path, smtp: Smtp, clock: FixedClock
) -> None:
    app = await start(sqlite_settings(tmp_path, smtp, CRMKIT_SECRET_KEY="c" * 40), clock)
    try:
        assert app.runtime.secret_key == "c" * 40  # type: ignore[attr-defined]
        assert not (tmp_path / "crm.db.key").exists()
    finally:
        await app.runtime.stop()  # type: ignore[attr-defined]
    pg = Settings.from_env({"CRMKIT_DATABASE": "postgresql://u@127.0.0.1:1/x"})
    with pytest.raises(ConfigError, match="CRMKIT_SECRET_KEY or CRMKIT_SECRET_KEY_FILE"):
        from crmkit import keys

        await keys.load(pg, None)  # type: ignore[arg-type]
    key_file = tmp_path / "shared.key"
    key_file.write_text("f" * 40 + "\n")
    os.chmod(key_file, 0o600)
    app = await start(sqlite_settings(tmp_path, smtp, CRMKIT_SECRET_KEY_FILE=str(key_file)), clock)
    try:
        assert app.runtime.secret_key == "f" * 40  # type: ignore[attr-defined]
    finally:
        await app.runtime.stop()  # type: ignore[attr-defined]


async def test_rotating_the_key_refuses_what_the_old_one_signed(
    tmp_path: Path, smtp: Smtp, clock: FixedClock
) -> None:
    settings = sqlite_settings(tmp_path, smtp)
    app = await start(settings, clock)
    rt = app.runtime  # type: ignore[attr-defined]
    old = rt.secret_key
    transport = httpx.ASGITransport(app=app, client=("10.0.0.9", 1))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
        assert (await http.post("/auth/request", json={"email": "ann@acme.com"})).status_code
        code = smtp.inbox.code_for("ann@acme.com")
        body = {"email": "ann@acme.com", "code": code}
        token = (await http.post("/auth/verify", json=body, headers=JSON)).json()["data"]["token"]
        auth = {"Authorization": f"Bearer {token}", **JSON}
        for name in ("A", "B"):
            await http.post("/contacts", json={"name": name}, headers=auth)
        cursor = (await http.get("/contacts?limit=1", headers=auth)).json()["next_cursor"]
        assert (
            await http.get(f"/contacts?limit=1&cursor={cursor}", headers=auth)
        ).status_code == 200
    await rt.stop()
    done = run_cli("rotate-key", "--db", str(tmp_path / "crm.db"))
    assert done.returncode == 0, done.stderr
    assert "restart" in done.stdout
    new = (tmp_path / "crm.db.key").read_text().strip()
    assert new != old and len(new) >= 32 and mode(tmp_path / "crm.db.key") == 0o600
    app = await start(settings, clock)
    try:
        auth = {"Authorization": f"Bearer {token}", **JSON}
        transport = httpx.ASGITransport(app=app, client=("10.0.0.9", 1))
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
            # the token survives (a SHA-256 hash, not keyed) ...
            r = await http.get("/contacts", headers=auth)
            assert r.status_code == 200, r.text
            # ... what the old key signed does not: the cursor it gave is refused now.
            r = await http.get(f"/contacts?limit=1&cursor={cursor}", headers=auth)
            assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_cursor"
    finally:
        await app.runtime.stop()  # type: ignore[attr-defined]


def test_rotate_key_with_a_configured_key_says_where_to_change_it(tmp_path: Path) -> None:
    done = run_cli("rotate-key", "--db", str(tmp_path / "x.db"), CRMKIT_SECRET_KEY="z" * 40)
    assert done.returncode == 2 and "CRMKIT_SECRET_KEY" in done.stderr
