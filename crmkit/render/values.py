"""One value, and one record's line, as the text grammar writes them (DESIGN.md section 2).

A value is written bare when it can be (`stage=lead`) and double-quoted with escapes when it
holds a space, `"`, `=`, `\\` or anything that is not printable: a line must never be split,
or a pair faked, by the data it carries.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import orjson

Data = Mapping[str, Any]

NEEDS_QUOTE = re.compile(r'[\s"=\\\x00-\x1f\x7f]')
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
        if all(v and "," not in v and not NEEDS_QUOTE.search(v) for v in items):
            return ",".join(items)
        return quote(orjson.dumps(list(value)).decode())
    if isinstance(value, dict):
        return quote(orjson.dumps(value).decode())
    s = str(value)
    if s and not NEEDS_QUOTE.search(s):
        return s
    return quote(s)


def stored_json(raw: Any) -> Any:
    """A JSON column's value, decoded; or, when it holds no JSON (written into the database
    by other means), what it holds, so that a reply shows it rather than failing."""
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:  # also raised for a value that is not text (a number)
        return raw


def plain(s: str) -> bool:
    """`s` needs no quoting: same answer as `s and not NEEDS_QUOTE.search(s)`, faster. A
    printable string can only match the pattern through these four characters."""
    if s.isprintable():
        return bool(s) and " " not in s and '"' not in s and "=" not in s and "\\" not in s
    return bool(s) and not NEEDS_QUOTE.search(s)


def quote(s: str) -> str:
    return '"' + _ESCAPE_RE.sub(_escape, s) + '"'


def key_text(key: str) -> str:
    # Custom keys are user data: keep them from breaking the line or faking a new pair.
    return key if key and not NEEDS_QUOTE.search(key) else quote(key)


def pair_text(key: str, value: Any) -> str | None:
    """One field as a line shows it (`key=value`; a `custom` object as one pair per key), or
    None when the line leaves it out (a null, an empty list, an object of nulls)."""
    if value is None:
        return None
    kind = type(value)
    if kind is str:
        return "%s=%s" % (key, value if plain(value) else quote(value))
    if kind is int:
        return "%s=%d" % (key, value)
    if kind is dict and key == "custom":
        pairs = [
            "custom.%s=%s" % (key_text(ck), text_value(cv))
            for ck, cv in value.items()
            if cv is not None
        ]
        return " ".join(pairs) or None
    if (kind is list or kind is tuple) and not value:
        return None
    return "%s=%s" % (key, text_value(value))


def record_line(data: Data) -> str:
    """The generic line for one record as a dict (single records, documents); list pages take
    `table.Table`, which must give the same lines."""
    parts = [str(data.get("handle", ""))]
    for key, value in data.items():
        if key != "handle":
            text = pair_text(key, value)
            if text is not None:
                parts.append(text)
    return " ".join(parts)


_LINE_BREAKS = re.compile("[\r\n\x0b\x0c\x1c-\x1e\x85\u2028\u2029]")
# The other control characters: a path or value echoed in an error must not reach a terminal
# raw (an escape sequence) or hide in the line (a NUL), so they are written as escapes.
# Bidi controls and zero-width characters too: an echoed path must read as it was sent.
_CONTROLS = re.compile(
    "[\\\\\x00-\x09\x0e-\x1b\x1f\x7f-\x84\x86-\x9f\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff]"
)


def _control_escape(match: re.Match[str]) -> str:
    ch = match.group(0)
    if ch == "\t":
        return "\\t"
    if ch == "\\":  # so that a literal "\x1b" in a path cannot pass for an escaped ESC
        return "\\\\"
    return "\\x%02x" % ord(ch) if ord(ch) < 0x100 else "\\u%04x" % ord(ch)


def one_line(s: str) -> str:
    """Text for a meta or error line: line breaks become spaces, other control characters
    escapes."""
    return _CONTROLS.sub(_control_escape, _LINE_BREAKS.sub(" ", s))


def meta_line(text: str) -> str:
    return "# " + one_line(text)
