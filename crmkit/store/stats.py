"""The query planner's statistics (ANALYZE), kept fresh as tables grow.

Why: without `sqlite_stat1` SQLite assumes every index is equally selective and, for a list
sorted by `created_at` (the default), walks the `created_at` index and tests each row rather
than use the filter's own index and sort what it finds. For a selective filter that is a
scan of the whole workspace: `name=<a name>` took 167 ms at 100k contacts without
statistics and 0.6 ms with them; `amount_cents=gte:` on deals 93 -> 1.8 ms.

When: statistics live in the database file, so they survive restarts. They are taken again
when some table's largest rowid has at least doubled (and reached MIN_ROWS) since the last
ANALYZE: growth is what changes the planner's choices. Deletes never raise a rowid, so they
cannot make this repeat. `analysis_limit` bounds the work: ~0.1 s at 1M contacts when the
file is in the page cache.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import aiosqlite
import orjson

# Runs one read and returns its rows (a Database's reader thread, or the writer's own).
Fetch = Callable[[str, tuple[Any, ...]], Awaitable[Any]]

ANALYSIS_LIMIT = 1000  # index entries sampled per index
MIN_ROWS = 1000  # smaller tables are planned well without statistics
_META_KEY = "planner_stats.rowids"
TABLES = ("contacts", "companies", "deals", "activities", "audit")


async def largest_rowids(fetch: Fetch) -> dict[str, int]:
    found = {}
    for table in TABLES:
        rows = list(await fetch("SELECT coalesce(max(rowid), 0) FROM %s" % table, ()))
        found[table] = int(rows[0][0])
    return found


async def recorded(fetch: Fetch) -> dict[str, int]:
    rows = list(await fetch("SELECT value FROM meta WHERE key = ?", (_META_KEY,)))
    if not rows:
        return {}
    # Anything unreadable counts as no record: the statistics are then taken again and the
    # record rewritten, rather than the check failing on every run.
    try:
        data = orjson.loads(rows[0][0])
        return {str(k): int(v) for k, v in data.items()}
    except (orjson.JSONDecodeError, AttributeError, TypeError, ValueError):
        return {}


def stale(now: dict[str, int], then: dict[str, int], min_rows: int = MIN_ROWS) -> bool:
    """Some table reached min_rows and at least doubled since the statistics were taken
    (`now`: largest_rowids, `then`: what was recorded with them)."""
    return any(n >= min_rows and n >= 2 * then.get(t, 0) for t, n in now.items())


async def analyze(conn: aiosqlite.Connection, min_rows: int = MIN_ROWS) -> bool:
    """ANALYZE in one write transaction if the statistics are (still) stale; True if it ran.
    The caller holds the database's write lock, and must reopen its other connections: each
    reads the statistics only when it opens."""
    await conn.execute("BEGIN IMMEDIATE")
    try:
        now = await largest_rowids(conn.execute_fetchall)
        if not stale(now, await recorded(conn.execute_fetchall), min_rows):
            await conn.execute("ROLLBACK")
            return False
        await conn.execute("PRAGMA analysis_limit=%d" % ANALYSIS_LIMIT)
        await conn.execute("ANALYZE")
        await conn.execute(
            "INSERT INTO meta (key, value) VALUES (?, ?)"
            " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (_META_KEY, orjson.dumps(now).decode()),
        )
    except BaseException:
        if conn.in_transaction:
            await conn.execute("ROLLBACK")
        raise
    await conn.execute("COMMIT")
    return True
