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

Which: only the record tables of MIN_ROWS or more keep statistics. Statistics taken while a
table was small go stale without ever triggering a new ANALYZE, and they tell the planner
that scanning the table beats its index: with `users` recorded at 1 row, 900 more users made
every bearer-token lookup scan users, workspaces and memberships (19 -> 272 us). Without
statistics SQLite assumes a table is large and uses its indexes, which is right for the
account tables (always read by key) and costs little on a small record table.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Set
from typing import Any

import aiosqlite
import orjson

# Runs one read and returns its rows (a Database's reader thread, or the writer's own).
Fetch = Callable[[str, tuple[Any, ...]], Awaitable[Any]]

ANALYSIS_LIMIT = 1000  # index entries sampled per index
MIN_ROWS = 1000  # smaller tables are planned well without statistics
_META_KEY = "planner_stats.rowids"
_GENERATION = "#analyses"  # in the record beside the tables' rowids
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


async def analyzed_tables(fetch: Fetch) -> set[str]:
    """The tables sqlite_stat1 holds statistics for (none before the first ANALYZE)."""
    if not list(await fetch("SELECT 1 FROM sqlite_master WHERE name = 'sqlite_stat1'", ())):
        return set()
    return {str(row[0]) for row in await fetch("SELECT DISTINCT tbl FROM sqlite_stat1", ())}


def stale(
    now: dict[str, int],
    then: dict[str, int],
    min_rows: int = MIN_ROWS,
    analyzed: Set[str] = frozenset(),
) -> bool:
    """Some table reached min_rows and at least doubled since the statistics were taken
    (`now`: largest_rowids, `then`: what was recorded with them), or some table has
    statistics it should not (an older version analyzed every table)."""
    grown = any(n >= min_rows and n >= 2 * then.get(t, 0) for t, n in now.items())
    return grown or bool(analyzed - _worth_analyzing(then, min_rows))


def _worth_analyzing(rowids: dict[str, int], min_rows: int) -> set[str]:
    return {t for t in TABLES if rowids.get(t, 0) >= min_rows}


async def due(fetch: Fetch, min_rows: int = MIN_ROWS) -> dict[str, int] | None:
    """The tables' largest rowids if the statistics should be taken again, else None."""
    now = await largest_rowids(fetch)
    then = await recorded(fetch)
    return now if stale(now, then, min_rows, await analyzed_tables(fetch)) else None


async def analyze(conn: aiosqlite.Connection, min_rows: int = MIN_ROWS) -> bool:
    """ANALYZE in one write transaction if the statistics are (still) stale; True if it ran.
    The caller holds the database's write lock, and must reopen its other connections: each
    reads the statistics only when it opens."""
    fetch = conn.execute_fetchall
    await conn.execute("BEGIN IMMEDIATE")
    try:
        now = await due(fetch, min_rows)  # again: another process may have taken them
        if now is None:
            await conn.execute("ROLLBACK")
            return False
        generation = (await recorded(fetch)).get(_GENERATION, 0) + 1
        worth = sorted(_worth_analyzing(now, min_rows))
        await conn.execute("PRAGMA analysis_limit=%d" % ANALYSIS_LIMIT)
        for table in worth:
            await conn.execute("ANALYZE %s" % table)
        if await analyzed_tables(fetch):
            await conn.execute(
                "DELETE FROM sqlite_stat1 WHERE tbl NOT IN (%s)" % ", ".join("?" * len(worth)),
                worth,
            )
        # The generation changes the record even when no rowid did (a clean-up), so that
        # every process sees that the statistics changed and reopens its readers.
        await conn.execute(
            "INSERT INTO meta (key, value) VALUES (?, ?)"
            " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (_META_KEY, orjson.dumps({**now, _GENERATION: generation}).decode()),
        )
    except BaseException:
        if conn.in_transaction:
            await conn.execute("ROLLBACK")
        raise
    await conn.execute("COMMIT")
    return True
