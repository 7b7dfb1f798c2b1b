"""The renderer's building blocks, checked against the slow obvious versions."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from crmkit.clock import iso
from crmkit.render import record_line


@given(st.integers(min_value=-30_610_224_000, max_value=253_402_300_799))  # years 1000-9999
def test_iso_matches_strftime(ts: int) -> None:
    assert iso(ts) == datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@given(st.text(max_size=40))
def test_any_value_stays_on_one_line(value: str) -> None:
    line = record_line({"handle": "contact/c_x", "name": value, "tags": [value, "b"]})
    assert len(line.splitlines()) == 1
    assert line.startswith("contact/c_x")
