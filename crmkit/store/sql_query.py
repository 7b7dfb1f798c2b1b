"""The one SQL builder for list queries, shared by both backends: a query.Plan -> a WHERE
clause, an ORDER BY and a keyset condition. Identifiers come only from crmkit/spec.py; every
value is a bound parameter. What differs by backend (JSON filters, NULL order, the planner's
hints) comes from the Dialect; searches are each backend's own (`Dialect.page`).
"""

from __future__ import annotations

from functools import cache
from typing import Any

from crmkit import spec as S
from crmkit.query import Filter, Plan, like_pattern
from crmkit.store.base import Dialect, Sql

COUNT_CAP = 1000
# search ranks at most this many matches, so its cost stays bounded; one more than the count
# cap, so a capped candidate set reports its total as "1000+"
SEARCH_CANDIDATES = COUNT_CAP + 1
SIGNS = {"gt": ">", "gte": ">=", "lt": "<", "lte": "<="}


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


def _expr(f: Filter) -> str:
    if f.type == S.EMAIL:
        return "lower(%s)" % f.field  # members' emails are stored lower-cased already
    return f.field


def filter_sql(d: Dialect, f: Filter) -> Sql:
    if f.type == S.TAGS:
        return d.tags_filter(f)
    if f.type == S.JSON:
        return d.json_filter(f)
    expr = _expr(f)
    op, value = f.op, f.value
    if op == "is":
        return "%s IS NULL" % expr, []
    if op == "not":
        return "%s IS NOT NULL" % expr, []
    if op == "like":
        assert isinstance(value, str)
        return d.like(expr), [like_pattern(value)]
    if op == "in":
        assert isinstance(value, tuple)
        sql = "%s IN (%s)" % (expr, ", ".join("?" * len(value)))
        if f.type == S.EMAIL and f.field == "email":
            sql = "email IS NOT NULL AND " + sql  # as for eq: the partial index applies
        return sql, [*value]
    if op == "eq":
        if f.type == S.EMAIL and f.field == "email":
            # lets the planner use the partial unique index on lower(email)
            return "email IS NOT NULL AND lower(email) = ?", [value]
        return "%s = ?" % expr, [value]
    if op == "ne" and isinstance(value, tuple):  # a time not within [start, end): a day
        return "NOT coalesce(%s >= ? AND %s < ?, FALSE)" % (expr, expr), [*value]
    if op == "ne":
        return d.distinct_from(expr), [value]
    sign = SIGNS[op]
    if f.type == S.EMAIL and f.field == "email":
        return "email IS NOT NULL AND lower(email) %s ?" % sign, [value]  # as for eq
    return "%s %s ?" % (expr, sign), [value]


def where(
    d: Dialect,
    plan: Plan,
    workspace_id: str,
    indexed: tuple[Filter, Sql] | None = None,
) -> Sql:
    """The workspace and every filter, AND-ed; `indexed`: one filter answered by other SQL
    (SQLite's facet index), with the workspace then kept off its own index."""
    clauses = ["workspace_id = ?" if indexed is None else d.plain("workspace_id") + " = ?"]
    params: list[Any] = [workspace_id]
    for f in plan.filters:
        if indexed is not None and f is indexed[0]:
            sql, values = indexed[1]
        else:
            sql, values = filter_sql(d, f)
        clauses.append(sql)
        params.extend(values)
    return " AND ".join(clauses), params


def after(col: str, desc: bool, value: Any, id_: str, nullable: bool = True) -> Sql:
    """Rows strictly after (value, id) in ORDER BY col [DESC], id [DESC]; NULLs sort lowest."""
    if not nullable and value is not None:
        # one row-value comparison: the planner turns it into a range on the sort index
        return "(%s, id) %s (?, ?)" % (col, "<" if desc else ">"), [value, id_]
    if desc:
        if value is None:
            return "(%s IS NULL AND id < ?)" % col, [id_]
        return "((%s, id) < (?, ?) OR %s IS NULL)" % (col, col), [value, id_]
    if value is None:
        return "((%s IS NULL AND id > ?) OR %s IS NOT NULL)" % (col, col), [id_]
    return "(%s, id) > (?, ?)" % col, [value, id_]


def capped_count(table: str, cond: str, cap: int = COUNT_CAP + 1) -> str:
    """Matches of `cond`, counted no further than `cap`."""
    return "(SELECT count(*) FROM (SELECT 1 FROM %s WHERE %s LIMIT %d) AS capped)" % (
        table,
        cond,
        cap,
    )


def page_sql(
    d: Dialect,
    rs: S.RecordSpec,
    plan: Plan,
    workspace_id: str,
    position: tuple[Any, str] | None,
    with_count: bool,
    sort_after: bool = False,
    indexed: tuple[Filter, Sql] | None = None,
) -> Sql:
    """One statement: the page (limit + 1 rows, to know whether more remain), each row ending
    with its sort key, then the capped total as an uncorrelated scalar subquery (run once) so
    a list is one trip to the database.

    Ordered by the sort column itself, so the planner walks the matching index in order and
    the cursor condition is a range on it. `sort_after`: by the column kept off its index
    (`Dialect.plain`), so the planner finds the matching rows by the filters' best index and
    sorts them afterwards (SQLite, for filters known to match few rows); `indexed`: see
    `where`."""
    cond, params = where(d, plan, workspace_id, indexed)
    count, count_params = "NULL", list[Any]()
    if with_count:
        count, count_params = capped_count(rs.table, cond), list(params)
    col = plan.sort
    key, tie = (d.plain(col), d.plain("id")) if sort_after else (col, "id")
    field = rs.field(col)
    after_sql, after_params = "TRUE", list[Any]()
    if position is not None:
        nullable = field is None or field.nullable
        after_sql, after_params = after(col, plan.descending, position[0], position[1], nullable)
    sql = "SELECT %s, %s, %s FROM %s WHERE %s AND %s ORDER BY %s, %s LIMIT %d" % (
        list_columns(rs),
        col,
        count,
        rs.table,
        cond,
        after_sql,
        d.order(key, plan.descending),
        d.order(tie, plan.descending),
        plan.limit + 1,
    )
    return sql, [*count_params, *params, *after_params]


def count_sql(
    d: Dialect,
    rs: S.RecordSpec,
    plan: Plan,
    workspace_id: str,
    indexed: tuple[Filter, Sql] | None = None,
    cap: int = COUNT_CAP + 1,
) -> Sql:
    """The capped total alone (for a page past the end)."""
    cond, params = where(d, plan, workspace_id, indexed)
    return "SELECT " + capped_count(rs.table, cond, cap), params
