"""Reading the workspace audit log: who did what to which record, newest first."""

from __future__ import annotations

from typing import Any

from crmkit import query
from crmkit.clock import iso
from crmkit.errors import InvalidQuery
from crmkit.principal import Principal
from crmkit.runtime import Runtime
from crmkit.store import audit as store


def _arg(name: str, value: str | None) -> str | None:
    if value is not None and (len(value) > 200 or not value):
        raise InvalidQuery(f"{name}= must be 1-200 characters", f"e.g. {name}=<value>")
    return value


async def recent(
    rt: Runtime,
    who: Principal,
    *,
    by: str | None,
    target: str | None,
    action: str | None,
    limit: str | None,
) -> list[dict[str, Any]]:
    n = query.parse_limit(limit)
    rows = await store.recent(
        rt.db,
        who.workspace_id,
        by=_arg("by", by.lower() if by else by),
        target=_arg("target", target),
        action=_arg("action", action),
        limit=n,
    )
    return [
        {
            "handle": "audit/" + id_,
            "action": action_,
            "target": target_,
            "detail": detail,
            "by": email,
            "token": token,
            "at": iso(at),
        }
        for id_, at, email, token, action_, target_, detail in rows
    ]
