"""SQL for the API rate limits' shared token buckets (crmkit/throttle.py)."""

from __future__ import annotations

from crmkit.store.base import Tx

# A bucket untouched this long is full again at any rate crmkit allows (the slowest fills in
# a minute): its row can go.
STALE_SECONDS = 3600


async def take(
    tx: Tx, key: str, capacity: int, per_second: float, now: int, want: int
) -> tuple[int, float]:
    """Take up to `want` tokens from the bucket `key` (full when new), refilled at
    `per_second` up to `capacity` since it was last touched. Returns (tokens taken, tokens
    left in it). The caller's write lock on `key` makes the read and the write one step."""
    row = await tx.one("SELECT tokens, updated_at FROM rate_buckets WHERE key = ?", (key,))
    if row is None:
        tokens = float(capacity)
    else:
        tokens = min(float(capacity), float(row[0]) + max(0.0, now - float(row[1])) * per_second)
    taken = max(0, min(want, int(tokens)))
    tokens -= taken
    await tx.execute(
        "INSERT INTO rate_buckets (key, tokens, updated_at) VALUES (?, ?, ?)"
        " ON CONFLICT (key) DO UPDATE SET tokens = excluded.tokens,"
        " updated_at = excluded.updated_at",
        (key, tokens, float(now)),
    )
    return taken, tokens


async def purge(tx: Tx, now: int) -> int:
    return await tx.execute(
        "DELETE FROM rate_buckets WHERE updated_at < ?", (float(now - STALE_SECONDS),)
    )
