"""SQL for Idempotency-Key records (web/retries.py): one row per (workspace, user, key)."""

from __future__ import annotations

from crmkit.store.base import Conn, Row, Tx

PURGE_BATCH = 100


async def find(conn: Conn, workspace_id: str, user_id: str, key: str, since: int) -> Row | None:
    """(fingerprint, status, headers, body) of a key used since `since`; status is None while
    the request that first used it is still running (its transaction not committed)."""
    return await conn.one(
        "SELECT fingerprint, status, headers, body FROM idempotency"
        " WHERE workspace_id = ? AND user_id = ? AND key = ? AND created_at >= ?",
        (workspace_id, user_id, key, since),
    )


async def reserve(
    tx: Tx, workspace_id: str, user_id: str, key: str, fingerprint: bytes, now: int, since: int
) -> bool:
    """Claim the key inside the write's transaction; False if a request that used it first
    committed (on PostgreSQL this waits for a concurrent one to end). A row older than
    `since` is forgotten first, and a batch of other old rows with it."""
    await tx.execute(
        "DELETE FROM idempotency WHERE workspace_id = ? AND user_id = ? AND key = ?"
        " AND created_at < ?",
        (workspace_id, user_id, key, since),
    )
    await tx.execute(
        "DELETE FROM idempotency WHERE (workspace_id, user_id, key) IN (SELECT workspace_id,"
        " user_id, key FROM idempotency WHERE created_at < ? ORDER BY created_at LIMIT ?)",
        (since, PURGE_BATCH),
    )
    row = await tx.one(
        "INSERT INTO idempotency (workspace_id, user_id, key, fingerprint, created_at)"
        " VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING RETURNING created_at",
        (workspace_id, user_id, key, fingerprint, now),
    )
    return row is not None


async def complete(
    tx: Tx, workspace_id: str, user_id: str, key: str, status: int, headers: str, body: bytes
) -> None:
    await tx.execute(
        "UPDATE idempotency SET status = ?, headers = ?, body = ?"
        " WHERE workspace_id = ? AND user_id = ? AND key = ?",
        (status, headers, body, workspace_id, user_id, key),
    )
