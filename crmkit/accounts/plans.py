"""Plans and caps: how many contacts, companies, deals and members a workspace may hold, and
how many workspaces a person may own.

Record services call `check_cap(rt, tx, workspace_id, resource)` inside the create transaction,
before inserting; it raises 403 plan_limit_reached when the workspace is full. Because every
write runs on the single writer under BEGIN IMMEDIATE, the count and the insert cannot race.
"""

from __future__ import annotations

from dataclasses import dataclass

from crmkit.accounts import audit
from crmkit.config import CAP_NAMES, PLAN_NAMES, Settings
from crmkit.errors import CrmError, Forbidden, InvalidField, NotFound
from crmkit.ids import bare_id
from crmkit.principal import Principal
from crmkit.runtime import Runtime
from crmkit.store import teams as store
from crmkit.store.base import Conn, Tx

UNLIMITED = -1

# Built-in caps; CRMKIT_PLANS overrides any of them per plan. The free plan's contact cap is the
# manual's example ("contacts: 12 / 1000"); free allows two owned workspaces so a person can keep
# a personal workspace and start one team.
# requests_per_minute is the API rate limit per token (crmkit/throttle.py), not a cap: the
# unlimited plan has one too, so a runaway agent is slowed down on every plan.
BUILTIN: dict[str, dict[str, int]] = {
    "free": {
        "contacts": 1000,
        "companies": 1000,
        "deals": 1000,
        "members": 3,
        "workspaces": 2,
        "requests_per_minute": 300,
    },
    "team": {
        "contacts": 50_000,
        "companies": 50_000,
        "deals": 50_000,
        "members": 50,
        "workspaces": 10,
        "requests_per_minute": 1200,
    },
    "unlimited": {**dict.fromkeys(CAP_NAMES, UNLIMITED), "requests_per_minute": 6000},
}
PER_WORKSPACE = ("contacts", "companies", "deals", "members")


def caps(settings: Settings, plan: str) -> dict[str, int]:
    merged = dict(BUILTIN.get(plan, BUILTIN["free"]))
    merged.update(settings.plans_json.get(plan, {}))
    return merged


def requests_per_minute(settings: Settings, plan: str) -> int:
    """The API rate limit of a token in a workspace on `plan` (-1: none)."""
    return caps(settings, plan)["requests_per_minute"]


def cap(settings: Settings, plan: str, resource: str) -> int:
    return caps(settings, plan)[resource]


def _bigger(plan: str) -> str | None:
    index = PLAN_NAMES.index(plan) if plan in PLAN_NAMES else 0
    return PLAN_NAMES[index + 1] if index + 1 < len(PLAN_NAMES) else None


def _count(n: int, plural: str) -> str:
    """ "1 deal", "2 deals", "1 company"."""
    if n != 1:
        return f"{n} {plural}"
    return "1 " + (plural[:-3] + "y" if plural.endswith("ies") else plural[:-1])


def limit_reached(
    resource: str, plan: str, used: int, limit: int, workspace_id: str | None
) -> CrmError:
    if resource == "workspaces":
        message = f"the {plan} plan lets you own {limit} workspaces and you own {used}"
        room = "delete a workspace you no longer need (DELETE /workspaces/{id})"
    elif resource == "members":
        message = (
            f"the {plan} plan allows {_count(limit, resource)} per workspace (pending invites"
            f" count) and this workspace has {used}"
        )
        ws = workspace_id or "{id}"
        room = (
            f"withdraw a pending invite (DELETE /workspaces/{ws}/invites/{{invite_id}}) or remove"
            f" a member (DELETE /workspaces/{ws}/members/{{user_id}})"
        )
    else:
        message = (
            f"the {plan} plan allows {_count(limit, resource)} per workspace and this one has"
            f" {used}"
        )
        room = f"delete {resource} you no longer need (DELETE /{resource}/{{id}})"
    bigger = _bigger(plan)
    upgrade = (
        f", or ask the server operator to move it to the {bigger} plan "
        f"(crmkit plan {workspace_id or '<workspace id>'} {bigger})"
        if bigger
        else ""
    )
    return Forbidden(
        message,
        f"don't retry: tell the user the limit is hit; to make room {room}{upgrade}. "
        "GET /whoami shows usage",
        code="plan_limit_reached",
        extra={"cap": resource, "used": str(used), "limit": str(limit), "plan": plan},
    )


async def _plan_of(conn: Conn, workspace_id: str) -> str:
    row = await store.workspace(conn, workspace_id)
    if row is None:
        raise NotFound(f"no workspace {workspace_id}", "GET /workspaces lists yours")
    return str(row[2])


async def check_cap(rt: Runtime, conn: Conn, workspace_id: str, resource: str) -> None:
    """Raise 403 plan_limit_reached if one more `resource` would pass the workspace's cap.
    Inside the write that adds one; read before it only to refuse early.

    `resource` is one of: contacts, companies, deals, members (pending invites count as
    members). The person-level cap on owned workspaces is `check_workspace_cap`.
    """
    if resource not in PER_WORKSPACE:
        raise ValueError(f"check_cap: unknown resource {resource!r}")
    plan = await _plan_of(conn, workspace_id)
    limit = cap(rt.settings, plan, resource)
    if limit == UNLIMITED:
        return
    if resource == "members":
        joined, pending = await store.count_seats(conn, workspace_id)
        used = joined + pending
    else:
        assert isinstance(conn, Tx), "a record count may correct itself: inside the write"
        used = await store.count_records(conn, resource, workspace_id, limit)
    if used >= limit:
        raise limit_reached(resource, plan, used, limit, workspace_id)


async def workspace_allowance(rt: Runtime, conn: Conn, user_id: str) -> tuple[int, int, str]:
    """(owned, limit, plan): a person may own as many workspaces as the best plan among the
    workspaces they own allows (the default plan when they own none), so an operator who
    upgrades one workspace also lifts its owner's allowance."""
    owned = await store.owned_plans(conn, user_id)
    best_plan = rt.settings.default_plan
    best = cap(rt.settings, best_plan, "workspaces")
    for plan in owned:
        limit = cap(rt.settings, plan, "workspaces")
        if best != UNLIMITED and (limit == UNLIMITED or limit > best):
            best, best_plan = limit, plan
    return len(owned), best, best_plan


async def check_workspace_cap(rt: Runtime, tx: Tx, user_id: str) -> None:
    owned, limit, plan = await workspace_allowance(rt, tx, user_id)
    if limit != UNLIMITED and owned >= limit:
        raise limit_reached("workspaces", plan, owned, limit, None)


@dataclass(frozen=True)
class Usage:
    resource: str
    used: int
    limit: int  # -1 = unlimited
    pending_invites: int | None = None


async def usage(rt: Runtime, who: Principal) -> list[Usage]:
    """Usage of the caller's current workspace, and the workspaces the caller owns."""
    counts = await store.usage_counts(rt.db, who.workspace_id)
    joined, pending = await store.count_seats(rt.db, who.workspace_id)
    limits = caps(rt.settings, who.plan)
    found = [Usage(r, counts[r], limits[r]) for r in store.RECORD_TABLES]
    found.append(Usage("members", joined + pending, limits["members"], pending))
    owned, limit, _ = await workspace_allowance(rt, rt.db, who.user_id)
    found.append(Usage("workspaces", owned, limit))
    return found


async def set_plan(rt: Runtime, raw_workspace: str, plan: str) -> tuple[str, str, str]:
    """Operator command: move a workspace to another plan. Returns (id, old plan, new plan)."""
    if plan not in PLAN_NAMES:
        raise InvalidField(
            f"unknown plan {plan!r}", "pick one of the plans listed", allowed=PLAN_NAMES
        )
    workspace_id = bare_id(raw_workspace.strip(), "workspace", "w")
    missing = NotFound(f"no workspace {raw_workspace}", "check the id (it looks like w_...)")
    if workspace_id is None:
        raise missing
    async with rt.db.write() as tx:
        row = await store.workspace(tx, workspace_id)
        if row is None:
            raise missing
        old = str(row[2])
        await store.set_plan(tx, workspace_id, plan)
        await audit.record(
            tx,
            workspace_id=workspace_id,
            at=rt.clock.now(),
            action="workspace.plan",
            target=f"workspace/{workspace_id}",
            detail=f"plan: {old} -> {plan} (crmkit plan, on the server host)",
        )
    return workspace_id, old, plan
