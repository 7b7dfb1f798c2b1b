"""SQLite's filters on the stored JSON: `custom.<key>=` and `tags=`, as json_extract and
json_each read them (the facet index, store/sqlite/facets.py, answers alike)."""

from __future__ import annotations

from crmkit.query import CustomValue, Filter, like_pattern
from crmkit.store.base import Sql
from crmkit.store.sql_query import SIGNS
from crmkit.store.sqlite import facets

# What a JSON filter reads: the stored JSON, or NULL where a column holds no JSON (written by
# other means), which the JSON functions would fail the whole list on. NULL matches as the facet
# index does (migration 0008 indexes nothing for it); the check costs ~10% of a JSON scan.
_CUSTOM = "CASE WHEN json_valid(custom) THEN custom END"
_TAGS = "CASE WHEN json_valid(tags) THEN tags END"
_JSON_TYPE = "json_type(%s, ?)" % _CUSTOM
HAS_TAG = "EXISTS (SELECT 1 FROM json_each(%s) WHERE value = ?)" % _TAGS


def custom(f: Filter) -> Sql:
    """`custom.<key>=`: a value is matched as a reply writes it (query.CustomValue), as the
    facet index matches it (store/sqlite/facets.py), whose rows are the JSON's values."""
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
    sign = SIGNS[op]
    if isinstance(value, int | float):
        # SQLite ranks any text above any number: compare numbers with numbers only (not
        # true and false either, which json_extract reads as 1 and 0).
        sql = "%s IN ('integer', 'real') AND %s %s ?" % (_JSON_TYPE, expr, sign)
        return sql, [path, path, value]
    # ... and text with text only: `>= ''` leaves out the numbers, which rank below it.
    lower = " AND %s >= ''" % expr if sign[0] == "<" else ""
    return "%s %s ?%s" % (expr, sign, lower), [path, value, *([path] if lower else [])]


def tags(f: Filter) -> Sql:
    if f.op == "is":
        return "tags IS NULL", []
    if f.op == "not":
        return "tags IS NOT NULL", []
    assert isinstance(f.value, tuple)
    items = list(f.value)
    if f.op == "eq":  # every tag
        return " AND ".join([HAS_TAG] * len(items)), items
    marks = ", ".join("?" * len(items))
    any_of = "EXISTS (SELECT 1 FROM json_each(%s) WHERE value IN (%s))" % (_TAGS, marks)
    return (any_of if f.op == "in" else "NOT " + any_of), items
