"""The one SQL builder for list queries: a query.Plan -> a WHERE clause, an ORDER BY and a
keyset condition. Identifiers come only from crmkit/spec.py; every value is a bound parameter.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from crmkit import spec as S
from crmkit.query import CustomValue, Filter, Plan, like_pattern
from crmkit.store import facets

COUNT_CAP = 1000
# search ranks at most this many matches, so its cost stays bounded; one more than the count
# cap, so a capped candidate set reports its total as "1000+"
SEARCH_CANDIDATES = COUNT_CAP + 1
PASSED = "(SELECT count(*) FROM cand WHERE ok)"  # a search's total within its window
WINDOW_SIZE = "(SELECT count(*) FROM cand)"


@cache  # pure functions of a spec, on every read's path
def columns(rs: S.RecordSpec) -> str:
    """The SELECT list every record read uses: id, then the spec's fields in line order."""
    return "id, " + ", ".join(f.name for f in rs.fields)


@cache
def list_columns(rs: S.RecordSpec, table: str = "") -> str:
    """The SELECT list of list pages: id, then only the fields a list line shows (each
    prefixed with `table.` when a join makes the names ambiguous)."""
    prefix = table + "." if table else ""
    return ", ".join(prefix + name for name in ["id", *(f.name for f in rs.fields if f.in_list)])


_NUMBER_TYPES = frozenset({S.INT, S.MONEY, S.DATETIME})  # stored in INTEGER columns


@cache
def page_numbers(rs: S.RecordSpec, search: bool) -> tuple[int, ...]:
    """The columns of `page_sql`'s rows that may hold a REAL (`Database.many`): the list's
    INTEGER columns and the sort key."""
    shown = [f for f in rs.fields if f.in_list]  # after the id
    numbers = [i for i, f in enumerate(shown, start=1) if f.type in _NUMBER_TYPES]
    return (*numbers, 1 + len(shown) + (1 if search else 0))


@cache
def page_width(rs: S.RecordSpec, search: bool) -> int:
    """How many columns `page_sql`'s rows have: the list columns, then the sort key and the
    count (a search's page puts its window's size before them)."""
    return 1 + sum(f.in_list for f in rs.fields) + (3 if search else 2)


# What a JSON filter reads: the stored JSON, or NULL where a column holds no JSON (written by
# other means), which the JSON functions would fail the whole list on. NULL matches as the facet
# index does (migration 0008 indexes nothing for it); the check costs ~10% of a JSON scan.
_CUSTOM = "CASE WHEN json_valid(custom) THEN custom END"
_TAGS = "CASE WHEN json_valid(tags) THEN tags END"


_SIGNS = facets.SIGNS


def _expr(f: Filter) -> str:
    if f.type == S.EMAIL:
        return "lower(%s)" % f.field  # members' emails are stored lower-cased already
    return f.field


def filter_sql(f: Filter) -> tuple[str, list[Any]]:
    if f.type == S.TAGS:
        return _tags_sql(f)
    if f.type == S.JSON:
        return _custom_sql(f)
    expr = _expr(f)
    op, value = f.op, f.value
    if op == "is":
        return "%s IS NULL" % expr, []
    if op == "not":
        return "%s IS NOT NULL" % expr, []
    if op == "like":
        assert isinstance(value, str)
        return "%s LIKE ? ESCAPE '\\'" % expr, [like_pattern(value)]
    if op == "in":
        assert isinstance(value, tuple)
        sql = "%s IN (%s)" % (expr, ", ".join("?" * len(value)))
        if f.type == S.EMAIL and f.field == "email":
            sql = "email IS NOT NULL AND " + sql  # as for eq: the partial index applies
        return sql, [*value]
    if op == "eq":
        if f.type == S.EMAIL and f.field == "email":
            # lets SQLite use the partial unique index on lower(email)
            return "email IS NOT NULL AND lower(email) = ?", [value]
        return "%s = ?" % expr, [value]
    if op == "ne" and isinstance(value, tuple):  # a time not within [start, end): a day
        return "NOT coalesce(%s >= ? AND %s < ?, 0)" % (expr, expr), [*value]
    if op == "ne":
        return "%s IS NOT ?" % expr, [value]
    sign = _SIGNS[op]
    if f.type == S.EMAIL and f.field == "email":
        return "email IS NOT NULL AND lower(email) %s ?" % sign, [value]  # as for eq
    return "%s %s ?" % (expr, sign), [value]


_JSON_TYPE = "json_type(%s, ?)" % _CUSTOM


def _custom_sql(f: Filter) -> tuple[str, list[Any]]:
    """`custom.<key>=`: a value is matched as a reply writes it (query.CustomValue), as the
    facet index matches it (store/facets.py), whose rows are the JSON's values."""
    path = '$."%s"' % f.custom_key  # checked against [A-Za-z0-9_-]; quoting keeps dots literal
    expr = "json_extract(%s, ?)" % _CUSTOM
    op, value = f.op, f.value
    if op == "is":
        return "%s IS NULL" % expr, [path]
    if op == "not":
        return "%s IS NOT NULL" % expr, [path]
    if op == "like":
        assert isinstance(value, str)
        # true and false as a reply writes them, not as json_extract's 1 and 0
        shown = "CASE %s WHEN 'true' THEN 'true' WHEN 'false' THEN 'false' ELSE %s END" % (
            _JSON_TYPE,
            expr,
        )
        return "%s LIKE ? ESCAPE '\\'" % shown, [path, path, like_pattern(value)]
    if op in ("eq", "ne", "in"):
        items = value if isinstance(value, tuple) else (value,)
        sql, params = facets.custom_equal(
            [i for i in items if isinstance(i, CustomValue)],
            (expr, [path]),
            (_JSON_TYPE + " IN ('integer', 'real')", [path]),
            (_JSON_TYPE + " IN ('true', 'false')", [path]),
        )
        # ne: every record eq leaves out, those without the key (NULL) included
        return (sql if op != "ne" else "NOT coalesce(%s, 0)" % sql), params
    sign = _SIGNS[op]
    if isinstance(value, int | float):
        # SQLite ranks any text above any number: compare numbers with numbers only (not
        # true and false either, which json_extract reads as 1 and 0).
        sql = "%s IN ('integer', 'real') AND %s %s ?" % (_JSON_TYPE, expr, sign)
        return sql, [path, path, value]
    # ... and text with text only: `>= ''` leaves out the numbers, which rank below it.
    lower = " AND %s >= ''" % expr if sign[0] == "<" else ""
    return "%s %s ?%s" % (expr, sign, lower), [path, value, *([path] if lower else [])]


_HAS_TAG = "EXISTS (SELECT 1 FROM json_each(%s) WHERE value = ?)" % _TAGS


def _tags_sql(f: Filter) -> tuple[str, list[Any]]:
    if f.op == "is":
        return "tags IS NULL", []
    if f.op == "not":
        return "tags IS NOT NULL", []
    assert isinstance(f.value, tuple)
    items = list(f.value)
    if f.op == "eq":  # every tag
        return " AND ".join([_HAS_TAG] * len(items)), items
    marks = ", ".join("?" * len(items))
    any_of = "EXISTS (SELECT 1 FROM json_each(%s) WHERE value IN (%s))" % (_TAGS, marks)
    return (any_of if f.op == "in" else "NOT " + any_of), items


def where(
    rs: S.RecordSpec, plan: Plan, workspace_id: str, indexed: Filter | None = None
) -> tuple[str, list[Any]]:
    """The workspace and every filter, AND-ed; `indexed`: the one filter that reads the facet
    index instead of the records' JSON (`facets.probe`)."""
    # With a lookup in the facet index, `+`: statistics that find workspaces small (many of
    # them, or none yet) made SQLite read the workspace's index and test each record against
    # the lookup (48 ms for a tag on 200 of 100k contacts) rather than start from the lookup.
    clauses = ["workspace_id = ?" if indexed is None else "+workspace_id = ?"]
    params: list[Any] = [workspace_id]
    for f in plan.filters:
        if f is indexed:
            sql, values = facets.lookup_sql(rs, f, workspace_id, _HAS_TAG)
        else:
            sql, values = filter_sql(f)
        clauses.append(sql)
        params.extend(values)
    return " AND ".join(clauses), params


def _after(
    col: str, desc: bool, value: Any, id_: str, nullable: bool = True
) -> tuple[str, list[Any]]:
    """Rows strictly after (value, id) in ORDER BY col [DESC], id [DESC]; NULLs sort lowest."""
    if not nullable and value is not None:
        # one row-value comparison: SQLite turns it into a range on the sort index
        return "(%s, id) %s (?, ?)" % (col, "<" if desc else ">"), [value, id_]
    if desc:
        if value is None:
            return "(%s IS NULL AND id < ?)" % col, [id_]
        return "((%s, id) < (?, ?) OR %s IS NULL)" % (col, col), [value, id_]
    if value is None:
        return "((%s IS NULL AND id > ?) OR %s IS NOT NULL)" % (col, col), [id_]
    return "(%s, id) > (?, ?)" % col, [value, id_]


def page_sql(
    rs: S.RecordSpec,
    plan: Plan,
    workspace_id: str,
    after: tuple[Any, str] | None,
    search: SearchSql | None,
    with_count: bool,
    sort_after: bool = False,
    indexed: Filter | None = None,
) -> tuple[str, list[Any]]:
    """One statement: the page (limit + 1 rows, to know whether more remain), each row ending
    with its sort key, then the capped total as an uncorrelated scalar subquery (SQLite runs
    it once) so a list is one trip to the database.

    `sort_after`: find the matching rows by the filters' best index and sort them afterwards,
    instead of walking the sort column's index in order; for filters known to match few rows
    (see `narrow_candidate`); `indexed`: see `where`."""
    if search is not None:
        return _search_page(rs, plan, workspace_id, with_count, after, search)
    cond, params = where(rs, plan, workspace_id, indexed)
    count = "NULL"
    count_params: list[Any] = []
    if with_count:
        count = "(SELECT count(*) FROM (SELECT 1 FROM %s WHERE %s LIMIT %d))" % (
            rs.table,
            cond,
            COUNT_CAP + 1,
        )
        count_params = list(params)
    return _plain_page(rs, plan, cond, [*count_params, *params], count, after, sort_after)


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


_INDEX_OPS = frozenset({"eq", "in", "gt", "gte", "lt", "lte"})


def _indexed(rs: S.RecordSpec, name: str) -> bool:
    field = rs.field(name)
    return field is not None and field.indexed


_RANGE_OPS = frozenset({"gt", "gte", "lt", "lte"})


def _plain_page(
    rs: S.RecordSpec,
    plan: Plan,
    cond: str,
    params: list[Any],
    count: str,
    after: tuple[Any, str] | None,
    sort_after: bool,
) -> tuple[str, list[Any]]:
    """Ordered by the sort column itself, so SQLite walks the matching index in order and the
    cursor condition is a range on it; with `sort_after`, by `+column`, which no index can
    give, so SQLite picks the index that serves the filters best and sorts what they match."""
    col = plan.sort
    direction = "DESC" if plan.descending else "ASC"
    order, tie = (f"+{col}", "+id") if sort_after else (col, "id")
    field = rs.field(col)
    after_sql, after_params = "1", list[Any]()
    if after is not None:
        nullable = field is None or field.nullable
        after_sql, after_params = _after(col, plan.descending, after[0], after[1], nullable)
    sql = "SELECT %s, %s, %s FROM %s WHERE %s AND %s ORDER BY %s %s, %s %s LIMIT %d" % (
        list_columns(rs),
        col,
        count,
        rs.table,
        cond,
        after_sql,
        order,
        direction,
        tie,
        direction,
        plan.limit + 1,
    )
    return sql, [*params, *after_params]


def _search_page(
    rs: S.RecordSpec,
    plan: Plan,
    workspace_id: str,
    with_count: bool,
    after: tuple[Any, str] | None,
    search: SearchSql,
) -> tuple[str, list[Any]]:
    """Ranked (or sorted) among the window's candidates that pass the filters. The window
    keeps only each candidate's rowid, id, sort key and filter verdict; the page's rows are
    read after the sort, so 1,001 wide rows are never copied or sorted."""
    if plan.explicit_sort:
        key, desc, key_params = plan.sort, plan.descending, list[Any]()
    else:
        key, desc, key_params = search.score, False, search.score_params
    window, window_params = _window(rs, plan, workspace_id, search, key, key_params)
    direction = "DESC" if desc else "ASC"
    after_sql, after_params = "1", list[Any]()
    if after is not None:
        after_sql, after_params = _after("sort_key", desc, after[0], after[1])
    t = rs.table
    # Each row ends: the window's size (full = matches beyond it may pass the filters too),
    # the sort key, the count that passed (as a plain page ends: sort key, count).
    counts = (WINDOW_SIZE, PASSED) if with_count else ("NULL", "NULL")
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
            counts[0],
            counts[1],
            t,
            t,
            direction,
            t,
            direction,
        )
    )
    return sql, [*window_params, *after_params]


def _window(
    rs: S.RecordSpec,
    plan: Plan,
    workspace_id: str,
    search: SearchSql,
    key: str,
    key_params: list[Any],
) -> tuple[str, list[Any]]:
    """The candidate window: the workspace's newest SEARCH_CANDIDATES records that match the
    search, each with its sort key and whether it passes the filters (`ok`), computed once
    (MATERIALIZED) for both the page and the count.

    Filters are judged inside the window, not used to choose it: the window then depends only
    on the search and `upto`, so a record that starts or stops passing a filter between pages
    cannot push another out of it (a skipped row), and a filter that rejects most matches
    cannot make the walk go through every match (it stops at the workspace's 1,001st).

    Why this shape: the index is walked newest first (its rows are keyed by the negated seq,
    so `ORDER BY rowid` is that order, and the one FTS5 reads fastest) and each hit looks its
    record up by primary key (CROSS JOIN keeps that order: the other
    one would run the full-text query once per record), where the workspace is checked.
    Checking it on the index's own unindexed column instead cost a content-table read per
    hit, 3.6 of a search's 11 ms."""
    fts, t = search.table, rs.table
    filters = [filter_sql(f) for f in plan.filters]
    ok = " AND ".join(sql for sql, _ in filters) or "1"
    sql = (
        "WITH cand AS MATERIALIZED (SELECT %s.seq AS seq, %s.id AS id, %s AS sort_key,"
        " coalesce(%s, 0) AS ok FROM %s CROSS JOIN %s ON %s.seq = -%s.rowid"
        " WHERE %s AND +%s.workspace_id = ? ORDER BY %s.rowid LIMIT %d)"
        % (t, t, key, ok, fts, t, t, fts, search.condition, t, fts, SEARCH_CANDIDATES)
    )
    filter_params = [p for _, values in filters for p in values]
    return sql, [*key_params, *filter_params, *search.params, workspace_id]


def count_sql(
    rs: S.RecordSpec,
    plan: Plan,
    workspace_id: str,
    search: SearchSql | None,
    indexed: Filter | None = None,
    cap: int = COUNT_CAP + 1,
) -> tuple[str, list[Any]]:
    """The capped total alone (for a page past the end); a search's also gives its window's
    size."""
    if search is not None:
        window, window_params = _window(rs, plan, workspace_id, search, "NULL", [])
        return "%s SELECT %s, %s" % (window, PASSED, WINDOW_SIZE), window_params
    cond, params = where(rs, plan, workspace_id, indexed)
    sql = "SELECT count(*) FROM (SELECT 1 FROM %s WHERE %s LIMIT %d)" % (rs.table, cond, cap)
    return sql, params


class SearchSql:
    """The search part of a list query: the full-text table, the condition on its rows (the
    match, short words, the window's upper bound) and how to rank each record found."""

    def __init__(
        self,
        table: str,
        condition: str,
        params: list[Any],
        score: str,
        score_params: list[Any],
    ) -> None:
        self.table = table
        self.condition = condition
        self.params = params
        self.score = score
        self.score_params = score_params
