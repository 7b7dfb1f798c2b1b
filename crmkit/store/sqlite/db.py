"""The SQLite connections: statements run on the event loop; aiosqlite's threads take what
must not.

Why this shape: every `await` into aiosqlite is a thread hop, about half of a single GET's
time, and under load each hop also waits a full turn of the loop behind every other ready
request (a write of ~6 hops took ~300 ms while reads kept the loop busy). Nearly every
statement crmkit runs is indexed and takes well under a millisecond, so:

- A read of many rows (a list page) runs, when other requests are waiting, on a reader
  thread with its rows packed by SQLite into one JSON value (`many`); see there.
- Other reads run first on a read-only connection on the loop. A progress handler interrupts any
  read that runs past INLINE_BUDGET_S, so a slow one (search, a scan) cannot stall the loop
  for longer: it is run again on an aiosqlite reader thread (the least busy of
  READER_THREADS), and its SQL is remembered so the next one goes there directly.
- Writes run on the loop too, one transaction at a time behind an asyncio lock, with
  `BEGIN IMMEDIATE` so a transaction never has to upgrade from read to write (which can fail
  with SQLITE_BUSY). A write known to be large (`write(heavy=True)`, e.g. deleting a
  workspace) runs on the aiosqlite writer thread instead, so reads go on meanwhile.
- Only the thread connections ever wait for a lock held by another process (busy_timeout):
  a loop read or write that meets one is handed to them.
- WAL checkpoints (the one part of a commit that writes the database file and fsyncs) run on
  the first reader thread every CHECKPOINT_EVERY commits, not inside a commit on the loop.

`synchronous=NORMAL` in WAL mode: every commit survives a process crash (kill -9); only the
newest commits may be lost on power loss. FULL would also survive power loss at roughly three
times the cost of each commit; pass `Database(path, synchronous="FULL")` if that matters
more than speed.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import sqlite3
import time
from collections.abc import AsyncIterator, Awaitable, Iterable, Sequence
from contextlib import AbstractAsyncContextManager as AsyncContextManager
from contextlib import asynccontextmanager
from typing import TypeVar

import aiosqlite
import orjson

from crmkit.store import base, unit
from crmkit.store.base import Params, Row
from crmkit.store.sqlite import stats
from crmkit.store.sqlite.dialect import DIALECT
from crmkit.store.sqlite.schema import migrate

T = TypeVar("T")

BUSY_TIMEOUT_MS = 5000
# The longest a read may hold the event loop before it moves to the reader thread; a GET's
# reads take ~0.03 ms on the benchmark machine, a lone 50-row list page ~0.4 (`many`).
INLINE_BUDGET_S = 0.002
# How often (in SQLite VM instructions) the budget is checked: ~0.2-0.8 ms of work.
_CHECK_EVERY = 4000
_SLOW_MEMORY = 512
# SQLite's own automatic checkpoint runs at 1,000 WAL pages; a single-record write adds ~5-10.
CHECKPOINT_EVERY = 200
# The write-ahead log's bound. A PASSIVE checkpoint copies pages back without waiting for
# readers, but the log file is only rewound (and cut to journal_size_limit) once a
# checkpoint completes while no reader still needs its start: under steady load that could
# be never (30 s of writes grew it to 151 MB beside a 7.4 MB database). Past the bound, a
# TRUNCATE checkpoint runs as soon as writes pause for WAL_QUIET_S (it makes writers wait
# while it runs), or at once past WAL_FORCE times the bound.
WAL_BOUND = 64 * 1024 * 1024
WAL_QUIET_S = 0.25
WAL_FORCE = 4
WAL_WAIT_MS = 50
# How often (in commits) to check whether the planner's statistics are stale
# (store/sqlite/stats.py); the check is a handful of rowid lookups, the ANALYZE it may lead
# to ~0.1 s.
STATS_CHECK_EVERY = 1000
_BUSY = frozenset({sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED})
# A statement found slow goes straight to the thread for this long, then is tried on the loop
# again: a read can overrun once for reasons that pass (the loop thread waiting for the GIL).
SLOW_FOR_S = 60.0
# The read connections' page cache, in KiB (SQLite's default is 2 MiB). A search looks up to
# 1,001 records up by rowid, scattered over the table; with 2 MiB most of those pages came
# from the OS again on each search (3.0 instead of 4.5 ms for a common name at 100k
# contacts). Memory grows with use only, to at most this per reader.
READ_CACHE_KIB = 65536
# Reader threads for the reads that leave the loop (searches, scans). SQLite runs a statement
# without the GIL, so two slow reads on two threads use both cores instead of queueing behind
# each other; the loop's own reads are unaffected (they never wait for a thread). Measured on
# 2 cores, 32 concurrent searches: 1 thread 244 req/s, 2 threads 308-324, 3 310, 4 294.
READER_THREADS = max(2, min(8, os.cpu_count() or 2))
# A turn of the loop shorter than this means no other request was waiting (`many`). Idle,
# a turn takes ~5-10 us; with other requests ready, their callbacks run first (~0.1+ ms).
IDLE_TURN_S = 0.00005

log = logging.getLogger("crmkit.db")


def owner_only(path: str) -> None:
    """The database file, made owner-only (0600) before SQLite opens it: SQLite gives its
    -wal and -shm files the database file's permissions. A file that exists already is
    tightened, and so are its -wal and -shm: they hold every token hash and record."""
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    except FileExistsError:
        pass
    else:
        os.close(fd)  # an empty file is a new database to SQLite
    for name in (path, path + "-wal", path + "-shm", path + "-journal"):
        try:
            mode = os.stat(name).st_mode & 0o777
        except FileNotFoundError:
            continue
        if mode & 0o077:
            os.chmod(name, mode & 0o700)
            log.warning("%s was readable by others (%o): made it owner-only", name, mode)


def _primary_code(exc: sqlite3.Error) -> int:
    """SQLite's primary result code (Python reports extended ones, e.g. BUSY_RECOVERY)."""
    return int(getattr(exc, "sqlite_errorcode", 0)) & 0xFF


def _is_busy(exc: sqlite3.OperationalError) -> bool:
    return _primary_code(exc) in _BUSY


async def _finish(work: Awaitable[T]) -> T:
    """Await a statement on an aiosqlite thread to its end even if the caller is cancelled
    meanwhile (then re-raise the cancel): the thread runs it anyway, and the transaction's
    cleanup must know whether a BEGIN or COMMIT happened."""
    task = asyncio.ensure_future(work)
    try:
        return await asyncio.shield(task)
    except asyncio.CancelledError:
        while not task.done():
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait([task])
        raise


@functools.cache
def _packing(width: int, numbers: tuple[int, ...]) -> tuple[str, str]:
    """What goes before and after a page's SQL to pack its rows (`Database.many`)."""
    names = ", ".join("c%d" % i for i in range(width))
    real = " OR ".join("typeof(c%d) = 'real'" % i for i in numbers) or "0"
    return (
        "WITH page(%s) AS (" % names,
        ") SELECT json_group_array(json_array(%s)), max(%s) FROM page" % (names, real),
    )


def insert_sql(table: str, columns: Sequence[str]) -> str:
    return "INSERT INTO %s (%s) VALUES (%s)" % (
        table,
        ", ".join(columns),
        ", ".join("?" * len(columns)),
    )


class Snapshot:
    """A read transaction on a connection of its own (WAL: it sees one commit's state)."""

    def __init__(self, conn: aiosqlite.Connection) -> None:
        self._conn = conn

    async def all(self, sql: str, params: Params = ()) -> list[Row]:
        return list(await self._conn.execute_fetchall(sql, params))

    async def stream(
        self, sql: str, params: Params = (), size: int = 5000
    ) -> AsyncIterator[list[Row]]:
        cursor = await self._conn.execute(sql, params)
        try:
            while batch := await cursor.fetchmany(size):
                yield list(batch)
        finally:
            await cursor.close()


class Tx:
    """A write transaction; reads inside it see its own writes. Runs on the event loop."""

    dialect = DIALECT

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    async def execute(self, sql: str, params: Params = ()) -> int:
        """Run one statement; returns the number of rows it changed."""
        cursor = self._conn.execute(sql, params)
        count = cursor.rowcount
        cursor.close()
        return count

    async def executemany(self, sql: str, rows: Iterable[Params]) -> None:
        self._conn.executemany(sql, rows)

    async def insert_rows(self, table: str, columns: Sequence[str], rows: list[Row]) -> None:
        await self.executemany(insert_sql(table, columns), rows)

    async def all(self, sql: str, params: Params = ()) -> list[Row]:
        return self._conn.execute(sql, params).fetchall()

    async def one(self, sql: str, params: Params = ()) -> Row | None:
        return self._conn.execute(sql, params).fetchone()  # type: ignore[no-any-return]


class ThreadTx(Tx):
    """The same transaction API on the aiosqlite writer thread (heavy or lock-waiting writes)."""

    def __init__(self, conn: aiosqlite.Connection) -> None:
        self._thread_conn = conn

    async def execute(self, sql: str, params: Params = ()) -> int:
        cursor = await self._thread_conn.execute(sql, params)
        count = cursor.rowcount
        await cursor.close()
        return count

    async def executemany(self, sql: str, rows: Iterable[Params]) -> None:
        await self._thread_conn.executemany(sql, rows)

    async def insert_rows(self, table: str, columns: Sequence[str], rows: list[Row]) -> None:
        await self.executemany(insert_sql(table, columns), rows)

    async def all(self, sql: str, params: Params = ()) -> list[Row]:
        return list(await self._thread_conn.execute_fetchall(sql, params))

    async def one(self, sql: str, params: Params = ()) -> Row | None:
        rows = await self._thread_conn.execute_fetchall(sql, params)
        return next(iter(rows), None)


class Database:
    """SQLite (store/base.py's Database) in one file."""

    dialect = DIALECT

    def __init__(
        self,
        path: str,
        *,
        synchronous: str = "NORMAL",
        inline_budget: float = INLINE_BUDGET_S,
        slow_for: float = SLOW_FOR_S,
        reader_threads: int = READER_THREADS,
        stats_min_rows: int = stats.MIN_ROWS,
        idle_turn: float = IDLE_TURN_S,
    ) -> None:
        self.path = path
        self.url = path
        self.synchronous = synchronous
        self.inline_budget = inline_budget
        self.slow_for = slow_for
        self.idle_turn = idle_turn  # 0: list pages always go to the threads, packed
        self._writer: aiosqlite.Connection | None = None
        self._reader_threads = max(1, reader_threads)
        self._readers: list[aiosqlite.Connection] = []
        self._busy: list[int] = []  # reads in flight on each reader thread
        self._packing = 0  # packed reads in flight (`many`)
        self._loop_reader: sqlite3.Connection | None = None
        self._loop_writer: sqlite3.Connection | None = None
        self._deadline = 0.0
        self._slow: dict[str, float] = {}  # SQL -> until when it goes to the thread
        self._commits = 0
        self._last_commit = 0.0
        self.wal_bound = WAL_BOUND
        self.wal_truncations = 0  # for tests and benchmarks
        self._checkpoint: asyncio.Task[None] | None = None
        self.stats_min_rows = stats_min_rows
        self._stats: asyncio.Task[None] | None = None
        self._stats_seen: dict[str, int] = {}  # the statistics our read connections loaded
        # where reads and writes ran (on the loop / on a thread), for tests and benchmarks
        self.reads_inline = self.reads_offloaded = self.reads_interrupted = 0
        self.reads_packed = self.reads_unpacked = 0
        self.writes_inline = self.writes_offloaded = 0
        self._lock = asyncio.Lock()

    async def open(self) -> None:
        if self.path != ":memory:":
            parent = os.path.dirname(os.path.abspath(self.path))
            os.makedirs(parent, exist_ok=True)
            owner_only(self.path)
        self._writer = await self._connect()
        await self._writer.execute("PRAGMA journal_mode=WAL")
        await migrate(self._writer)
        self._readers = [await self._open_reader() for _ in range(self._reader_threads)]
        self._busy = [0] * len(self._readers)
        self._stats_seen = await stats.recorded(self._read_on_thread)
        if self.path != ":memory:":  # a second :memory: connection would be another database
            self._loop_reader = self._connect_on_loop(read_only=True)
            self._loop_writer = self._connect_on_loop(read_only=False)
            self._schedule_stats()

    async def _open_reader(self) -> aiosqlite.Connection:
        reader = await self._connect()
        await reader.execute("PRAGMA query_only=ON")  # reads (and checkpoints) only
        await reader.execute(f"PRAGMA cache_size=-{READ_CACHE_KIB}")
        return reader

    async def _reopen_readers(self) -> None:
        """New read connections, which load the planner's current statistics. The old thread
        readers close after the reads already queued on them."""
        if self._loop_reader is not None:
            self._loop_reader.close()  # only ever used synchronously: nothing is in flight
            self._loop_reader = self._connect_on_loop(read_only=True)
        fresh = [await self._open_reader() for _ in range(len(self._readers))]
        old, self._readers, self._busy = self._readers, fresh, [0] * len(fresh)
        self._slow.clear()  # a read that was slow may have a better plan now
        for conn in old:
            await conn.close()

    def _pragmas(self, busy_timeout_ms: int) -> list[str]:
        return [
            f"PRAGMA journal_size_limit={self.wal_bound}",
            f"PRAGMA busy_timeout={busy_timeout_ms}",
            "PRAGMA foreign_keys=ON",
            f"PRAGMA synchronous={self.synchronous}",
        ]

    async def _connect(self) -> aiosqlite.Connection:
        conn = await aiosqlite.connect(self.path, isolation_level=None, check_same_thread=False)
        for pragma in self._pragmas(BUSY_TIMEOUT_MS):
            await conn.execute(pragma)
        return conn

    def _connect_on_loop(self, *, read_only: bool) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        for pragma in self._pragmas(0):  # never wait on the loop: the thread path waits
            conn.execute(pragma)
        if read_only:
            conn.execute("PRAGMA query_only=ON")  # reads only, whatever SQL reaches it
            conn.execute(f"PRAGMA cache_size=-{READ_CACHE_KIB}")
            conn.set_progress_handler(self._over_budget, _CHECK_EVERY)
        else:
            conn.execute("PRAGMA wal_autocheckpoint=0")  # checkpoints run on a thread
        return conn

    def _over_budget(self) -> bool:
        return time.perf_counter() > self._deadline

    async def close(self) -> None:
        for task in (self._checkpoint, self._stats):
            if task is not None:
                await task  # never raises: both log their failures
        self._checkpoint = self._stats = None
        for loop_conn in (self._loop_reader, self._loop_writer):
            if loop_conn is not None:
                loop_conn.close()
        self._loop_reader = self._loop_writer = None
        for conn in (*self._readers, self._writer):
            if conn is not None:
                await conn.close()
        self._readers, self._busy = [], []
        self._writer = None

    @property
    def reader(self) -> aiosqlite.Connection:
        """The first reader thread's connection (checkpoints run there)."""
        if not self._readers:
            raise RuntimeError("database is not open")
        return self._readers[0]

    async def _read_on_thread(self, sql: str, params: Params) -> list[Row]:
        """On the reader thread with the fewest reads in flight."""
        if not self._readers:
            raise RuntimeError("database is not open")
        busy = self._busy
        i = busy.index(min(busy))
        busy[i] += 1
        try:
            rows = await self._readers[i].execute_fetchall(sql, params)
        finally:
            busy[i] -= 1
        return list(rows)

    def _read_on_loop(self, sql: str, params: Params) -> list[Row] | None:
        """The rows, or None when the read belongs on the reader thread."""
        conn = self._loop_reader
        if conn is None:
            return None
        now = time.perf_counter()
        if self._slow and self._slow.get(sql, 0.0) > now:
            return None
        self._deadline = now + self.inline_budget
        try:
            rows = conn.execute(sql, params).fetchall()
        except sqlite3.OperationalError as exc:
            if _primary_code(exc) == sqlite3.SQLITE_INTERRUPT:
                if len(self._slow) >= _SLOW_MEMORY:
                    self._slow.clear()
                self._slow[sql] = now + self.slow_for
                self.reads_interrupted += 1
                return None
            if _is_busy(exc):
                return None
            raise
        self.reads_inline += 1
        return rows

    async def all(self, sql: str, params: Params = ()) -> list[Row]:
        if (tx := unit.joined(self)) is not None:
            return await tx.all(sql, params)
        # One turn of the loop first. A request whose reads never suspend runs start to finish
        # in one callback, and under uvloop a saturated server then answered some connections
        # 10x later than the rest (list p99 ~400 ms against p50 ~50 ms); yielding here
        # keeps the order fair (p99 ~100 ms) for ~5% of throughput.
        await asyncio.sleep(0)
        rows = self._read_on_loop(sql, params)
        if rows is None:
            self.reads_offloaded += 1
            rows = await self._read_on_thread(sql, params)
        return rows

    async def many(
        self, sql: str, params: Params = (), *, width: int, numbers: Iterable[int] = ()
    ) -> list[Row]:
        """The rows of a read that returns many (a list page): `sql` has `width` columns and
        an ORDER BY. When other requests are waiting it runs on a reader thread, and SQLite
        packs the rows into one JSON array; alone, on the loop like any other read.

        Why: on the loop, a 50-row page held the one core the loop runs on for its whole
        statement, while the machine's other core sat idle. On a thread, sqlite3 gives up the
        GIL while SQLite works, but takes it back for every row it converts, each time
        waiting behind the busy loop. Packed, the whole statement (and the JSON) runs
        without the GIL, and the loop decodes one string with orjson. Measured with 32
        connections on 2 cores: 810 -> 950-1,000 lists/s (PERFORMANCE.md, fifth pass).

        The rows keep the statement's order: SQLite keeps a subquery's ORDER BY when the
        outer query is an aggregate other than count/min/max, and never flattens such a
        subquery into it, so the rows reach json_group_array in order.

        What JSON cannot carry exactly is read again unpacked: a REAL (SQLite's JSON keeps
        15 digits of one, and writes infinity as `Inf`) or a BLOB (which json_array
        refuses). The API stores neither, but a value written by other means must not make
        a list differ from a GET, or fail. `numbers`: the columns that may hold a REAL,
        those of INTEGER affinity (a TEXT column turns a REAL into text as it is written);
        checking them costs ~45 us of the thread's time per 50 rows, checking all ~180."""
        if (tx := unit.joined(self)) is not None:
            return await tx.all(sql, params)
        started = time.perf_counter()
        await asyncio.sleep(0)
        if not self._packing and time.perf_counter() - started < self.idle_turn:
            # Nothing else was waiting, for the loop or for a page: the thread would only
            # add its hop (~0.3 ms for a 50-row page), so the page is read here instead.
            rows = self._read_on_loop(sql, params)
            if rows is not None:
                return rows
        before, after = _packing(width, tuple(numbers))
        packed = before + sql + after
        self.reads_packed += 1
        self._packing += 1
        try:
            text, has_real = (await self._read_on_thread(packed, params))[0]
            if not has_real:
                return orjson.loads(text)  # type: ignore[no-any-return]
        except orjson.JSONDecodeError:
            pass  # an infinite REAL where no column was declared a number
        except sqlite3.OperationalError as exc:
            if "BLOB" not in str(exc):
                raise
        finally:
            self._packing -= 1
        self.reads_unpacked += 1
        return await self._read_on_thread(sql, params)

    async def one(self, sql: str, params: Params = ()) -> Row | None:
        rows = await self.all(sql, params)
        return rows[0] if rows else None

    async def scrub(self) -> None:
        # Every page the WAL holds goes into the file (overwriting what it replaced), then the
        # WAL is emptied; a reader still in the WAL makes it wait (busy_timeout) or retry.
        async with self._lock:
            await self.reader.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    async def ping(self) -> None:
        """Raise unless the database answers a query (readiness)."""
        await self.one("SELECT 1 FROM schema_migrations LIMIT 1")

    @asynccontextmanager
    async def snapshot(self) -> AsyncIterator[Snapshot]:
        conn = await self._connect()
        try:
            await conn.execute("PRAGMA query_only=ON")
            await conn.execute("BEGIN")
            yield Snapshot(conn)
            await conn.execute("COMMIT")
        finally:
            await conn.close()

    def _begin_on_loop(self) -> Tx | None:
        """BEGIN IMMEDIATE on the loop's writer, or None if another process holds the lock."""
        conn = self._loop_writer
        if conn is None:
            return None
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            if _is_busy(exc):
                return None
            raise
        return Tx(conn)

    def write(self, *, heavy: bool = False, key: str | None = None) -> AsyncContextManager[base.Tx]:
        return unit.write(self, heavy, key)

    async def lock(self, tx: base.Tx, key: str | None) -> None:
        """Nothing to take: SQLite runs every write one at a time."""

    @asynccontextmanager
    async def transaction(
        self, *, heavy: bool = False, key: str | None = None
    ) -> AsyncIterator[Tx]:
        """One logical write: BEGIN IMMEDIATE ... COMMIT, rolled back on any exception.
        `heavy`: the write may touch many rows; run it on the writer thread. `key` changes
        nothing here: SQLite runs every write one at a time."""
        if self._writer is None:
            raise RuntimeError("database is not open")
        await asyncio.sleep(0)  # one turn of the loop, as in all()
        async with self._lock:
            tx = None if heavy else self._begin_on_loop()
            if tx is not None:
                self.writes_inline += 1
                conn = tx._conn
                try:
                    yield tx
                    conn.execute("COMMIT")
                except BaseException:
                    if conn.in_transaction:
                        conn.execute("ROLLBACK")
                    raise
            else:
                self.writes_offloaded += 1
                thread_conn = self._writer
                try:
                    await _finish(thread_conn.execute("BEGIN IMMEDIATE"))
                    yield ThreadTx(thread_conn)
                    await _finish(thread_conn.execute("COMMIT"))
                except BaseException:
                    if thread_conn.in_transaction:
                        await _finish(thread_conn.execute("ROLLBACK"))
                    raise
            self._after_commit()

    def _after_commit(self) -> None:
        self._commits += 1
        self._last_commit = time.monotonic()
        if self._commits % CHECKPOINT_EVERY == 0 and self._checkpoint is None:
            self._checkpoint = asyncio.get_running_loop().create_task(self._run_checkpoint())
        if self._commits % STATS_CHECK_EVERY == 0:
            self._schedule_stats()

    def _schedule_stats(self) -> None:
        if self._stats is None:
            self._stats = asyncio.get_running_loop().create_task(self._run_stats())

    async def refresh_stats(self) -> bool:
        """Take the planner's statistics again if tables have grown (store/sqlite/stats.py), and
        reopen the read connections whenever the statistics changed, whoever took them (with
        `--workers N` another process may have). True if this call took them."""
        if self._writer is None:
            raise RuntimeError("database is not open")
        fetch = self._read_on_thread
        taken = False
        if await stats.due(fetch, self.stats_min_rows) is not None:
            async with self._lock:  # as a heavy write: loop writes wait, reads go on
                taken = await _finish(stats.analyze(self._writer, self.stats_min_rows))
        current = await stats.recorded(fetch)
        if current != self._stats_seen:
            await self._reopen_readers()
            self._stats_seen = current
        return taken

    async def _run_stats(self) -> None:
        # A failure only leaves the planner with older statistics until the next check.
        try:
            await self.refresh_stats()
        except Exception:
            log.exception("refreshing the query planner's statistics failed")
        finally:
            self._stats = None

    def wal_size(self) -> int:
        try:
            return os.stat(self.path + "-wal").st_size
        except OSError:
            return 0

    async def _run_checkpoint(self) -> None:
        # PASSIVE: copies what it can without waiting for, or blocking, readers and writers.
        # A failure only leaves the WAL longer until the next one.
        try:
            if self._readers:
                await self._readers[0].execute("PRAGMA wal_checkpoint(PASSIVE)")
                if self.wal_size() > self.wal_bound:
                    await self._truncate_wal()
        except Exception:
            log.exception("WAL checkpoint failed")
        finally:
            self._checkpoint = None

    async def _truncate_wal(self) -> None:
        """A TRUNCATE checkpoint once writes pause (see WAL_BOUND), behind the write lock so
        that this process's writes wait for it rather than make it fail."""
        while (
            time.monotonic() - self._last_commit < WAL_QUIET_S
            and self.wal_size() < WAL_FORCE * self.wal_bound
        ):
            await asyncio.sleep(WAL_QUIET_S)
        async with self._lock:
            busy = await asyncio.to_thread(self._truncate_now)
        if not busy:
            self.wal_truncations += 1

    def _truncate_now(self) -> int:
        """On a connection of its own that waits at most WAL_WAIT_MS for a reader to leave
        the log (a reader still in it, say an export, makes it give up until next time)."""
        conn = sqlite3.connect(self.path, isolation_level=None)
        try:
            conn.execute(f"PRAGMA busy_timeout={WAL_WAIT_MS}")
            busy, _, _ = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
            return int(busy)
        finally:
            conn.close()
