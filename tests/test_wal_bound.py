"""SQLite's write-ahead log stays bounded: a reader pinning an old snapshot made PASSIVE
checkpoints stop short and the log grow without end (151 MB beside a 7.4 MB database after
30 s of writes); past its bound, a TRUNCATE checkpoint empties it once writes pause."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

from crmkit.store.sqlite import db as sqlite_db
from crmkit.store.sqlite.db import CHECKPOINT_EVERY, Database

pytestmark = pytest.mark.sqlite_only


async def burst(db: Database, start: int, n: int) -> None:
    for i in range(start, start + n):
        async with db.write() as tx:
            await tx.execute("INSERT INTO meta (key, value) VALUES (?, ?)", (f"k{i}", "x" * 2000))


async def test_the_log_is_truncated_past_its_bound_once_writes_pause(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sqlite_db, "WAL_QUIET_S", 0.0)  # the test's writes pause at once
    db = Database(str(tmp_path / "wal.db"))
    db.wal_bound = 256 * 1024
    await db.open()
    try:
        # A reader holding an old snapshot: no checkpoint can rewind the log meanwhile.
        pin = sqlite3.connect(tmp_path / "wal.db")
        pin.execute("BEGIN")
        pin.execute("SELECT count(*) FROM meta").fetchone()
        await burst(db, 0, CHECKPOINT_EVERY * 2)
        checkpoint: Any = db._checkpoint
        if checkpoint is not None:
            await checkpoint
        grown = db.wal_size()
        assert grown > db.wal_bound  # what the probe saw: the log past any bound
        assert db.wal_truncations == 0  # the pinned reader kept it from being cut
        pin.rollback()
        pin.close()
        await burst(db, 10_000, CHECKPOINT_EVERY)  # the next checkpoint comes with these
        assert db._checkpoint is not None
        await db._checkpoint
        assert db.wal_truncations == 1
        assert db.wal_size() <= db.wal_bound < grown
        journal = await db.reader.execute_fetchall("PRAGMA journal_size_limit")
        assert journal == [(db.wal_bound,)]
    finally:
        await db.close()
