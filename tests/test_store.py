"""SQLite: pragmas, migrations, BEGIN IMMEDIATE and rollback, readiness, kill -9 durability."""

from __future__ import annotations

import asyncio
import random
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiosqlite
import pytest
from foundation_util import JSON, assert_error

from crmkit.store.sqlite.db import READ_CACHE_KIB, Database
from crmkit.store.sqlite.dialect import DIALECT
from crmkit.store.sqlite.schema import migrate, migration_files


@pytest.fixture
async def db(tmp_path: Path) -> Any:
    database = Database(str(tmp_path / "store.db"))
    await database.open()
    if database._stats is not None:
        await database._stats  # start from a quiet database: the start-up check is done
    try:
        yield database
    finally:
        await database.close()


async def pragmas(run: Any) -> tuple[str, int, int, int]:
    mode = (await run("PRAGMA journal_mode"))[0]
    fk = (await run("PRAGMA foreign_keys"))[0]
    busy = (await run("PRAGMA busy_timeout"))[0]
    sync = (await run("PRAGMA synchronous"))[0]
    return mode, fk, busy, sync


async def test_every_connection_uses_wal_foreign_keys_and_busy_timeout(db: Database) -> None:
    loop_reader = await pragmas(db.one)  # a plain read runs on the event loop
    async with db.write() as tx:
        loop_writer = await pragmas(tx.one)
    async with db.write(heavy=True) as tx:
        thread_writer = await pragmas(tx.one)

    async def on_thread(sql: str) -> Any:
        return next(iter(await db.reader.execute_fetchall(sql)))

    thread_reader = await pragmas(on_thread)
    for mode, fk, _busy, sync in (loop_reader, loop_writer, thread_reader, thread_writer):
        assert sync == 1  # NORMAL: durable through kill -9 in WAL mode (see the kill test)
        assert mode == "wal"
        assert fk == 1
    # Only the thread connections wait for a lock; the loop's hand a locked statement to them.
    assert loop_reader[2] == 0 and loop_writer[2] == 0
    assert thread_reader[2] >= 5000 and thread_writer[2] >= 5000
    assert (db.writes_inline, db.writes_offloaded) == (1, 1)
    # Readers keep a larger page cache than SQLite's 2 MiB (search reads scattered rows).
    assert (await db.one("PRAGMA cache_size"))[0] == -READ_CACHE_KIB
    assert (await on_thread("PRAGMA cache_size"))[0] == -READ_CACHE_KIB


async def test_a_migration_another_process_applied_meanwhile_is_skipped(db: Database) -> None:
    """Two servers starting at once both read "nothing applied yet"; the second must find,
    under the write lock, that the first applied each one, instead of running it again."""

    class StaleFirstRead:
        """An aiosqlite connection whose first look at schema_migrations predates the other
        process's work (here: ours, done when the fixture opened the database)."""

        def __init__(self, conn: aiosqlite.Connection) -> None:
            self.conn, self.stale = conn, True

        async def execute(self, sql: str, params: Any = ()) -> Any:
            return await self.conn.execute(sql, params)

        async def execute_fetchall(self, sql: str, params: Any = ()) -> Any:
            if self.stale and sql == "SELECT version FROM schema_migrations":
                self.stale = False
                return []
            return await self.conn.execute_fetchall(sql, params)

    async with aiosqlite.connect(db.path, isolation_level=None) as conn:
        assert await migrate(StaleFirstRead(conn)) == []  # type: ignore[arg-type]
        versions = await conn.execute_fetchall("SELECT version FROM schema_migrations")
    assert sorted(v for (v,) in versions) == [v for v, _, _ in migration_files()]


async def test_migrations_are_recorded_and_rerunning_is_a_no_op(db: Database) -> None:
    files = migration_files()
    assert files and files[0][0] == 1
    recorded = await db.all("SELECT version, name FROM schema_migrations ORDER BY version")
    assert recorded == [(v, name) for v, name, _ in files]
    schema = await db.all("SELECT type, name, sql FROM sqlite_master ORDER BY name")
    async with aiosqlite.connect(db.path, isolation_level=None) as conn:
        assert await migrate(conn) == []
    await db.close()
    await db.open()  # opening again migrates again: nothing to do
    assert await db.all("SELECT type, name, sql FROM sqlite_master ORDER BY name") == schema
    assert await db.all("SELECT version, name FROM schema_migrations ORDER BY version") == recorded
    tables = {row[1] for row in schema if row[0] == "table"}
    assert {"users", "workspaces", "memberships", "tokens", "codes", "audit", "meta"} <= tables


async def test_writes_take_the_write_lock_at_begin(db: Database) -> None:
    async with db.write():
        # No statement has run yet; a deferred BEGIN would hold no lock at this point.
        other = sqlite3.connect(db.path, timeout=0, isolation_level=None)
        try:
            with pytest.raises(sqlite3.OperationalError, match="locked"):
                other.execute("BEGIN IMMEDIATE")
        finally:
            other.close()
    other = sqlite3.connect(db.path, timeout=0, isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")  # free again after the commit
        other.execute("ROLLBACK")
    finally:
        other.close()


async def test_a_failing_write_rolls_back_fully(db: Database) -> None:
    async def meta_rows() -> int:
        row = await db.one("SELECT COUNT(*) FROM meta WHERE key LIKE 'test.%'")
        assert row is not None
        return int(row[0])

    with pytest.raises(sqlite3.IntegrityError):
        async with db.write() as tx:
            await tx.execute("INSERT INTO meta (key, value) VALUES ('test.a', '1')")
            await tx.execute("INSERT INTO meta (key, value) VALUES ('test.b', '2')")
            await tx.execute("INSERT INTO meta (key, value) VALUES ('test.a', 'dup')")
    assert await meta_rows() == 0
    with pytest.raises(RuntimeError):
        async with db.write() as tx:
            await tx.execute("INSERT INTO meta (key, value) VALUES ('test.c', '3')")
            raise RuntimeError("a rule said no after the insert")
    assert await meta_rows() == 0
    # The writer is usable afterwards, and a good write commits.
    async with db.write() as tx:
        assert await tx.execute("INSERT INTO meta (key, value) VALUES ('test.d', '4')") == 1
    assert await meta_rows() == 1


async def test_readers_do_not_wait_for_an_open_write(db: Database) -> None:
    async with db.write() as tx:
        await tx.execute("INSERT INTO meta (key, value) VALUES ('test.x', '1')")
        assert await tx.one("SELECT value FROM meta WHERE key = 'test.x'") == ("1",)
        # The reader connection answers at once and does not see the uncommitted row.
        assert await db.one("SELECT value FROM meta WHERE key = 'test.x'") is None
    assert await db.one("SELECT value FROM meta WHERE key = 'test.x'") == ("1",)


# A read that walks ~200,000 generated rows: far past any budget, and touching no table.
SLOW_READ = (
    "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 200000)"
    " SELECT count(*), sum(i) FROM n"
)


async def test_a_read_past_its_budget_moves_to_the_reader_thread(db: Database) -> None:
    """Where each read ran, told by the Database's counters. No read here depends on how fast
    the machine runs it: a budget already spent (-1 s) is over at SQLite's first progress check
    (every 4,000 steps), an endless one never; a read too short for one check stays on the
    loop whatever the budget."""
    db.inline_budget = -1.0
    db.slow_for = float("inf")
    assert await db.one("SELECT count(*) FROM meta") is not None
    assert (db.reads_inline, db.reads_offloaded, db.reads_interrupted) == (1, 0, 0)
    # Interrupted on the loop, answered in full on the thread: the same rows, nothing lost.
    assert await db.one(SLOW_READ) == (200000, 200000 * 200001 // 2)
    assert (db.reads_inline, db.reads_offloaded, db.reads_interrupted) == (1, 1, 1)
    # Remembered: the next run of that statement goes to the thread without trying the loop.
    db.inline_budget = float("inf")  # the loop would finish it now: it is not tried
    assert db._read_on_loop(SLOW_READ, ()) is None
    assert await db.one(SLOW_READ) == (200000, 200000 * 200001 // 2)
    assert (db.reads_inline, db.reads_offloaded, db.reads_interrupted) == (1, 2, 1)
    # Not for ever: once `slow_for` has passed, the loop gets another try.
    brief = Database(db.path, slow_for=0.0, inline_budget=-1.0)
    await brief.open()
    try:
        for _ in range(2):
            assert await brief.one(SLOW_READ) == (200000, 200000 * 200001 // 2)
        assert (brief.reads_interrupted, brief.reads_offloaded, brief.reads_inline) == (2, 2, 0)
    finally:
        await brief.close()
    # A budget that never runs out keeps the same read on the loop.
    roomy = Database(db.path, inline_budget=float("inf"))
    await roomy.open()
    try:
        assert await roomy.one(SLOW_READ) == (200000, 200000 * 200001 // 2)
        assert (roomy.reads_inline, roomy.reads_offloaded, roomy.reads_interrupted) == (1, 0, 0)
    finally:
        await roomy.close()


def test_the_read_budget_is_a_deadline() -> None:
    """What the progress check asks: has the read's deadline passed? (The budget itself is
    time; the test above sets it so that the answer never depends on the machine.)"""
    db = Database(":memory:")
    db._deadline = time.perf_counter() - 1.0
    assert db._over_budget()
    db._deadline = time.perf_counter() + 3600.0
    assert not db._over_budget()


async def gate_on_readers(db: Database) -> tuple[threading.Event, threading.Event]:
    """`gate()` on every reader thread's connection: it sets `entered`, then holds its thread
    until `gate` is set (at most 30 s, so that a failing test cannot hang)."""
    gate, entered = threading.Event(), threading.Event()

    def hold() -> int:
        entered.set()
        return int(gate.wait(30))

    for reader in db._readers:
        await reader.create_function("gate", 0, hold)
    return gate, entered


async def test_slow_reads_run_side_by_side_on_the_reader_threads(db: Database) -> None:
    # `gate()` holds its reader thread until released: a second read must not queue behind it.
    gate, entered = await gate_on_readers(db)
    held = asyncio.create_task(db._read_on_thread("SELECT gate()", ()))
    assert await asyncio.to_thread(entered.wait, 30)  # it now holds the first thread
    assert db._busy[0] == 1
    assert await db._read_on_thread("SELECT 2", ()) == [(2,)]
    assert not held.done()  # answered while the first read still held its thread
    gate.set()
    assert await held == [(1,)]
    assert db._busy == [0] * len(db._busy)


# Text that JSON must escape or that Python and SQLite encode differently.
ODD_TEXT = [
    "plain",
    "two words",
    'a "quote"',
    "back\\slash",
    "line\nbreak\r\t",
    "nul\x00and\x1f\x7f",
    "\u00e9\u00df",
    "\U0001f600",
    "\u2028\u2029\x85",
    '["a","b"]',
    '{"k": 1}',
    "",
]


async def test_a_page_is_read_on_the_loop_when_idle_and_packed_on_a_thread_when_busy(
    db: Database,
) -> None:
    # Any turn of the loop counts as quick here, so that the test never depends on how fast
    # the machine runs one; what is left to decide by is whether a page is on a thread.
    db.idle_turn = 60.0
    sql = "SELECT key, value FROM meta ORDER BY key"
    expected = [list(row) for row in await db.all(sql)]
    inline = db.reads_inline
    # Alone, a page skips the thread's hop: it is read on the loop like any other read.
    assert [list(r) for r in await db.many(sql, width=2)] == expected
    assert (db.reads_inline, db.reads_packed) == (inline + 1, 0)
    # While another page waits on a thread, the next one goes to a thread too, packed.
    gate, entered = await gate_on_readers(db)
    db.idle_turn = 0.0  # this one to a thread whatever the loop
    held = asyncio.create_task(db.many("SELECT gate() ORDER BY 1", width=1))
    assert await asyncio.to_thread(entered.wait, 30)  # it now waits on the thread
    assert db._packing == 1
    db.idle_turn = 60.0
    assert await db.many(sql, width=2) == expected
    assert db.reads_packed == 2 and db.reads_inline == inline + 1
    gate.set()
    assert await held == [[1]]
    assert db._packing == 0


async def test_a_packed_read_returns_what_sqlite3_returns_in_the_same_order(
    db: Database,
) -> None:
    db.idle_turn = 0.0  # always packed
    rng = random.Random(7)
    values = [
        *ODD_TEXT,
        None,
        0,
        -1,
        2**63 - 1,
        -(2**63),
        *(rng.randrange(-(2**40), 2**40) for _ in range(20)),
    ]
    async with db.write() as tx:
        await tx.execute("CREATE TABLE packed_t (id INTEGER PRIMARY KEY, k INTEGER, v)")
        await tx.executemany(
            "INSERT INTO packed_t (k, v) VALUES (?, ?)",
            [(rng.choice([None, 1, 2, 3]), rng.choice(values)) for _ in range(400)],
        )
    statements = [
        "SELECT id, k, v FROM packed_t ORDER BY k DESC, id LIMIT 300",  # ties on k
        "SELECT id, k, v FROM packed_t ORDER BY v, id",  # no LIMIT, mixed types
        "WITH w AS MATERIALIZED (SELECT * FROM packed_t WHERE k IS NOT NULL)"
        " SELECT id, k, v FROM w ORDER BY k, id DESC",  # a statement of its own WITH
    ]
    for sql in statements:
        expected = [list(row) for row in await db.all(sql)]
        assert await db.many(sql, width=3) == expected
    assert (db.reads_packed, db.reads_unpacked) == (len(statements), 0)
    assert await db.many("SELECT id, k, v FROM packed_t WHERE id < 0 ORDER BY id", width=3) == []
    with pytest.raises(sqlite3.OperationalError, match="2 columns"):  # a wrong width is loud
        await db.many("SELECT id, k, v FROM packed_t ORDER BY id", width=2)


@pytest.mark.parametrize(
    "odd",
    [0.1 + 0.2, 1 / 3, 2.0**63, float("inf"), float("-inf"), b"\x00\x01", b"\xff"],
    ids=["0.3...04", "1/3", "2**63", "inf", "-inf", "blob", "bad-utf8-blob"],
)
async def test_what_json_cannot_carry_is_read_again_unpacked(db: Database, odd: Any) -> None:
    db.idle_turn = 0.0  # always packed
    # The API never stores a REAL or a BLOB, but a value written by other means must come
    # back from a list exactly as from a single read, not rounded to 15 digits or a 500.
    async with db.write() as tx:
        await tx.execute("CREATE TABLE odd_t (id INTEGER PRIMARY KEY, n INTEGER, t TEXT)")
        await tx.executemany(
            "INSERT INTO odd_t (n, t) VALUES (?, ?)", [(1, "a"), (odd, "b"), (3, "c")]
        )
    sql = "SELECT id, n, t FROM odd_t ORDER BY id DESC"
    expected = [list(row) for row in await db.all(sql)]
    assert [list(row) for row in await db.many(sql, width=3, numbers=(1,))] == expected
    assert db.reads_unpacked == 1
    # Without the column named as a number a REAL may round, but nothing fails.
    assert len(await db.many(sql, width=3)) == 3


async def test_the_read_path_cannot_write(db: Database) -> None:
    with pytest.raises(sqlite3.OperationalError, match="readonly"):
        await db.all("INSERT INTO meta (key, value) VALUES ('test.ro', '1') RETURNING key")
    async with db.write() as tx:
        assert await tx.one("SELECT count(*) FROM meta WHERE key = 'test.ro'") == (0,)


async def test_a_write_meeting_another_process_lock_runs_on_the_writer_thread(
    db: Database,
) -> None:
    holder = sqlite3.connect(db.path, isolation_level=None)
    try:
        holder.execute("BEGIN IMMEDIATE")  # another process holds the write lock
        assert db._begin_on_loop() is None  # the loop never waits for it
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    # Once it is free, writes run on the loop again; a heavy one runs on the thread.
    async with db.write() as tx:
        await tx.execute("INSERT INTO meta (key, value) VALUES ('test.loop', '1')")
    async with db.write(heavy=True) as tx:
        await tx.execute("INSERT INTO meta (key, value) VALUES ('test.thread', '2')")
        assert await tx.one("SELECT value FROM meta WHERE key = 'test.loop'") == ("1",)
    assert (db.writes_inline, db.writes_offloaded) == (1, 1)
    rows = await db.all("SELECT key FROM meta WHERE key LIKE 'test.%' ORDER BY key")
    assert rows == [("test.loop",), ("test.thread",)]


async def write_behind_another_process(
    db: Database, key: str
) -> tuple[sqlite3.Connection, asyncio.Task[None]]:
    """Another connection holds the write lock; a write of `key` has been handed to the writer
    thread, which waits for it. Returns the holder (to release) and the write's task."""
    holder = sqlite3.connect(db.path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")

    async def write() -> None:
        async with db.write() as tx:
            await tx.execute("INSERT INTO meta (key, value) VALUES (?, '1')", (key,))

    task = asyncio.create_task(write())
    while db.writes_offloaded == 0:
        assert not task.done()
        await asyncio.sleep(0)
    return holder, task


async def test_a_write_waits_on_the_thread_while_another_process_holds_the_lock(
    db: Database,
) -> None:
    holder, task = await write_behind_another_process(db, "test.waited")
    try:
        # The loop is free meanwhile: reads answer at once.
        assert await db.one("SELECT count(*) FROM meta WHERE key = 'test.waited'") == (0,)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    await task
    assert await db.one("SELECT value FROM meta WHERE key = 'test.waited'") == ("1",)
    assert (db.writes_inline, db.writes_offloaded) == (0, 1)


async def test_a_write_cancelled_while_waiting_for_the_lock_leaves_no_transaction_open(
    db: Database,
) -> None:
    holder, task = await write_behind_another_process(db, "test.cancelled")
    task.cancel()
    holder.execute("ROLLBACK")  # the BEGIN the thread was waiting on goes through...
    holder.close()
    with pytest.raises(asyncio.CancelledError):
        await task
    # ...and was rolled back: nothing written, the lock free for this process and others.
    assert not db._writer.in_transaction  # type: ignore[union-attr]
    other = sqlite3.connect(db.path, timeout=0, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    other.execute("ROLLBACK")
    other.close()
    async with db.write() as tx:
        await tx.execute("INSERT INTO meta (key, value) VALUES ('test.after', '1')")
    assert await db.all("SELECT key FROM meta WHERE key LIKE 'test.%'") == [("test.after",)]


async def test_a_failing_write_on_the_thread_rolls_back_fully(db: Database) -> None:
    with pytest.raises(sqlite3.IntegrityError):
        async with db.write(heavy=True) as tx:
            await tx.execute("INSERT INTO meta (key, value) VALUES ('test.h', '1')")
            await tx.execute("INSERT INTO meta (key, value) VALUES ('test.h', 'dup')")
    assert await db.one("SELECT count(*) FROM meta WHERE key = 'test.h'") == (0,)
    async with db.write(heavy=True) as tx:  # the thread writer is usable afterwards
        await tx.execute("INSERT INTO meta (key, value) VALUES ('test.h', '2')")
    assert await db.one("SELECT value FROM meta WHERE key = 'test.h'") == ("2",)


async def test_commits_on_the_loop_leave_checkpoints_to_a_thread(db: Database) -> None:
    from crmkit.store.sqlite.db import CHECKPOINT_EVERY

    async with db.write() as tx:
        assert await tx.one("PRAGMA wal_autocheckpoint") == (0,)
    for i in range(CHECKPOINT_EVERY - 1):
        async with db.write() as tx:
            await tx.execute("INSERT INTO meta (key, value) VALUES (?, ?)", (f"test.{i}", "x"))
    assert db._checkpoint is not None  # the 200th commit started one on the reader thread
    await db._checkpoint
    # Everything in the WAL was copied into the database file, none of it by the loop.
    busy, wal_pages, copied = (await db.reader.execute_fetchall("PRAGMA wal_checkpoint"))[0]
    assert busy == 0 and wal_pages == copied


NAME_PAGE = (
    "EXPLAIN QUERY PLAN SELECT id FROM contacts WHERE workspace_id = 'w_1' AND name = ?"
    " ORDER BY created_at DESC, id DESC LIMIT 51"
)


@asynccontextmanager
async def started(tmp_path: Path) -> AsyncIterator[Database]:
    """A Database on stats.db past its start-up check of the planner's statistics."""
    db = Database(str(tmp_path / "stats.db"), stats_min_rows=1000)
    await db.open()
    try:
        assert db._stats is not None
        await db._stats
        yield db
    finally:
        await db.close()


async def add_contacts(db: Database, count: int) -> None:
    async with db.write() as tx:
        await tx.execute(
            "INSERT OR IGNORE INTO workspaces (id, name, plan, created_at)"
            " VALUES ('w_1', 'w', 'free', 0)"
        )
        start = (await tx.one("SELECT coalesce(max(seq), 0) FROM contacts"))[0]  # type: ignore[index]
        await tx.executemany(
            "INSERT INTO contacts (id, workspace_id, name, stage, created_at, updated_at)"
            " VALUES (?, 'w_1', ?, 'lead', ?, ?)",
            [(f"c_{n}", f"name {n % 500}", n, n) for n in range(start, start + count)],
        )


async def index_used(db: Database) -> str:
    plan = " ".join(str(r[3]) for r in await db.all(NAME_PAGE, ("name 7",)))
    thread_plan = await db._read_on_thread(NAME_PAGE, ("name 7",))
    assert " ".join(str(r[3]) for r in thread_plan) == plan  # every reader plans alike
    return "contacts_name" if "contacts_name" in plan else plan


async def test_planner_statistics_are_taken_as_tables_grow(tmp_path: Path) -> None:
    async with started(tmp_path) as db:
        # the check at start-up found nothing to analyze in an empty database
        assert await db.refresh_stats() is False
        await add_contacts(db, 4000)
        # Without statistics SQLite walks the created_at index of the whole workspace to
        # find a handful of names (the page's sort) instead of using the name index.
        assert "contacts_created" in await index_used(db)
        assert await db.refresh_stats() is True
        assert await index_used(db) == "contacts_name"
        assert await db.refresh_stats() is False  # fresh until the tables double again
        await add_contacts(db, 3000)
        assert await db.refresh_stats() is False
        await add_contacts(db, 1000)
        assert await db.refresh_stats() is True
        # Deletes never make them stale (rowids do not fall back).
        async with db.write() as tx:
            await tx.execute("DELETE FROM contacts WHERE seq > 100")
        assert await db.refresh_stats() is False
    # They live in the file: a restart plans with them at once, without taking them again.
    async with started(tmp_path) as again:
        await add_contacts(again, 1)
        assert await again.refresh_stats() is False
        assert await index_used(again) == "contacts_name"


async def stat_tables(db: Database) -> set[str]:
    return {str(r[0]) for r in await db.all("SELECT DISTINCT tbl FROM sqlite_stat1")}


async def auth_plan(db: Database) -> str:
    from crmkit.store.accounts import TOKEN_AUTH_SQL

    rows = await db.all("EXPLAIN QUERY PLAN " + TOKEN_AUTH_SQL, (b"x",))
    return " ".join(str(r[3]) for r in rows)


async def test_only_large_record_tables_keep_statistics(tmp_path: Path) -> None:
    async with started(tmp_path) as db:
        async with db.write() as tx:  # one account, as a new install has
            await tx.execute("INSERT INTO users (id, email, created_at) VALUES ('u_1', 'a@x', 0)")
        await add_contacts(db, 4000)
        assert await db.refresh_stats() is True
        assert await stat_tables(db) == {"contacts"}  # companies, deals, users: too small
        # Without statistics for users, workspaces and memberships the token lookup uses
        # their keys. Recorded at one row each, they had made it scan all three tables on
        # every request, however many rows they grew to (19 -> 272 us with 900 more users).
        assert "SCAN u" not in await auth_plan(db) and "SCAN w" not in await auth_plan(db)
        # A database an older version analyzed whole is cleaned up at the next check, and
        # the read connections reopen to forget what they had loaded.
        async with db.write(heavy=True) as tx:
            await tx.execute("ANALYZE")
        await db._reopen_readers()
        assert "users" in await stat_tables(db) and "SCAN u" in await auth_plan(db)
        assert await db.refresh_stats() is True
        assert await stat_tables(db) == {"contacts"}
        assert "SCAN u" not in await auth_plan(db)
        assert await db.refresh_stats() is False  # and that is stable


async def test_statistics_of_a_small_database_an_older_version_analyzed_are_dropped(
    tmp_path: Path,
) -> None:
    async with started(tmp_path) as db:
        await add_contacts(db, 50)  # no table large enough to keep statistics
        async with db.write(heavy=True) as tx:
            await tx.execute("ANALYZE")  # as an older version did
        assert "contacts" in await stat_tables(db)
        assert await db.refresh_stats() is True  # nothing worth keeping: all dropped
        assert await stat_tables(db) == set()
        assert await db.refresh_stats() is False


@pytest.mark.parametrize("garbage", ["not json", "[1, 2]", '{"contacts": "many"}'])
async def test_an_unreadable_statistics_record_is_rewritten(tmp_path: Path, garbage: str) -> None:
    async with started(tmp_path) as db:
        await add_contacts(db, 2000)
        assert await db.refresh_stats() is True
        async with db.write() as tx:
            await tx.execute(
                "UPDATE meta SET value = ? WHERE key = 'planner_stats.rowids'", (garbage,)
            )
        assert await db.refresh_stats() is True  # taken again, not an error on every check
        assert await db.refresh_stats() is False  # and the record is readable again
        assert await index_used(db) == "contacts_name"


async def test_statistics_another_process_took_reach_our_readers(tmp_path: Path) -> None:
    path = str(tmp_path / "stats.db")
    first, second = Database(path), Database(path)  # two workers over one file
    for db in (first, second):
        await db.open()
        assert db._stats is not None
        await db._stats
    try:
        await add_contacts(first, 4000)
        assert await first.refresh_stats() is True
        assert "contacts_created" in await index_used(second)  # still the old statistics
        assert await second.refresh_stats() is False  # not stale: the first took them
        assert await index_used(second) == "contacts_name"  # but it reopened its readers
    finally:
        for db in (first, second):
            await db.close()


async def test_lookups_by_email_and_phone_use_their_indexes(db: Database) -> None:
    # Even without planner statistics (a new database): the page's own sort must not win.
    from crmkit import query
    from crmkit.spec import SPECS
    from crmkit.store.sql_query import page_sql

    contacts = SPECS["contact"]
    for params, index in (
        ([("email", "A@x.com")], "contacts_email"),
        ([("email", "in:a@x.com,b@x.com")], "contacts_email"),
        ([("phone", "+15550100")], "contacts_phone"),
        ([("email", "gte:m"), ("sort", "email")], "contacts_email"),
    ):
        plan = query.parse(contacts, params, 0)
        sql, args = page_sql(DIALECT, contacts, plan, "w_1", None, with_count=True)
        steps = [str(r[3]) for r in await db.all("EXPLAIN QUERY PLAN " + sql, args)]
        assert f"USING INDEX {index}" in steps[0], (params, steps)


@pytest.mark.parametrize(
    ("since", "total"),
    [
        (2990, 10),  # few match: counted first, found by the range's index, then sorted
        (1000, 1001),  # more than the cap: the sort index is walked as before
    ],
)
async def test_a_range_on_another_column_than_the_sort_pages_correctly(
    db: Database, since: int, total: int
) -> None:
    from crmkit import query
    from crmkit.spec import SPECS
    from crmkit.store import records
    from crmkit.store.sql_query import page_sql
    from crmkit.store.sqlite.lists import narrow_candidate

    contacts = SPECS["contact"]
    await add_contacts(db, 3000)  # created_at = n, name "name {n % 500}"
    params = [("created_at", f"gte:now-{3000 - since}s"), ("sort", "-name"), ("limit", "4")]
    plan = query.parse(contacts, params, 3000)
    assert narrow_candidate(contacts, plan)
    matching = sorted(((f"name {n % 500}", f"c_{n}") for n in range(since, 3000)), reverse=True)
    db.idle_turn = 0.0  # pages on the reader threads, where they are traced
    traced: list[str] = []  # the statements the reader threads ran
    for reader in db._readers:
        await reader.set_trace_callback(traced.append)
    seen: list[str] = []
    after = None
    for _ in range(3):
        rows, counted, _more = await records.page(db, contacts, plan, "w_1", after, None)
        assert counted == total
        page = rows[: plan.limit]
        seen += [row[0] for row in page]
        after = (page[-1][-2], page[-1][0])  # the sort key and id, as a cursor carries them
    assert seen == [id_ for _name, id_ in matching[:12]]
    sorted_after = [sql for sql in traced if "ORDER BY +name DESC" in sql]
    assert len(sorted_after) == (3 if total <= 1000 else 0)
    # The plan of the sorted-after page: the range's index, then a sort of what it found.
    sql, args = page_sql(DIALECT, contacts, plan, "w_1", None, False, sort_after=True)
    steps = " ".join(str(r[3]) for r in await db.all("EXPLAIN QUERY PLAN " + sql, args))
    assert "contacts_created" in steps and "TEMP B-TREE FOR ORDER BY" in steps, steps


async def test_the_fields_marked_indexed_are_exactly_those_with_an_index(db: Database) -> None:
    from crmkit.spec import SPECS

    for rs in SPECS.values():
        leading: set[str] = set()  # columns an index leads with, after the workspace
        for _seq, name, *_ in await db.all(f"PRAGMA index_list({rs.table})"):
            sql = await db.one("SELECT sql FROM sqlite_master WHERE name = ?", (name,))
            keys = [r for r in await db.all(f"PRAGMA index_xinfo({name})") if r[5]]  # key cols
            first = keys[0][2]
            if first == "workspace_id" and len(keys) > 1:
                second = keys[1][2]
                if second is None and sql is not None and "lower(email)" in sql[0]:
                    second = "email"  # the expression index on lower(email)
                leading.add(second)
            elif first is not None:
                leading.add(first)
        marked = {f.name for f in rs.fields if f.indexed}
        filterable = {f.name for f in rs.fields if f.filterable}
        assert marked == leading & filterable, rs.kind


async def test_the_statistics_check_runs_every_so_many_commits(tmp_path: Path) -> None:
    from crmkit.store.sqlite.db import STATS_CHECK_EVERY

    async with started(tmp_path) as db:
        await add_contacts(db, 2000)  # commit 1
        assert db._stats is None and "contacts_created" in await index_used(db)
        for i in range(STATS_CHECK_EVERY - 1):
            async with db.write() as tx:
                await tx.execute("INSERT INTO meta (key, value) VALUES (?, ?)", (f"t.{i}", "x"))
        assert db._stats is not None  # the 1,000th commit started a check
        await db._stats
        assert await index_used(db) == "contacts_name"


async def test_healthz_needs_no_database_and_readyz_reports_it(api: Any) -> None:
    r = await api.json("GET", "/readyz")
    assert r.status_code == 200 and r.json()["data"]["status"] == "ready"
    async with api.rt.db.write() as tx:
        await tx.execute("ALTER TABLE schema_migrations RENAME TO schema_migrations_gone")
    for headers in ({}, JSON):
        r = await api.get("/readyz", headers=headers)
        err = assert_error(r, 503, "not_ready")
        assert "CRMKIT_DATABASE" in err["hint"]
    async with api.rt.db.write() as tx:
        await tx.execute("ALTER TABLE schema_migrations_gone RENAME TO schema_migrations")
    assert (await api.get("/readyz")).status_code == 200
    await api.rt.db.close()
    r = await api.get("/readyz")
    err = assert_error(r, 503, "not_ready")
    assert "cannot be queried" in err["message"]
    r = await api.get("/healthz")
    assert r.status_code == 200 and r.text.startswith("# ok")


CHILD = """
import asyncio, sys
from crmkit.store.sqlite.db import Database

async def main() -> None:
    db = Database(sys.argv[1])
    await db.open()
    i = 0
    while True:
        async with db.write() as tx:
            await tx.execute(
                "INSERT INTO meta (key, value) VALUES (?, ?)", ("ack.%d" % i, "x" * 200)
            )
        print(i, flush=True)  # acknowledged only after COMMIT returned
        i += 1

asyncio.run(main())
"""


def test_kill_9_keeps_every_acknowledged_write(tmp_path: Path) -> None:
    path = str(tmp_path / "crash.db")
    wanted = random.randint(50, 300)  # a random moment, counted in acknowledgements
    child = subprocess.Popen([sys.executable, "-c", CHILD, path], stdout=subprocess.PIPE, text=True)
    acked: list[int] = []
    try:
        assert child.stdout is not None
        for line in child.stdout:
            acked.append(int(line))
            if len(acked) >= wanted:
                break
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
        if child.stdout is not None:
            child.stdout.close()
    assert child.returncode == -signal.SIGKILL
    assert len(acked) == wanted
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        keys = {row[0] for row in conn.execute("SELECT key FROM meta WHERE key LIKE 'ack.%'")}
    finally:
        conn.close()
    missing = [i for i in acked if f"ack.{i}" not in keys]
    assert missing == []


def test_migration_0005_gives_existing_connector_tokens_their_grant() -> None:
    import sqlite3

    from crmkit.store.sqlite.schema import _statements, migration_files

    conn = sqlite3.connect(":memory:")
    files = migration_files()
    for version, _, sql in files:
        if version < 5:
            for statement in _statements(sql):
                conn.execute(statement)
    conn.executescript(
        """
        INSERT INTO users VALUES ('u_a', 'a@acme.com', 0);
        INSERT INTO workspaces VALUES ('w_a', 'A', 'free', 'u_a', 0);
        INSERT INTO oauth_clients VALUES ('oc_a', 'Claude', '[]', 0);
        INSERT INTO tokens (id, hash, user_id, workspace_id, name, created_at, last_used_at)
            VALUES ('t_conn', x'01', 'u_a', 'w_a', 'Claude', 0, 0),
                   ('t_user', x'02', 'u_a', 'w_a', 'default', 0, 0);
        INSERT INTO oauth_grants (id, client_id, user_id, workspace_id, token_id, created_at)
            VALUES ('g_a', 'oc_a', 'u_a', 'w_a', 't_conn', 0);
        """
    )
    for version, _, sql in files:
        if version == 5:
            for statement in _statements(sql):
                conn.execute(statement)
    rows = dict(conn.execute("SELECT id, grant_id FROM tokens").fetchall())
    assert rows == {"t_conn": "g_a", "t_user": None}


async def test_each_migration_is_logged_as_it_is_applied(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("INFO", logger="crmkit.db")
    async with aiosqlite.connect(str(tmp_path / "new.db"), isolation_level=None) as conn:
        applied = await migrate(conn)
        assert await migrate(conn) == []  # nothing left to apply, nothing logged
    lines = [r.getMessage() for r in caplog.records if r.name == "crmkit.db"]
    assert [ln.split()[3] for ln in lines if ln.startswith("applied ")] == applied
    assert len(lines) == 2 * len(applied) and lines[0] == f"applying schema migration {applied[0]}"
