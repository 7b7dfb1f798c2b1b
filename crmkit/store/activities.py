"""SQL for activities (calls, emails, meetings, notes, tasks logged on a record) and the
follow-up reminders across the three record types."""

from __future__ import annotations

from typing import Any

from crmkit import spec as S
from crmkit.store.db import Database, Row, Tx

COLUMNS = "id, kind, target_kind, target_id, body, created_by, at"
WIDTH = COLUMNS.count(",") + 1


async def insert(
    tx: Tx,
    rs: S.RecordSpec,
    *,
    id_: str,
    workspace_id: str,
    target_id: str,
    kind: str,
    body: str,
    at: int,
    now: int,
    by: str,
) -> Row:
    row = await tx.one(
        "INSERT INTO activities (id, workspace_id, target_kind, target_id, kind, body, at,"
        " created_at, created_by) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING %s" % COLUMNS,
        (id_, workspace_id, rs.kind, target_id, kind, body, at, now, by),
    )
    # The record line shows activities=N last_activity=...: kept on the row, so a list page
    # never counts activities per record.
    await tx.execute(
        "UPDATE %s SET activity_count = activity_count + 1,"
        " last_activity_at = max(coalesce(last_activity_at, ?), ?)"
        " WHERE workspace_id = ? AND id = ?" % rs.table,
        (at, at, workspace_id, target_id),
    )
    assert row is not None
    return row


async def recent(
    db: Database,
    workspace_id: str,
    *,
    targets: list[str],
    kinds: list[str],
    limit: int,
) -> list[Row]:
    """Newest first (by `at`, then by when they were logged)."""
    if len(targets) == 1:
        # `+workspace_id`: keep the planner on activities_by_target (ids are unique anyway)
        where, params = ["target_id = ?", "+workspace_id = ?"], [targets[0], workspace_id]
    else:
        where, params = ["workspace_id = ?"], [workspace_id]
        if targets:
            where.append("target_id IN (%s)" % ", ".join("?" * len(targets)))
            params.extend(targets)
    if kinds:
        where.append("kind IN (%s)" % ", ".join("?" * len(kinds)))
        params.extend(kinds)
    return await db.many(
        "SELECT %s FROM activities WHERE %s ORDER BY at DESC, seq DESC LIMIT %d"
        % (COLUMNS, " AND ".join(where), limit),
        params,
        width=WIDTH,
        numbers=(WIDTH - 1,),  # at
    )


async def due(db: Database, workspace_id: str, until: int, limit: int) -> list[Row]:
    """(kind, id, name or title, follow_up_at, follow_up_note) due by `until`, soonest first.

    One statement over the three tables, each served by its partial follow_up index."""
    parts: list[str] = []
    params: list[Any] = []
    for rs in S.SPECS.values():
        parts.append(
            "SELECT '%s' AS kind, id, %s AS label, follow_up_at, follow_up_note FROM %s"
            " WHERE workspace_id = ? AND follow_up_at IS NOT NULL AND follow_up_at <= ?"
            % (rs.kind, rs.title, rs.table)
        )
        params.extend([workspace_id, until])
    sql = " UNION ALL ".join(parts) + " ORDER BY follow_up_at, id LIMIT %d" % limit
    return await db.many(sql, params, width=5, numbers=(3,))  # follow_up_at
