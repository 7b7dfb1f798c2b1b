"""Authorization codes, the token endpoint's two grants, and revocation.

A grant is one approval: it owns one live `ck_` access token (an ordinary crmkit token named
after the client, so it lists in GET /tokens and can be revoked there) and one live refresh
token. Codes last 10 minutes and work once; redeeming one twice revokes what the first
redemption issued. Refresh tokens rotate; presenting a rotated one revokes the whole family.
Failures are decided inside the transaction but raised after it commits, so the burning of a
code or a family is kept even though the request fails.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from typing import Any

from crmkit.accounts import audit, scopes, tokens
from crmkit.errors import OAuthError
from crmkit.ids import new_id
from crmkit.oauth.clients import Client
from crmkit.runtime import Runtime
from crmkit.store import accounts as accounts_store
from crmkit.store import oauth as store
from crmkit.store.base import Tx

CODE_TTL_SECONDS = 600
REFRESH_TTL_SECONDS = 90 * 86400
REFRESH_PREFIX = "ckr_"
_VERIFIER = re.compile(r"^[A-Za-z0-9\-._~]{43,128}$")
_CHALLENGE = re.compile(r"^[A-Za-z0-9\-_]{43}$")


def digest(raw: str) -> bytes:
    return hashlib.sha256(raw.encode()).digest()


def valid_challenge(challenge: str) -> bool:
    return bool(_CHALLENGE.match(challenge))


def s256(verifier: str) -> str:
    hashed = hashlib.sha256(verifier.encode()).digest()
    return base64.urlsafe_b64encode(hashed).rstrip(b"=").decode()


def invalid_grant(message: str) -> OAuthError:
    return OAuthError(message, "start the authorization again", code="invalid_grant")


def invalid_client() -> OAuthError:
    return OAuthError(
        "unknown client_id",
        "register again at the registration endpoint",
        code="invalid_client",
        status=401,
    )


def check_resource(rt: Runtime, resource: str | None) -> None:
    if resource is not None and resource.rstrip("/") != rt.settings.public_url + "/mcp":
        raise OAuthError(
            f"resource must be {rt.settings.public_url}/mcp",
            "ask for this server's MCP endpoint",
            code="invalid_target",
        )


async def issue_code(
    rt: Runtime,
    tx: Tx,
    *,
    client: Client,
    redirect_uri: str,
    code_challenge: str,
    user_id: str,
    workspace_id: str,
    scopes: str,
) -> str:
    # The client counts as used from now on: it is kept past the 24 hours after which an
    # unused registration is deleted (clients.py).
    if not await store.mark_client_used(tx, client.id, rt.clock.now()):
        raise OAuthError(
            "this application is no longer registered",
            "connect it again from the application",
            code="invalid_client",
        )
    raw = secrets.token_urlsafe(32)
    await store.insert_code(
        tx,
        digest(raw),
        client_id=client.id,
        redirect_uri=redirect_uri,
        code_challenge=code_challenge,
        user_id=user_id,
        workspace_id=workspace_id,
        expires_at=rt.clock.now() + CODE_TTL_SECONDS,
        scopes=scopes,
    )
    return raw


async def _mint(
    rt: Runtime,
    tx: Tx,
    client: Client,
    grant_id: str,
    user_id: str,
    workspace_id: str,
    scope: str,
) -> dict[str, Any]:
    """A fresh access token + refresh token for the grant (the caller retired the old ones),
    the token with `scope` (the grant's, or less if the refresh asked for less)."""
    email = await store.user_email(tx, user_id)
    assert email is not None
    minted = await tokens.mint(
        rt,
        tx,
        user_id=user_id,
        email=email,
        workspace_id=workspace_id,
        name=tokens.clean_name(client.name),
        grant_id=grant_id,
        scope=scope,
    )
    await store.set_grant_token(tx, grant_id, minted.token_id)
    refresh = REFRESH_PREFIX + secrets.token_urlsafe(32)
    await store.insert_refresh(tx, digest(refresh), grant_id, rt.clock.now() + REFRESH_TTL_SECONDS)
    return {
        "access_token": minted.raw,
        "token_type": "Bearer",
        # The token dies after this many idle seconds; each use renews it.
        "expires_in": rt.settings.token_idle_days * 86400,
        "refresh_token": refresh,
        "scope": scope,
    }


async def exchange_code(
    rt: Runtime,
    client: Client,
    raw_code: str,
    redirect_uri: str | None,
    verifier: str | None,
    resource: str | None,
) -> dict[str, Any]:
    check_resource(rt, resource)
    if not verifier or not _VERIFIER.match(verifier):
        raise OAuthError(
            "code_verifier must be 43-128 characters of A-Z a-z 0-9 - . _ ~",
            "send the PKCE verifier whose S256 hash was the code_challenge",
            code="invalid_request",
        )
    if redirect_uri is None and len(client.redirect_uris) == 1:
        # RFC 6749 4.1.3: redirect_uri is required here only if authorize had it; authorize
        # may omit it when the client registered exactly one, so that one is implied.
        redirect_uri = client.redirect_uris[0]
    now = rt.clock.now()
    failure: OAuthError | None = None
    result: dict[str, Any] = {}
    async with rt.db.write() as tx:
        await store.purge_codes(tx, now - 86400)
        d = digest(raw_code)
        row = await store.code(tx, d)
        if row is None:
            failure = invalid_grant("unknown or expired authorization code")
        else:
            client_id, uri, challenge, user_id, workspace_id, expires_at, used_at = row[:7]
            grant_id, granted = row[7], str(row[8])
            if used_at is not None:
                # A replayed code: whoever redeemed it first may be an attacker; revoke it all.
                if grant_id is not None:
                    why = "authorization code replayed"
                    await _kill_family(rt, tx, grant_id, workspace_id, why)
                    failure = invalid_grant("this authorization code was already used")
                else:  # burnt by a failed exchange, not redeemed: no replay to look for
                    failure = invalid_grant(
                        "this authorization code was voided by an earlier failed exchange;"
                        " start the authorization again"
                    )
            elif client_id != client.id or uri != redirect_uri:
                failure = invalid_grant("the code was issued to another client or redirect_uri")
            elif expires_at < now:
                failure = invalid_grant("the authorization code expired (codes last 10 minutes)")
            elif not hmac.compare_digest(s256(verifier), challenge):
                failure = invalid_grant("code_verifier does not match the code_challenge")
            elif await accounts_store.membership(tx, workspace_id, user_id) is None:
                failure = invalid_grant("the user is no longer a member of that workspace")
            if failure is not None:
                if used_at is None:
                    await store.mark_code_used(tx, d, now, None)
            else:
                grant_id = new_id("og")
                await store.insert_grant(
                    tx, grant_id, client.id, user_id, workspace_id, now, granted
                )
                await store.mark_code_used(tx, d, now, grant_id)
                result = await _mint(rt, tx, client, grant_id, user_id, workspace_id, granted)
    if failure is not None:
        raise failure
    return result


def narrowed(asked: str | None, granted: str) -> str:
    """The scope a refresh asks for (RFC 6749 6): the grant's, or less; never more."""
    if asked is None:
        return granted
    names = set(asked.split())
    if not names or not names <= set(granted.split()):
        raise OAuthError(
            f"scope {asked[:100]!r} is more than this grant's ({granted})",
            "ask for the granted scope or less; for more, connect again",
            code="invalid_scope",
        )
    return scopes.text(names | {"read"})


async def refresh(
    rt: Runtime, client: Client, raw_refresh: str, resource: str | None, scope: str | None = None
) -> dict[str, Any]:
    check_resource(rt, resource)
    now = rt.clock.now()
    failure: OAuthError | None = None
    result: dict[str, Any] = {}
    async with rt.db.write() as tx:
        d = digest(raw_refresh)
        row = await store.refresh(tx, d)
        grant = None if row is None else await store.grant(tx, str(row[0]))
        if row is None or grant is None:
            failure = invalid_grant("unknown refresh token")
        else:
            grant_id, expires_at, used_at = row
            client_id, user_id, workspace_id, token_id, revoked_at, granted = grant
            if client_id != client.id:
                failure = invalid_grant("this refresh token belongs to another client")
            elif used_at is not None or revoked_at is not None:
                # Reuse of a rotated token: it may have leaked, so the whole family dies.
                await _kill_family(rt, tx, grant_id, workspace_id, "refresh token reused")
                failure = invalid_grant("this refresh token was already used or revoked")
            elif expires_at < now:
                failure = invalid_grant("the refresh token expired")
            elif not await _token_live(tx, token_id, user_id, workspace_id):
                # The user revoked the access token (GET /tokens) or left the workspace.
                await _kill_family(rt, tx, grant_id, workspace_id, "access token was revoked")
                failure = invalid_grant("the access was revoked")
            else:
                # raised inside the transaction: nothing is used up by a refused scope
                new_scope = narrowed(scope, granted)
                await store.mark_refresh_used(tx, d, now)
                await store.revoke_token(tx, token_id, now)
                result = await _mint(rt, tx, client, grant_id, user_id, workspace_id, new_scope)
    if failure is not None:
        raise failure
    return result


async def _kill_family(rt: Runtime, tx: Tx, grant_id: str, workspace_id: str, why: str) -> None:
    """Revoke a grant's access and refresh tokens, and say why in the audit log."""
    token_id = await store.revoke_grant(tx, grant_id, rt.clock.now())
    await audit.record(
        tx,
        workspace_id=workspace_id,
        at=rt.clock.now(),
        action="oauth.revoke",
        target=f"token/{token_id}" if token_id else None,
        detail=why,
    )


async def _token_live(tx: Tx, token_id: str | None, user_id: str, workspace_id: str) -> bool:
    if token_id is None:
        return False
    if await store.token_revoked(tx, token_id):
        return False
    return await accounts_store.membership(tx, workspace_id, user_id) is not None


async def revoke(rt: Runtime, client: Client, raw: str) -> None:
    """RFC 7009: revoke the family of a refresh or access token of this client; unknown tokens
    are not an error (the answer is the same either way)."""
    now = rt.clock.now()
    async with rt.db.write() as tx:
        grant_id: str | None = None
        row = await store.refresh(tx, digest(raw))
        if row is not None:
            grant_id = str(row[0])
        elif raw.startswith(tokens.PREFIX):
            found = await accounts_store.token_for_auth(tx, tokens.hash_token(raw))
            if found is not None:
                grant_id = await store.grant_by_token(tx, str(found[0]))
        if grant_id is None:
            return
        grant = await store.grant(tx, grant_id)
        if grant is None or grant[0] != client.id:
            return
        token_id = await store.revoke_grant(tx, grant_id, now)
        await audit.record(
            tx,
            workspace_id=str(grant[2]),
            at=now,
            action="token.revoke",
            target=f"token/{token_id}" if token_id else None,
            detail=f"by OAuth client: {client.name}",
        )
