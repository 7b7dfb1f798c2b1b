"""The Database for a configured URL (config.database_backend says which backend it names)."""

from __future__ import annotations

from crmkit.config import database_backend, sqlite_path
from crmkit.store.base import Database


def failures() -> tuple[type[BaseException], ...]:
    """What opening or querying a database raises when it is missing, unreachable or not a
    database (for commands to answer in one line rather than a traceback)."""
    import sqlite3

    import asyncpg

    return (OSError, sqlite3.Error, asyncpg.PostgresError, asyncpg.InterfaceError)


def describe(url: str, exc: BaseException) -> str:
    """One line about a database failure, without the URL's password."""
    from crmkit.config import redact_url

    text = str(exc).splitlines()[0] if str(exc) else ""
    password = _password(url)
    if password:
        text = text.replace(password, "***")
    return f"cannot use the database {redact_url(url)}: {type(exc).__name__}: {text}".rstrip(": ")


def _password(url: str) -> str | None:
    head, at, _ = url.rpartition("@")
    if not at or "://" not in head:
        return None
    userinfo = head.split("://", 1)[1]
    return userinfo.split(":", 1)[1] if ":" in userinfo else None


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
        # Read-only, and with no -wal/-shm of its own left behind: a check run as another
        # user beside a live database must not leave files the server cannot open.
        quiet = not os.path.exists(path + "-wal") and not os.path.exists(path + "-shm")
        mode = "ro&immutable=1" if quiet else "ro"
        async with aiosqlite.connect(f"file:{path}?mode={mode}", uri=True) as conn:
            pending = await sqlite_schema.pending(conn)
    if not apply or not pending:
        return pending, []
    db = open_database(url)
    await db.open()  # applies them, in WAL mode with the server's settings
    await db.close()
    return pending, pending
