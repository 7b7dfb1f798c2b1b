"""The one SQL builder for list queries: a query.Plan -> a WHERE clause, an ORDER BY and a
keyset condition. Identifiers come only from crmkit/spec.py; every value is a bound parameter.
"""

from __future__ import annotations

from typing import Any

from crmkit import spec as S
from crmkit.query import Filter, Plan, like_pattern

COUNT_CAP = 1000
# search ranks at most this many matches, so its cost stays bounded; one more than the count
# cap, so a capped candidate set reports its total as "1000+"
SEARCH_CANDIDATES = COUNT_CAP + 1


def columns(rs: S.RecordSpec) -> str:
    """The SELECT list every record read uses: id, then the spec's fields in line order."""
    return "id, " + ", ".join(f.name for f in rs.fields)


def list_columns(rs: S.RecordSpec) -> str:
    """The SELECT list of list pages: id, then only the fields a list line shows."""
    return "id, " + ", ".join(f.name for f in rs.fields if f.in_list)


def _expr(f: Filter) -> str:
    if f.type == S.JSON:
        return "json_extract(custom, ?)"
    if f.type == S.EMAIL:
        return "lower(%s)" % f.field  # members' emails are stored lower-cased already
    return f.field


def _custom_path(f: Filter) -> list[Any]:
    # The key was checked against [A-Za-z0-9_-] by the parser; quoting keeps dots literal.
    return ['$."%s"' % f.custom_key] if f.type == S.JSON else []


def _variants(value: Any) -> list[Any]:
    """A custom value that looks like a number matches the JSON number and the string."""
    return [value, str(value)] if isinstance(value, int) else [value]


def filter_sql(f: Filter) -> tuple[str, list[Any]]:
    if f.type == S.TAGS:
        return _tags_sql(f)
    expr, params = _expr(f), _custom_path(f)
    op, value = f.op, f.value
    if op == "is":
        return "%s IS NULL" % expr, params
    if op == "not":
        return "%s IS NOT NULL" % expr, params
    if op == "like":
        assert isinstance(value, str)
        return "%s LIKE ? ESCAPE '\\'" % expr, [*params, like_pattern(value)]
    if op == "in":
        assert isinstance(value, tuple)
        items = [v for item in value for v in _variants(item)] if f.type == S.JSON else [*value]
        return "%s IN (%s)" % (expr, ", ".join("?" * len(items))), [*params, *items]
    if f.type == S.JSON and op in ("eq", "ne") and isinstance(value, int):
        both = "(%s = ? OR %s = ?)" % (expr, expr)
        sql = both if op == "eq" else "NOT coalesce(%s, 0)" % both
        return sql, [*params, value, *params, str(value)]
    if op == "eq":
        if f.type == S.EMAIL and f.field == "email":
            # lets SQLite use the partial unique index on lower(email)
            return "email IS NOT NULL AND lower(email) = ?", [value]
        return "%s = ?" % expr, [*params, value]
    if op == "ne":
        return "%s IS NOT ?" % expr, [*params, value]
    sign = {"gt": ">", "gte": ">=", "lt": "<", "lte": "<="}[op]
    if f.type == S.JSON and isinstance(value, int):
        # SQLite ranks any text above any number: compare numbers with numbers only.
        sql = "json_type(custom, ?) IN ('integer', 'real') AND %s %s ?" % (expr, sign)
        return sql, [*params, *params, value]
    return "%s %s ?" % (expr, sign), [*params, value]


def _tags_sql(f: Filter) -> tuple[str, list[Any]]:
    if f.op == "is":
        return "tags IS NULL", []
    if f.op == "not":
        return "tags IS NOT NULL", []
    assert isinstance(f.value, tuple)
    items = list(f.value)
    if f.op == "eq":  # every tag
        one = "EXISTS (SELECT 1 FROM json_each(tags) WHERE value = ?)"
        return " AND ".join([one] * len(items)), items
    marks = ", ".join("?" * len(items))
    any_of = "EXISTS (SELECT 1 FROM json_each(tags) WHERE value IN (%s))" % marks
    return (any_of if f.op == "in" else "NOT " + any_of), items


def where(
    rs: S.RecordSpec, plan: Plan, workspace_id: str, searching: bool = False
) -> tuple[str, list[Any]]:
    # With a search, the unary + keeps SQLite off the workspace indexes: it must fetch the
    # <= 1,001 candidates by rowid, not walk all the workspace's rows testing `seq IN cand`
    # (which it otherwise picks: 120-190 ms instead of a few at 100k contacts).
    ws = "+workspace_id = ?" if searching else "workspace_id = ?"
    clauses, params = [ws], [workspace_id]
    for f in plan.filters:
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
) -> tuple[str, list[Any]]:
    """One statement: the page (limit + 1 rows, to know whether more remain), each row ending
    with its sort key, then the capped total as an uncorrelated scalar subquery (SQLite runs
    it once) so a list costs one trip to the database thread."""
    cond, params = where(rs, plan, workspace_id, searching=search is not None)
    if search is not None:
        cond = "%s AND %s" % (cond, search.condition)
        params = [*params, *search.params]
    count, count_params = "NULL", list[Any]()
    if with_count:
        count = "(SELECT count(*) FROM (SELECT 1 FROM %s WHERE %s LIMIT %d))" % (
            rs.table,
            cond,
            COUNT_CAP + 1,
        )
        count_params = list(params)
    if search is None:
        return _plain_page(rs, plan, cond, [*count_params, *params], count, after)
    return _search_page(rs, plan, cond, params, count, count_params, after, search)


def _plain_page(
    rs: S.RecordSpec,
    plan: Plan,
    cond: str,
    params: list[Any],
    count: str,
    after: tuple[Any, str] | None,
) -> tuple[str, list[Any]]:
    """Ordered by the sort column itself, so SQLite walks the matching index in order and the
    cursor condition is a range on it."""
    col = plan.sort
    direction = "DESC" if plan.descending else "ASC"
    field = rs.field(col)
    after_sql, after_params = "1", list[Any]()
    if after is not None:
        nullable = field is None or field.nullable
        after_sql, after_params = _after(col, plan.descending, after[0], after[1], nullable)
    sql = "SELECT %s, %s, %s FROM %s WHERE %s AND %s ORDER BY %s %s, id %s LIMIT %d" % (
        list_columns(rs),
        col,
        count,
        rs.table,
        cond,
        after_sql,
        col,
        direction,
        direction,
        plan.limit + 1,
    )
    return sql, [*params, *after_params]


def _search_page(
    rs: S.RecordSpec,
    plan: Plan,
    cond: str,
    params: list[Any],
    count: str,
    count_params: list[Any],
    after: tuple[Any, str] | None,
    search: SearchSql,
) -> tuple[str, list[Any]]:
    """Ranked (or sorted) within the capped candidate set: the sort key is computed in a
    subquery so the cursor can compare against it."""
    if plan.explicit_sort:
        key, desc, key_params = plan.sort, plan.descending, list[Any]()
    else:
        key, desc, key_params = search.score, False, search.score_params
    direction = "DESC" if desc else "ASC"
    inner = "SELECT %s, %s AS sort_key FROM %s WHERE %s" % (
        list_columns(rs),
        key,
        rs.table,
        cond,
    )
    after_sql, after_params = "1", list[Any]()
    if after is not None:
        after_sql, after_params = _after("sort_key", desc, after[0], after[1])
    sql = "%s SELECT *, %s FROM (%s) WHERE %s ORDER BY sort_key %s, id %s LIMIT %d" % (
        _cte(search),
        count,
        inner,
        after_sql,
        direction,
        direction,
        plan.limit + 1,
    )
    return sql, [
        *search.candidate_params,
        *count_params,
        *key_params,
        *params,
        *after_params,
    ]


def _cte(search: SearchSql) -> str:
    return "WITH cand(seq) AS MATERIALIZED (%s)" % search.candidates


def count_sql(
    rs: S.RecordSpec, plan: Plan, workspace_id: str, search: SearchSql | None
) -> tuple[str, list[Any]]:
    cond, params = where(rs, plan, workspace_id)
    prefix = ""
    if search is not None:
        cond = "%s AND %s" % (cond, search.condition)
        params = [*search.candidate_params, *params, *search.params]
        prefix = _cte(search) + " "
    sql = "%sSELECT count(*) FROM (SELECT 1 FROM %s WHERE %s LIMIT %d)" % (
        prefix,
        rs.table,
        cond,
        COUNT_CAP + 1,
    )
    return sql, params


class SearchSql:
    """The search part of a list query: the capped candidate set (a CTE, materialised once
    even though both the page and the count read it), which rows match, how to rank them."""

    def __init__(
        self,
        candidates: str,
        candidate_params: list[Any],
        condition: str,
        params: list[Any],
        score: str,
        score_params: list[Any],
    ) -> None:
        self.candidates = candidates
        self.candidate_params = candidate_params
        self.condition = condition
        self.params = params
        self.score = score
        self.score_params = score_params
