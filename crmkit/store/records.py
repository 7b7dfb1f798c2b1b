"""SQL for contacts, companies and deals, generic over crmkit/spec.py.

Rows come back as tuples in `sql_query.columns(rs)` order: (id, field, field, ...). Table and
column names come only from the spec; values are always bound.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from crmkit import spec as S
from crmkit.query import Filter, Plan
from crmkit.store import facets, search, sql_query, words
from crmkit.store.db import Database, Row, Tx
from crmkit.store.sql_query import (
    COUNT_CAP,
    SEARCH_CANDIDATES,
    SearchSql,
    columns,
    count_sql,
    list_columns,
    narrow_candidate,
    page_numbers,
    page_sql,
    page_width,
)

Conn = Database | Tx


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


async def by_upsert_key(tx: Tx, rs: S.RecordSpec, workspace_id: str, value: str) -> Row | None:
    if rs.upsert_key == "email":
        return await tx.one(
            "SELECT %s FROM contacts WHERE workspace_id = ? AND email IS NOT NULL"
            " AND lower(email) = ?" % columns(rs),
            (workspace_id, value.lower()),
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
        "SELECT id FROM companies WHERE workspace_id = ? AND name = ? COLLATE NOCASE"
        " ORDER BY created_at, id LIMIT 1",
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


async def delete(tx: Tx, rs: S.RecordSpec, workspace_id: str, id_: str) -> int:
    """Delete one record; its search row and activities go with it (triggers in 0002).
    Returns how many activities were removed."""
    row = await tx.one(
        "SELECT count(*) FROM activities WHERE target_id = ? AND workspace_id = ?",
        (id_, workspace_id),
    )
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
    found: SearchSql | words.WordSearch | None,
) -> tuple[list[Row], int, bool]:
    """Up to limit + 1 rows in `list_columns` order, each followed by its sort key and the
    capped total (the list layout ignores what follows its columns); the total; and whether
    more may match than it says (a search whose candidate window is full: matches older
    than the window are never looked at)."""
    if isinstance(found, words.WordSearch):
        return await _word_page(db, rs, plan, found, after)
    if found is None and facets.probe(plan) is not None:
        paged = await _facet_page(db, rs, plan, workspace_id, after)
        if paged is not None:
            return paged
    if found is None and narrow_candidate(rs, plan):
        # Counted first, on the range's own index: few matches are sorted after filtering.
        sql, params = count_sql(rs, plan, workspace_id, None)
        row = await db.one(sql, params)
        total = int(row[0]) if row else 0
        if total == 0:
            return [], 0, False
        sort_after = total <= COUNT_CAP
        # The page counts again: the total then comes from the same snapshot as its rows.
        sql, params = page_sql(rs, plan, workspace_id, after, None, True, sort_after)
        rows = await _page_rows(db, rs, sql, params, search=False)
        return rows, int(rows[0][-1]) if rows else total, False
    sql, params = page_sql(rs, plan, workspace_id, after, found, with_count=True)
    rows = await _page_rows(db, rs, sql, params, search=found is not None)
    if rows:
        first = rows[0]
        return rows, int(first[-1]), found is not None and first[-3] >= SEARCH_CANDIDATES
    if after is None and found is None:
        return [], 0, False
    sql, params = count_sql(rs, plan, workspace_id, found)
    row = await db.one(sql, params)
    assert row is not None
    window_full = found is not None and row[1] >= SEARCH_CANDIDATES
    return [], int(row[0]), window_full


# A tag or custom value this many records have, beside other filters, is still read from the
# facet index when the other filters match more: walking the sort order with the JSON check
# reads the whole workspace when they leave few of its records (`custom.seats=7&stage=lead`:
# 93 ms at 100k contacts; 7 ms from the index), while each record read from the index costs
# ~3.5 us (10,000 of them beside stage=lead took 35 ms against the walk's 15).
DRIVE_CAP = 3_000


async def _facet_page(
    db: Database,
    rs: S.RecordSpec,
    plan: Plan,
    workspace_id: str,
    after: tuple[Any, str] | None,
) -> tuple[list[Row], int, bool] | None:
    """`page` for a list with filters the facet index can serve (store/facets.py), from the
    rarest of them; or None where walking the sort order with the JSON check, or another
    index, is the better plan."""

    async def counted(f: Filter, cap: int) -> list[int]:
        # A lone filter's count becomes its total: it counts records, not index rows.
        sql, params = facets.counts_sql(rs, f, workspace_id, cap, joined=facets.exact(f, plan))
        return [int(r[-1]) for r in await db.all(sql, params)]

    # The rarest of the filters the index serves (a later one may be far rarer).
    counts, indexed = min(
        [(await counted(f, COUNT_CAP + 1), f) for f in facets.candidates(plan)],
        key=lambda pair: min(pair[0]),
    )
    exact = facets.exact(indexed, plan)
    if min(counts) > COUNT_CAP and not exact:
        counts = await counted(indexed, DRIVE_CAP + 1)
        least = min(counts)
        others = [f for f in plan.filters if f is not indexed]
        if least <= DRIVE_CAP and any(sql_query.on_own_index(rs, f) for f in others):
            # Another filter has an index of its own: read from the smaller side.
            rest = replace(plan, filters=tuple(others))
            row = await db.one(*count_sql(rs, rest, workspace_id, None, cap=least + 1))
            if row is not None and int(row[0]) <= least:
                return None
    least = min(counts)
    if least == 0:
        return [], 0, False
    if least <= COUNT_CAP or (least <= DRIVE_CAP and not exact):
        # Few enough: the index finds them, and they are sorted after.
        plan, indexed = facets.rarest_first(plan, indexed, counts)
        sql, params = page_sql(rs, plan, workspace_id, after, None, True, True, indexed)
        rows = await _page_rows(db, rs, sql, params, search=False)
        if rows:
            return rows, int(rows[0][-1]), False
        row = await db.one(*count_sql(rs, plan, workspace_id, None, indexed))
        return [], int(row[0]) if row else 0, False
    if exact:
        # A common value, and the list's only filter: its total is already counted.
        sql, params = page_sql(rs, plan, workspace_id, after, None, with_count=False)
        return await _page_rows(db, rs, sql, params, search=False), COUNT_CAP + 1, False
    return None


async def _page_rows(
    db: Database, rs: S.RecordSpec, sql: str, params: list[Any], *, search: bool
) -> list[Row]:
    width, numbers = page_width(rs, search), page_numbers(rs, search)
    return await db.many(sql, params, width=width, numbers=numbers)


async def _word_page(
    db: Database,
    rs: S.RecordSpec,
    plan: Plan,
    found: words.WordSearch,
    after: tuple[Any, str] | None,
) -> tuple[list[Row], int, bool]:
    """`page` for a search the word index answers: the same rows, total and window."""
    key = int(after[0]) if after is not None else None
    columns = list_columns(rs, rs.table)
    sql, params = words.page_sql(found, columns, plan.limit, key, SEARCH_CANDIDATES)
    rows = await _page_rows(db, rs, sql, params, search=True)
    if rows:
        return rows, int(rows[0][-1]), rows[0][-3] >= SEARCH_CANDIDATES
    row = await db.one(*words.count_sql(found, SEARCH_CANDIDATES))
    assert row is not None
    return [], int(row[0]), row[1] >= SEARCH_CANDIDATES


async def search_sql(
    db: Database, rs: S.RecordSpec, workspace_id: str, plan: Plan, upto: int | None
) -> SearchSql | words.WordSearch:
    """How to find `plan.search`: from the word index when it answers it (every word five
    letters or more, no filters, ranked), else from the trigram index."""
    query = plan.search or ""
    typos, long_runs = await search.typo_terms(db, rs, workspace_id, search.words(query))
    qwords = search.words(query)[: search.MAX_WORDS]
    if not plan.filters and not plan.explicit_sort and words.eligible(qwords, typos):
        low = search.key(upto) if upto is not None else -(1 << 62)
        return words.WordSearch(rs, workspace_id, query, qwords, typos, low, long_runs)
    return search.build(rs, query, typos, upto)


async def max_seq(db: Database, rs: S.RecordSpec) -> int:
    """The newest row id of a type (a rowid lookup): a search's first page pins its window."""
    row = await db.one("SELECT coalesce(max(seq), 0) FROM %s" % rs.table)
    return int(row[0]) if row else 0
