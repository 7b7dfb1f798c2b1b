"""One value, and one record's line, as the text grammar writes them (DESIGN.md section 2).

A value is written bare when it can be (`stage=lead`) and double-quoted with escapes when it
holds a space, `"`, `=`, `\\` or a character text never shows raw: a line must never be split,
or a pair faked, by the data it carries.

What text never shows raw, and how it shows it instead, is decided in one place (`escape`),
for record lines, meta lines, error lines and their `key: value` lines alike: every character
of the Unicode categories Cc (C0 and C1 controls: a CSI U+009B drives a terminal as ESC [
does), Cf (format characters: bidi overrides and isolates, zero-width characters, the BOM),
Zl and Zp (line and paragraph separators), written as `\\u202e`. JSON replies carry the true
value.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from typing import Any

import orjson

Data = Mapping[str, Any]

ESCAPED_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp"})
# Unicode has placed characters of these categories in planes 0, 1 and 14 only; scanning just
# those takes a sixth of the time of all 17 (~50 ms at import). tests/test_text_escapes.py
# scans every plane and fails if a newer Unicode puts one elsewhere.
ESCAPED_PLANES = (0, 1, 14)


def _escaped_characters() -> str:
    category = unicodedata.category
    return "".join(
        ch
        for plane in ESCAPED_PLANES
        for ch in map(chr, range(plane << 16, (plane + 1) << 16))
        if category(ch) in ESCAPED_CATEGORIES
    )


def _char_class(chars: str) -> str:
    """`chars` as the inside of a regex character class: runs of code points as ranges."""
    points = sorted(map(ord, chars))
    parts = []
    start = prev = points[0]
    for n in [*points[1:], -1]:
        if n != prev + 1:
            parts.append(_class_char(start) + ("-" + _class_char(prev) if prev > start else ""))
            start = n
        prev = n
    return "".join(parts)


def _class_char(n: int) -> str:
    return "\\x%02x" % n if n < 0x100 else "\\u%04x" % n if n < 0x10000 else "\\U%08x" % n


ESCAPED = _escaped_characters()  # every character text output never shows raw
_ESCAPED_CLASS = _char_class(ESCAPED)

NEEDS_QUOTE = re.compile('[\\s"=\\\\' + _ESCAPED_CLASS + "]")
_IN_QUOTES = re.compile('["\\\\' + _ESCAPED_CLASS + "]")  # what a quoted value escapes
_IN_LINE = re.compile("[\\\\" + _ESCAPED_CLASS + "]")  # what a meta or error line escapes
_SHORT = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape_one(match: re.Match[str]) -> str:
    ch = match.group(0)
    short = _SHORT.get(ch)
    if short is not None:
        return short
    n = ord(ch)
    if n < 0x10000:
        return "\\u%04x" % n
    n -= 0x10000  # past U+FFFF, as JSON writes one: the UTF-16 surrogate pair
    return "\\u%04x\\u%04x" % (0xD800 + (n >> 10), 0xDC00 + (n & 0x3FF))


def escape(s: str, *, quoted: bool = False) -> str:
    """`s` as text output writes it: every character of `ESCAPED` as an escape (`\\n`, `\\r`,
    `\\t`, else `\\u` and four hex digits, as JSON writes it: `\\u202e`, `\\u009b`), and `\\`
    as `\\\\`, so that the text `\\u202e` cannot pass for an escaped character. Inside a
    quoted value (`quoted`), `"` as `\\"` too. The one place that decides what is escaped and
    how; record, meta and error lines all go through it."""
    if s.isprintable() and "\\" not in s and (not quoted or '"' not in s):
        return s  # nothing of ESCAPED is printable: the usual text costs one check
    return (_IN_QUOTES if quoted else _IN_LINE).sub(_escape_one, s)


def text_value(value: Any) -> str:
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, list | tuple):
        items = [text_value(v) for v in value]
        if all("," not in v and plain(v) for v in items):
            return ",".join(items)
        return quote(orjson.dumps(list(value)).decode())
    if isinstance(value, dict):
        return quote(orjson.dumps(value).decode())
    s = str(value)
    return s if plain(s) else quote(s)


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
    return '"' + escape(s, quoted=True) + '"'


def key_text(key: str) -> str:
    # Custom keys are user data: keep them from breaking the line or faking a new pair.
    return key if plain(key) else quote(key)


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


def one_line(s: str) -> str:
    """Text for a meta or error line, escaped as `escape` says: a line break in it is written
    `\\n`, so the line stays one line, and no control or format character reaches the
    reader raw."""
    return escape(s)


def meta_line(text: str) -> str:
    return "# " + one_line(text)
