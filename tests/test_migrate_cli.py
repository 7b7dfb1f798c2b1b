"""`crmkit migrate [--check] [--db DB]`: apply the pending schema migrations, or (--check) only
list them, exit status 1 when some are pending, creating and changing nothing."""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path

import asyncpg
import pytest
from conftest import PostgresServer
from copy_util import open_dump
from foundation_util import run_cli

from crmkit.store.connect import open_database
from crmkit.store.postgres.schema import PACKAGE as PG_MIGRATIONS
from crmkit.store.sqlite.schema import _statements, migration_files

SQLITE_NAMES = [name for _, name, _ in migration_files()]
PG_NAMES = [name for _, name, _ in migration_files(PG_MIGRATIONS)]


def names_for(backend: str) -> list[str]:
    return PG_NAMES if backend == "postgresql" else SQLITE_NAMES


def pending_summary(n: int) -> str:
    return f"# {n} pending migration{'s' if n != 1 else ''}"


async def public_tables(url: str) -> list[str]:
    conn = await asyncpg.connect(url)
    try:
        rows = await conn.fetch(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'"
        )
        return sorted(r[0] for r in rows)
    finally:
        await conn.close()


async def migrated(url: str) -> None:
    db = open_database(url)
    await db.open()
    await db.close()


def folder(path: Path) -> dict[str, str]:
    """Every file of a folder and the sha256 of its bytes."""
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in path.iterdir()}


# --- --check --------------------------------------------------------------------------------


async def test_check_on_a_fresh_postgresql_database_lists_all_and_creates_nothing(
    postgres: PostgresServer,
) -> None:
    url = postgres.create(migrated=False)
    try:
        assert await public_tables(url) == []
        done = run_cli("migrate", "--check", "--db", url)
        assert done.returncode == 1, (done.stdout, done.stderr)
        assert done.stdout.splitlines() == [
            *(f"pending {name}" for name in PG_NAMES),
            pending_summary(len(PG_NAMES)),
        ]
        assert await public_tables(url) == []  # not even schema_migrations
    finally:
        postgres.drop(url)


def test_check_on_a_missing_sqlite_file_lists_all_and_creates_no_file(tmp_path: Path) -> None:
    for db in (tmp_path / "crm.db", tmp_path / "sub" / "crm.db"):
        for given in (str(db), "sqlite:///" + str(db)):
            done = run_cli("migrate", "--check", "--db", given)
            assert done.returncode == 1, (done.stdout, done.stderr)
            assert done.stdout.splitlines() == [
                *(f"pending {name}" for name in SQLITE_NAMES),
                pending_summary(len(SQLITE_NAMES)),
            ]
            assert list(tmp_path.iterdir()) == []


def test_check_through_the_environment_variable(tmp_path: Path) -> None:
    db = tmp_path / "env.db"
    done = run_cli("migrate", "--check", CRMKIT_DATABASE=str(db))
    assert done.returncode == 1
    assert done.stdout.splitlines()[-1] == pending_summary(len(SQLITE_NAMES))
    assert not db.exists()


async def test_check_on_a_migrated_database_lists_none(backend: str, db_path: str) -> None:
    await migrated(db_path)  # the shared PostgreSQL database is migrated already
    done = run_cli("migrate", "--check", "--db", db_path)
    assert done.returncode == 0, (done.stdout, done.stderr)
    assert done.stdout.splitlines() == [pending_summary(0)]
    assert done.stderr == ""


@pytest.mark.sqlite_only
async def test_check_leaves_a_migrated_sqlite_folder_as_it_was(
    backend: str, db_path: str, tmp_path: Path
) -> None:
    """Creates nothing: not even the -wal and -shm files a read of a WAL database makes (left
    behind owned by whoever ran the check, e.g. root beside a server's own files)."""
    await migrated(db_path)
    before = folder(tmp_path)
    assert list(before) == ["crmkit.db"]
    done = run_cli("migrate", "--check", "--db", db_path)
    assert done.returncode == 0, (done.stdout, done.stderr)
    assert folder(tmp_path) == before


def partly_migrated(path: Path, upto: int) -> None:
    """A SQLite file at schema version `upto`, as an older crmkit left it."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute(
        "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL,"
        " applied_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ','now')))"
    )
    for version, name, sql in migration_files():
        if version > upto:
            break
        conn.execute("BEGIN")
        for statement in _statements(sql):
            conn.execute(statement)
        conn.execute("INSERT INTO schema_migrations (version, name) VALUES (?, ?)", (version, name))
        conn.execute("COMMIT")
    conn.close()


def test_check_on_a_partly_migrated_sqlite_file_lists_the_rest_and_changes_nothing(
    tmp_path: Path,
) -> None:
    db = tmp_path / "old.db"
    partly_migrated(db, 10)
    before = db.read_bytes()
    done = run_cli("migrate", "--check", "--db", str(db))
    assert done.returncode == 1, (done.stdout, done.stderr)
    rest = SQLITE_NAMES[10:]
    assert rest and rest[0].startswith("0011_")
    assert done.stdout.splitlines() == [*(f"pending {n}" for n in rest), pending_summary(len(rest))]
    assert db.read_bytes() == before
    versions = sqlite3.connect(db).execute("SELECT max(version) FROM schema_migrations")
    assert versions.fetchone() == (10,)


# --- applying -------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["postgresql", "sqlite"])
async def test_migrate_applies_all_then_check_says_none(
    kind: str, postgres: PostgresServer, tmp_path: Path
) -> None:
    url = postgres.create(migrated=False) if kind == "postgresql" else str(tmp_path / "new.db")
    try:
        done = run_cli("migrate", "--db", url)
        assert done.returncode == 0, (done.stdout, done.stderr)
        assert done.stdout.splitlines() == [f"# applied {n}" for n in names_for(kind)]
        check = run_cli("migrate", "--check", "--db", url)
        assert (check.returncode, check.stdout) == (0, pending_summary(0) + "\n")
        again = run_cli("migrate", "--db", url)
        assert (again.returncode, again.stdout) == (0, "# the schema is up to date\n")
        # The schema is the one the app uses: every table a copy carries is there, empty.
        assert {rows for rows, _ in (await open_dump(url)).values()} == {0}
    finally:
        if kind == "postgresql":
            postgres.drop(url)


def test_migrate_applies_only_what_a_partly_migrated_sqlite_file_lacks(tmp_path: Path) -> None:
    db = tmp_path / "old.db"
    partly_migrated(db, 10)
    conn = sqlite3.connect(db)
    conn.execute("INSERT INTO users (id, email, created_at) VALUES ('u_keep', 'k@x.io', 1)")
    conn.commit()
    conn.close()
    done = run_cli("migrate", "--db", str(db))
    assert done.returncode == 0, (done.stdout, done.stderr)
    assert done.stdout.splitlines() == [f"# applied {n}" for n in SQLITE_NAMES[10:]]
    check = run_cli("migrate", "--check", "--db", str(db))
    assert (check.returncode, check.stdout) == (0, pending_summary(0) + "\n")
    conn = sqlite3.connect(db)
    assert conn.execute("SELECT id FROM users").fetchall() == [("u_keep",)]
    assert conn.execute("SELECT count(*) FROM schema_migrations").fetchone() == (len(SQLITE_NAMES),)
    conn.close()


# --- failures -------------------------------------------------------------------------------


def test_check_on_something_it_cannot_read_fails_in_one_clear_line(
    tmp_path: Path, postgres: PostgresServer
) -> None:
    """A file that is no database, or a PostgreSQL database that does not exist: exit 1 and a
    `crmkit: ...` line, as for a server that refuses the connection, never a traceback."""
    not_a_db = tmp_path / "notes.db"
    not_a_db.write_text("hello\n")
    missing_pg = postgres.url("crmkit_test_no_such_database")
    refused = "postgresql://u:secret@127.0.0.1:1/x"
    for db in (refused, str(not_a_db), missing_pg):
        done = run_cli("migrate", "--check", "--db", db)
        assert done.returncode == 1, (db, done.stdout, done.stderr)
        assert done.stdout == ""
        assert "Traceback" not in done.stderr, done.stderr
        assert done.stderr.startswith("crmkit: ") and len(done.stderr.splitlines()) == 1
        assert "secret" not in done.stderr
    assert not_a_db.read_text() == "hello\n"
