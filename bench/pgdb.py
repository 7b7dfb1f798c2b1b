"""PostgreSQL helpers for the benchmark scripts (asyncpg, which crmkit already depends on).

    python bench/pgdb.py settings postgresql://postgres@127.0.0.1:5432/crmkit_bench
    python bench/pgdb.py drop postgresql://postgres@127.0.0.1:5432/crmkit_bench

Each helper opens its own short-lived connection; nothing here runs while wrk measures.
"""

from __future__ import annotations

import asyncio
import sys
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

import asyncpg

from crmkit.config import database_backend, redact_url

# What the header records: memory, durability and planner settings that move the figures.
SETTINGS = (
    "server_version",
    "shared_buffers",
    "work_mem",
    "effective_cache_size",
    "synchronous_commit",
    "fsync",
    "jit",
    "random_page_cost",
    "plan_cache_mode",
    "autovacuum",
    "max_connections",
)
RECORD_TABLES = ("contacts", "companies", "deals")


def is_postgres(url: str) -> bool:
    return bool(database_backend(url) == "postgresql")


def database_name(url: str) -> str:
    name = unquote(urlsplit(url).path.lstrip("/"))
    if not name:
        raise SystemExit(f"{redact_url(url)} names no database (postgresql://user@host/NAME)")
    return name


def _maintenance_url(url: str) -> str:
    """The same server, the `postgres` database (to create or drop the named one)."""
    return urlunsplit(urlsplit(url)._replace(path="/postgres"))


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


async def _connect(url: str) -> asyncpg.Connection:
    return await asyncpg.connect(url, server_settings={"application_name": "crmkit-bench"})


async def _ensure_database(url: str) -> bool:
    name = database_name(url)
    conn = await _connect(_maintenance_url(url))
    try:
        if await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name):
            return False
        await conn.execute("CREATE DATABASE " + _quoted(name))
        return True
    finally:
        await conn.close()


def ensure_database(url: str) -> bool:
    """Create the URL's database if it does not exist; True when it was created."""
    return asyncio.run(_ensure_database(url))


async def _drop_database(url: str) -> bool:
    name = database_name(url)
    conn = await _connect(_maintenance_url(url))
    try:
        if not await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name):
            return False
        await conn.execute("DROP DATABASE %s WITH (FORCE)" % _quoted(name))
        return True
    finally:
        await conn.close()


def drop_database(url: str) -> bool:
    return asyncio.run(_drop_database(url))


async def _holdings(url: str) -> dict[str, int] | None:
    """Rows of users and of each record table, or None when crmkit's schema is not there."""
    conn = await _connect(url)
    try:
        if await conn.fetchval("SELECT to_regclass('contacts')") is None:
            return None
        out = {}
        for table in ("users", *RECORD_TABLES):
            out[table] = int(await conn.fetchval("SELECT count(*) FROM %s" % table))
        return out
    finally:
        await conn.close()


def holdings(url: str) -> dict[str, int] | None:
    return asyncio.run(_holdings(url))


async def _vacuum_analyze(url: str, full: bool) -> None:
    conn = await _connect(url)
    try:
        # outside a transaction: asyncpg sends a statement without parameters alone
        await conn.execute("VACUUM (FULL, ANALYZE)" if full else "VACUUM ANALYZE")
    finally:
        await conn.close()


def vacuum_analyze(url: str, full: bool = False) -> None:
    asyncio.run(_vacuum_analyze(url, full))


async def _settings(url: str) -> dict[str, str]:
    conn = await _connect(url)
    try:
        out = {name: str(await conn.fetchval("SHOW " + name)) for name in SETTINGS}
        out["database size"] = str(
            await conn.fetchval("SELECT pg_size_pretty(pg_database_size(current_database()))")
        )
        if await conn.fetchval("SELECT to_regclass('contacts')") is not None:
            sizes = await conn.fetchrow(
                "SELECT pg_size_pretty(pg_table_size('contacts')),"
                " pg_size_pretty(pg_indexes_size('contacts'))"
            )
            assert sizes is not None
            out["contacts table / indexes"] = f"{sizes[0]} / {sizes[1]}"
        return out
    finally:
        await conn.close()


def settings(url: str) -> dict[str, str]:
    """SHOW of each of SETTINGS (as a plain connection sees them), the database's size and
    the contacts table's."""
    return asyncio.run(_settings(url))


def crmkit_session_settings() -> dict[str, str]:
    """What crmkit's own connections set for themselves (e.g. jit=off), if it says."""
    try:
        from crmkit.store.postgres import db
    except ImportError:
        return {}
    found: Any = getattr(db, "_SETTINGS", {})
    return {str(k): str(v) for k, v in dict(found).items() if k != "application_name"}


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] not in ("settings", "drop", "create"):
        print(__doc__, file=sys.stderr)
        return 2
    command, url = argv
    if command == "drop":
        print("dropped" if drop_database(url) else "no such database", redact_url(url))
    elif command == "create":
        print("created" if ensure_database(url) else "exists", redact_url(url))
    else:
        for name, value in settings(url).items():
            print(f"{name} = {value}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
