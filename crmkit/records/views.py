"""Rows (tuples in spec column order) -> the data a reply carries, keyed as the wire shows it.

Relations become handles, times RFC 3339, tags a list, custom an object. The converters are
worked out once per type so a 50-row page is a tight loop.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import Any

import orjson

from crmkit import spec as S
from crmkit.clock import iso
from crmkit.store.db import Row

Converter = Callable[[Any], Any] | None


def _converter(f: S.Field) -> Converter:
    if f.type == S.DATETIME:
        return iso
    if f.type == S.REF:
        kind = f.ref
        return lambda v: "%s/%s" % (kind, v)
    if f.type in (S.TAGS, S.JSON):
        return orjson.loads
    return None


@cache
def _plan(rs: S.RecordSpec, full: bool) -> tuple[tuple[int, str, Converter], ...]:
    return tuple(
        (i, f.key, _converter(f)) for i, f in enumerate(rs.fields, start=1) if full or f.in_list
    )


def view(rs: S.RecordSpec, row: Row, *, full: bool = True) -> dict[str, Any]:
    return views(rs, [row], full=full)[0]


def views(rs: S.RecordSpec, rows: list[Row], *, full: bool = True) -> list[dict[str, Any]]:
    plan = _plan(rs, full)
    prefix = rs.kind + "/"
    out = []
    for row in rows:
        data: dict[str, Any] = {"handle": prefix + row[0]}
        for i, key, conv in plan:
            value = row[i]
            data[key] = value if value is None or conv is None else conv(value)
        out.append(data)
    return out


def title_of(rs: S.RecordSpec, row: Row) -> Any:
    return row[1 + [f.name for f in rs.fields].index(rs.title)]


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
        return ",".join(orjson.loads(value))
    if f.type == S.REF:
        return "%s/%s" % (f.ref, value)
    text = str(value)
    return text if len(text) <= 80 else text[:77] + "..."
