"""Time, injectable: the app reads the clock through `Clock`, tests swap in `FixedClock`."""

from __future__ import annotations

import time


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


_DAYS: dict[int, str] = {}
# Lists print two timestamps per row: the date part comes from a per-day cache and the time of
# day from two small tables (~0.5 us, against ~3 us for gmtime and ~10 for strftime).
_HOURS_MINUTES = ["%02d:%02d:" % divmod(m, 60) for m in range(1440)]
_SECONDS = ["%02dZ" % s for s in range(60)]


def iso(ts: int | None) -> str | None:
    return None if ts is None else iso_text(ts)


def iso_text(ts: int) -> str:
    """RFC 3339 in UTC, whole seconds, for a value known not to be None."""
    day, second = divmod(ts, 86400)
    prefix = _DAYS.get(day)
    if prefix is None:
        if len(_DAYS) > 100_000:
            _DAYS.clear()
        prefix = _DAYS[day] = "%04d-%02d-%02dT" % time.gmtime(day * 86400)[:3]
    minute, second = divmod(second, 60)
    return prefix + _HOURS_MINUTES[minute] + _SECONDS[second]
