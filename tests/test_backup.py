"""`crmkit backup`: a consistent, checked copy, taken while the app holds the database open."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from conftest import Api
from foundation_util import run_cli

# `crmkit backup` copies a SQLite file (PostgreSQL: pg_dump, see the README)
pytestmark = pytest.mark.sqlite_only


async def test_backup_while_the_app_runs_holds_every_committed_row(
    api: Api, db_path: str, tmp_path: Path
) -> None:
    token = await api.sign_in("ann@acme.com")
    for i in range(20):
        r = await api.post("/contacts", token, json={"email": f"p{i}@acme.com"})
        assert r.status_code == 201
    target = tmp_path / "backups" / "crm.db"
    done = run_cli("backup", str(target), "--db", db_path)
    assert done.returncode == 0, done.stderr
    assert "backed up" in done.stderr
    copy = sqlite3.connect(target)
    assert copy.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    assert copy.execute("SELECT count(*) FROM contacts").fetchone() == (20,)
    copy.close()
    # A second backup replaces the first, and no temporary file is left behind.
    await api.post("/contacts", token, json={"email": "p20@acme.com"})
    assert run_cli("backup", str(target), "--db", db_path).returncode == 0
    assert sqlite3.connect(target).execute("SELECT count(*) FROM contacts").fetchone() == (21,)
    assert [p.name for p in target.parent.iterdir()] == ["crm.db"]


def test_backup_of_a_missing_database_fails_clearly(tmp_path: Path) -> None:
    done = run_cli("backup", str(tmp_path / "out.db"), "--db", str(tmp_path / "nope.db"))
    assert done.returncode == 1
    assert "no database at" in done.stderr
    assert not (tmp_path / "out.db").exists()


def test_the_backup_is_owner_only_and_never_the_live_database(db_path: str, tmp_path: Path) -> None:
    sqlite3.connect(db_path).execute("CREATE TABLE t (x)").connection.close()
    target = tmp_path / "copy.db"
    assert run_cli("backup", str(target), "--db", db_path).returncode == 0
    assert target.stat().st_mode & 0o777 == 0o600
    for live in (db_path, db_path + "-wal"):
        done = run_cli("backup", live, "--db", db_path)
        assert done.returncode == 1
        assert "is the live database" in done.stderr
    assert sqlite3.connect(db_path).execute("SELECT count(*) FROM t").fetchone() == (0,)


def test_the_backup_never_replaces_a_database_in_use_or_a_directory(
    db_path: str, tmp_path: Path
) -> None:
    """A target with a -wal file is open somewhere (a second server on it): renaming over it
    corrupted what that server wrote next."""
    sqlite3.connect(db_path).execute("CREATE TABLE t (x)").connection.close()
    other = tmp_path / "other.db"
    holder = sqlite3.connect(other)
    holder.execute("PRAGMA journal_mode=WAL")
    holder.execute("CREATE TABLE kept (x)")
    holder.execute("INSERT INTO kept VALUES (1)")
    holder.commit()
    try:
        done = run_cli("backup", str(other), "--db", db_path)
        assert done.returncode == 1 and "looks in use" in done.stderr, done.stderr
        assert holder.execute("SELECT count(*) FROM kept").fetchone() == (1,)
    finally:
        holder.close()
    done = run_cli("backup", str(tmp_path), "--db", db_path)
    assert done.returncode == 1 and "is a directory" in done.stderr, done.stderr
