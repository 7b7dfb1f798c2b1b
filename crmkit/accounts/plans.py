"""Plans and caps. Foundation stub: every check passes; the workspaces issue fills this in.

Record services call `check_cap(rt, tx, workspace_id, resource)` inside the create transaction,
before inserting; it raises 403 plan_limit_reached when the workspace is full.
"""

from __future__ import annotations

from crmkit.runtime import Runtime
from crmkit.store.db import Tx


async def check_cap(rt: Runtime, tx: Tx, workspace_id: str, resource: str) -> None:
    """`resource` is one of: contacts, companies, deals, members, workspaces."""
    return None
