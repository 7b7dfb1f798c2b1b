"""SQL for OAuth clients, authorization codes, grants, refresh tokens and used flow nonces."""

from __future__ import annotations

from crmkit.store.base import Conn, Row, Tx

# --- clients ----------------------------------------------------------------------------------


async def insert_client(tx: Tx, client_id: str, name: str, redirect_uris: str, now: int) -> None:
    await tx.execute(
        "INSERT INTO oauth_clients (id, name, redirect_uris, created_at) VALUES (?, ?, ?, ?)",
        (client_id, name, redirect_uris, now),
    )


async def mark_client_used(tx: Tx, client_id: str, now: int) -> bool:
    """Record that an authorization code was issued to the client (the first time only); False
    when the client is gone."""
    changed = await tx.execute(
        "UPDATE oauth_clients SET used_at = COALESCE(used_at, ?) WHERE id = ?", (now, client_id)
    )
    return changed == 1


async def purge_unused_clients(tx: Tx, registered_before: int, limit: int) -> int:
    """Delete at most `limit` clients registered before `registered_before` that were never
    used (no code was ever issued to them), oldest first; returns how many. A client with a
    code or a grant is never deleted here, whatever its used_at says: that would cascade to
    the grant and cut a connector off."""
    return await tx.execute(
        "DELETE FROM oauth_clients WHERE id IN ("
        "SELECT k.id FROM oauth_clients k WHERE k.used_at IS NULL AND k.created_at < ?"
        " AND NOT EXISTS (SELECT 1 FROM oauth_codes c WHERE c.client_id = k.id)"
        " AND NOT EXISTS (SELECT 1 FROM oauth_grants g WHERE g.client_id = k.id)"
        " ORDER BY k.created_at LIMIT ?)"
        " AND used_at IS NULL",
        (registered_before, limit),
    )


async def client(conn: Conn, client_id: str) -> Row | None:
    """(id, name, redirect_uris JSON) or None."""
    return await conn.one(
        "SELECT id, name, redirect_uris FROM oauth_clients WHERE id = ?", (client_id,)
    )


# --- the user's workspaces (for the consent page) ---------------------------------------------


async def workspaces_of(conn: Conn, user_id: str) -> list[Row]:
    """(workspace id, name, role, creator's email or None) of every membership, oldest joined
    first."""
    return await conn.all(
        "SELECT w.id, w.name, m.role, u.email FROM memberships m"
        " JOIN workspaces w ON w.id = m.workspace_id LEFT JOIN users u ON u.id = w.created_by"
        " WHERE m.user_id = ? ORDER BY m.joined_at, w.id",
        (user_id,),
    )


# --- flow nonces ------------------------------------------------------------------------------


async def use_nonce(tx: Tx, nonce: str, expires_at: int, now: int) -> bool:
    """Mark a flow nonce used; False when it already was (a replayed form)."""
    await tx.execute("DELETE FROM oauth_used_nonces WHERE expires_at < ?", (now,))
    changed = await tx.execute(
        "INSERT INTO oauth_used_nonces (nonce, expires_at) VALUES (?, ?) ON CONFLICT DO NOTHING",
        (nonce, expires_at),
    )
    return changed == 1


# --- authorization codes ----------------------------------------------------------------------


async def insert_code(
    tx: Tx,
    digest: bytes,
    *,
    client_id: str,
    redirect_uri: str,
    code_challenge: str,
    user_id: str,
    workspace_id: str,
    expires_at: int,
    scopes: str,
) -> None:
    await tx.execute(
        "INSERT INTO oauth_codes (hash, client_id, redirect_uri, code_challenge, user_id,"
        " workspace_id, expires_at, scopes) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (
            digest,
            client_id,
            redirect_uri,
            code_challenge,
            user_id,
            workspace_id,
            expires_at,
            scopes,
        ),
    )


async def code(tx: Tx, digest: bytes) -> Row | None:
    """(client_id, redirect_uri, code_challenge, user_id, workspace_id, expires_at, used_at,
    grant_id, scopes) or None."""
    return await tx.one(
        "SELECT client_id, redirect_uri, code_challenge, user_id, workspace_id, expires_at,"
        " used_at, grant_id, scopes FROM oauth_codes WHERE hash = ?",
        (digest,),
    )


async def mark_code_used(tx: Tx, digest: bytes, now: int, grant_id: str | None) -> None:
    await tx.execute(
        "UPDATE oauth_codes SET used_at = ?, grant_id = ? WHERE hash = ?", (now, grant_id, digest)
    )


async def purge_codes(tx: Tx, before: int) -> None:
    """Forget codes long expired (kept a while after use so a replay can still be detected)."""
    await tx.execute("DELETE FROM oauth_codes WHERE expires_at < ?", (before,))


# --- grants and refresh tokens ----------------------------------------------------------------


async def insert_grant(
    tx: Tx, grant_id: str, client_id: str, user_id: str, workspace_id: str, now: int, scopes: str
) -> None:
    await tx.execute(
        "INSERT INTO oauth_grants (id, client_id, user_id, workspace_id, created_at, scopes)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        (grant_id, client_id, user_id, workspace_id, now, scopes),
    )


async def grant(conn: Conn, grant_id: str) -> Row | None:
    """(client_id, user_id, workspace_id, token_id, revoked_at, scopes) or None."""
    return await conn.one(
        "SELECT client_id, user_id, workspace_id, token_id, revoked_at, scopes FROM oauth_grants"
        " WHERE id = ?",
        (grant_id,),
    )


async def grant_by_token(conn: Conn, token_id: str) -> str | None:
    row = await conn.one("SELECT id FROM oauth_grants WHERE token_id = ?", (token_id,))
    return None if row is None else str(row[0])


async def set_grant_token(tx: Tx, grant_id: str, token_id: str) -> None:
    await tx.execute("UPDATE oauth_grants SET token_id = ? WHERE id = ?", (token_id, grant_id))


async def revoke_grant(tx: Tx, grant_id: str, now: int) -> str | None:
    """Revoke the grant, its refresh tokens and its access token; returns the token id."""
    await tx.execute(
        "UPDATE oauth_grants SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL",
        (now, grant_id),
    )
    await tx.execute(
        "UPDATE oauth_refresh_tokens SET used_at = ? WHERE grant_id = ? AND used_at IS NULL",
        (now, grant_id),
    )
    row = await tx.one("SELECT token_id FROM oauth_grants WHERE id = ?", (grant_id,))
    token_id = None if row is None or row[0] is None else str(row[0])
    if token_id is not None:
        await revoke_token(tx, token_id, now)
    return token_id


async def revoke_token(tx: Tx, token_id: str, now: int) -> None:
    await tx.execute(
        "UPDATE tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL", (now, token_id)
    )


async def insert_refresh(tx: Tx, digest: bytes, grant_id: str, expires_at: int) -> None:
    await tx.execute(
        "INSERT INTO oauth_refresh_tokens (hash, grant_id, expires_at) VALUES (?, ?, ?)",
        (digest, grant_id, expires_at),
    )


async def refresh(tx: Tx, digest: bytes) -> Row | None:
    """(grant_id, expires_at, used_at) or None."""
    return await tx.one(
        "SELECT grant_id, expires_at, used_at FROM oauth_refresh_tokens WHERE hash = ?",
        (digest,),
    )


async def mark_refresh_used(tx: Tx, digest: bytes, now: int) -> None:
    await tx.execute("UPDATE oauth_refresh_tokens SET used_at = ? WHERE hash = ?", (now, digest))


async def token_revoked(conn: Conn, token_id: str) -> bool:
    row = await conn.one("SELECT revoked_at FROM tokens WHERE id = ?", (token_id,))
    return row is None or row[0] is not None


async def user_email(conn: Conn, user_id: str) -> str | None:
    row = await conn.one("SELECT email FROM users WHERE id = ?", (user_id,))
    return None if row is None else str(row[0])
