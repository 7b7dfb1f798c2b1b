"""Sliding-window rate limits kept in the database (so they hold across workers and restarts)."""

from __future__ import annotations

from dataclasses import dataclass

from crmkit.errors import RateLimited
from crmkit.runtime import Runtime
from crmkit.store import accounts as store
from crmkit.store.db import Tx


@dataclass(frozen=True)
class Limit:
    key: str
    max_hits: int
    window_seconds: int
    what: str  # for the message, e.g. "code requests for this email"


async def hit(rt: Runtime, tx: Tx, limits: list[Limit], hint: str) -> None:
    """Count one hit against every limit, or raise 429 (counting nothing) if any is full."""
    now = rt.clock.now()
    longest = max(limit.window_seconds for limit in limits)
    await store.purge_rate_hits(tx, now - longest)
    for limit in limits:
        count, oldest = await store.rate_window(tx, limit.key, now - limit.window_seconds)
        if count >= limit.max_hits:
            retry = (oldest or now) + limit.window_seconds - now
            raise RateLimited(
                f"too many {limit.what}: at most {limit.max_hits} per "
                f"{limit.window_seconds // 60} minutes",
                hint,
                retry_after=retry,
            )
    for limit in limits:
        await store.add_rate_hit(tx, limit.key, now)
