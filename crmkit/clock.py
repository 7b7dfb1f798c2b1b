"""Time, injectable: the app reads the clock through `Clock`, tests swap in `FixedClock`."""

from __future__ import annotations

import time
from datetime import UTC, datetime


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
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
