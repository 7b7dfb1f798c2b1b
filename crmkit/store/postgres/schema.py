"""PostgreSQL's schema: numbered `.sql` files in `store/postgres/migrations`, applied in order
at start-up, each in its own transaction and recorded in `schema_migrations`, under a
session advisory lock so that replicas starting together apply each once."""

from __future__ import annotations

import logging
import time

import asyncpg

from crmkit.store.sqlite.schema import migration_files

log = logging.getLogger("crmkit.db")
PACKAGE = "crmkit.store.postgres.migrations"
_LOCK = 0x63726D6B6974  # "crmkit": the migrations' advisory lock

_TABLE = (
    "CREATE TABLE IF NOT EXISTS schema_migrations (version integer PRIMARY KEY,"
    " name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())"
)


async def _done(conn: asyncpg.Connection) -> set[int]:
    exists = await conn.fetchval("SELECT to_regclass('schema_migrations') IS NOT NULL")
    if not exists:
        return set()
    return {int(r[0]) for r in await conn.fetch("SELECT version FROM schema_migrations")}


async def pending(conn: asyncpg.Connection) -> list[str]:
    """The migrations not yet applied, by name (nothing is changed)."""
    done = await _done(conn)
    return [name for version, name, _ in migration_files(PACKAGE) if version not in done]


async def migrate(conn: asyncpg.Connection) -> list[str]:
    """Apply the migrations not yet recorded; returns their names."""
    applied = []
    await conn.execute("SELECT pg_advisory_lock($1)", _LOCK)
    try:
        await conn.execute(_TABLE)
        done = await _done(conn)  # under the lock: another replica may have just applied some
        for version, name, sql in migration_files(PACKAGE):
            if version in done:
                continue
            log.info("applying schema migration %s", name)
            started = time.perf_counter()
            async with conn.transaction():
                await conn.execute(sql)
                await conn.execute(
                    "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)", version, name
                )
            log.info("applied schema migration %s in %.1f s", name, time.perf_counter() - started)
            applied.append(name)
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", _LOCK)
    return applied
