"""API tokens: minting, authenticating a bearer, listing and revoking.

`ck_` + 32 random bytes; only the SHA-256 is stored; idle tokens expire and each use renews
them, written at most once a minute per token.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

from crmkit import names
from crmkit.accounts import audit, scopes
from crmkit.clock import iso_text
from crmkit.errors import Forbidden, InvalidField, NotFound, Unauthorized
from crmkit.ids import bare_id, new_id
from crmkit.principal import Principal
from crmkit.runtime import Runtime
from crmkit.store import accounts as store
from crmkit.store.base import Tx

PREFIX = "ck_"
TOUCH_EVERY_SECONDS = 60
NAME_MAX = 100


def hash_token(raw: str) -> bytes:
    return hashlib.sha256(raw.encode()).digest()


def clean_name(name: str | None, field: str = "token_name") -> str:
    if name is None:
        return "default"
    name = name.strip()
    if not name or len(name) > NAME_MAX or not names.is_clean(name):
        raise InvalidField(
            f"{field} must be 1-{NAME_MAX} printable characters",
            f'label the session, e.g. "{field}":"Claude" or "{field}":"nightly sync"',
        )
    return name


def connector_scope(who: Principal) -> Forbidden:
    return Forbidden(
        f"this token was given to the connector {who.token_name!r} for the workspace "
        f"{who.workspace_name!r} only: it cannot mint tokens or act on other workspaces",
        "to use another workspace from the app, disconnect and connect it again and pick that "
        "workspace on the sign-in page",
        code="connector_scope",
    )


@dataclass(frozen=True)
class Minted:
    raw: str
    token_id: str
    name: str
    workspace_id: str
    scopes: str
    expires_at: int | None


async def mint(
    rt: Runtime,
    tx: Tx,
    *,
    user_id: str,
    email: str,
    workspace_id: str,
    name: str,
    actor: Principal | None = None,
    grant_id: str | None = None,
    scope: str = scopes.FULL,
    expires_at: int | None = None,
) -> Minted:
    """`scope`: space-separated (scopes.text); `expires_at`: a hard expiry, if any."""
    raw = PREFIX + secrets.token_urlsafe(32)
    token_id = new_id("t")
    now = rt.clock.now()
    await store.insert_token(
        tx, token_id, hash_token(raw), user_id, workspace_id, name, now, grant_id, scope, expires_at
    )
    await audit.record(
        tx,
        workspace_id=workspace_id,
        at=now,
        action="token.create",
        target=f"token/{token_id}",
        detail=f"name: {name}"
        + ("" if scope == scopes.FULL else f"; scopes: {scope}")
        + ("" if expires_at is None else f"; expires: {iso_text(expires_at)}"),
        actor=actor,
        actor_email=email,
    )
    return Minted(raw, token_id, name, workspace_id, scope, expires_at)


def expires_at(rt: Runtime, last_used_at: int, hard: int | None = None) -> int:
    """When a token dies: after its idle days, or at its hard expiry if that comes first."""
    idle = last_used_at + rt.settings.token_idle_days * 86400
    return idle if hard is None else min(idle, hard)


async def authenticate(rt: Runtime, authorization: str | None) -> Principal:
    if not authorization:
        # Not "sign in again": the caller may well hold a token and only left the header out.
        raise Unauthorized(
            "this request has no Authorization header, and this endpoint needs a token",
            "send your token as the header Authorization: Bearer <token> (tokens start with"
            ' ck_); if you have none, get one: POST /auth/request {"email":...}, then POST'
            ' /auth/verify {"email":...,"code":...}',
        )
    scheme, _, raw = authorization.partition(" ")
    raw = raw.strip()
    if scheme.lower() != "bearer" or not raw:
        # The token itself may be fine (`Authorization: ck_...`): say how to send it rather
        # than to sign in again.
        raise Unauthorized(
            "the Authorization header must be 'Bearer <token>'",
            "send it as Authorization: Bearer <token> (tokens start with ck_); to get one,"
            ' POST /auth/request {"email":...} then POST /auth/verify {"email":...,"code":...}',
            code="invalid_token",
        )
    row = await store.token_for_auth(rt.db, hash_token(raw))
    if row is None or row[6] is not None or row[10] is None:
        # Unknown, revoked, or the user has left that workspace: all the same to the caller.
        raise Unauthorized("this token is not valid (unknown or revoked)", code="invalid_token")
    token_id, name, user_id, workspace_id, created_at, last_used_at = row[:6]
    now = rt.clock.now()
    hard = row[13]
    if hard is not None and now >= hard:
        raise Unauthorized(
            f"this token expired at {iso_text(hard)}, the expiry it was minted with",
            code="token_expired",
        )
    if now > expires_at(rt, last_used_at):
        raise Unauthorized(
            f"this token expired after {rt.settings.token_idle_days} idle days",
            code="token_expired",
        )
    if now - last_used_at >= TOUCH_EVERY_SECONDS:
        async with rt.db.write() as tx:
            await store.touch_token(tx, token_id, now)
        last_used_at = now
    return Principal(
        user_id=user_id,
        email=row[7],
        token_id=token_id,
        token_name=name,
        workspace_id=workspace_id,
        workspace_name=row[8],
        role=row[10],
        plan=row[9],
        token_created_at=created_at,
        token_last_used_at=last_used_at,
        grant_id=row[11],
        scopes=scopes.of_text(row[12]),
        token_expires_at=hard,
    )


@dataclass(frozen=True)
class TokenInfo:
    token_id: str
    name: str
    workspace_id: str
    workspace_name: str
    created_at: int
    last_used_at: int
    expires_at: int
    current: bool
    scopes: str


async def list_live(rt: Runtime, who: Principal) -> list[TokenInfo]:
    since = rt.clock.now() - rt.settings.token_idle_days * 86400
    rows = await store.live_tokens(rt.db, who.user_id, since, rt.clock.now())
    if who.via_connector:
        # A connector sees (and may revoke) only its own session, not the user's others.
        rows = [r for r in rows if r[0] == who.token_id]
    return [
        TokenInfo(
            r[0],
            r[1],
            r[2],
            r[3],
            r[4],
            r[5],
            expires_at(rt, r[5], r[7]),
            r[0] == who.token_id,
            r[6],
        )
        for r in rows
    ]


async def revoke(rt: Runtime, who: Principal, raw_id: str) -> str:
    token_id = bare_id(raw_id, "token", "t")
    missing = NotFound(f"no token {raw_id} among your tokens", "list yours with GET /tokens")
    if token_id is None or (who.via_connector and token_id != who.token_id):
        raise missing
    async with rt.db.write() as tx:
        workspace_id = await store.revoke_token(tx, token_id, who.user_id, rt.clock.now())
        if workspace_id is None:
            raise missing
        await audit.record(
            tx,
            workspace_id=workspace_id,  # the token's own workspace, whichever token asked
            at=rt.clock.now(),
            action="token.revoke",
            target=f"token/{token_id}",
            actor=who,
        )
    return token_id
