"""A page of rows as the store returns them (tuples, the id first), shown column by column.

Why by column: a 50-row page is 50 x ~16 values, and deciding per value whether it needs
quoting, or which kind of column it is, cost more than formatting it. Per column, one check
over all of its values usually settles quoting for the lot (e-mail addresses, phones and
stages never need it; names need plain double quotes). Each column then adds pieces to every
line (its label, the same string on each row, and the value's text, most often the stored
string itself), and each line is one join of its pieces: building "label=value" strings first
was a quarter of a page's text. A value the shortcut does not cover goes through
`values.text_value`, so `Table.lines()` always equals `record_line()` of `Table.dicts()`; a
property test holds it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from itertools import repeat
from typing import Any

from crmkit.clock import iso, iso_texts
from crmkit.render.values import pair_text, plain, quote, stored_json, text_value

# What a stored column holds: how to show it in text and in JSON.
PLAIN, NUMBER, TIME, REF, LIST_JSON, OBJECT_JSON = range(6)

Values = Sequence[Any]
Pieces = list[Iterable[str]]  # what a column adds to each line, piece by piece, row by row


@dataclass(frozen=True)
class Column:
    index: int  # position in the row tuple
    key: str  # name on the wire
    kind: int  # PLAIN, NUMBER, TIME, REF (an id shown as "<ref>/<id>"), LIST_JSON, OBJECT_JSON
    ref: str = ""


def _printable_unescaped(joined: str) -> bool:
    """No value in `joined` needs an escape inside quotes. For printable text only a space,
    `=` or `"`/`\\` can call for quotes at all (`values.plain`), and only the last two for an
    escape."""
    return joined.isprintable() and '"' not in joined and "\\" not in joined


def _pieces(label: str, texts: Sequence[str | None], gaps: bool) -> Pieces:
    """The label then the text, or nothing on a row whose text is None."""
    if gaps:
        return [["" if t is None else label + t for t in texts]]
    return [repeat(label, len(texts)), texts]  # type: ignore[list-item]  # no None: no gaps


def _text_column(label: str, values: Values, gaps: bool) -> Pieces:
    strings = [v for v in values if v is not None] if gaps else values
    joined: str | None
    try:
        joined = "".join(strings)
    except TypeError:  # not all text: each value takes the generic path
        joined = None
    if joined is not None and _printable_unescaped(joined):
        if " " not in joined and "=" not in joined and all(strings):
            return _pieces(label, values, gaps)  # shown as they are
        bare = [v is not None and v and " " not in v and "=" not in v for v in values]
        if not gaps and not any(bare):  # all in plain quotes (names): no new strings
            return [repeat(label + '"', len(values)), values, repeat('"', len(values))]
        shown = [
            None if v is None else v if is_bare else '"' + v + '"'
            for v, is_bare in zip(values, bare, strict=True)
        ]
        return _pieces(label, shown, gaps)
    shown = [
        None if v is None else (v if plain(v) else quote(v)) if type(v) is str else text_value(v)
        for v in values
    ]
    return _pieces(label, shown, gaps)


def _time_column(label: str, values: Values, gaps: bool) -> Pieces:
    try:
        return _pieces(label, iso_texts(values), gaps)
    except (TypeError, IndexError, ValueError):
        # Not all whole seconds in range (written by other means): each shown as `iso` says,
        # quoted as any text is.
        return _text_column(label, [iso(v) for v in values], gaps)


def _number_column(label: str, values: Values, gaps: bool) -> Pieces:
    texts: Sequence[str | None]
    if gaps:
        texts = [None if v is None else str(v) for v in values]
        present = [t for t in texts if t is not None]
    else:
        texts = present = list(map(str, values))
    if _all_plain(present):
        return _pieces(label, texts, gaps)
    # Text where a number belongs (written by other means; SQLite keeps it as text): quoted
    # as any text is, so that it cannot fake a pair or break the line.
    return _text_column(label, values, gaps)


def _ref_column(label: str, values: Values, gaps: bool) -> Pieces:
    strings = [v for v in values if v is not None] if gaps else values
    try:
        if _all_plain(strings):
            return _pieces(label, values, gaps)  # our ids never need quoting
    except TypeError:  # not all text
        pass
    # Not one of our ids (written by other means): "<ref>/<value>" quoted as any text is.
    key_label, _, ref = label.partition("=")
    return _text_column(
        key_label + "=", [None if v is None else "%s%s" % (ref, v) for v in values], gaps
    )


def _all_plain(texts: Sequence[str]) -> bool:
    """No text is empty or needs quotes (`values.plain`, for all of them at once); TypeError
    when one is not a string."""
    joined = "".join(texts)
    return _printable_unescaped(joined) and " " not in joined and "=" not in joined and all(texts)


def _list_column(label: str, values: Values, gaps: bool) -> Pieces:
    # A page repeats few distinct tag lists: each is decoded and shown once.
    shown = {raw: _list_part(raw) for raw in set(values) if raw is not None}
    texts = [None if v is None else shown[v] for v in values]
    return _pieces(label, texts, gaps or None in shown.values())


def _list_part(raw: str) -> str | None:
    value = stored_json(raw)
    if value is None or value == []:
        return None  # an empty list is left out, like a null (as record_line does)
    if type(value) is list and all(type(v) is str for v in value):
        joined = ",".join(value)
        if joined.count(",") == len(value) - 1 and "" not in value and plain(joined):
            return joined
    return text_value(value)


def _object_column(label: str, values: Values, gaps: bool) -> Pieces:
    # `label` is the key alone: an object shows one pair per key (custom.tier=gold), and
    # anything else stored there as `record_line` shows it.
    shown = {raw: pair_text(label, stored_json(raw)) for raw in set(values) if raw is not None}
    texts = [None if v is None else shown[v] for v in values]
    return _pieces(" ", texts, gaps or None in shown.values())


_RENDERERS: dict[int, Callable[[str, Values, bool], Pieces]] = {
    PLAIN: _text_column,
    NUMBER: _number_column,
    TIME: _time_column,
    REF: _ref_column,
    LIST_JSON: _list_column,
    OBJECT_JSON: _object_column,
}


def _label(c: Column) -> str:
    """What goes before a value's text on the line; for an object, its key alone (each of its
    pairs carries its own label)."""
    if c.kind == OBJECT_JSON:
        return c.key
    return " " + c.key + "=" + (c.ref + "/" if c.kind == REF else "")


class Layout:
    """How replies show one record type's rows: its columns, each with its text renderer and
    label worked out once."""

    __slots__ = ("columns", "plan", "prefix")

    def __init__(self, kind: str, columns: Iterable[Column]) -> None:
        self.prefix = kind + "/"
        self.columns = tuple(columns)
        self.plan = tuple((c.index, _RENDERERS[c.kind], _label(c)) for c in self.columns)


class Table:
    """Rows (tuples, the id first, possibly followed by columns the layout ignores, such as a
    list page's sort key) plus the layout to show them: text lines, or the same fields as dicts
    for JSON. `lines()` must equal `record_line(d)` for every `d` in `dicts()`."""

    __slots__ = ("layout", "rows")

    def __init__(self, layout: Layout, rows: Sequence[Sequence[Any]]):
        self.layout = layout
        self.rows = rows

    def __len__(self) -> int:
        return len(self.rows)

    def lines(self) -> list[str]:
        if not self.rows:
            return []
        by_column = list(zip(*self.rows, strict=True))
        size = len(self.rows)
        pieces: Pieces = [repeat(self.layout.prefix, size), by_column[0]]
        for index, render, label in self.layout.plan:
            values = by_column[index]
            nones = values.count(None)
            if nones != size:  # a column empty on every row adds nothing
                pieces.extend(render(label, values, nones > 0))
        return list(map("".join, zip(*pieces, strict=True)))

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
                        value = stored_json(value)
                data[c.key] = value
            out.append(data)
        return out
