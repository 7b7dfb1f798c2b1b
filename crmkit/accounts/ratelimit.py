"""Sliding-window rate limits kept in the database (so they hold across workers and restarts)."""

from __future__ import annotations

from dataclasses import dataclass

from crmkit.errors import RateLimited
from crmkit.runtime import Runtime
from crmkit.store import accounts as store
from crmkit.store.base import Tx

LONGEST_WINDOW = 24 * 3600  # no limit counts further back


@dataclass(frozen=True)
class Limit:
    key: str
    max_hits: int
    window_seconds: int
    what: str  # for the message, e.g. "code requests for this email"


async def hit(rt: Runtime, tx: Tx, limits: list[Limit], hint: str) -> None:
    """Count one hit against every limit, or raise 429 (counting nothing) if any is full."""
    await check(rt, tx, limits, hint)
    await count(rt, tx, limits)


async def count(rt: Runtime, tx: Tx, limits: list[Limit]) -> None:
    """Count one hit against every limit, whether or not it is full."""
    now = rt.clock.now()
    for limit in limits:
        await store.add_rate_hit(tx, limit.key, now)


async def check(rt: Runtime, tx: Tx, limits: list[Limit], hint: str) -> None:
    """Raise 429 if any limit is full; count nothing."""
    now = rt.clock.now()
    # Purged by the longest window of any flow, not this call's: the table is shared, and a
    # sign-in (15 minutes) purging by its own window emptied the hourly invite and
    # registration counts and the daily one.
    assert all(limit.window_seconds <= LONGEST_WINDOW for limit in limits)
    await store.purge_rate_hits(tx, now - LONGEST_WINDOW)
    full: list[tuple[int, Limit]] = []
    for limit in limits:
        count, oldest = await store.rate_window(tx, limit.key, now - limit.window_seconds)
        if count >= limit.max_hits:
            full.append(((oldest or now) + limit.window_seconds - now, limit))
    if full:
        # The longest wait: a client that obeys Retry-After must not be refused again by
        # another full limit (5 per 15 minutes answered 900 s while a day's 20 were used).
        retry, limit = max(full, key=lambda f: f[0])
        raise RateLimited(
            f"too many {limit.what}: at most {limit.max_hits} per {_span(limit.window_seconds)}",
            hint,
            retry_after=retry,
        )


def _span(seconds: int) -> str:
    """A window in words: 15 minutes, hour, 24 hours."""
    if seconds == 3600:
        return "hour"
    if seconds % 3600 == 0:
        return f"{seconds // 3600} hours"
    return f"{seconds // 60} minutes"
