"""The ONLY place that turns results into text lines or JSON.

Handlers return one of the small result objects below; `respond()` picks the format.
Text: one logfmt line per record (handle first, null fields left out), meta lines start `# `.
JSON: `{"data": ...}` with the same fields. Errors render through `error_body()`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

import orjson
from starlette.responses import Response

from crmkit.clock import iso, iso_text
from crmkit.errors import CrmError, InvalidField

TEXT = "text/plain; charset=utf-8"
JSON = "application/json"

Data = Mapping[str, Any]


# What a stored column holds, for Table: how to show it in text and in JSON.
PLAIN, NUMBER, TIME, REF, LIST_JSON, OBJECT_JSON = range(6)


@dataclass(frozen=True)
class Column:
    index: int  # position in the row tuple
    key: str  # name on the wire
    kind: int  # PLAIN, NUMBER, TIME, REF (an id shown as "<ref>/<id>"), LIST_JSON, OBJECT_JSON
    ref: str = ""


class Layout:
    """How replies show one record type's rows: its columns, and a line renderer compiled once.

    Why compiled: a 50-row page is 50 x ~17 columns, and a generic loop that looks up each
    column's kind per value spent more time dispatching than formatting (text cost 2.5x the
    dicts). The generated function is straight-line code per column, built from the column
    plan only (indexes and spec field names; never from data)."""

    __slots__ = ("columns", "prefix", "render_lines")

    def __init__(self, kind: str, columns: Iterable[Column]) -> None:
        self.prefix = kind + "/"
        self.columns = tuple(columns)
        self.render_lines = _compile_lines(self.prefix, self.columns)


def _compile_lines(
    prefix: str, columns: tuple[Column, ...]
) -> Callable[[Sequence[Sequence[Any]]], list[str]]:
    body = [
        "def lines(rows):",
        "    out = []",
        "    for r in rows:",
        "        p = [%r + r[0]]" % prefix,
        "        a = p.append",
    ]
    for c in columns:
        eq = c.key + "="
        body.append("        v = r[%d]" % c.index)
        body.append("        if v is not None:")
        if c.kind == PLAIN:
            body.append("            if type(v) is str:")
            body.append("                a(%r + (v if plain(v) else quote(v)))" % eq)
            body.append("            else:")
            body.append("                a(%r + tv(v))" % eq)
        elif c.kind == TIME:
            body.append("            a(%r + iso(v))" % eq)
        elif c.kind == NUMBER:
            body.append("            a(%r + str(v))" % eq)
        elif c.kind == REF:
            body.append("            a(%r + v)" % (eq + c.ref + "/"))  # our ids never need quoting
        elif c.kind == LIST_JSON:
            body.append("            v = loads(v)")
            body.append("            if v:")
            body.append("                a(%r + list_text(v))" % eq)
        else:
            body.append("            for ck, cv in loads(v).items():")
            body.append("                if cv is not None:")
            body.append("                    a(%r + key(ck) + '=' + tv(cv))" % (c.key + "."))
    body.append("        out.append(' '.join(p))")
    body.append("    return out")
    scope: dict[str, Any] = {
        "plain": _plain,
        "tv": text_value,
        "quote": _quote,
        "iso": iso_text,
        "loads": orjson.loads,
        "list_text": _list_text,
        "key": _key,
    }
    exec("\n".join(body), scope)  # noqa: S102 - the source above holds no data
    return scope["lines"]  # type: ignore[no-any-return]


class Table:
    """Rows as the store returns them (tuples, the id first) plus the layout to show them.

    Lists render text straight from the tuples; JSON gets the same fields as dicts.
    `lines()` must equal `record_line(d)` for every `d` in `dicts()` (a property test holds it
    to that)."""

    __slots__ = ("layout", "rows")

    def __init__(self, layout: Layout, rows: Sequence[Sequence[Any]]):
        self.layout = layout
        self.rows = rows

    def __len__(self) -> int:
        return len(self.rows)

    def dicts(self) -> list[dict[str, Any]]:
        out = []
        prefix = self.layout.prefix
        columns = self.layout.columns
        for row in self.rows:
            data: dict[str, Any] = {"handle": prefix + row[0]}
            for c in columns:
                value = row[c.index]
                if value is not None:
                    kind = c.kind
                    if kind == TIME:
                        value = iso(value)
                    elif kind == REF:
                        value = "%s/%s" % (c.ref, value)
                    elif kind == LIST_JSON or kind == OBJECT_JSON:
                        value = orjson.loads(value)
                data[c.key] = value
            out.append(data)
        return out

    def lines(self) -> list[str]:
        return self.layout.render_lines(self.rows)


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
    return "application/json" in accept


def wants_json_lenient(query_string: str, accept: str) -> bool:
    """For error replies: a bad ?format= must not stop us from answering."""
    try:
        return wants_json(query_string, accept)
    except CrmError:
        return "application/json" in accept


# --- text -------------------------------------------------------------------------------------

_NEEDS_QUOTE = re.compile(r'[\s"=\\\x00-\x1f\x7f]')
_ESCAPES = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t"}
# Also the characters Unicode (and Python's str.splitlines) treat as line breaks: a value must
# never look like the start of another line to a reader that splits on them.
_ESCAPE_RE = re.compile('["\\\\\x00-\x1f\x7f\x85\u2028\u2029]')


def _escape(match: re.Match[str]) -> str:
    ch = match.group(0)
    return _ESCAPES.get(ch) or "\\u%04x" % ord(ch)


def text_value(value: Any) -> str:
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, list | tuple):
        items = [text_value(v) for v in value]
        if all(v and "," not in v and not _NEEDS_QUOTE.search(v) for v in items):
            return ",".join(items)
        return _quote(orjson.dumps(list(value)).decode())
    if isinstance(value, dict):
        return _quote(orjson.dumps(value).decode())
    s = str(value)
    if s and not _NEEDS_QUOTE.search(s):
        return s
    return _quote(s)


def _plain(s: str) -> bool:
    """`s` needs no quoting: same answer as `s and not _NEEDS_QUOTE.search(s)`, faster. A
    printable string can only match the pattern through these four characters."""
    if s.isprintable():
        return bool(s) and " " not in s and '"' not in s and "=" not in s and "\\" not in s
    return bool(s) and not _NEEDS_QUOTE.search(s)


def _list_text(items: list[Any]) -> str:
    """text_value() of a list, with a fast path for plain string items (tags)."""
    if type(items) is not list:
        return text_value(items)
    try:
        joined = ",".join(items)
    except TypeError:  # not all strings
        return text_value(items)
    if joined.count(",") == len(items) - 1 and "" not in items and not _NEEDS_QUOTE.search(joined):
        return joined
    return text_value(items)


def _quote(s: str) -> str:
    return '"' + _ESCAPE_RE.sub(_escape, s) + '"'


def record_line(data: Data) -> str:
    # The hot loop of every list: dispatch on the exact type, plain strings first.
    parts = [str(data.get("handle", ""))]
    append = parts.append
    needs_quote = _NEEDS_QUOTE.search
    for key, value in data.items():
        if value is None or key == "handle":
            continue
        kind = type(value)
        if kind is str:
            append("%s=%s" % (key, value if value and not needs_quote(value) else _quote(value)))
        elif kind is int:
            append("%s=%d" % (key, value))
        elif kind is dict and key == "custom":
            for ck, cv in value.items():
                if cv is not None:
                    append("custom.%s=%s" % (_key(ck), text_value(cv)))
        elif kind is list or kind is tuple:
            if value:
                append("%s=%s" % (key, text_value(value)))
        else:
            append("%s=%s" % (key, text_value(value)))
    return " ".join(parts)


def _key(key: str) -> str:
    # Custom keys are user data: keep them from breaking the line or faking a new pair.
    return key if key and not _NEEDS_QUOTE.search(key) else _quote(key)


def meta_line(text: str) -> str:
    return "# " + _one_line(text)


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
    return orjson.dumps(body)


def respond(
    result: Result,
    *,
    as_json: bool,
    status: int | None = None,
    headers: Mapping[str, str] | None = None,
) -> Response:
    if status is None:
        status = result.status if isinstance(result, Record | Message) else 200
    if as_json:
        return Response(to_json(result), status_code=status, media_type=JSON, headers=headers)
    return Response(to_text(result), status_code=status, media_type=TEXT, headers=headers)


# --- errors -----------------------------------------------------------------------------------


def error_body(err: CrmError, *, as_json: bool) -> tuple[bytes, str]:
    if as_json:
        payload: dict[str, Any] = {"code": err.code, "message": err.message, "hint": err.hint}
        payload.update(err.extra)
        return orjson.dumps({"error": payload}), JSON
    lines = [
        "error: %s: %s" % (err.code, _one_line(err.message)),
        "hint: %s" % _one_line(err.hint),
    ]
    lines.extend("%s: %s" % (k, _one_line(v)) for k, v in err.extra.items())
    return ("\n".join(lines) + "\n").encode(), TEXT


_LINE_BREAKS = re.compile("[\r\n\x0b\x0c\x1c-\x1e\x85\u2028\u2029]")


def _one_line(s: str) -> str:
    return _LINE_BREAKS.sub(" ", s)


def error_response(err: CrmError, *, as_json: bool) -> Response:
    body, media = error_body(err, as_json=as_json)
    return Response(body, status_code=err.status, media_type=media, headers=err.headers)
