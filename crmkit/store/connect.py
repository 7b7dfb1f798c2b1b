"""The Database for a configured URL (config.database_backend says which backend it names)."""

from __future__ import annotations

from crmkit.config import database_backend, sqlite_path
from crmkit.store.base import Database


def open_database(url: str) -> Database:
    """The Database for `url` (not yet opened): a SQLite path or sqlite:///path, or
    postgresql://user@host:5432/name. Raises config.ConfigError for anything else."""
    if database_backend(url) == "postgresql":
        from crmkit.store.postgres.db import PostgresDatabase

        return PostgresDatabase(url)
    from crmkit.store.sqlite.db import Database as SqliteDatabase

    return SqliteDatabase(sqlite_path(url))


async def migrations(url: str, *, apply: bool) -> tuple[list[str], list[str]]:
    """(pending, applied): the migrations `url`'s database lacks, and those applied now (as
    `crmkit serve` applies them at start-up). Without `apply`, nothing is created or changed."""
    if database_backend(url) == "postgresql":
        from crmkit.store.postgres import schema as pg_schema
        from crmkit.store.postgres.db import PostgresDatabase

        pg_conn = await PostgresDatabase(url).connect()
        try:
            pending = await pg_schema.pending(pg_conn)
            return pending, (await pg_schema.migrate(pg_conn) if apply else [])
        finally:
            await pg_conn.close()
    import os

    import aiosqlite

    from crmkit.store.sqlite import schema as sqlite_schema

    path = sqlite_path(url)
    if not os.path.exists(path):
        pending = [name for _, name, _ in sqlite_schema.migration_files()]
    else:
        async with aiosqlite.connect(f"file:{path}?mode=ro", uri=True) as conn:
            pending = await sqlite_schema.pending(conn)
    if not apply or not pending:
        return pending, []
    db = open_database(url)
    await db.open()  # applies them, in WAL mode with the server's settings
    await db.close()
    return pending, pending
