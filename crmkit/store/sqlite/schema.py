"""SQLite's schema: numbered `.sql` migrations in `store/sqlite/migrations`, applied in order at
start-up, each in its own transaction and recorded in `schema_migrations`."""

from __future__ import annotations

import logging
import re
import sqlite3
import time
from importlib import resources

import aiosqlite

from crmkit.store.sqlite import words

log = logging.getLogger("crmkit.db")
_MIGRATION_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")
# Migrations whose rows are computed in Python, after their SQL, in the same transaction.
_BACKFILLS = {13: words.backfill, 16: words.rebuild}


def migration_files(package: str = "crmkit.store.sqlite.migrations") -> list[tuple[int, str, str]]:
    """(version, name, sql) for every numbered file of a migrations package, in order."""
    found = []
    for entry in resources.files(package).iterdir():
        match = _MIGRATION_NAME.match(entry.name)
        if match:
            found.append((int(match.group(1)), entry.name, entry.read_text(encoding="utf-8")))
    found.sort()
    versions = [v for v, _, _ in found]
    if len(set(versions)) != len(versions):
        raise RuntimeError(f"two migrations share a number: {versions}")
    return found


async def pending(conn: aiosqlite.Connection) -> list[str]:
    """The migrations not yet applied, by name (nothing is changed)."""
    tables = await conn.execute_fetchall(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'"
    )
    done = (
        {r[0] for r in await conn.execute_fetchall("SELECT version FROM schema_migrations")}
        if tables
        else set()
    )
    return [name for version, name, _ in migration_files() if version not in done]


async def migrate(conn: aiosqlite.Connection) -> list[str]:
    """Apply the migrations not yet recorded; each in its own transaction. Returns their names."""
    await conn.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations ("
        " version INTEGER PRIMARY KEY, name TEXT NOT NULL,"
        " applied_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ','now')))"
    )
    rows = await conn.execute_fetchall("SELECT version FROM schema_migrations")
    done = {r[0] for r in rows}
    applied = []
    for version, name, sql in migration_files():
        if version in done:
            continue
        await conn.execute("BEGIN IMMEDIATE")
        try:
            # Another process (a second worker starting) may have applied it meanwhile.
            if await conn.execute_fetchall(
                "SELECT 1 FROM schema_migrations WHERE version = ?", (version,)
            ):
                await conn.execute("ROLLBACK")
                continue
            # Some rebuild an index over every record (0007: ~45 s at 1M contacts): say so.
            log.info("applying schema migration %s", name)
            started = time.perf_counter()
            for statement in _statements(sql):
                await conn.execute(statement)
            if version in _BACKFILLS:
                await _BACKFILLS[version](conn)
            await conn.execute(
                "INSERT INTO schema_migrations (version, name) VALUES (?, ?)", (version, name)
            )
        except BaseException:
            await conn.execute("ROLLBACK")
            raise
        await conn.execute("COMMIT")
        log.info("applied schema migration %s in %.1f s", name, time.perf_counter() - started)
        applied.append(name)
    return applied


def _statements(sql: str) -> list[str]:
    """Split a migration into statements (sqlite3.complete_statement keeps triggers whole)."""
    statements, buf = [], ""
    for line in sql.splitlines(keepends=True):
        if not buf and line.strip().startswith("--"):
            continue
        buf += line
        if sqlite3.complete_statement(buf):
            if buf.strip():
                statements.append(buf.strip())
            buf = ""
    if buf.strip():
        statements.append(buf.strip())
    return statements
