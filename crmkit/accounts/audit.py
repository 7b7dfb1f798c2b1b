"""Writing audit rows: who did what to which target, inside the caller's transaction."""

from __future__ import annotations

from crmkit import spec as S
from crmkit.ids import new_id
from crmkit.principal import Principal
from crmkit.store import audit as store
from crmkit.store import unit
from crmkit.store.base import Tx

# Every action crmkit writes: GET /audit?action= accepts these (and `<kind>.*`) only, so a
# misspelt action is a 400 rather than an empty log that looks like "nothing happened".
ACTIONS: tuple[str, ...] = (
    *(f"{kind}.{verb}" for kind in S.SPECS for verb in ("create", "update", "delete")),
    "activity.create",
    "auth.sign_in",
    "invite.create",
    "invite.update",
    "invite.withdraw",
    "member.join",
    "member.leave",
    "member.remove",
    "member.role",
    "oauth.approve",
    "oauth.revoke",
    "stepup.request",
    "token.create",
    "token.revoke",
    "user.create",
    "workspace.create",
    "workspace.delete",
    "workspace.plan",
    "workspace.rename",
)
# What `action=<kind>.*` may name: the part of an action before its dot.
ACTION_KINDS: tuple[str, ...] = tuple(sorted({a.partition(".")[0] for a in ACTIONS}))


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
    # A new action must be listed above, or GET /audit could not filter on it.
    assert action in ACTIONS, f"audit action {action!r} is missing from ACTIONS"
    unit.audited((action, target, detail))
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


async def record_many(
    tx: Tx,
    *,
    workspace_id: str,
    at: int,
    action: str,
    targets: list[str],
    detail: str,
    actor: Principal,
) -> None:
    """One row per target, the same change on each (records unlinked from a deleted one), in
    one statement."""
    assert action in ACTIONS, f"audit action {action!r} is missing from ACTIONS"
    for t in targets:
        unit.audited((action, t, detail))
    await store.insert_many(
        tx,
        [
            (
                new_id("ev"),
                workspace_id,
                at,
                actor.email,
                f"token/{actor.token_id}",
                action,
                t,
                detail,
            )
            for t in targets
        ],
    )
