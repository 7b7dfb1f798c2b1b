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


def iso(ts: int | None) -> str | None:
    if ts is None:
        return None
    # Lists print two timestamps per row: the date part comes from a per-day cache, the time
    # of day from integer arithmetic (~1 us, against ~3 us for gmtime and ~10 for strftime).
    day, second = divmod(ts, 86400)
    prefix = _DAYS.get(day)
    if prefix is None:
        if len(_DAYS) > 100_000:
            _DAYS.clear()
        prefix = _DAYS[day] = "%04d-%02d-%02dT" % time.gmtime(day * 86400)[:3]
    hour, second = divmod(second, 3600)
    minute, second = divmod(second, 60)
    return "%s%02d:%02d:%02dZ" % (prefix, hour, minute, second)


def iso_text(ts: int) -> str:
    """iso() for a value known not to be None."""
    text = iso(ts)
    assert text is not None
    return text
