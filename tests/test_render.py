"""The renderer's building blocks, checked against the slow obvious versions."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from crmkit.clock import iso
from crmkit.render import record_line


@given(st.integers(min_value=-30_610_224_000, max_value=253_402_300_799))  # years 1000-9999
def test_iso_matches_strftime(ts: int) -> None:
    assert iso(ts) == datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.mark.parametrize(
    ("stored", "shown"),
    [
        (None, None),
        (-62_135_596_800, "0001-01-01T00:00:00Z"),
        (253_402_300_799, "9999-12-31T23:59:59Z"),
        (253_402_300_800, "253402300800"),  # year 10000: no RFC 3339 for it
        (1_700_000_000_000, "1700000000000"),  # milliseconds
        (-62_135_596_801, "-62135596801"),
        (1_700_000_000.5, "1700000000.5"),
        ("next week", "next week"),
    ],
)
def test_iso_shows_what_is_no_whole_second_in_range_as_stored(stored: object, shown: str) -> None:
    assert iso(stored) == shown


# The characters text never shows raw (values.ESCAPED: Unicode's Cc, Cf, Zl and Zp), a few of
# each kind: C0 and C1 controls, bidi overrides and isolates, zero-width characters, a format
# character past U+FFFF, the line and paragraph separators.
_ESCAPED_SAMPLES = (
    "\t\n\r\x1b\x7f\x85\x9b\u00ad\u200b\u200e\u202e\u2066\u2069\ufeff\U000e0041\u2028\u2029"
)


@given(
    st.text(
        st.sampled_from('ab "=\\' + _ESCAPED_SAMPLES) | st.characters(exclude_categories=["Cs"]),
        max_size=40,
    )
)
def test_any_value_stays_on_one_line(value: str) -> None:
    import unicodedata

    line = record_line({"handle": "contact/c_x", "name": value, "tags": [value, "b"]})
    assert len(line.splitlines()) == 1
    assert line.startswith("contact/c_x")
    raw = [c for c in line if unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp")]
    assert raw == [], "text never shows these raw"


@given(
    st.text(max_size=40)
    | st.sampled_from(["", " ", "a b", "\u00a0", "\u2028", "\x85", "x=y", "\u202e", "\x9b"])
)
def test_the_fast_no_quote_check_agrees_with_the_pattern(value: str) -> None:
    from crmkit.render.values import NEEDS_QUOTE, plain

    assert plain(value) == bool(value and not NEEDS_QUOTE.search(value))


def _json_text(value: object) -> str:
    import orjson

    return orjson.dumps(value).decode()


# Mostly the characters that decide quoting, so that whole columns often need none, or only
# plain quotes, and single values break those patterns.
_text = st.text(
    st.sampled_from('ab =,"\\\u00e9' + _ESCAPED_SAMPLES) | st.characters(exclude_categories=["Cs"]),
    max_size=12,
)
_scalar = st.one_of(st.none(), _text, st.integers(-(2**40), 2**40), st.booleans())


@given(
    st.lists(
        st.tuples(
            st.from_regex(r"c_[a-z2-7]{12}", fullmatch=True),
            st.one_of(  # PLAIN: text, and what a JSON-typed or numeric column can hold
                st.none(), _text, st.integers(-(2**40), 2**40), st.floats(allow_nan=False)
            ),
            st.one_of(  # NUMBER, and what other means can store in an INTEGER column
                st.none(), st.integers(0, 2**40), st.integers(0, 2**40), _text, st.binary()
            ),
            st.one_of(  # TIME, and what other means can store there
                st.none(),
                st.integers(0, 4_102_444_800),
                st.integers(0, 4_102_444_800),
                st.integers(),  # milliseconds, years past 9999 or before 1
                st.floats(allow_nan=False),
                _text,
            ),
            st.one_of(  # REF: our ids, and what other means can store there
                st.none(),
                st.from_regex(r"co_[a-z2-7]{12}", fullmatch=True),
                st.from_regex(r"co_[a-z2-7]{12}", fullmatch=True),
                _text,
                st.integers(),
            ),
            st.one_of(  # LIST_JSON: tags, and odd lists the fast path must hand on
                st.none(),
                st.lists(_text, max_size=3).map(_json_text),
                st.lists(_scalar, max_size=3).map(_json_text),
                st.dictionaries(_text, _scalar, min_size=1, max_size=2).map(_json_text),
                _scalar.map(_json_text),
                _text,  # not JSON at all
                st.integers(),
            ),
            st.one_of(  # OBJECT_JSON: custom objects, and other JSON stored by other means
                st.none(),
                st.dictionaries(_text, _scalar, max_size=3).map(_json_text),
                st.dictionaries(_text, _scalar, max_size=3).map(_json_text),
                _scalar.map(_json_text),
                st.lists(_scalar, max_size=2).map(_json_text),
                _text,
                st.integers(),
            ),
            st.integers(),  # a list page's trailing sort key and count: not shown
            st.integers(),
        ),
        max_size=8,  # the text is worked out per column: several rows must mix its cases
    )
)
def test_table_lines_equal_the_generic_renderer(rows: list[tuple[object, ...]]) -> None:
    _assert_lines_equal_the_generic_renderer(rows)


def _assert_lines_equal_the_generic_renderer(rows: list[tuple[object, ...]]) -> None:
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

    columns = [
        Column(1, "name", PLAIN),
        Column(2, "amount_cents", NUMBER),
        Column(3, "created_at", TIME),
        Column(4, "company", REF, "company"),
        Column(5, "tags", LIST_JSON),
        Column(6, "custom", OBJECT_JSON),
    ]
    table = Table(Layout("contact", columns), rows)  # type: ignore[arg-type]
    assert table.lines() == [record_line(d) for d in table.dicts()]


@pytest.mark.parametrize(
    ("names", "tags"),
    [
        (["Ann Lee", "a=b", None, "", "plain"], [["x"], ["y"], None, [], ["z"]]),
        (["plain", "x=y"], [["a,b"], ["c"]]),
        (["Ann Lee", "x=y", ""], [["a"], [], ["b"]]),  # every name in quotes; a tag list empty
        (['say "hi"', "Ann Lee"], [["k=v"], ["ok"]]),
        (["ok", "tab\there"], [[""], ["fine"]]),
        (["Ann Lee", "back\\slash"], [["sp ace"], ["back\\slash"]]),
        (["\u00e9t\u00e9", "\u2028", "x"], [["\u2028"], ["a"], [1, "b"]]),
        (["Ann Lee", "Eve\u202e", "Bo Li"], [["a"], ["t\u200b"], ["b"]]),  # one escape among
        (["plain", "x\x9b", "y"], [["a\u2066b"], ["c"], ["d\U000e0041"]]),  # bare ones
    ],
)
def test_each_column_shortcut_agrees_with_the_generic_renderer(
    names: list[str | None], tags: list[list[object] | None]
) -> None:
    """The cases a column's one check must not get wrong: a single value that needs plain
    quotes, escapes or nothing among others that do not, and list items with commas."""
    rows: list[tuple[object, ...]] = [
        (f"c_{i:012d}", name, None, None, None, None if t is None else _json_text(t), None, 0, 0)
        for i, (name, t) in enumerate(zip(names, tags, strict=True))
    ]
    _assert_lines_equal_the_generic_renderer(rows)


@pytest.mark.parametrize(
    ("number", "time", "ref", "tags", "custom"),
    [
        ("", 1_700_000_000, "x y", '["a"]', "null"),
        ("12 ab", "next week", "line\nbreak", "not json", "[1]"),
        (b"a b", 1_700_000_000.5, 5, "7", '"text"'),
        ("7", 1_700_000_000_000, "co_aaaaaaaaaaaa", '{"k": 1}', "{}"),
        (1, -(10**13), "co_aaaaaaaaaaaa", "[1, 2", "{bad json"),
    ],
)
def test_values_written_by_other_means_are_shown_as_a_record_shows_them(
    number: object, time: object, ref: object, tags: object, custom: object
) -> None:
    """Text in a number column, a time or a reference, a time that is no whole second of a
    four-digit year, JSON columns holding no JSON: SQLite keeps what it is given. Quoted like
    any text, it cannot fake a pair or break the line, and a list page shows it as the
    record's own page does."""
    rows: list[tuple[object, ...]] = [
        ("c_000000000001", "Ann", number, time, ref, tags, custom, 0, 0),
        ("c_000000000002", "Bo", 3, 1_700_000_001, "co_bbbbbbbbbbbb", None, '{"a": 1}', 0, 0),
    ]
    _assert_lines_equal_the_generic_renderer(rows)
