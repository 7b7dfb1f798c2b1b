"""Writing audit rows: who did what to which target, inside the caller's transaction."""

from __future__ import annotations

from crmkit.ids import new_id
from crmkit.principal import Principal
from crmkit.store import audit as store
from crmkit.store.db import Tx


async def record(
    tx: Tx,
    *,
    workspace_id: str | None,
    at: int,
    action: str,
    target: str | None = None,
    detail: str | None = None,
    actor: Principal | None = None,
    actor_email: str | None = None,
    actor_token: str | None = None,
) -> None:
    await store.insert(
        tx,
        event_id=new_id("ev"),
        workspace_id=workspace_id,
        at=at,
        actor_email=actor.email if actor else actor_email,
        actor_token=f"token/{actor.token_id}" if actor else actor_token,
        action=action,
        target=target,
        detail=detail,
    )
