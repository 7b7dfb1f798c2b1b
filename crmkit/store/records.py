"""SQL for contacts, companies and deals, generic over crmkit/spec.py.

Rows come back as tuples in `sql_query.columns(rs)` order: (id, field, field, ...). Table and
column names come only from the spec; values are always bound.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from crmkit import spec as S
from crmkit.query import Plan
from crmkit.store import sql_query
from crmkit.store.base import Conn, Database, Row, Tx
from crmkit.store.sql_query import columns


async def get(conn: Conn, rs: S.RecordSpec, workspace_id: str, id_: str) -> Row | None:
    return await conn.one(
        "SELECT %s FROM %s WHERE workspace_id = ? AND id = ?" % (columns(rs), rs.table),
        (workspace_id, id_),
    )


async def clear_reference(
    tx: Tx, rs: S.RecordSpec, field: str, workspace_id: str, id_: str, now: int
) -> list[str]:
    """Set `field` to null on every record of `rs` that names `id_` there, as an update (a
    new version, updated_at); returns their ids. Each reference has its own index."""
    rows = await tx.all(
        "UPDATE %s SET %s = NULL, version = version + 1, updated_at = ?"
        " WHERE workspace_id = ? AND %s = ? RETURNING id" % (rs.table, field, field),
        (now, workspace_id, id_),
    )
    return [str(r[0]) for r in rows]


async def count_pointing_at(
    conn: Conn, rs: S.RecordSpec, field: str, workspace_id: str, id_: str
) -> int:
    row = await conn.one(
        "SELECT count(*) FROM %s WHERE workspace_id = ? AND %s = ?" % (rs.table, field),
        (workspace_id, id_),
    )
    return int(row[0]) if row else 0


_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


async def by_upsert_key(tx: Tx, rs: S.RecordSpec, workspace_id: str, value: str) -> Row | None:
    if rs.upsert_key == "email":
        return await tx.one(
            "SELECT %s FROM contacts WHERE workspace_id = ? AND email IS NOT NULL"
            " AND lower(email) = ?" % columns(rs),
            # folded as the unique index folds (lower() of a C-collated column, both
            # backends): A-Z only. Python's lower() also folds Ü, and the lookup then missed
            # the record whose INSERT broke the index (a 500).
            (workspace_id, value.translate(_ASCII_LOWER)),
        )
    assert rs.upsert_key is not None
    return await tx.one(
        "SELECT %s FROM %s WHERE workspace_id = ? AND %s = ?"
        % (columns(rs), rs.table, rs.upsert_key),
        (workspace_id, value),
    )


async def exists(conn: Conn, rs: S.RecordSpec, workspace_id: str, id_: str) -> bool:
    row = await conn.one(
        "SELECT 1 FROM %s WHERE workspace_id = ? AND id = ?" % rs.table, (workspace_id, id_)
    )
    return row is not None


async def company_by_name(tx: Tx, workspace_id: str, name: str) -> str | None:
    row = await tx.one(
        "SELECT id FROM companies WHERE workspace_id = ? AND %s"
        " ORDER BY created_at, id LIMIT 1" % tx.dialect.nocase_equals("name"),
        (workspace_id, name),
    )
    return None if row is None else str(row[0])


async def company_name(tx: Tx, workspace_id: str, id_: str | None) -> str | None:
    if id_ is None:
        return None
    row = await tx.one(
        "SELECT name FROM companies WHERE workspace_id = ? AND id = ?", (workspace_id, id_)
    )
    return None if row is None or row[0] is None else str(row[0])


async def contacts_of_company(tx: Tx, workspace_id: str, company_id: str) -> list[Row]:
    """(seq, name, email, phone) of the company's contacts: their search text includes its name."""
    return await tx.all(
        "SELECT seq, name, email, phone FROM contacts WHERE company_id = ? AND workspace_id = ?",
        (company_id, workspace_id),
    )


async def is_member(conn: Conn, workspace_id: str, email: str) -> bool:
    row = await conn.one(
        "SELECT 1 FROM memberships m JOIN users u ON u.id = m.user_id"
        " WHERE m.workspace_id = ? AND u.email = ?",
        (workspace_id, email),
    )
    return row is not None


async def insert(
    tx: Tx, rs: S.RecordSpec, id_: str, workspace_id: str, values: Mapping[str, Any]
) -> tuple[int, Row]:
    """Insert one record; returns (seq, the row as a GET would read it)."""
    names = ["id", "workspace_id", *values]
    sql = "INSERT INTO %s (%s) VALUES (%s) RETURNING seq, %s" % (
        rs.table,
        ", ".join(names),
        ", ".join("?" * len(names)),
        columns(rs),
    )
    row = await tx.one(sql, [id_, workspace_id, *values.values()])
    assert row is not None
    return int(row[0]), tuple(row[1:])


async def update(
    tx: Tx, rs: S.RecordSpec, workspace_id: str, id_: str, changes: Mapping[str, Any], now: int
) -> tuple[int, Row]:
    sets = ["%s = ?" % name for name in changes]
    sql = (
        "UPDATE %s SET %s, updated_at = ?, version = version + 1"
        " WHERE workspace_id = ? AND id = ? RETURNING seq, %s"
        % (rs.table, ", ".join(sets), columns(rs))
    )
    row = await tx.one(sql, [*changes.values(), now, workspace_id, id_])
    assert row is not None
    return int(row[0]), tuple(row[1:])


async def count_activities(conn: Conn, workspace_id: str, id_: str) -> int:
    row = await conn.one(
        "SELECT count(*) FROM activities WHERE target_id = ? AND workspace_id = ?",
        (id_, workspace_id),
    )
    return int(row[0]) if row else 0


async def delete(tx: Tx, rs: S.RecordSpec, workspace_id: str, id_: str) -> int:
    """Delete one record; its search rows and activities go with it (triggers).
    Returns how many activities were removed."""
    row = await tx.one(
        "SELECT count(*) FROM activities WHERE target_id = ? AND workspace_id = ?",
        (id_, workspace_id),
    )
    seq = await tx.one(
        "SELECT seq FROM %s WHERE workspace_id = ? AND id = ?" % rs.table, (workspace_id, id_)
    )
    if seq is not None:
        await tx.dialect.unindex(tx, rs, workspace_id, [int(seq[0])])
    await tx.execute(
        "DELETE FROM %s WHERE workspace_id = ? AND id = ?" % rs.table, (workspace_id, id_)
    )
    return int(row[0]) if row else 0


async def page(
    db: Database,
    rs: S.RecordSpec,
    plan: Plan,
    workspace_id: str,
    after: tuple[Any, str] | None,
    found: object | None,
) -> tuple[list[Row], int, bool]:
    """Up to limit + 1 rows in `list_columns` order, each followed by its sort key and the
    capped total (the list layout ignores what follows its columns); the total; and whether
    more may match than it says (a search whose candidate window is full: matches older
    than the window are never looked at). `found`: from `search_plan`, for a search."""
    return await db.dialect.page(db, rs, plan, workspace_id, after, found)


async def plain_page(
    db: Database,
    rs: S.RecordSpec,
    plan: Plan,
    workspace_id: str,
    after: tuple[Any, str] | None,
    *,
    width: int = 0,
    numbers: Iterable[int] = (),
) -> tuple[list[Row], int, bool]:
    """A list page with no search, as `page` answers it, walking the sort column's index:
    the page and its capped total from one statement; a page past the last row counts
    alone. `width`, `numbers`: as Database.many takes them."""
    d = db.dialect
    sql, params = sql_query.page_sql(d, rs, plan, workspace_id, after, with_count=True)
    rows = await db.many(sql, params, width=width, numbers=numbers)
    if rows:
        return rows, int(rows[0][-1]), False
    if after is None:
        return [], 0, False
    row = await db.one(*sql_query.count_sql(d, rs, plan, workspace_id))
    assert row is not None
    return [], int(row[0]), False


async def search_plan(
    db: Database, rs: S.RecordSpec, workspace_id: str, plan: Plan, upto: int | None
) -> object:
    """How the backend finds `plan.search` within the window that ends at `upto`."""
    return await db.dialect.search(db, rs, workspace_id, plan, upto)


async def index(
    tx: Tx, rs: S.RecordSpec, seq: int, workspace_id: str, parts: list[Any], replace: bool
) -> None:
    """A record's search rows: its searchable values in spec order, then text found through
    a link (a contact's company name)."""
    await tx.dialect.index(tx, rs, seq, workspace_id, parts, replace)


async def reindex_many(
    tx: Tx, rs: S.RecordSpec, workspace_id: str, docs: list[tuple[int, list[Any]]]
) -> None:
    await tx.dialect.reindex_many(tx, rs, workspace_id, docs)


async def max_seq(db: Database, rs: S.RecordSpec, workspace_id: str) -> int:
    """The workspace's newest row id of a type (an index lookup): a search's first page pins
    its window there. The workspace's own, not the table's: another tenant's writes say
    nothing here, and cost nothing."""
    row = await db.one(
        "SELECT coalesce(max(seq), 0) FROM %s WHERE workspace_id = ?" % rs.table, (workspace_id,)
    )
    return int(row[0]) if row else 0
