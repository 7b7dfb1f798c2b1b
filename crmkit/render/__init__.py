"""The ONLY place that turns results into text lines or JSON.

Handlers return one of the small result objects below; `respond()` picks the format.
Text: one logfmt line per record (handle first, null fields left out), meta lines start `# `.
JSON: `{"data": ...}` with the same fields. Errors render through `error_body()`.
`values` writes one value and one record's line; `table` shows a page of rows column by column.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

import orjson
from starlette.responses import Response

from crmkit.errors import CrmError, InvalidField
from crmkit.render.table import (
    LIST_JSON,
    NUMBER,
    OBJECT_JSON,
    PLAIN,
    REF,
    TIME,
    Column,
    Layout,
    Table,
)
from crmkit.render.values import Data, meta_line, one_line, record_line, text_value

TEXT = "text/plain; charset=utf-8"
JSON = "application/json"

__all__ = [
    "JSON",
    "LIST_JSON",
    "NUMBER",
    "OBJECT_JSON",
    "PLAIN",
    "REF",
    "TEXT",
    "TIME",
    "Column",
    "Data",
    "Document",
    "Layout",
    "Listing",
    "Message",
    "Record",
    "Result",
    "Table",
    "error_body",
    "error_response",
    "meta_line",
    "record_line",
    "respond",
    "text_value",
    "to_json",
    "to_text",
    "wants_json",
    "wants_json_lenient",
]


@dataclass
class Record:
    """One record (a dict that carries "handle"), optionally with meta lines such as `created`."""

    data: Data
    meta: Sequence[str] = ()
    status: int = 200
    json_extra: Mapping[str, Any] = field(default_factory=dict)


@dataclass
class Listing:
    rows: Sequence[Data] | Table
    total: int | None = None
    total_is_lower_bound: bool = False
    next_cursor: str | None = None
    empty: Sequence[str] = ()  # meta lines shown only when there are no rows
    meta: Sequence[str] = ()
    with_total: bool = True
    trailer: Sequence[str] = ()  # meta lines after the rows, before `# next:`


@dataclass
class Document:
    """Several named records in one reply (e.g. whoami); text prints each as its own line."""

    sections: Mapping[str, Data | Sequence[Data]]
    meta: Sequence[str] = ()
    trailer: Sequence[str] = ()


@dataclass
class Message:
    """A reply with no record: text is meta lines, JSON is `{"data": data}`."""

    lines: Sequence[str]
    data: Data
    status: int = 200


Result = Record | Listing | Document | Message


# --- negotiation ------------------------------------------------------------------------------


def wants_json(query_string: str, accept: str) -> bool:
    fmt = None
    if "format=" in query_string:
        for key, value in parse_qsl(query_string, keep_blank_values=True):
            if key == "format":
                fmt = value
    if fmt is not None:
        if fmt == "json":
            return True
        if fmt == "text":
            return False
        raise InvalidField(
            f"unknown format {fmt!r}",
            "use ?format=text (the default) or ?format=json",
            allowed=("text", "json"),
            code="invalid_format",
        )
    if "application/json" not in accept:
        accept = accept.lower()  # media types are case-insensitive (the usual case costs nothing)
        if "application/json" not in accept:
            return False
    return ";" not in accept or _json_preferred(accept)


def _json_preferred(accept: str) -> bool:
    """With quality values: JSON when its q is above 0 and at least that of text (text/plain,
    text/* or */*), so `application/json;q=0.1, text/plain` gets text. Without any, naming
    JSON is enough, as it always was."""
    json_q = text_q = 0.0
    for part in accept.split(","):
        media, *params = (p.strip() for p in part.split(";"))
        q = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    q = min(max(float(value), 0.0), 1.0)
                except ValueError:
                    q = 0.0
        media = media.lower()
        if media == "application/json":
            json_q = max(json_q, q)
        elif media in ("text/plain", "text/*", "*/*"):
            text_q = max(text_q, q)
    return json_q > 0 and json_q >= text_q


def wants_json_lenient(query_string: str, accept: str) -> bool:
    """For error replies: a bad ?format= must not stop us from answering."""
    try:
        return wants_json(query_string, accept)
    except CrmError:
        return wants_json("", accept)


# --- text -------------------------------------------------------------------------------------


def to_text(result: Result) -> str:
    lines: list[str] = []
    if isinstance(result, Record):
        lines.extend(meta_line(m) for m in result.meta)
        lines.append(record_line(result.data))
    elif isinstance(result, Listing):
        lines.extend(meta_line(m) for m in result.meta)
        if result.with_total and result.total is not None:
            total = f"{result.total}+" if result.total_is_lower_bound else str(result.total)
            lines.append(meta_line(f"total: {total}"))
        if isinstance(result.rows, Table):
            lines.extend(result.rows.lines())
        else:
            lines.extend(record_line(r) for r in result.rows)
        if not result.rows:
            lines.extend(meta_line(m) for m in result.empty)
        lines.extend(meta_line(m) for m in result.trailer)
        if result.next_cursor:
            lines.append(meta_line(f"next: {result.next_cursor}"))
    elif isinstance(result, Document):
        lines.extend(meta_line(m) for m in result.meta)
        for section in result.sections.values():
            if isinstance(section, Mapping):
                lines.append(record_line(section))
            else:
                lines.extend(record_line(r) for r in section)
        lines.extend(meta_line(m) for m in result.trailer)
    else:
        lines.extend(meta_line(m) for m in result.lines)
    return "\n".join(lines) + "\n"


# --- json -------------------------------------------------------------------------------------


def to_json(result: Result) -> bytes:
    body: dict[str, Any]
    if isinstance(result, Record):
        body = {"data": result.data, **result.json_extra}
    elif isinstance(result, Listing):
        body = {"data": result.rows.dicts() if isinstance(result.rows, Table) else result.rows}
        if result.with_total:
            body["total"] = result.total
            if result.total_is_lower_bound:
                body["total_is_lower_bound"] = True
        body["next_cursor"] = result.next_cursor
    elif isinstance(result, Document):
        body = {"data": dict(result.sections)}
    else:
        body = {"data": result.data}
    return orjson.dumps(body, default=_as_stored)


def _as_stored(value: object) -> str:
    """What JSON cannot carry (a BLOB written around the API) as the text reply shows it."""
    if isinstance(value, bytes):
        return str(value)  # as text_value writes it, before any quoting
    raise TypeError(type(value).__name__)


def respond(
    result: Result,
    *,
    as_json: bool,
    status: int | None = None,
    headers: Mapping[str, str] | None = None,
) -> Response:
    if status is None:
        status = result.status if isinstance(result, Record | Message) else 200
    if isinstance(result, Record) and type(version := result.data.get("version")) is int:
        # The version as a weak entity tag (the same version shows as text or JSON, and its
        # activity count moves without a new version); If-Match takes it back as sent.
        headers = {"ETag": 'W/"%d"' % version, **(headers or {})}
    if as_json:
        return Response(to_json(result), status_code=status, media_type=JSON, headers=headers)
    return Response(to_text(result), status_code=status, media_type=TEXT, headers=headers)


# --- errors -----------------------------------------------------------------------------------


def error_body(err: CrmError, *, as_json: bool) -> tuple[bytes, str]:
    if as_json:
        payload: dict[str, Any] = {"code": err.code, "message": err.message, "hint": err.hint}
        payload.update(err.extra)
        return orjson.dumps({"error": payload}), JSON
    # Every part through `one_line`, the escaping record and meta lines share (values.escape).
    lines = [
        "error: %s: %s" % (one_line(err.code), one_line(err.message)),
        "hint: %s" % one_line(err.hint),
    ]
    lines.extend("%s: %s" % (one_line(k), one_line(v)) for k, v in err.extra.items())
    return ("\n".join(lines) + "\n").encode(), TEXT


def error_response(err: CrmError, *, as_json: bool) -> Response:
    body, media = error_body(err, as_json=as_json)
    return Response(body, status_code=err.status, media_type=media, headers=err.headers)
