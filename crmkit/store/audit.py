"""SQL for the audit log. Rows are written inside the transaction of the change they record."""

from __future__ import annotations

from crmkit.store.db import Database, Row, Tx


async def insert(
    tx: Tx,
    *,
    event_id: str,
    workspace_id: str | None,
    at: int,
    actor_email: str | None,
    actor_token: str | None,
    action: str,
    target: str | None,
    detail: str | None,
) -> None:
    await tx.execute(
        "INSERT INTO audit (id, workspace_id, at, actor_email, actor_token, action, target, detail)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (event_id, workspace_id, at, actor_email, actor_token, action, target, detail),
    )


async def recent(
    db: Database,
    workspace_id: str,
    *,
    by: str | None = None,
    target: str | None = None,
    action: str | None = None,
    limit: int = 50,
) -> list[Row]:
    """(id, at, actor_email, actor_token, action, target, detail), newest first."""
    where = ["workspace_id = ?"]
    params: list[object] = [workspace_id]
    if by is not None:
        where.append("actor_email = ?")
        params.append(by)
    if target is not None:
        where.append("target = ?")
        params.append(target)
    if action is not None:
        if action.endswith(".*"):
            where.append("action LIKE ? ESCAPE '\\'")
            params.append(action[:-1].replace("_", "\\_").replace("%", "\\%") + "%")
        else:
            where.append("action = ?")
            params.append(action)
    params.append(limit)
    return await db.many(
        "SELECT id, at, actor_email, actor_token, action, target, detail FROM audit"
        f" WHERE {' AND '.join(where)} ORDER BY seq DESC LIMIT ?",
        params,
        width=7,
        numbers=(1,),  # at
    )
