"""The facet index (migration 0008): which records have a given tag or custom value, for the
list filters `tags=`, `tags=in:`, `custom.<key>=`, `custom.<key>=in:` and the ranges
`custom.<key>=gt:` (gte, lt, lte).

Why: those filters read each record's JSON, so a value few records have read the whole
workspace (188 ms for an absent tag at 100k contacts, ~1.9 s at 1M). `<table>_facets`
(workspace_id, facet, value, seq) finds them by key. It is used only where it is faster
(store/records.py): a list first counts its filters' matches in it (`counts_sql`, capped)
and takes the rarest; up to 1,000 (3,000 beside other filters, unless one with an index of
its own matches fewer) the page comes from the index and is sorted afterwards; past that,
walking the sort order with the JSON check meets a page of the value sooner than sorting
all of its records.

Facets: `tags` (one row per distinct tag, as json_each() lists them) and `custom.<key>` (one
per top-level key a filter can name, its value exactly as the filter's json_extract() reads
it: text, a number, 1/0 for true/false, minified JSON for a list or an object; the first of
duplicated keys), and whether it is a JSON number (so true and false, stored as 1 and 0, are
the rows with a number for value and the flag unset: no other column is needed to tell them
from numbers). The triggers in 0008 keep them from every write path, so both paths answer
alike."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace
from typing import Any

from crmkit import spec as S
from crmkit.query import CustomValue, Filter, Plan
from crmkit.store.sql_query import SIGNS

_OPS = {S.TAGS: frozenset({"eq", "in"}), S.JSON: frozenset({"eq", "in", "gt", "gte", "lt", "lte"})}


def table(rs: S.RecordSpec) -> str:
    return rs.table + "_facets"


Sql = tuple[str, list[Any]]


def _unique(values: Iterable[Any]) -> list[Any]:
    return list(dict.fromkeys(values))  # 1 and 1.0 are one: SQL compares numbers by value


def _custom_values(items: Sequence[CustomValue]) -> tuple[list[Any], list[Any], list[Any]]:
    """The texts, numbers and booleans (as json_extract reads them: 1, 0) `items` match."""
    texts = _unique(i.text for i in items)
    numbers = _unique(i.number for i in items if i.number is not None)
    booleans = _unique(int(i.boolean) for i in items if i.boolean is not None)
    return texts, numbers, booleans


def _in(expr: Sql, values: list[Any]) -> Sql:
    sql, params = expr
    if len(values) == 1:
        return "%s = ?" % sql, [*params, *values]
    return "%s IN (%s)" % (sql, ", ".join("?" * len(values))), [*params, *values]


def custom_equal(items: Sequence[CustomValue], value: Sql, number: Sql, boolean: Sql) -> Sql:
    """Whether a custom value equals one of `items` (query.CustomValue), by the JSON path and
    the index alike: `value` reads it as json_extract does (true and false as 1 and 0, text
    as text: SQLite never finds text equal to a number), `number` says it is a JSON number and
    `boolean` a JSON true or false. A literal matches the string spelled the same, an equal
    number and the boolean it names; so `1` matches neither true nor "1.0", and `true` not 1."""
    texts, numbers, booleans = _custom_values(items)
    parts = [_in(value, texts)]
    for values, kind in ((numbers, number), (booleans, boolean)):
        if values:
            sql, params = _in(value, values)
            parts.append(("(%s AND %s)" % (sql, kind[0]), [*params, *kind[1]]))
    if len(parts) == 1:
        return parts[0]
    return "(%s)" % " OR ".join(sql for sql, _ in parts), [p for _, ps in parts for p in ps]


# A list counts at most this many of its filters in the index to find the rarest.
MAX_PROBED = 3


def candidates(plan: Plan) -> list[Filter]:
    """The list's filters the index can serve (the first MAX_PROBED)."""
    return [f for f in plan.filters if f.op in _OPS.get(f.type, ())][:MAX_PROBED]


def probe(plan: Plan) -> Filter | None:
    """The list's first filter the index can serve."""
    found = candidates(plan)
    return found[0] if found else None


def _facet(f: Filter) -> str:
    return "tags" if f.type == S.TAGS else "custom." + str(f.custom_key)


def _values(f: Filter) -> list[Any]:
    """The values a record needs (one of) for `f`, as the index stores them, each once."""
    items: list[Any] = list(f.value) if isinstance(f.value, tuple) else [f.value]
    if f.type == S.JSON and f.op in ("eq", "in"):
        items = []
        for item in _customs(f):
            boolean = None if item.boolean is None else int(item.boolean)
            items += [v for v in (item.number, boolean) if v is not None] + [item.text]
    return _unique(items)  # text is never equal to a number: "1" and 1 both stay


def _customs(f: Filter) -> list[CustomValue]:
    items = list(f.value) if isinstance(f.value, tuple) else [f.value]
    return [i for i in items if isinstance(i, CustomValue)]


# tags=a,b,... counts this many of its tags (the first ones) to find a rare one: each count
# reads up to its cap in the index, and the list allows 100 tags.
MAX_COUNTED = 4


def _match(f: Filter, values: list[Any], row: str = "") -> tuple[str, list[Any]]:
    """The condition on an index row's value for `f` (tags=: its first tag). A range on a
    number takes JSON numbers only, as the JSON filter does (not true/false, stored as 1/0);
    `value < ''` keeps its scan off the text values, which SQLite orders after every number.
    A range on text takes text only, as the JSON filter does; `value >= ''` keeps it off the
    numbers. Equality as the JSON filter's (`custom_equal`), after `value IN (...)` on every
    value it may match: that is what finds the rows by the index (SQLite's planner would not
    use it for the OR of kinds alone). `row`: the index table's alias and a dot, if any."""
    value = row + "value"
    if f.op in SIGNS:
        sign = SIGNS[f.op]
        if isinstance(f.value, int | float):
            upper = " AND %s < ''" % value if sign[0] == ">" else ""
            return "%s %s ?%s AND %snumber" % (value, sign, upper, row), [f.value]
        lower = " AND %s >= ''" % value if sign[0] == "<" else ""
        return "%s %s ?%s" % (value, sign, lower), [f.value]
    if f.type == S.TAGS and f.op == "eq":
        return "%s = ?" % value, values[:1]
    found = "%s IN (%s)" % (value, ", ".join("?" * len(values)))
    if f.type != S.JSON or all(v.number is None and v.boolean is None for v in _customs(f)):
        return found, values  # tags, or text alone: only text rows can match
    # Numbers have `number` set; true and false are the rows with a number for value (1, 0)
    # and `number` unset; only text rows have a text value.
    kinds, params = custom_equal(
        _customs(f), (value, []), (row + "number", []), ("NOT " + row + "number", [])
    )
    return "%s AND %s" % (found, kinds), [*values, *params]


def counts_sql(
    rs: S.RecordSpec, f: Filter, workspace_id: str, cap: int, joined: bool = False
) -> tuple[str, list[Any]]:
    """How many records have the filter's value, counted on the index and capped at `cap`:
    for tags=, one row per tag (of the first MAX_COUNTED; a record needs every tag), else
    one row. `joined`: only rows whose record exists (a record replaced by INSERT OR REPLACE
    under a new seq leaves its old rows behind: SQLite fires no delete trigger for it)."""
    t = table(rs)
    source = "%s f JOIN %s r ON r.seq = f.seq" % (t, rs.table) if joined else "%s f" % t
    capped = (
        "SELECT count(*) FROM (SELECT 1 FROM %s WHERE f.workspace_id = ? AND f.facet = ?" % source
        + " AND %%s LIMIT %d)" % cap
    )
    facet, values = _facet(f), _values(f)
    if f.type == S.TAGS and f.op == "eq":
        counted = values[:MAX_COUNTED]
        rows = " UNION ALL ".join(
            "SELECT %d, (%s)" % (i, capped % "f.value = ?") for i in range(len(counted))
        )
        return "SELECT * FROM (%s) ORDER BY 1" % rows, [
            p for tag in counted for p in (workspace_id, facet, tag)
        ]
    match, params = _match(f, values, "f.")
    return capped % match, [
        workspace_id,
        facet,
        *params,
    ]


def exact(f: Filter, plan: Plan) -> bool:
    """Whether `counts_sql`'s one count is the list's own total (before the cap): the filter
    is the list's only one, and no record can be counted twice (a record has one value per
    custom key, but may carry several of the tags of a tags=in:)."""
    return plan.filters == (f,) and (f.type == S.JSON or (f.op == "eq" and len(_values(f)) == 1))


def rarest_first(plan: Plan, f: Filter, counts: list[int]) -> tuple[Plan, Filter]:
    """The plan with the rarest counted tag of tags= filter `f` first (`counts`: one per
    counted tag): the index then serves that one and the JSON check the rest, instead of
    SQLite collecting every record of a common tag to intersect the lists (54 -> 1.7 ms at
    100k contacts)."""
    if f.type != S.TAGS or f.op != "eq" or len(counts) < 2:
        return plan, f
    values = _values(f)
    rarest = values[counts.index(min(counts))]
    ordered = replace(f, value=(rarest, *(v for v in values if v != rarest)))
    filters = tuple(ordered if g is f else g for g in plan.filters)
    return replace(plan, filters=filters), ordered


def lookup_sql(
    rs: S.RecordSpec, f: Filter, workspace_id: str, json_check: str
) -> tuple[str, list[Any]]:
    """`f` as a condition on a record: its (first) value from the index; for tags=, every
    further tag by `json_check`, the JSON filter's condition for one tag."""
    values = _values(f)
    match, params = _match(f, values)
    lookup = "seq IN (SELECT seq FROM %s WHERE workspace_id = ? AND facet = ? AND %s)" % (
        table(rs),
        match,
    )
    rest = [json_check] * (len(values) - 1) if f.type == S.TAGS and f.op == "eq" else []
    return " AND ".join([lookup, *rest]), [
        workspace_id,
        _facet(f),
        *params,
        *values[1 : len(rest) + 1],
    ]
