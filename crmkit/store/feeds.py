"""The end of a feed page's read (activities, reminders, the audit log), said once."""

from __future__ import annotations

from typing import Any

from crmkit.store.base import Database, Row


async def rows_and_total(
    db: Database, rows: list[Row], first_page: bool, count: str, params: list[Any]
) -> tuple[list[Row], int]:
    """The page's rows (each ends with the capped count, read with them from one snapshot)
    and that count. A page past the last row has none to carry it: then the count is read on
    its own (`count` is a scalar subquery), and a first page with no rows counts 0."""
    if rows:
        return rows, int(rows[0][-1])
    if first_page:
        return [], 0
    row = await db.one("SELECT " + count, params)
    return [], int(row[0]) if row else 0
