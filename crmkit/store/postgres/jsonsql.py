"""PostgreSQL's filters on the stored JSON, `custom.<key>=` and `tags=`, answering as SQLite's
json_extract and json_each do (store/sqlite/jsonsql.py): a value matches as a reply writes it
(query.CustomValue). They read the jsonb copies (`custom_j`, `tags_j`) kept beside the JSON
text, under GIN indexes where an operator can use them (`@>`)."""

from __future__ import annotations

from decimal import Decimal

import orjson

from crmkit.query import CustomValue, Filter, like_pattern
from crmkit.store.base import Sql
from crmkit.store.sql_query import SIGNS

_VALUE = "(custom_j -> ?::text)"
_TYPE = "jsonb_typeof(custom_j -> ?::text)"
_TEXT = '((custom_j ->> ?::text) COLLATE "C")'
# A JSON number as numeric, else NULL (CASE: AND does not promise to test its left side first,
# and a string cannot be cast).
_NUMBER = "(CASE WHEN %s = 'number' THEN %s::numeric END)" % (_TYPE, _VALUE)


def _number(value: int | float) -> Decimal:
    # numeric compares exactly; a float's shortest repr is the number a reply shows
    return Decimal(value) if isinstance(value, int) else Decimal(repr(value))


def _equal(item: CustomValue, key: str) -> Sql:
    """One CustomValue: the string spelled `text`, an equal number, the named boolean; and, as
    json_extract gives an array or object as its minified JSON, one spelled `text`."""
    parts = ["(%s = 'string' AND %s = ?)" % (_TYPE, _TEXT)]
    params: list[object] = [key, key, item.text]
    if item.number is not None:
        parts.append("%s = ?" % _NUMBER)
        params += [key, key, _number(item.number)]
    if item.boolean is not None:
        parts.append("%s = ?::jsonb" % _VALUE)
        params += [key, "true" if item.boolean else "false"]
    if item.text[:1] in ("[", "{"):
        try:
            parsed = orjson.loads(item.text)
        except orjson.JSONDecodeError:
            parsed = None
        if isinstance(parsed, list | dict) and orjson.dumps(parsed).decode() == item.text:
            parts.append("%s = ?::jsonb" % _VALUE)
            params += [key, item.text]
    return "(%s)" % " OR ".join(parts), params


def custom(f: Filter) -> Sql:
    key = str(f.custom_key)
    op, value = f.op, f.value
    # json_extract reads a missing key and a JSON null alike: NULL
    missing = "coalesce(%s, 'null') = 'null'" % _TYPE
    if op == "is":
        return missing, [key]
    if op == "not":
        return "NOT " + missing, [key]
    if op == "like":
        assert isinstance(value, str)
        return "%s ILIKE ? ESCAPE '\\'" % _TEXT, [key, like_pattern(value)]
    if op in ("eq", "ne", "in"):
        items = value if isinstance(value, tuple) else (value,)
        parts = [_equal(i, key) for i in items if isinstance(i, CustomValue)]
        sql = "(%s)" % " OR ".join(p for p, _ in parts)
        params = [x for _, ps in parts for x in ps]
        # ne: every record eq leaves out, those without the key included
        return (sql if op != "ne" else "NOT coalesce(%s, FALSE)" % sql), params
    sign = SIGNS[op]
    if isinstance(value, int | float):
        # numbers compare with numbers only (not true and false, nor text)
        return "%s %s ?" % (_NUMBER, sign), [key, key, _number(value)]
    # ... and text with text only
    return "%s = 'string' AND %s %s ?" % (_TYPE, _TEXT, sign), [key, key, value]


def _contains(tag: object) -> Sql:
    return "tags_j @> ?::jsonb", [orjson.dumps([tag]).decode()]


def tags(f: Filter) -> Sql:
    if f.op == "is":
        return "tags IS NULL", []
    if f.op == "not":
        return "tags IS NOT NULL", []
    assert isinstance(f.value, tuple)
    items = list(f.value)
    if f.op == "eq":  # every tag: one containment the index answers
        return "tags_j @> ?::jsonb", [orjson.dumps(items).decode()]
    parts = [_contains(t) for t in items]
    any_of = "(%s)" % " OR ".join(sql for sql, _ in parts)
    params = [p for _, ps in parts for p in ps]
    return (any_of if f.op == "in" else "NOT coalesce(%s, FALSE)" % any_of), params
