"""Copy everything one database holds into another, of either backend (`crmkit copy`).

What is copied: the tables both backends share (TABLES), row for row, with the columns both
have, read from one snapshot of the source (a running server may keep writing) and written in
one transaction (all or nothing). What each backend derives from them is rebuilt by the target
itself: its search rows (reindexed from the records), its record counts (kept by its
triggers) and, on SQLite, the facet index (its triggers) and the planner's statistics.

Then every table is verified: the same number of rows and the same checksum (SHA-256 over
the rows in key order, each value written out with its type) on both sides.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass
from typing import Any

from crmkit import spec as S
from crmkit.store.base import Database, Row, Snapshot, Tx

# (table, key columns) in the order that satisfies every reference between them.
TABLES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("meta", ("key",)),
    ("users", ("id",)),
    ("workspaces", ("id",)),
    ("memberships", ("workspace_id", "user_id")),
    ("tokens", ("id",)),
    ("codes", ("key",)),
    ("rate_hits", ("key", "at")),
    ("audit", ("seq",)),
    ("invites", ("id",)),
    ("companies", ("seq",)),
    ("contacts", ("seq",)),
    ("deals", ("seq",)),
    ("activities", ("seq",)),
    ("search_terms", ("workspace_id", "kind", "variant", "term")),
    ("oauth_clients", ("id",)),
    ("oauth_grants", ("id",)),
    ("oauth_codes", ("hash",)),
    ("oauth_refresh_tokens", ("hash",)),
    ("oauth_used_nonces", ("nonce",)),
    ("idempotency", ("workspace_id", "user_id", "key")),
    ("rate_buckets", ("key",)),
)
# Rows neither copied nor compared: SQLite's record of its planner statistics (wrong for
# another database), the secret key an older version kept in the database (crmkit/keys.py:
# it belongs in the configuration), and SQLite's word index's mark of long runs in the typo
# vocabulary (searchtext.LONG_RUNS), which its reindex writes again.
_OWN_ROWS = {
    "meta": "key NOT IN ('planner_stats.rowids', 'secret_key')",
    "search_terms": "variant <> ''",
}
BATCH = 5000

Progress = Callable[[str, int, int], None]  # (table, rows done, rows in all)


class CopyError(Exception):
    """The copy cannot start or did not verify; the message says why."""


@dataclass
class Verified:
    table: str
    rows: int
    checksum: str


async def _columns(source: Database, target: Database, table: str) -> list[str]:
    have = (await source.dialect.tables(source)).get(table)
    want = (await target.dialect.tables(target)).get(table)
    if have is None or want is None:
        raise CopyError(f"table {table} is missing on the {'source' if have is None else 'target'}")
    return [c for c in have if c in want and c not in _DERIVED_COLUMNS]


# PostgreSQL's generated columns of the record tables, computed from the others.
_DERIVED_COLUMNS = frozenset({"search_grams", "tags_j", "custom_j"})


def _select(table: str, columns: list[str], keys: tuple[str, ...]) -> str:
    where = " WHERE " + _OWN_ROWS[table] if table in _OWN_ROWS else ""
    return "SELECT %s FROM %s%s ORDER BY %s" % (", ".join(columns), table, where, ", ".join(keys))


async def empty(db: Database) -> str | None:
    """The first table that holds rows (a copy's target must hold none), or None."""
    for table, _ in TABLES:
        if table == "meta":
            continue
        row = await db.one("SELECT count(*) FROM (SELECT 1 FROM %s LIMIT 1) AS any_row" % table)
        if row is not None and int(row[0]):
            return table
    return None


async def copy(source: Database, target: Database, progress: Progress) -> list[Verified]:
    """Copy every table of `source` into the empty `target`, rebuild what the target derives,
    and verify. Both are open. Returns each table's verified count and checksum."""
    busy = await empty(target)
    if busy is not None:
        raise CopyError(
            f"the target is not empty ({busy} has rows): copy into a new, empty database"
        )
    plan = [(t, keys, await _columns(source, target, t)) for t, keys in TABLES]
    async with source.snapshot() as snap:
        totals = {t: await _count(snap, t) for t, _, _ in plan}
        async with target.write(heavy=True) as tx:
            # The target's own meta rows (a server started on it once) give way to the copy's.
            await tx.execute("DELETE FROM meta WHERE NOT (%s)" % _OWN_ROWS["meta"])
            for table, keys, columns in plan:
                done = 0
                progress(table, 0, totals[table])
                async for batch in snap.stream(_select(table, columns, keys), (), BATCH):
                    await tx.insert_rows(table, columns, batch)
                    done += len(batch)
                    progress(table, done, totals[table])
            for rs in S.SPECS.values():
                await _rebuild_search(tx, rs, progress)
            await _continue_numbering(tx, target)
        return await verify(snap, target, plan)


async def _count(snap: Snapshot, table: str) -> int:
    """The rows the copy carries (its own rows left out, as `_select` leaves them)."""
    where = " WHERE " + _OWN_ROWS[table] if table in _OWN_ROWS else ""
    rows = await snap.all("SELECT count(*) FROM %s%s" % (table, where))
    return int(rows[0][0])


async def _rebuild_search(tx: Tx, rs: S.RecordSpec, progress: Progress) -> None:
    """The target's own search rows for every record of a type, with a progress bar where
    there are any (none on PostgreSQL, whose index follows from the search columns the copy
    carries)."""
    total_row = await tx.one("SELECT count(*) FROM %s" % rs.table)
    total, label = int(total_row[0]) if total_row else 0, rs.table + " (search)"
    done = 0

    def step(n: int) -> None:
        nonlocal done
        done += n
        progress(label, done, total)

    await tx.dialect.rebuild_search(tx, rs, step)


async def _continue_numbering(tx: Tx, target: Database) -> None:
    """New rows take seq values after the copied ones (SQLite's AUTOINCREMENT follows by
    itself; PostgreSQL's identity sequences are set), and PostgreSQL's planner gets its
    statistics now rather than at autovacuum's next pass (SQLite's are taken when a server
    starts on the copy)."""
    if target.dialect.name != "postgresql":
        return
    for table in ("audit", "companies", "contacts", "deals", "activities"):
        await tx.execute(
            "SELECT setval(pg_get_serial_sequence(?, 'seq'), coalesce(max(seq), 0) + 1, false)"
            " FROM %s" % table,
            (table,),
        )
    await tx.execute("ANALYZE")


def _encode(value: Any) -> bytes:
    """A value with its type, so that 1 and '1' (or b'1') never checksum alike."""
    if value is None:
        return b"n"
    if isinstance(value, bool):
        return b"b1" if value else b"b0"
    if isinstance(value, int):
        return b"i%d" % value
    if isinstance(value, float):
        return b"f" + repr(value).encode()
    if isinstance(value, bytes | bytearray | memoryview):
        return b"x" + bytes(value).hex().encode()
    return b"s" + str(value).encode("utf-8", "surrogatepass")


async def checksum(rows: AsyncIterator[list[Row]]) -> tuple[int, str]:
    digest = hashlib.sha256()
    n = 0
    async for batch in rows:
        for row in batch:
            digest.update(b"\x1e".join(_encode(v) for v in row) + b"\x1f")
            n += 1
    return n, digest.hexdigest()


async def verify(
    source: Snapshot, target: Database, plan: Iterable[tuple[str, tuple[str, ...], list[str]]]
) -> list[Verified]:
    """Count and checksum every table on both sides; raise CopyError on any difference."""
    out = []
    async with target.snapshot() as copied:
        for table, keys, columns in plan:
            sql = _select(table, columns, keys)
            want = await checksum(source.stream(sql, (), BATCH))
            got = await checksum(copied.stream(sql, (), BATCH))
            if want != got:
                raise CopyError(
                    f"{table} did not verify: {want[0]} rows (sha256 {want[1][:12]}) at the"
                    f" source, {got[0]} (sha256 {got[1][:12]}) in the copy"
                )
            out.append(Verified(table, want[0], want[1]))
    return out


async def dump(db: Database) -> dict[str, tuple[int, str]]:
    """Every shared table's row count and checksum (what a copy carries), for comparisons."""
    out = {}
    tables = await db.dialect.tables(db)
    async with db.snapshot() as snap:
        for table, keys in TABLES:
            columns = [c for c in tables[table] if c not in _DERIVED_COLUMNS]
            out[table] = await checksum(snap.stream(_select(table, columns, keys), (), BATCH))
    return out
