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


def iso(ts: int | None) -> str | None:
    if ts is None:
        return None
    # gmtime + %-formatting is ~4x faster than datetime.strftime; lists print two per row.
    return "%04d-%02d-%02dT%02d:%02d:%02dZ" % time.gmtime(ts)[:6]
