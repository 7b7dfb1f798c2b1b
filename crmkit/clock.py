"""Time, injectable: the app reads the clock through `Clock`, tests swap in `FixedClock`."""

from __future__ import annotations

import time
from collections.abc import Iterable


class Clock:
    def now(self) -> int:
        """Seconds since the epoch; crmkit keeps and prints whole seconds."""
        return int(time.time())


class FixedClock(Clock):
    def __init__(self, at: int | None = None) -> None:
        self.at = int(time.time()) if at is None else at

    def now(self) -> int:
        return self.at

    def advance(self, seconds: int) -> None:
        self.at += seconds


# Lists print two timestamps per row: all but the seconds come from a cache of minutes seen
# (~0.3 us, against ~3 us for gmtime and ~10 for strftime). Bounded: cleared when full.
_MINUTES: dict[int, str] = {}
_MINUTES_KEPT = 50_000
_SECONDS = ["%02dZ" % s for s in range(60)]
# RFC 3339 has four-digit years: 0001-01-01T00:00:00Z .. 9999-12-31T23:59:59Z, in minutes.
_FIRST_MINUTE, _LAST_MINUTE = -62_135_596_800 // 60, 253_402_300_799 // 60


def iso(ts: object) -> str | None:
    """RFC 3339 for whole seconds in its range; anything else a time column holds (written
    into the database by other means: text, a fraction, milliseconds) as it is stored, so a
    reply still shows it rather than failing."""
    if type(ts) is int and _FIRST_MINUTE <= ts // 60 <= _LAST_MINUTE:
        return iso_text(ts)
    return None if ts is None else str(ts)


def _minute_text(minute: int) -> str:
    if not _FIRST_MINUTE <= minute <= _LAST_MINUTE:
        raise ValueError("no four-digit year: %d" % minute)  # iso() shows it as stored
    if len(_MINUTES) >= _MINUTES_KEPT:
        _MINUTES.clear()
    text = _MINUTES[minute] = "%04d-%02d-%02dT%02d:%02d:" % time.gmtime(minute * 60)[:5]
    return text


def iso_text(ts: int) -> str:
    """RFC 3339 in UTC, whole seconds, for an int in range (ValueError outside it)."""
    return (_MINUTES.get(ts // 60) or _minute_text(ts // 60)) + _SECONDS[ts % 60]


def iso_texts(values: Iterable[int | None]) -> list[str | None]:
    """`iso_text(ts)` for each value, None for None: a page's timestamps in one comprehension
    (a call per value was a fifth of a list's text). TypeError, IndexError or ValueError when
    one is not an int in range: then `iso` says how to show each."""
    minutes, seconds = _MINUTES, _SECONDS
    return [
        None if ts is None else (minutes.get(ts // 60) or _minute_text(ts // 60)) + seconds[ts % 60]
        for ts in values
    ]
