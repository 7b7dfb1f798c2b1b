"""PostgreSQL (store/base.py's Database) through an asyncpg pool.

- Statements are written with `?` placeholders, as for SQLite, and numbered here (`$1`...)
  once per distinct text; asyncpg prepares each on a connection the first time it runs
  there and keeps it (its statement cache).
- Every write is one transaction that first takes a transaction-scoped advisory lock on its
  key (a workspace id; one shared key for the rest). Writes to one workspace therefore run one
  at a time across every process and host, as SQLite runs every write: a plan's cap, a
  version check, an upsert's match or the find-or-create of a company by name see no other
  write between the check and their own. Writes to different workspaces run side by side.
  A side effect: within a workspace, the order rows take their `seq` is their commit order.
- Reads run on any pooled connection, each statement in its own snapshot (READ COMMITTED);
  a list page and its capped total come from one statement, so they agree.
- JIT is off: crmkit's statements are short, and compiling one costs more than running it.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import AbstractAsyncContextManager as AsyncContextManager
from contextlib import asynccontextmanager
from functools import lru_cache

import asyncpg
from asyncpg.pool import PoolConnectionProxy

from crmkit.config import redact_url
from crmkit.store import unit
from crmkit.store.base import Params, Row, Tx
from crmkit.store.postgres.dialect import DIALECT
from crmkit.store.postgres.schema import migrate

log = logging.getLogger("crmkit.db")

POOL_MIN = 2
POOL_MAX = 10
_STATUS_COUNT = re.compile(r"(\d+)\s*$")
_TOKEN = re.compile(r"'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"|\?")


@lru_cache(maxsize=4096)
def numbered(sql: str) -> str:
    """`?` placeholders -> `$1`, `$2`, ... (never inside a quoted string or identifier)."""
    n = 0

    def number(match: re.Match[str]) -> str:
        nonlocal n
        if match.group(0) != "?":
            return match.group(0)
        n += 1
        return "$%d" % n

    return _TOKEN.sub(number, sql)


def lock_key(key: str | None) -> int:
    """The advisory lock of a write key: 64 bits of its hash, signed as PostgreSQL's bigint."""
    digest = hashlib.blake2b((key or "").encode(), digest_size=8, person=b"crmkit-write").digest()
    return int.from_bytes(digest, "big", signed=True)


def _count(status: str) -> int:
    """Rows changed, from asyncpg's command status ("UPDATE 3", "INSERT 0 1")."""
    match = _STATUS_COUNT.search(status or "")
    return int(match.group(1)) if match else 0


class PgTx:
    """A write transaction on one pooled connection."""

    dialect = DIALECT

    def __init__(self, conn: asyncpg.Connection | PoolConnectionProxy) -> None:
        self._conn = conn

    async def execute(self, sql: str, params: Params = ()) -> int:
        return _count(await self._conn.execute(numbered(sql), *params))

    async def executemany(self, sql: str, rows: Iterable[Params]) -> None:
        batch = [tuple(r) for r in rows]
        if batch:
            await self._conn.executemany(numbered(sql), batch)

    async def all(self, sql: str, params: Params = ()) -> list[Row]:
        return [tuple(r) for r in await self._conn.fetch(numbered(sql), *params)]

    async def one(self, sql: str, params: Params = ()) -> Row | None:
        row = await self._conn.fetchrow(numbered(sql), *params)
        return None if row is None else tuple(row)

    async def insert_rows(self, table: str, columns: Sequence[str], rows: list[Row]) -> None:
        if rows:
            await self._conn.copy_records_to_table(table, columns=list(columns), records=rows)


class PgSnapshot:
    """A REPEATABLE READ, read-only transaction: every read sees the same commit's state."""

    def __init__(self, conn: asyncpg.Connection | PoolConnectionProxy) -> None:
        self._conn = conn

    async def all(self, sql: str, params: Params = ()) -> list[Row]:
        return [tuple(r) for r in await self._conn.fetch(numbered(sql), *params)]

    async def stream(
        self, sql: str, params: Params = (), size: int = 5000
    ) -> AsyncIterator[list[Row]]:
        batch: list[Row] = []
        async for record in self._conn.cursor(numbered(sql), *params, prefetch=size):
            batch.append(tuple(record))
            if len(batch) >= size:
                yield batch
                batch = []
        if batch:
            yield batch


class PostgresDatabase:
    """PostgreSQL by URL: postgresql://user[:password]@host[:port]/database.

    asyncpg's connections belong to the event loop that made them: each loop that uses the
    database gets a pool of its own (a server has one loop; a test also reads from its own
    while uvicorn serves from another thread)."""

    dialect = DIALECT

    def __init__(self, dsn: str, *, min_size: int = POOL_MIN, max_size: int = POOL_MAX) -> None:
        self._dsn = dsn
        self._min, self._max = min_size, max_size
        self._pools: dict[asyncio.AbstractEventLoop, asyncio.Future[asyncpg.Pool]] = {}
        self._open = False
        self.writes = 0  # for tests and benchmarks, as SQLite's counters

    @property
    def url(self) -> str:
        return redact_url(self._dsn)

    async def connect(self) -> asyncpg.Connection:
        """One connection of its own (migrations, copies), outside the pools."""
        return await asyncpg.connect(self._dsn, server_settings=_SETTINGS)

    async def open(self) -> None:
        conn = await self.connect()
        try:
            await migrate(conn)
        finally:
            await conn.close()
        self._open = True
        await self.pool()

    async def pool(self) -> asyncpg.Pool:
        """This event loop's pool."""
        loop = asyncio.get_running_loop()
        made = self._pools.get(loop)
        if made is None:
            if not self._open:
                raise RuntimeError("database is not open")
            first = not self._pools
            made = self._pools[loop] = loop.create_future()
            try:
                pool = await asyncpg.create_pool(
                    self._dsn,
                    min_size=self._min if first else 1,
                    max_size=self._max,
                    server_settings=_SETTINGS,
                    reset=_keep,
                )
            except BaseException as exc:
                del self._pools[loop]
                made.set_exception(exc)
                made.exception()  # retrieved: the caller gets it raised below
                raise
            made.set_result(pool)
        return await made

    async def close(self) -> None:
        self._open = False
        here = asyncio.get_running_loop()
        pools, self._pools = self._pools, {}
        for loop, made in pools.items():
            if not made.done() or made.exception() is not None:
                continue
            pool = made.result()
            if loop is here:
                await pool.close()
            else:
                pool.terminate()  # another loop's connections: closed without awaiting it

    async def scrub(self) -> None:
        pool = await self.pool()
        async with pool.acquire() as conn:
            await conn.execute("VACUUM meta")  # dead row versions out of the table's pages

    async def ping(self) -> None:
        await self.one("SELECT 1 FROM schema_migrations LIMIT 1")

    async def all(self, sql: str, params: Params = ()) -> list[Row]:
        if (tx := unit.joined(self)) is not None:
            return await tx.all(sql, params)
        pool = await self.pool()
        return [tuple(r) for r in await pool.fetch(numbered(sql), *params)]

    async def one(self, sql: str, params: Params = ()) -> Row | None:
        if (tx := unit.joined(self)) is not None:
            return await tx.one(sql, params)
        pool = await self.pool()
        row = await pool.fetchrow(numbered(sql), *params)
        return None if row is None else tuple(row)

    async def many(
        self, sql: str, params: Params = (), *, width: int, numbers: Iterable[int] = ()
    ) -> list[Row]:
        return await self.all(sql, params)

    @asynccontextmanager
    async def snapshot(self) -> AsyncIterator[PgSnapshot]:
        pool = await self.pool()
        async with (
            pool.acquire() as conn,
            conn.transaction(isolation="repeatable_read", readonly=True),
        ):
            yield PgSnapshot(conn)

    def write(self, *, heavy: bool = False, key: str | None = None) -> AsyncContextManager[Tx]:
        return unit.write(self, heavy, key)

    async def lock(self, tx: Tx, key: str | None) -> None:
        """A unit's later write with another key takes that key's lock too."""
        await tx.execute("SELECT pg_advisory_xact_lock(?)", (lock_key(key),))

    @asynccontextmanager
    async def transaction(
        self, *, heavy: bool = False, key: str | None = None
    ) -> AsyncIterator[PgTx]:
        pool = await self.pool()
        async with pool.acquire() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock($1)", lock_key(key))
            yield PgTx(conn)
        self.writes += 1


_SETTINGS: dict[str, str] = {"jit": "off", "application_name": "crmkit"}


async def _keep(conn: asyncpg.Connection) -> None:
    """A released connection needs no reset: crmkit holds no session state on pooled ones
    (its advisory locks end with their transactions), and asyncpg's default reset cost a
    round trip after every statement."""
