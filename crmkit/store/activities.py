"""SQL for activities (calls, emails, meetings, notes, tasks logged on a record) and the
follow-up reminders across the three record types."""

from __future__ import annotations

from typing import Any

from crmkit import spec as S
from crmkit.store.base import Database, Row, Tx
from crmkit.store.feeds import rows_and_total
from crmkit.store.sql_query import capped_count

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
        "UPDATE %s SET activity_count = activity_count + 1, last_activity_at = CASE"
        " WHEN last_activity_at IS NULL OR last_activity_at < ? THEN ? ELSE last_activity_at END"
        " WHERE workspace_id = ? AND id = ?" % rs.table,
        (at, at, workspace_id, target_id),
    )
    assert row is not None
    return row


async def page(
    db: Database,
    workspace_id: str,
    *,
    targets: list[str],
    kinds: list[str],
    after: tuple[int, int] | None,
    limit: int,
    cap: int,
) -> tuple[list[Row], int]:
    """Up to limit + 1 rows (COLUMNS, then seq), newest first: by `at`, then by when they were
    logged (seq, which no two share, so the order is total); `after`: the previous page's last
    (at, seq). And how many match, counted up to cap + 1. An activity logged with a past `at`
    joins the order behind a reader's cursor, never skipping or repeating another row."""
    if targets:
        # `+workspace_id`: keep the planner on activities_by_target (ids are unique anyway).
        # Without statistics it otherwise walked the workspace for an IN of rare targets
        # (two records with 3 activities each among 200k: 190 ms, against 0.1).
        marks = ", ".join("?" * len(targets))
        where = ["target_id IN (%s)" % marks, db.dialect.plain("workspace_id") + " = ?"]
        params: list[Any] = [*targets, workspace_id]
    else:
        # With kind=, activities_by_kind (migration 0011) finds a rare kind without walking
        # every activity of the workspace.
        where, params = ["workspace_id = ?"], [workspace_id]
    if kinds:
        where.append("kind IN (%s)" % ", ".join("?" * len(kinds)))
        params.extend(kinds)
    cond = " AND ".join(where)
    # The count rides along as an uncorrelated subquery (run once): one trip, and the total
    # comes from the same snapshot as the rows.
    count = capped_count("activities", cond, cap + 1)
    # A row value: SQLite turns it into a range on the (..., at, seq) index it walks.
    keyset, keyset_params = ("(at, seq) < (?, ?)", [*after]) if after else ("TRUE", [])
    rows = await db.many(
        "SELECT %s, seq, %s FROM activities WHERE %s AND %s ORDER BY at DESC, seq DESC LIMIT %d"
        % (COLUMNS, count, cond, keyset, limit + 1),
        [*params, *params, *keyset_params],
        width=WIDTH + 2,
        numbers=(WIDTH - 1,),  # at
    )
    return await rows_and_total(db, rows, after is None, count, params)


async def due(
    db: Database,
    workspace_id: str,
    until: int,
    *,
    after: tuple[int, str] | None,
    limit: int,
    cap: int,
) -> tuple[list[Row], int]:
    """Up to limit + 1 rows (kind, id, name or title, follow_up_at, follow_up_note) due by
    `until`, soonest first (overdue ones lead), ties by id (unique across the three types: their
    prefixes differ); `after`: the previous page's last (follow_up_at, id). And how many are
    due, counted up to cap + 1.

    One statement over the three tables: each part comes in order from its partial follow_up
    index, which ends with id (migration 0010), and SQLite merges the three."""
    parts: list[str] = []
    counts: list[str] = []
    params: list[Any] = []
    count_params: list[Any] = []
    for rs in S.SPECS.values():
        cond = "workspace_id = ? AND follow_up_at IS NOT NULL AND follow_up_at <= ?"
        counts.append(capped_count(rs.table, cond, cap + 1))
        count_params.extend([workspace_id, until])
        keyset = " AND (follow_up_at, id) > (?, ?)" if after else ""
        parts.append(
            "SELECT '%s' AS kind, id, %s AS label, follow_up_at, follow_up_note FROM %s"
            " WHERE %s%s" % (rs.kind, rs.title, rs.table, cond, keyset)
        )
        params.extend([workspace_id, until, *(after or ())])
    total = "(SELECT CASE WHEN n < %d THEN n ELSE %d END FROM (SELECT %s AS n) AS summed)" % (
        cap + 1,
        cap + 1,
        " + ".join(counts),
    )
    d = db.dialect
    order = "%s, %s" % (d.order("follow_up_at", False), d.order("id", False))
    sql = (
        "SELECT kind, id, label, follow_up_at, follow_up_note, %s FROM (%s"
        " ORDER BY %s LIMIT %d) AS due ORDER BY %s"
        % (total, " UNION ALL ".join(parts), order, limit + 1, order)
    )
    rows = await db.many(sql, [*count_params, *params], width=6, numbers=(3,))  # follow_up_at
    return await rows_and_total(db, rows, after is None, total, count_params)
