"""Rows (tuples in spec column order) -> the data a reply carries, keyed as the wire shows it.

Relations become handles, times RFC 3339, tags a list, custom an object. The converters are
worked out once per type so a 50-row page is a tight loop.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from crmkit import spec as S
from crmkit.clock import iso
from crmkit.render import LIST_JSON, NUMBER, OBJECT_JSON, PLAIN, REF, TIME, Column, Layout, Table
from crmkit.render.values import stored_json
from crmkit.store.base import Row

_KINDS = {S.DATETIME: TIME, S.REF: REF, S.TAGS: LIST_JSON, S.JSON: OBJECT_JSON}


@cache
def _layout(rs: S.RecordSpec, full: bool) -> Layout:
    """How a reply shows each column of a row: a single record's row holds every field
    (`sql_query.columns`), a list page's only the listed ones (`sql_query.list_columns`), each
    after the id and possibly followed by extra columns (sort key, count) the layout ignores.
    Worked out (and its renderer compiled) once per type."""
    fields = [f for f in rs.fields if full or f.in_list]
    columns = (
        Column(
            i,
            f.key,
            _KINDS.get(f.type, NUMBER if f.type in (S.INT, S.MONEY) else PLAIN),
            f.ref or "",
        )
        for i, f in enumerate(fields, start=1)
    )
    return Layout(rs.kind, columns)


def table(rs: S.RecordSpec, rows: list[Row], *, full: bool = True) -> Table:
    return Table(_layout(rs, full), rows)


def view(rs: S.RecordSpec, row: Row, *, full: bool = True) -> dict[str, Any]:
    return table(rs, [row], full=full).dicts()[0]


def value_of(rs: S.RecordSpec, row: Row, name: str) -> Any:
    return row[_index(rs)[name]]


@cache
def _index(rs: S.RecordSpec) -> dict[str, int]:
    return {f.name: i for i, f in enumerate(rs.fields, start=1)}


def shown(f: S.Field, value: Any) -> str:
    """A stored value as the audit diff prints it."""
    if value is None:
        return "null"
    if f.type == S.DATETIME:
        return str(iso(value))
    if f.type == S.TAGS:
        tags = stored_json(value)
        if type(tags) is list and all(type(t) is str for t in tags):
            return ",".join(tags)
        return str(value)  # not a list of tags (written by other means): as stored
    if f.type == S.REF:
        return "%s/%s" % (f.ref, value)
    text = str(value)
    return text if len(text) <= 80 else text[:77] + "..."
