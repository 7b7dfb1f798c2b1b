"""The SQLite connections: one writer behind a lock, readers; migrations at open.

Why this shape: every `await` into aiosqlite is a thread hop, and on two cores more
connections made things slower, not faster (docs/PERFORMANCE.md). Writes go through the single
writer with `BEGIN IMMEDIATE` so a transaction never has to upgrade from read to write (which
can fail with SQLITE_BUSY); reads never wait for the write lock.

Reads run first on a read-only connection on the event loop itself: nearly all of them are
indexed and take well under a millisecond, less than the hand-off to aiosqlite's thread costs
(about half of a single GET's time). A progress handler interrupts any read that runs past
INLINE_BUDGET_S, so a slow one cannot stall the loop for longer than that: it is run again on
the aiosqlite reader thread, and its SQL is remembered so the next one goes there directly.
A read that meets a lock (SQLITE_BUSY) does the same, since only the thread may wait.

`synchronous=NORMAL` in WAL mode: every commit survives a process crash (kill -9); only the
newest commits may be lost on power loss. FULL would also survive power loss at roughly three
times the cost of each commit; pass `Database(path, synchronous="FULL")` if that matters
more than speed.
"""

from __future__ import annotations

import asyncio
import os
import re
import sqlite3
import time
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from importlib import resources
from typing import Any

import aiosqlite

Row = tuple[Any, ...]
Params = Sequence[Any] | dict[str, Any]

BUSY_TIMEOUT_MS = 5000
# The longest a read may hold the event loop before it moves to the reader thread; a capped
# list page with its count takes about 0.6 ms on the benchmark machine.
INLINE_BUDGET_S = 0.002
# How often (in SQLite VM instructions) the budget is checked: ~0.05-0.2 ms of work.
_CHECK_EVERY = 1000
_SLOW_MEMORY = 512
_OFFLOAD_CODES = frozenset({sqlite3.SQLITE_INTERRUPT, sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED})


class Tx:
    """A write transaction on the writer connection; reads inside it see its own writes."""

    def __init__(self, conn: aiosqlite.Connection) -> None:
        self._conn = conn

    async def execute(self, sql: str, params: Params = ()) -> int:
        """Run one statement; returns the number of rows it changed."""
        cursor = await self._conn.execute(sql, params)
        count = cursor.rowcount
        await cursor.close()
        return count

    async def executemany(self, sql: str, rows: Iterable[Params]) -> None:
        await self._conn.executemany(sql, rows)

    async def all(self, sql: str, params: Params = ()) -> list[Row]:
        return list(await self._conn.execute_fetchall(sql, params))  # type: ignore[arg-type]

    async def one(self, sql: str, params: Params = ()) -> Row | None:
        rows = await self._conn.execute_fetchall(sql, params)
        return next(iter(rows), None)  # type: ignore[return-value]


class Database:
    def __init__(
        self, path: str, *, synchronous: str = "NORMAL", inline_budget: float = INLINE_BUDGET_S
    ) -> None:
        self.path = path
        self.synchronous = synchronous
        self.inline_budget = inline_budget
        self._writer: aiosqlite.Connection | None = None
        self._reader: aiosqlite.Connection | None = None
        self._inline: sqlite3.Connection | None = None
        self._deadline = 0.0
        self._slow: set[str] = set()
        # reads answered on the loop / moved to the reader thread, for tests and benchmarks
        self.reads_inline = 0
        self.reads_offloaded = 0
        self._lock = asyncio.Lock()

    async def open(self) -> None:
        if self.path != ":memory:":
            parent = os.path.dirname(os.path.abspath(self.path))
            os.makedirs(parent, exist_ok=True)
        self._writer = await self._connect()
        await self._writer.execute("PRAGMA journal_mode=WAL")
        await migrate(self._writer)
        self._reader = await self._connect()
        if self.path != ":memory:":  # a second :memory: connection would be another database
            self._inline = self._connect_inline()

    def _pragmas(self, busy_timeout_ms: int) -> list[str]:
        return [
            f"PRAGMA busy_timeout={busy_timeout_ms}",
            "PRAGMA foreign_keys=ON",
            f"PRAGMA synchronous={self.synchronous}",
        ]

    async def _connect(self) -> aiosqlite.Connection:
        conn = await aiosqlite.connect(self.path, isolation_level=None, check_same_thread=False)
        for pragma in self._pragmas(BUSY_TIMEOUT_MS):
            await conn.execute(pragma)
        return conn

    def _connect_inline(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        for pragma in self._pragmas(0):  # never wait on the loop: the thread path waits
            conn.execute(pragma)
        conn.execute("PRAGMA query_only=ON")  # reads only, whatever SQL reaches it
        conn.set_progress_handler(self._over_budget, _CHECK_EVERY)
        return conn

    def _over_budget(self) -> bool:
        return time.perf_counter() > self._deadline

    async def close(self) -> None:
        if self._inline is not None:
            self._inline.close()
            self._inline = None
        for conn in (self._reader, self._writer):
            if conn is not None:
                await conn.close()
        self._reader = self._writer = None

    @property
    def reader(self) -> aiosqlite.Connection:
        if self._reader is None:
            raise RuntimeError("database is not open")
        return self._reader

    def _read_inline(self, sql: str, params: Params) -> list[Row] | None:
        """The rows, or None when the read belongs on the reader thread."""
        conn = self._inline
        if conn is None or sql in self._slow:
            return None
        self._deadline = time.perf_counter() + self.inline_budget
        try:
            rows = conn.execute(sql, params).fetchall()
        except sqlite3.OperationalError as exc:
            if exc.sqlite_errorcode not in _OFFLOAD_CODES:
                raise
            if exc.sqlite_errorcode == sqlite3.SQLITE_INTERRUPT:
                if len(self._slow) >= _SLOW_MEMORY:
                    self._slow.clear()
                self._slow.add(sql)
            return None
        self.reads_inline += 1
        return rows

    async def all(self, sql: str, params: Params = ()) -> list[Row]:
        rows = self._read_inline(sql, params)
        if rows is None:
            self.reads_offloaded += 1
            rows = list(await self.reader.execute_fetchall(sql, params))  # type: ignore[arg-type]
        return rows

    async def one(self, sql: str, params: Params = ()) -> Row | None:
        rows = await self.all(sql, params)
        return rows[0] if rows else None

    async def ping(self) -> None:
        """Raise unless the database answers a query (readiness)."""
        await self.one("SELECT 1 FROM schema_migrations LIMIT 1")

    @asynccontextmanager
    async def write(self) -> AsyncIterator[Tx]:
        """One logical write: BEGIN IMMEDIATE ... COMMIT, rolled back on any exception."""
        if self._writer is None:
            raise RuntimeError("database is not open")
        conn = self._writer
        async with self._lock:
            await conn.execute("BEGIN IMMEDIATE")
            try:
                yield Tx(conn)
            except BaseException:
                await conn.execute("ROLLBACK")
                raise
            else:
                await conn.execute("COMMIT")


_MIGRATION_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")


def migration_files() -> list[tuple[int, str, str]]:
    """(version, name, sql) for every numbered file in store/migrations, in order."""
    found = []
    for entry in resources.files("crmkit.store.migrations").iterdir():
        match = _MIGRATION_NAME.match(entry.name)
        if match:
            found.append((int(match.group(1)), entry.name, entry.read_text(encoding="utf-8")))
    found.sort()
    versions = [v for v, _, _ in found]
    if len(set(versions)) != len(versions):
        raise RuntimeError(f"two migrations share a number: {versions}")
    return found


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
            for statement in _statements(sql):
                await conn.execute(statement)
            await conn.execute(
                "INSERT INTO schema_migrations (version, name) VALUES (?, ?)", (version, name)
            )
        except BaseException:
            await conn.execute("ROLLBACK")
            raise
        await conn.execute("COMMIT")
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
