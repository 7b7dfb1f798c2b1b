"""A search's cost depends on the caller's workspace alone: in a workspace with no matches,
`search=zqvx&sort=name` took 11.9 ms when another tenant held 20,000 matching records and
1.5 ms when none did, telling one tenant about another's data. Measured here with a counter,
not a clock: what each statement of a search visits does not grow with another workspace's
matches. SQLite: the index entries its full-text queries read (the row lists of every token a
MATCH names, counted with fts5vocab) and, for its other statements, virtual-machine steps
(a progress handler called at every step); PostgreSQL: the rows and index entries every plan
node visits (EXPLAIN ANALYZE). What may differ by a little between the two measurements is
the shape of what is shared (an index a level deeper) or the index of this workspace's the
planner picks (never more than this workspace's 40 records: SLACK); walking the other
tenant's 1,500 matches, as the search did before, adds thousands."""

from __future__ import annotations

import json
import re
import sqlite3
from typing import Any

import asyncpg
from records_util import create

from crmkit.store.postgres.db import numbered

QUERIES = [
    "zqvx&sort=name",  # a sort: the trigram path
    "zqvx",  # a short-ish word: the trigram path
    "zqvxab",  # every word five letters or more, no filters: SQLite's word path
    "zq",  # shorter than a trigram: the workspace's records, newest first
    "zqvxab&stage=lead",  # a filter
]


async def statements(api: Any, token: str, query: str) -> list[tuple[str, list[Any]]]:
    """Every read the search request runs, as (sql, params)."""
    db = api.rt.db
    seen: list[tuple[str, list[Any]]] = []
    originals = {name: getattr(db, name) for name in ("all", "one", "many")}

    def spy(name: str) -> Any:
        async def run(sql: str, params: Any = (), **kw: Any) -> Any:
            seen.append((sql, list(params)))
            return await originals[name](sql, params, **kw)

        return run

    for name in originals:
        setattr(db, name, spy(name))
    try:
        r = await api.json("GET", f"/contacts?search={query}", token)
    finally:
        for name, fn in originals.items():
            setattr(db, name, fn)
    assert r.status_code == 200 and r.json()["data"] == [], r.text
    return seen


TOKEN = re.compile(r"\b([0-9a-f]{16}[0-9][0-9a-z]*)(\*?)")
MATCHED = re.compile(r"FROM (\w+) .*?\b\1 MATCH \?")


def sqlite_visits(path: str, found: list[tuple[str, list[Any]]]) -> int:
    """Index entries the full-text queries read, and steps of the other statements."""
    total = 0
    conn = sqlite3.connect(path)
    try:
        for sql, params in found:
            tables = MATCHED.findall(sql)
            if not tables:
                total += _steps(conn, sql, params)
                continue
            matches = [p for p in params if isinstance(p, str) and TOKEN.search(p)]
            for table, match in zip(tables, matches, strict=False):
                conn.execute(
                    f"CREATE VIRTUAL TABLE IF NOT EXISTS temp.v_{table}"
                    f" USING fts5vocab(main, {table}, 'row')"
                )
                for token, star in set(TOKEN.findall(match)):
                    if star:  # a prefix query reads every term that starts so
                        row = conn.execute(
                            f"SELECT coalesce(sum(doc), 0) FROM temp.v_{table}"
                            " WHERE term >= ? AND term < ?",
                            (token, token + "~"),
                        ).fetchone()
                    else:
                        row = conn.execute(
                            f"SELECT coalesce(sum(doc), 0) FROM temp.v_{table} WHERE term = ?",
                            (token,),
                        ).fetchone()
                    total += int(row[0])
    finally:
        conn.close()
    return total


def _steps(conn: sqlite3.Connection, sql: str, params: list[Any]) -> int:
    steps = 0

    def count() -> int:
        nonlocal steps
        steps += 1
        return 0

    conn.set_progress_handler(count, 1)
    try:
        conn.execute(sql, params).fetchall()
    finally:
        conn.set_progress_handler(None, 1)
    return steps


def _visited(node: dict[str, Any]) -> int:
    loops = int(node.get("Actual Loops", 1))
    here = int(node.get("Actual Rows", 0)) * loops
    here += int(node.get("Rows Removed by Filter", 0)) + int(
        node.get("Rows Removed by Index Recheck", 0)
    )
    return here + sum(_visited(child) for child in node.get("Plans", []))


async def postgres_visits(url: str, found: list[tuple[str, list[Any]]]) -> int:
    conn = await asyncpg.connect(url, server_settings={"jit": "off"})
    try:
        total = 0
        for sql, params in found:
            rows = await conn.fetch("EXPLAIN (ANALYZE, FORMAT JSON) " + numbered(sql), *params)
            total += _visited(json.loads(rows[0][0])[0]["Plan"])
        return total
    finally:
        await conn.close()


SLACK = 100  # the workspace's own 40 records, twice, and some


async def work(api: Any, token: str, db_path: str) -> dict[str, int]:
    """The counter for each query, on indexes as compact as they get (SQLite: one FTS5
    segment, not however many a bulk write left; PostgreSQL: fresh statistics)."""
    db = api.rt.db
    if db.dialect.name == "sqlite":
        if db._stats is not None:
            await db._stats  # the server's own ANALYZE, if one was due, is done
        async with db.write() as tx:
            for table in ("contacts", "companies", "deals"):
                await tx.execute(f"INSERT INTO {table}_words ({table}_words) VALUES ('optimize')")
            # one planner for both measurements: none of the statistics a growing table
            # brings (they choose other, equally scoped, plans)
            if await tx.one("SELECT 1 FROM sqlite_master WHERE name = 'sqlite_stat1'"):
                await tx.execute("DELETE FROM sqlite_stat1")
    else:
        conn = await asyncpg.connect(db_path)
        try:
            await conn.execute("ANALYZE")
        finally:
            await conn.close()
    out = {}
    for query in QUERIES:
        found = await statements(api, token, query)
        if api.rt.db.dialect.name == "sqlite":
            out[query] = sqlite_visits(db_path, found)
        else:
            out[query] = await postgres_visits(db_path, found)
    return out


async def test_a_search_costs_the_same_whatever_other_workspaces_hold(api, db_path):
    mine = await api.sign_in("ann@acme.com")
    theirs = await api.sign_in("zed@elsewhere.com")
    for i in range(40):  # this workspace's own records, none of them a match
        await create(api, mine, "contacts", {"name": f"Person {i}", "email": f"p{i}@acme.com"})
    before = await work(api, mine, db_path)
    # Another tenant's records, every one a match of every query above.
    db = api.rt.db
    from crmkit import spec as S
    from crmkit.store import records

    ws = (await api.json("GET", "/whoami", theirs)).json()["data"]["workspace"]["handle"]
    ws = ws.split("/")[1]
    async with db.write() as tx:
        for i in range(1500):
            seq, _ = await records.insert(
                tx,
                S.CONTACT,
                "c_zq%010d" % i,
                ws,
                {
                    "name": f"Zqvx Zqvxab Zq {i}",
                    "stage": "lead",
                    "created_at": 0,
                    "updated_at": 0,
                    "version": 1,
                },
            )
            await records.index(tx, S.CONTACT, seq, ws, [f"Zqvx Zqvxab Zq {i}"], False)
    r = await api.json("GET", "/contacts?search=zqvx&limit=1", theirs)
    assert r.json()["total"] == 1000 and r.json().get("total_is_lower_bound")  # they match
    after = await work(api, mine, db_path)
    grown = {q: after[q] - before[q] for q in QUERIES}
    assert all(g <= SLACK for g in grown.values()), (before, after)
    assert all(v > 0 for v in before.values())  # the counter counts something
