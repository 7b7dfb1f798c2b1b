"""API rate limits: a token bucket per token, holding one minute's worth of its workspace
plan's `requests_per_minute` and refilling at that rate, and one per client address (IPv6 by
its /64) for routes that take no token (CRMKIT_ANON_REQUESTS_PER_MINUTE).

The buckets live in the database (store/buckets.py), so every process serving it (`--workers
N`, replicas) draws on the same one. A process does not ask the database on every request: it
takes a lease of a few tokens at a time (LEASE_SHARE of the limit) and spends them locally. A
lease comes out of the shared bucket, so processes together never serve more than the limit;
what one of them leases and leaves unspent is lost to the others until the bucket refills,
which errs on the strict side. With one process the remaining count is exact; with several it
is this process's view.

Time is the runtime's clock, in whole seconds (tests hold it still: no refill unless they
advance it).
"""

from __future__ import annotations

import asyncio
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple

from crmkit.errors import RateLimited
from crmkit.netaddr import address_group
from crmkit.store import buckets

if TYPE_CHECKING:  # the runtime holds this process's Throttle
    from crmkit.runtime import Runtime

LEASE_SHARE = 0.05
# Leases this process holds; past this many keys they are dropped (unspent tokens are lost,
# which only errs strict) rather than kept forever for addresses never seen again.
MAX_LEASES = 100_000
PURGE_EVERY = 1000  # leases taken between purges of stale bucket rows


class Quota(NamedTuple):
    """What the X-RateLimit-* headers say after a request was counted (a tuple: made on every
    request, it costs a third of a frozen dataclass)."""

    limit: int
    remaining: int
    reset: int  # Unix seconds when the bucket is full again

    def headers(self) -> list[tuple[bytes, bytes]]:
        return [
            (b"x-ratelimit-limit", b"%d" % self.limit),
            (b"x-ratelimit-remaining", b"%d" % self.remaining),
            (b"x-ratelimit-reset", b"%d" % self.reset),
        ]


@dataclass
class _Lease:
    left: int  # tokens this process may still spend
    shared: float  # what the shared bucket held after this process last leased
    at: int  # when


class Throttle:
    def __init__(self) -> None:
        self._leases: dict[str, _Lease] = {}
        # One lease fetch at a time per key: requests arriving together while a key's lease is
        # empty would each take a lease of their own and drain the shared bucket for nothing.
        self._fetching: dict[str, asyncio.Lock] = {}
        self._taken = 0
        self._plan_limits: dict[str, int] = {}  # plan -> requests per minute (settings are fixed)
        self._groups: dict[str, str] = {}  # client address -> its group (netaddr parses ~3 us)

    def token_limit(self, rt: Runtime, plan: str) -> int:
        limit = self._plan_limits.get(plan)
        if limit is None:
            # imported here: the plans need the runtime, which holds this throttle
            from crmkit.accounts import plans

            limit = self._plan_limits[plan] = plans.requests_per_minute(rt.settings, plan)
        return limit

    def address_key(self, host: str | None) -> str:
        """The bucket of a client address: "a:" and its group (IPv6 by its /64)."""
        if host is None:
            return "a:unknown"
        key = self._groups.get(host)
        if key is None:
            if len(self._groups) >= MAX_LEASES:
                self._groups.clear()
            key = self._groups[host] = "a:" + address_group(host)
        return key

    def _quota(self, limit: int, lease: _Lease | None, now: int) -> Quota:
        per_second = limit / 60
        if lease is None:
            return Quota(limit, limit, now)
        shared = min(limit, lease.shared + (now - lease.at) * per_second)
        remaining = max(0, min(limit, lease.left + int(shared)))
        return Quota(limit, remaining, now + math.ceil((limit - remaining) / per_second))

    def peek(self, rt: Runtime, key: str, limit: int) -> Quota | None:
        """The quota as this process last saw it, counting nothing (None: no limit)."""
        if limit < 0:
            return None
        return self._quota(limit, self._leases.get(key), rt.clock.now())

    async def take(
        self, rt: Runtime, key: str, limit: int, what: str, state: dict[str, Any]
    ) -> None:
        """Count one request against `key`'s bucket of `limit` per minute (-1: no limit), and
        leave the quota in the request's `state` for the reply's headers. Past the limit: 429
        rate_limited, with Retry-After."""
        if limit < 0:
            state["quota"] = None  # no limit: no headers
            return
        now = rt.clock.now()
        lease = self._leases.get(key)
        if lease is None or lease.left <= 0:
            fetching = self._fetching.setdefault(key, asyncio.Lock())
            async with fetching:
                lease = self._leases.get(key)
                if lease is None or lease.left <= 0:
                    lease = await self._lease(rt, key, limit, now, lease)
            if not fetching.locked():
                self._fetching.pop(key, None)
            state["quota"] = self._quota(limit, lease, now)
            if lease.left <= 0:
                per_second = limit / 60
                wait = math.ceil((1 - lease.shared) / per_second)
                raise RateLimited(
                    f"rate limit reached: {what} may make {limit} requests a minute",
                    f"wait for Retry-After ({max(1, wait)} s), then go on at most {limit} a"
                    " minute; X-RateLimit-Remaining on every reply says how many are left; a"
                    " bigger plan allows more",
                    retry_after=wait,
                )
        lease.left -= 1
        state["quota"] = self._quota(limit, lease, now)

    async def _lease(
        self, rt: Runtime, key: str, limit: int, now: int, old: _Lease | None
    ) -> _Lease:
        want = max(1, int(limit * LEASE_SHARE))
        async with rt.db.write(key="rate:" + key) as tx:
            taken, shared = await buckets.take(tx, key, limit, limit / 60, now, want)
            self._taken += 1
            if self._taken % PURGE_EVERY == 0:
                await buckets.purge(tx, now)
        if old is None and len(self._leases) >= MAX_LEASES:
            self._leases.clear()
        lease = self._leases[key] = _Lease(taken, shared, now)
        return lease
