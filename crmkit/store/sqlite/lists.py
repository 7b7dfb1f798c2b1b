"""SQLite's list pages: which plan serves a list (the facet index, counting a narrow range
first, the word index, the trigram index), and the SQL of a ranked search.

Rows come back in `sql_query.list_columns` order, each followed by its sort key and the
capped total (a search's page puts its window's size before them).
"""

from __future__ import annotations

from dataclasses import replace
from functools import cache
from typing import Any

from crmkit import spec as S
from crmkit.query import Filter, Plan
from crmkit.store import records, searchtext
from crmkit.store import sql_query as Q
from crmkit.store.base import Database, Dialect, Row, Sql
from crmkit.store.sql_query import COUNT_CAP, SEARCH_CANDIDATES, list_columns
from crmkit.store.sqlite import facets, jsonsql, search, words
from crmkit.store.sqlite.search import SearchSql

PASSED = "(SELECT count(*) FROM cand WHERE ok)"  # a search's total within its window
WINDOW_SIZE = "(SELECT count(*) FROM cand)"
_NUMBER_TYPES = frozenset({S.INT, S.MONEY, S.DATETIME})  # stored in INTEGER columns


@cache
def page_numbers(rs: S.RecordSpec, search: bool) -> tuple[int, ...]:
    """The columns of a page's rows that may hold a REAL (`Database.many`): the list's
    INTEGER columns and the sort key."""
    shown = [f for f in rs.fields if f.in_list]  # after the id
    numbers = [i for i, f in enumerate(shown, start=1) if f.type in _NUMBER_TYPES]
    return (*numbers, 1 + len(shown) + (1 if search else 0))


@cache
def page_width(rs: S.RecordSpec, search: bool) -> int:
    """How many columns a page's rows have: the list columns, then the sort key and the
    count (a search's page puts its window's size before them)."""
    return 1 + sum(f.in_list for f in rs.fields) + (3 if search else 2)


_RANGE_OPS = frozenset({"gt", "gte", "lt", "lte"})
_INDEX_OPS = frozenset({"eq", "in", "gt", "gte", "lt", "lte"})


def narrow_candidate(rs: S.RecordSpec, plan: Plan) -> bool:
    """A range on another indexed column than the sort's. SQLite's planner (built without STAT4)
    guesses that a range keeps a quarter of the rows, so it walks the sort column's index and
    tests each row: for a range that matches few rows, that walk reads the whole workspace
    (a future close_date sorted by -created_at: 69 ms at 100k deals). Counting first (on the
    range's own index, as the count has no ORDER BY) tells whether to sort after filtering.
    On an unindexed column both ways read the workspace; the walk at least stops early."""
    return any(
        f.op in _RANGE_OPS and f.field != plan.sort and _indexed(rs, f.field) for f in plan.filters
    )


def on_own_index(rs: S.RecordSpec, f: Filter) -> bool:
    """Whether SQLite can find `f`'s records by an index of the record table itself."""
    return f.op in _INDEX_OPS and _indexed(rs, f.field)


def _indexed(rs: S.RecordSpec, name: str) -> bool:
    field = rs.field(name)
    return field is not None and field.indexed


async def search_plan(
    db: Database, rs: S.RecordSpec, workspace_id: str, plan: Plan, upto: int | None
) -> SearchSql | words.WordSearch:
    """How to find `plan.search`: from the word index when it answers it (every word five
    letters or more, no filters, ranked), else from the trigram index."""
    query = plan.search or ""
    typos, long_runs = await searchtext.typo_terms(db, rs, workspace_id, searchtext.words(query))
    qwords = searchtext.words(query)[: searchtext.MAX_WORDS]
    if not plan.filters and not plan.explicit_sort and words.eligible(qwords, typos):
        low = searchtext.key(upto) if upto is not None else -(1 << 62)
        return words.WordSearch(rs, workspace_id, query, qwords, typos, low, long_runs)
    return search.build(db.dialect, rs, workspace_id, query, typos, upto)


async def page(
    d: Dialect,
    db: Database,
    rs: S.RecordSpec,
    plan: Plan,
    workspace_id: str,
    after: tuple[Any, str] | None,
    found: object | None,
) -> tuple[list[Row], int, bool]:
    """See Dialect.page."""
    if isinstance(found, words.WordSearch):
        return await _word_page(db, rs, plan, found, after)
    if isinstance(found, SearchSql):
        return await _search_page(d, db, rs, plan, workspace_id, after, found)
    if facets.probe(plan) is not None:
        paged = await _facet_page(d, db, rs, plan, workspace_id, after)
        if paged is not None:
            return paged
    if narrow_candidate(rs, plan):
        # Counted first, on the range's own index: few matches are sorted after filtering.
        row = await db.one(*Q.count_sql(d, rs, plan, workspace_id))
        total = int(row[0]) if row else 0
        if total == 0:
            return [], 0, False
        sort_after = total <= COUNT_CAP
        # The page counts again: the total then comes from the same snapshot as its rows.
        sql, params = Q.page_sql(d, rs, plan, workspace_id, after, True, sort_after)
        rows = await _page_rows(db, rs, sql, params, search=False)
        return rows, int(rows[0][-1]) if rows else total, False
    return await records.plain_page(
        db,
        rs,
        plan,
        workspace_id,
        after,
        width=page_width(rs, False),
        numbers=page_numbers(rs, False),
    )


async def _search_page(
    d: Dialect,
    db: Database,
    rs: S.RecordSpec,
    plan: Plan,
    workspace_id: str,
    after: tuple[Any, str] | None,
    found: SearchSql,
) -> tuple[list[Row], int, bool]:
    sql, params = search_page_sql(d, rs, plan, workspace_id, after, found)
    rows = await _page_rows(db, rs, sql, params, search=True)
    if rows:
        first = rows[0]
        return rows, int(first[-1]), first[-3] >= SEARCH_CANDIDATES
    window, window_params = _window(d, rs, plan, workspace_id, found, "NULL", [])
    row = await db.one("%s SELECT %s, %s" % (window, PASSED, WINDOW_SIZE), window_params)
    assert row is not None
    return [], int(row[0]), row[1] >= SEARCH_CANDIDATES


# A tag or custom value this many records have, beside other filters, is still read from the
# facet index when the other filters match more: walking the sort order with the JSON check
# reads the whole workspace when they leave few of its records (`custom.seats=7&stage=lead`:
# 93 ms at 100k contacts; 7 ms from the index), while each record read from the index costs
# ~3.5 us (10,000 of them beside stage=lead took 35 ms against the walk's 15).
DRIVE_CAP = 3_000


async def _facet_page(
    d: Dialect,
    db: Database,
    rs: S.RecordSpec,
    plan: Plan,
    workspace_id: str,
    after: tuple[Any, str] | None,
) -> tuple[list[Row], int, bool] | None:
    """`page` for a list with filters the facet index can serve (store/sqlite/facets.py),
    from the rarest of them; or None where walking the sort order with the JSON check, or
    another index, is the better plan."""

    async def counted(f: Filter, cap: int) -> list[int]:
        # A lone filter's count becomes its total: it counts records, not index rows.
        sql, params = facets.counts_sql(rs, f, workspace_id, cap, joined=facets.exact(f, plan))
        return [int(r[-1]) for r in await db.all(sql, params)]

    def lookup(f: Filter) -> tuple[Filter, Sql]:
        return f, facets.lookup_sql(rs, f, workspace_id, jsonsql.HAS_TAG)

    # The rarest of the filters the index serves (a later one may be far rarer).
    counts, indexed = min(
        [(await counted(f, COUNT_CAP + 1), f) for f in facets.candidates(plan)],
        key=lambda pair: min(pair[0]),
    )
    exact = facets.exact(indexed, plan)
    if min(counts) > COUNT_CAP and not exact:
        counts = await counted(indexed, DRIVE_CAP + 1)
        least = min(counts)
        others = [f for f in plan.filters if f is not indexed]
        if least <= DRIVE_CAP and any(on_own_index(rs, f) for f in others):
            # Another filter has an index of its own: read from the smaller side.
            rest = replace(plan, filters=tuple(others))
            row = await db.one(*Q.count_sql(d, rs, rest, workspace_id, cap=least + 1))
            if row is not None and int(row[0]) <= least:
                return None
    least = min(counts)
    if least == 0:
        return [], 0, False
    if least <= COUNT_CAP or (least <= DRIVE_CAP and not exact):
        # Few enough: the index finds them, and they are sorted after.
        plan, indexed = facets.rarest_first(plan, indexed, counts)
        sql, params = Q.page_sql(d, rs, plan, workspace_id, after, True, True, lookup(indexed))
        rows = await _page_rows(db, rs, sql, params, search=False)
        if rows:
            return rows, int(rows[0][-1]), False
        row = await db.one(*Q.count_sql(d, rs, plan, workspace_id, lookup(indexed)))
        return [], int(row[0]) if row else 0, False
    if exact:
        # A common value, and the list's only filter: its total is already counted.
        sql, params = Q.page_sql(d, rs, plan, workspace_id, after, with_count=False)
        return await _page_rows(db, rs, sql, params, search=False), COUNT_CAP + 1, False
    return None


async def _page_rows(
    db: Database, rs: S.RecordSpec, sql: str, params: list[Any], *, search: bool
) -> list[Row]:
    width, numbers = page_width(rs, search), page_numbers(rs, search)
    return await db.many(sql, params, width=width, numbers=numbers)


async def _word_page(
    db: Database,
    rs: S.RecordSpec,
    plan: Plan,
    found: words.WordSearch,
    after: tuple[Any, str] | None,
) -> tuple[list[Row], int, bool]:
    """`page` for a search the word index answers: the same rows, total and window."""
    key = int(after[0]) if after is not None else None
    columns = list_columns(rs, rs.table)
    sql, params = words.page_sql(found, columns, plan.limit, key, SEARCH_CANDIDATES)
    rows = await _page_rows(db, rs, sql, params, search=True)
    if rows:
        return rows, int(rows[0][-1]), rows[0][-3] >= SEARCH_CANDIDATES
    row = await db.one(*words.count_sql(found, SEARCH_CANDIDATES))
    assert row is not None
    return [], int(row[0]), row[1] >= SEARCH_CANDIDATES


def search_page_sql(
    d: Dialect,
    rs: S.RecordSpec,
    plan: Plan,
    workspace_id: str,
    after: tuple[Any, str] | None,
    search: SearchSql,
) -> Sql:
    """Ranked (or sorted) among the window's candidates that pass the filters. The window
    keeps only each candidate's rowid, id, sort key and filter verdict; the page's rows are
    read after the sort, so 1,001 wide rows are never copied or sorted."""
    if plan.explicit_sort:
        key, desc, key_params = plan.sort, plan.descending, list[Any]()
    else:
        key, desc, key_params = search.score, False, search.score_params
    window, window_params = _window(d, rs, plan, workspace_id, search, key, key_params)
    direction = "DESC" if desc else "ASC"
    after_sql, after_params = "1", list[Any]()
    if after is not None:
        after_sql, after_params = Q.after("sort_key", desc, after[0], after[1])
    t = rs.table
    # Each row ends: the window's size (full = matches beyond it may pass the filters too),
    # the sort key, the count that passed (as a plain page ends: sort key, count).
    sql = (
        "%s, page AS (SELECT seq, sort_key FROM cand WHERE ok AND %s"
        " ORDER BY sort_key %s, id %s LIMIT %d)"
        " SELECT %s, %s, page.sort_key, %s FROM page JOIN %s ON %s.seq = page.seq"
        " ORDER BY page.sort_key %s, %s.id %s"
        % (
            window,
            after_sql,
            direction,
            direction,
            plan.limit + 1,
            list_columns(rs, t),
            WINDOW_SIZE,
            PASSED,
            t,
            t,
            direction,
            t,
            direction,
        )
    )
    return sql, [*window_params, *after_params]


def _window(
    d: Dialect,
    rs: S.RecordSpec,
    plan: Plan,
    workspace_id: str,
    search: SearchSql,
    key: str,
    key_params: list[Any],
) -> Sql:
    """The candidate window: the workspace's newest SEARCH_CANDIDATES records that match the
    search, each with its sort key and whether it passes the filters (`ok`), computed once
    (MATERIALIZED) for both the page and the count.

    Filters are judged inside the window, not used to choose it: the window then depends only
    on the search and `upto`, so a record that starts or stops passing a filter between pages
    cannot push another out of it (a skipped row), and a filter that rejects most matches
    cannot make the walk go through every match (it stops at the workspace's 1,001st).

    Why this shape: the word index is walked newest first (its rows are keyed by the negated
    seq, so `ORDER BY rowid` is that order, and the one FTS5 reads fastest) and each hit looks
    its record up by primary key (CROSS JOIN keeps that order: the other one would run the
    full-text query once per record), where the workspace and the folded text are checked."""
    t = rs.table
    filters = [Q.filter_sql(d, f) for f in plan.filters]
    ok = " AND ".join(sql for sql, _ in filters) or "1"
    sql = (
        "WITH cand AS MATERIALIZED (SELECT %s.seq AS seq, %s.id AS id, %s AS sort_key,"
        " coalesce(%s, 0) AS ok FROM %s WHERE %s ORDER BY %s LIMIT %d)"
        % (t, t, key, ok, search.source, search.condition, search.order, SEARCH_CANDIDATES)
    )
    filter_params = [p for _, values in filters for p in values]
    return sql, [*key_params, *filter_params, *search.params]
