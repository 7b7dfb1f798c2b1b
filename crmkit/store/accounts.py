"""SQL for users, workspaces, memberships, tokens, one-time codes, rate limits and meta."""

from __future__ import annotations

import secrets

from crmkit.store.base import Conn, Row, Tx

# --- meta -------------------------------------------------------------------------------------


async def get_meta(conn: Conn, key: str) -> str | None:
    row = await conn.one("SELECT value FROM meta WHERE key = ?", (key,))
    return None if row is None else str(row[0])


async def scrub_meta(tx: Tx, key: str) -> None:
    """Delete a meta row after overwriting its value in place with noise of the same length,
    so its bytes are not left behind in the database file's free space."""
    row = await tx.one("SELECT length(value) FROM meta WHERE key = ?", (key,))
    if row is None:
        return
    noise = secrets.token_hex(int(row[0]))[: int(row[0])]
    await tx.execute("UPDATE meta SET value = ? WHERE key = ?", (noise, key))
    await tx.execute("DELETE FROM meta WHERE key = ?", (key,))


async def set_meta_if_absent(tx: Tx, key: str, value: str) -> None:
    await tx.execute(
        "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT DO NOTHING", (key, value)
    )


# --- users and workspaces ---------------------------------------------------------------------


async def user_by_email(conn: Conn, email: str) -> Row | None:
    return await conn.one("SELECT id, email, created_at FROM users WHERE email = ?", (email,))


async def insert_user(tx: Tx, user_id: str, email: str, now: int) -> None:
    await tx.execute(
        "INSERT INTO users (id, email, created_at) VALUES (?, ?, ?)", (user_id, email, now)
    )


async def insert_workspace(
    tx: Tx, workspace_id: str, name: str, plan: str, created_by: str, now: int
) -> None:
    await tx.execute(
        "INSERT INTO workspaces (id, name, plan, created_by, created_at) VALUES (?, ?, ?, ?, ?)",
        (workspace_id, name, plan, created_by, now),
    )


async def insert_membership(tx: Tx, workspace_id: str, user_id: str, role: str, now: int) -> None:
    await tx.execute(
        "INSERT INTO memberships (workspace_id, user_id, role, joined_at) VALUES (?, ?, ?, ?)",
        (workspace_id, user_id, role, now),
    )


async def membership(conn: Conn, workspace_id: str, user_id: str) -> Row | None:
    """(role, workspace name, plan) or None."""
    return await conn.one(
        "SELECT m.role, w.name, w.plan FROM memberships m"
        " JOIN workspaces w ON w.id = m.workspace_id WHERE m.workspace_id = ? AND m.user_id = ?",
        (workspace_id, user_id),
    )


async def landing_workspace(conn: Conn, user_id: str) -> str | None:
    """The workspace a fresh sign-in lands in: where the user last worked, else newest joined."""
    row = await conn.one(
        "SELECT t.workspace_id FROM tokens t JOIN memberships m"
        " ON m.workspace_id = t.workspace_id AND m.user_id = t.user_id"
        " WHERE t.user_id = ? ORDER BY t.last_used_at DESC, t.created_at DESC LIMIT 1",
        (user_id,),
    )
    if row is not None:
        return str(row[0])
    row = await conn.one(
        "SELECT workspace_id FROM memberships WHERE user_id = ?"
        " ORDER BY joined_at DESC, workspace_id LIMIT 1",
        (user_id,),
    )
    return None if row is None else str(row[0])


# --- tokens -----------------------------------------------------------------------------------

TOKEN_AUTH_SQL = (
    "SELECT t.id, t.name, t.user_id, t.workspace_id, t.created_at, t.last_used_at, t.revoked_at,"
    " u.email, w.name, w.plan, m.role, t.grant_id, t.scopes, t.expires_at"
    " FROM tokens t JOIN users u ON u.id = t.user_id JOIN workspaces w ON w.id = t.workspace_id"
    " LEFT JOIN memberships m ON m.workspace_id = t.workspace_id AND m.user_id = t.user_id"
    " WHERE t.hash = ?"
)


async def token_for_auth(conn: Conn, digest: bytes) -> Row | None:
    return await conn.one(TOKEN_AUTH_SQL, (digest,))


async def insert_token(
    tx: Tx,
    token_id: str,
    digest: bytes,
    user_id: str,
    workspace_id: str,
    name: str,
    now: int,
    grant_id: str | None = None,
    scopes: str = "read write admin",
    expires_at: int | None = None,
) -> None:
    await tx.execute(
        "INSERT INTO tokens (id, hash, user_id, workspace_id, name, created_at, last_used_at,"
        " grant_id, scopes, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (token_id, digest, user_id, workspace_id, name, now, now, grant_id, scopes, expires_at),
    )


async def touch_token(tx: Tx, token_id: str, now: int) -> None:
    await tx.execute("UPDATE tokens SET last_used_at = ? WHERE id = ?", (now, token_id))


async def live_tokens(conn: Conn, user_id: str, used_since: int, now: int) -> list[Row]:
    """(id, name, workspace id, workspace name, created, last used, scopes, hard expiry) of
    unrevoked, unexpired."""
    return await conn.all(
        "SELECT t.id, t.name, t.workspace_id, w.name, t.created_at, t.last_used_at, t.scopes,"
        " t.expires_at FROM tokens t JOIN workspaces w ON w.id = t.workspace_id"
        " JOIN memberships m ON m.workspace_id = t.workspace_id AND m.user_id = t.user_id"
        " WHERE t.user_id = ? AND t.revoked_at IS NULL AND t.last_used_at >= ?"
        " AND (t.expires_at IS NULL OR t.expires_at >= ?)"
        " ORDER BY t.created_at DESC, t.id",
        (user_id, used_since, now),
    )


async def revoke_token(tx: Tx, token_id: str, user_id: str, now: int) -> str | None:
    """Revoke one live token of the user; returns its workspace, or None if there was none."""
    row = await tx.one(
        "UPDATE tokens SET revoked_at = ? WHERE id = ? AND user_id = ? AND revoked_at IS NULL"
        " RETURNING workspace_id",
        (now, token_id, user_id),
    )
    return None if row is None else str(row[0])


# --- one-time codes ---------------------------------------------------------------------------


async def add_code(tx: Tx, key: str, digest: bytes, expires_at: int) -> None:
    """Store one more live code for `key`."""
    await tx.execute(
        "INSERT INTO codes (key, digest, expires_at, attempts) VALUES (?, ?, ?, 0)",
        (key, digest, expires_at),
    )


async def live_codes(tx: Tx, key: str, now: int) -> list[Row]:
    """(digest, attempts) of `key`'s codes that have not expired."""
    return await tx.all(
        "SELECT digest, attempts FROM codes WHERE key = ? AND expires_at >= ?", (key, now)
    )


async def count_code_attempt(tx: Tx, key: str, burn_at: int) -> None:
    """A wrong try counts against every live code of the key; at `burn_at` they all go."""
    await tx.execute("UPDATE codes SET attempts = attempts + 1 WHERE key = ?", (key,))
    await tx.execute("DELETE FROM codes WHERE key = ? AND attempts >= ?", (key, burn_at))


async def delete_code(tx: Tx, key: str, digest: bytes | None = None) -> None:
    if digest is None:
        await tx.execute("DELETE FROM codes WHERE key = ?", (key,))
    else:
        await tx.execute("DELETE FROM codes WHERE key = ? AND digest = ?", (key, digest))


async def drop_codes(tx: Tx) -> int:
    """Every pending one-time code (their HMAC key is being replaced)."""
    return await tx.execute("DELETE FROM codes")


async def purge_codes(tx: Tx, now: int) -> None:
    await tx.execute("DELETE FROM codes WHERE expires_at < ?", (now,))


# --- rate limits ------------------------------------------------------------------------------


async def rate_window(tx: Tx, key: str, since: int) -> tuple[int, int | None]:
    """(hits since `since`, time of the oldest of them)."""
    row = await tx.one(
        "SELECT COUNT(*), MIN(at) FROM rate_hits WHERE key = ? AND at > ?", (key, since)
    )
    assert row is not None
    return int(row[0]), (None if row[1] is None else int(row[1]))


async def add_rate_hit(tx: Tx, key: str, now: int) -> None:
    await tx.execute("INSERT INTO rate_hits (key, at) VALUES (?, ?)", (key, now))


async def purge_rate_hits(tx: Tx, before: int) -> None:
    await tx.execute("DELETE FROM rate_hits WHERE at <= ?", (before,))
