"""SQL for the audit log. Rows are written inside the transaction of the change they record."""

from __future__ import annotations

from crmkit.store.base import Conn, Database, Row, Tx
from crmkit.store.feeds import rows_and_total
from crmkit.store.sql_query import capped_count


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


async def insert_many(tx: Tx, rows: list[tuple[str | int | None, ...]]) -> None:
    """Rows of (id, workspace_id, at, actor_email, actor_token, action, target, detail)."""
    await tx.executemany(
        "INSERT INTO audit (id, workspace_id, at, actor_email, actor_token, action, target, detail)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        rows,
    )


async def page(
    db: Database,
    workspace_id: str,
    *,
    by: str | None,
    target: str | None,
    action: str | None,
    before: int | None,
    limit: int,
    cap: int,
) -> tuple[list[Row], int]:
    """Up to limit + 1 rows (id, at, actor_email, actor_token, action, target, detail, seq),
    newest first: by seq, the order they were written in, which no two rows share and a new
    row always joins at the front (so a page never skips or repeats one); `before`: the seq
    of the previous page's last row. And how many rows match, counted up to cap + 1.

    The log's own order is served by audit_by_workspace; a target's rows by audit_by_target
    (migration 0010). `action` is an action crmkit writes, or `<kind>.*`."""
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
    cond = " AND ".join(where)
    # The count rides along as an uncorrelated subquery (run once): one trip, and the total
    # comes from the same snapshot as the rows.
    count = capped_count("audit", cond, cap + 1)
    after, after_params = ("seq < ?", [before]) if before is not None else ("TRUE", [])
    rows = await db.many(
        f"SELECT id, at, actor_email, actor_token, action, target, detail, seq, {count}"
        f" FROM audit WHERE {cond} AND {after} ORDER BY seq DESC LIMIT {limit + 1}",
        [*params, *params, *after_params],
        width=9,
        numbers=(1,),  # at
    )
    return await rows_and_total(db, rows, before is None, count, params)


async def deletion(conn: Conn, workspace_id: str, target: str, action: str) -> Row | None:
    """(at, actor_email) of the latest `action` row on `target` in a workspace, or None."""
    return await conn.one(
        "SELECT at, actor_email FROM audit WHERE workspace_id = ? AND target = ? AND action = ?"
        " ORDER BY seq DESC LIMIT 1",
        (workspace_id, target, action),
    )
