"""The facet index (migration 0008): kept equal to every record's tags and custom values
through every kind of write, and used by lists only where it is faster, with the same rows and
totals either way."""

from __future__ import annotations

import json
import random
import re
from pathlib import Path
from typing import Any

import pytest

from crmkit import query
from crmkit.spec import SPECS
from crmkit.store import records as store
from crmkit.store.sql_query import page_sql
from crmkit.store.sqlite import facets, lists
from crmkit.store.sqlite.db import Database
from crmkit.store.sqlite.dialect import DIALECT
from crmkit.store.sqlite.jsonsql import HAS_TAG
from tests.records_util import bare, create, reapply

TABLES = ("contacts", "companies", "deals")


async def trace_reads(db: Database) -> list[str]:
    """Every statement the reader threads run from now on (list pages read there)."""
    traced: list[str] = []
    for reader in db._readers:
        await reader.set_trace_callback(traced.append)
    return traced


def canonical(rows: Any) -> list[tuple[Any, ...]]:
    return sorted((tuple(r) for r in rows), key=repr)  # values of mixed types


async def index_rows(db: Database, table: str, facet: str = "%") -> list[tuple[Any, ...]]:
    return canonical(
        await db.all(
            f"SELECT workspace_id, facet, value, seq FROM {table}_facets WHERE facet LIKE ?",
            (facet,),
        )
    )


async def json_rows(db: Database, table: str) -> list[tuple[Any, ...]]:
    """What the index must hold, worked out here the way the filters read the JSON: a row per
    distinct tag, and per top-level custom key a filter can name whose json_extract() (what
    the filter compares) is not null."""
    rows = await db.all(
        f"SELECT DISTINCT r.workspace_id, 'tags', j.value, r.seq FROM {table} r,"
        " json_each(r.tags) j WHERE json_valid(r.tags) AND j.value IS NOT NULL"
    )
    for ws, seq, text in await db.all(
        f"SELECT workspace_id, seq, custom FROM {table}"
        " WHERE json_valid(custom) AND json_type(custom) = 'object'"
    ):
        for key in json.loads(text):
            if not re.fullmatch(r"[A-Za-z0-9_-]{1,64}", key):
                continue  # no filter can name it
            row = await db.one("SELECT json_extract(?, ?)", (text, f'$."{key}"'))
            if row is not None and row[0] is not None:
                rows.append((ws, "custom." + key, row[0], seq))
    return canonical(rows)


async def assert_in_step(db: Database) -> None:
    for table in TABLES:
        assert await index_rows(db, table) == await json_rows(db, table), table


@pytest.mark.sqlite_only
async def test_the_index_follows_every_write(api: Any) -> None:
    token = await api.sign_in("facets@acme.com")
    db = api.rt.db
    made = {
        "contacts": await create(api, token, "contacts", {"name": "A", "email": "a@x.com"}),
        "companies": await create(
            api, token, "companies", {"name": "C", "tags": ["b2b"], "custom": {"tier": "gold"}}
        ),
        "deals": await create(api, token, "deals", {"title": "D", "tags": ["q4", "big"]}),
    }
    await assert_in_step(db)
    assert len(await index_rows(db, "deals")) == 2 and len(await index_rows(db, "companies")) == 2
    for plural, rec in made.items():
        path = f"/{plural}/{bare(rec['handle'])}"
        for change in (
            {"tags": ["vip", "eu"], "custom": {"tier": "gold", "seats": 10, "ok": True}},
            {"tags": ["eu"], "custom": {"tier": "silver", "seats": "10", "list": [1, {"a": 2}]}},
            {"tags": None, "custom": {"tier": None, "n": 1.5}},
            {"tags": ["x", "x", "y"], "custom": None},
            {"custom": {"tier": "gold"}},
        ):
            r = await api.json("PATCH", path, token, json=change)
            assert r.status_code == 200, r.text
            await assert_in_step(db)
        r = await api.json("PATCH", path, token, json={"name": "Renamed", "title": "Renamed"})
        await assert_in_step(db)  # a write that leaves tags and custom alone
    assert [r[1:3] for r in await index_rows(db, "deals", "custom.%")] == [("custom.tier", "gold")]
    # an upsert that replaces the tags and custom of an existing contact
    await create(
        api, token, "contacts", {"email": "A@X.com", "tags": ["merged"], "custom": {"k": 7}}
    )
    await assert_in_step(db)
    assert [r[1:3] for r in await index_rows(db, "contacts")] == [
        ("custom.k", 7),
        ("tags", "merged"),
    ]
    # a bad write changes nothing, the index included
    before = await index_rows(db, "contacts")
    path = f"/contacts/{bare(made['contacts']['handle'])}"
    r = await api.json("PATCH", path, token, json={"tags": ["ok"], "custom": {}, "nope": 1})
    assert r.status_code == 400 and await index_rows(db, "contacts") == before
    # writes by other means follow the same rules; what is not JSON (or not an object, for
    # custom) indexes nothing
    async with db.write() as tx:
        seq = (await tx.one("SELECT seq FROM contacts"))[0]  # type: ignore[index]
        for tags, custom in (
            ("not json", "not json"),
            ('["back", 7, null]', "[1, 2]"),
            ('"lone"', '{"a": null, "b": false, "c": "x"}'),
        ):
            await tx.execute(
                "UPDATE contacts SET tags = ?, custom = ? WHERE seq = ?", (tags, custom, seq)
            )
    await assert_in_step(db)
    assert [r[1:3] for r in await index_rows(db, "contacts")] == [
        ("custom.b", 0),
        ("custom.c", "x"),
        ("tags", "lone"),
    ]
    # a delete takes its rows along
    r = await api.json("DELETE", path, token)
    await api.delete(f"{path}?confirm={r.json()['error']['confirm']}", token)
    await assert_in_step(db)
    assert await index_rows(db, "contacts") == []
    # and so does a workspace delete, through the records' cascade
    ws = (await db.one("SELECT workspace_id FROM deals"))[0]  # type: ignore[index]
    async with db.write() as tx:
        await tx.execute("DELETE FROM workspaces WHERE id = ?", (ws,))
    for table in TABLES:
        assert await index_rows(db, table) == []


@pytest.mark.sqlite_only
async def test_migration_0008_indexes_what_is_already_stored(api: Any) -> None:
    token = await api.sign_in("old@acme.com")
    for i in range(5):
        body = {"name": f"N{i}", "tags": ["t", f"t{i % 2}"], "custom": {"i": i, "odd": i % 2}}
        await create(api, token, "contacts", body)
    await create(api, token, "deals", {"title": "D", "tags": ["q4"], "custom": {"x": "y"}})
    db = api.rt.db
    expected = {t: await json_rows(db, t) for t in TABLES}
    assert len(expected["contacts"]) == 20 and len(expected["deals"]) == 2
    await reapply(db, 8)
    assert {t: await index_rows(db, t) for t in TABLES} == expected
    r = await api.json("GET", "/contacts?tags=t1&sort=name", token)
    assert [d["name"] for d in r.json()["data"]] == ["N1", "N3"]
    r = await api.json("GET", "/contacts?custom.odd=0&sort=name", token)
    assert [d["name"] for d in r.json()["data"]] == ["N0", "N2", "N4"]


@pytest.fixture
async def tagged(tmp_path: Path) -> Any:
    """1,100 contacts in w_1 tagged "common"; every 100th also "rare", every 7th "seventh";
    custom: seats = n % 20 (a number), tier "gold" on every 100th, "silver" on the rest."""
    db = Database(str(tmp_path / "tags.db"))
    await db.open()
    db.idle_turn = 0.0  # pages on the reader threads, where they are traced
    async with db.write() as tx:
        await tx.execute(
            "INSERT INTO workspaces (id, name, plan, created_at) VALUES ('w_1', 'w', 'free', 0)"
        )
        rows = []
        for n in range(1100):
            tags = ["common"] + (["rare"] if n % 100 == 0 else []) + (["seventh"] * (n % 7 == 0))
            custom = {"seats": n % 20, "tier": "gold" if n % 100 == 0 else "silver"}
            rows.append(
                (f"c_{n:05d}", f"name {n % 50:02d}", json.dumps(tags), json.dumps(custom), n, n)
            )
        await tx.executemany(
            "INSERT INTO contacts (id, workspace_id, name, tags, custom, created_at, updated_at)"
            " VALUES (?, 'w_1', ?, ?, ?, ?, ?)",
            rows,
        )
    traced = await trace_reads(db)
    try:
        yield db, traced
    finally:
        await db.close()


def expected(test: Any, sort: str) -> list[str]:
    """The ids of the fixture's contacts that pass `test`, in the list's order."""
    ns = [n for n in range(1100) if test(n)]
    if sort == "-created_at":
        return [f"c_{n:05d}" for n in sorted(ns, reverse=True)]
    return [f"c_{n:05d}" for n in sorted(ns, key=lambda n: (f"name {n % 50:02d}", f"c_{n:05d}"))]


async def pages(db: Database, params: list[tuple[str, str]], count: int) -> tuple[list[str], int]:
    """The ids of the first `count` pages of a contacts list, following its cursors."""
    contacts = SPECS["contact"]
    plan = query.parse(contacts, params, 2000)
    seen: list[str] = []
    totals = set()
    after = None
    for _ in range(count):
        rows, total, _more = await store.page(db, contacts, plan, "w_1", after, None)
        totals.add(total)
        page = rows[: plan.limit]
        seen += [row[0] for row in page]
        if len(rows) <= plan.limit:
            break
        after = (page[-1][-2], page[-1][0])  # the sort key and id, as a cursor carries them
    assert len(totals) == 1, totals
    return seen, totals.pop()


@pytest.mark.parametrize(
    ("params", "test", "total", "from_index"),
    [
        # few: found through the index, sorted afterwards
        ([("tags", "rare")], lambda n: n % 100 == 0, 11, "'tags' AND value = 'rare'"),
        ([("tags", "in:rare,none")], lambda n: n % 100 == 0, 11, "value IN ('rare', 'none')"),
        ([("custom.tier", "gold")], lambda n: n % 100 == 0, 11, "value IN ('gold')"),
        ([("custom.seats", "7")], lambda n: n % 20 == 7, 55, "value IN (7, '7')"),
        ([("custom.seats", "in:7,8")], lambda n: n % 20 in (7, 8), 110, "IN (7, '7', 8, '8')"),
        # the rarest of several tags from the index, the others checked on each record
        ([("tags", "common,seventh,rare")], lambda n: n % 700 == 0, 2, "value = 'rare'"),
        ([("tags", "rare"), ("tags", "seventh")], lambda n: n % 700 == 0, 2, "value = 'rare'"),
        ([("tags", "seventh"), ("sort", "name")], lambda n: n % 7 == 0, 158, "= 'seventh'"),
        ([("custom.tier", "gold"), ("tags", "seventh")], lambda n: n % 700 == 0, 2, "'gold'"),
        # more than the count's cap, beside other filters (or several tags): from the index
        # still, up to DRIVE_CAP (see the next test for more)
        ([("tags", "in:common,rare")], lambda n: True, 1001, "IN ('common', 'rare')"),
        ([("tags", "in:common,rare"), ("name", "like:name")], lambda n: True, 1001, "'rare')"),
        # ... unless a filter with an index of its own matches fewer: then that index
        ([("tags", "common"), ("name", "name 07")], lambda n: n % 50 == 7, 22, None),
        # the rarest of several filters the index serves, wherever it stands
        (
            [("custom.seats", "gte:0"), ("custom.tier", "gold")],
            lambda n: n % 100 == 0,
            11,
            "'gold'",
        ),
        # a common value as the only filter: the sort order walked, the total not counted again
        ([("tags", "common")], lambda n: True, 1001, None),
        ([("tags", "common"), ("sort", "name")], lambda n: True, 1001, None),
        ([("custom.tier", "silver")], lambda n: n % 100 != 0, 1001, None),
        ([("custom.tier", "in:silver,gold"), ("sort", "name")], lambda n: True, 1001, None),
        # none: answered from the index alone
        ([("tags", "none")], lambda n: False, 0, ""),
        ([("tags", "common,none")], lambda n: False, 0, ""),
        ([("custom.seats", "20")], lambda n: False, 0, ""),
        ([("custom.nokey", "x"), ("tags", "common")], lambda n: False, 0, ""),
    ],
)
async def test_lists_by_tag_or_custom_value_page_alike_by_either_path(
    tagged: Any, params: list[tuple[str, str]], test: Any, total: int, from_index: str | None
) -> None:
    db, traced = tagged
    sort = dict(params).get("sort", "-created_at")
    seen, counted = await pages(db, [*params, ("limit", "9")], 3)
    assert counted == total
    assert seen == expected(test, sort)[:27]
    pages_read = [sql for sql in traced if "LIMIT 10" in sql]
    index_read = [sql for sql in pages_read if "FROM contacts_facets WHERE" in sql]
    if from_index:  # every page through the index, sorted after, one lookup only
        assert pages_read and index_read == pages_read
        for sql in index_read:  # the page and its count, each with one lookup
            assert sql.count(from_index) == sql.count("FROM contacts_facets") == 2, sql
            assert "ORDER BY +" in sql
    elif from_index is None:
        assert pages_read and not index_read
    else:
        assert not pages_read
    if total == 1001 and from_index is None:  # the index's count stands for the JSON's
        assert not [sql for sql in traced if "LIMIT 1001" in sql]


async def test_past_drive_cap_beside_other_filters_the_sort_order_is_walked(
    tagged: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    db, traced = tagged
    monkeypatch.setattr(lists, "DRIVE_CAP", 1050)  # "common" is on 1,100 contacts
    seen, counted = await pages(db, [("tags", "common"), ("name", "name 07"), ("limit", "9")], 3)
    assert counted == 22 and seen == expected(lambda n: n % 50 == 7, "-created_at")
    pages_read = [sql for sql in traced if "LIMIT 10" in sql]
    assert pages_read and not [sql for sql in pages_read if "contacts_facets" in sql]
    json_walk = "json_each(CASE WHEN json_valid(tags)"
    assert all("LIMIT 1001" in sql and json_walk in sql for sql in pages_read)


async def test_a_cursor_past_the_end_of_a_rare_value_still_counts(tagged: Any) -> None:
    db, _traced = tagged
    contacts = SPECS["contact"]
    for params in ([("tags", "rare")], [("custom.tier", "gold")]):
        plan = query.parse(contacts, params, 2000)
        rows, total, _ = await store.page(db, contacts, plan, "w_1", (0, "c_00000"), None)
        assert rows == [] and total == 11


@pytest.mark.sqlite_only
async def test_the_triggers_find_a_records_rows_by_its_seq(api: Any) -> None:
    """Each trigger's DELETE reads the index on seq: one that matched (facet, value) pairs from
    the old JSON scanned every row of the facet in the workspace (62 ms a PATCH at 100k)."""
    db = api.rt.db
    deletes = []
    for (sql,) in await db.all("SELECT sql FROM sqlite_master WHERE name LIKE '%facets_%'"):
        deletes += [
            "DELETE FROM" + part.split(";")[0].replace("old.seq", "?").replace("new.seq", "?")
            for part in sql.split("DELETE FROM")[1:]
        ]
    assert len(deletes) == 12  # insert, tags, custom and delete, for three types
    for sql in deletes:
        plan = " ".join(str(r[3]) for r in await db.all("EXPLAIN QUERY PLAN " + sql, (1,)))
        assert "USING COVERING INDEX" in plan and "_facets_seq (seq=?)" in plan, (sql, plan)


async def json_path_page(db: Database, params: list[tuple[str, str]]) -> tuple[list[str], int]:
    """The same list read without the facet index (the JSON filters alone)."""
    contacts = SPECS["contact"]
    plan = query.parse(contacts, params, 2000)
    sql, args = page_sql(DIALECT, contacts, plan, "w_1", None, with_count=True)
    rows = await db.all(sql, args)
    return [row[0] for row in rows[: plan.limit]], int(rows[0][-1]) if rows else 0


async def test_writes_by_other_means_index_what_the_filters_read(tagged: Any) -> None:
    """Duplicated and escaped custom keys, repeated tags under INSERT OR ABORT, and INSERT OR
    REPLACE (which fires no delete trigger) all leave lists answering as the JSON does."""
    db, _traced = tagged
    async with db.write() as tx:
        for n, custom, tags in (
            (2000, '{"tier": "dup", "tier": "other"}', '["x", "x"]'),  # json_extract: "dup"
            (2001, '{"se\\u0061ts": 99, "bad key": 1, "": 2}', '["y"]'),  # no filter can see
        ):
            await tx.execute(
                "INSERT OR ABORT INTO contacts (id, workspace_id, name, tags, custom,"
                " created_at, updated_at) VALUES (?, 'w_1', 'x', ?, ?, ?, ?)",
                (f"c_{n}", tags, custom, n, n),
            )
        # replaced under its own seq, then under a new one (a conflict on the id)
        await tx.execute(
            "INSERT OR REPLACE INTO contacts (seq, id, workspace_id, name, tags, custom,"
            " created_at, updated_at) SELECT seq, id, workspace_id, name, '[\"fresh\"]',"
            " '{\"tier\": \"fresh\"}', created_at, updated_at FROM contacts WHERE id = 'c_00100'"
        )
        for n in range(0, 1100, 100):
            if n != 100:
                await tx.execute(
                    "INSERT OR REPLACE INTO contacts (id, workspace_id, name, tags, custom,"
                    " created_at, updated_at) VALUES (?, 'w_1', 'r', '[]', '{}', ?, ?)",
                    (f"c_{n:05d}", n, n),
                )
    for params in (
        [("custom.tier", "dup")],
        [("custom.tier", "other")],
        [("custom.seats", "99")],
        [("tags", "x")],
        [("tags", "rare")],  # every record that had it was replaced
        [("custom.tier", "gold")],
        [("tags", "fresh")],
        [("custom.tier", "fresh")],
        [("tags", "common")],  # 1,100 - 10 replaced: still 1000+, counted on records
    ):
        indexed = await pages(db, [*params, ("limit", "50")], 1)
        assert indexed == await json_path_page(db, [*params, ("limit", "50")]), params
    assert (await pages(db, [("custom.tier", "dup")], 1))[1] == 1
    assert (await pages(db, [("tags", "rare")], 1))[1] == 0


async def test_with_statistics_that_find_workspaces_small_the_lookup_still_leads(
    tagged: Any,
) -> None:
    """Many small workspaces make the statistics say a workspace has ~10 records; SQLite then
    preferred the workspace's own index, testing each record against the lookup."""
    db, _traced = tagged
    async with db.write() as tx:
        await tx.execute("ANALYZE contacts")
        for idx, stat in await tx.all(
            "SELECT idx, stat FROM sqlite_stat1 WHERE tbl = 'contacts' AND idx IS NOT NULL"
        ):
            counts = stat.split()
            small = ["1000000", "10", *(str(min(int(c), 10)) for c in counts[2:])]
            await tx.execute(
                "UPDATE sqlite_stat1 SET stat = ? WHERE tbl = 'contacts' AND idx = ?",
                (" ".join(small), idx),
            )
    await db._reopen_readers()
    contacts = SPECS["contact"]
    for params in ([("tags", "rare")], [("custom.tier", "gold"), ("sort", "name")]):
        plan = query.parse(contacts, params, 2000)
        found = facets.probe(plan)
        assert found is not None
        lookup = (found, facets.lookup_sql(contacts, found, "w_1", HAS_TAG))
        sql, args = page_sql(DIALECT, contacts, plan, "w_1", None, True, True, lookup)
        steps = [str(r[3]) for r in await db.all("EXPLAIN QUERY PLAN " + sql, args)]
        assert steps[0] == "SEARCH contacts USING INTEGER PRIMARY KEY (rowid=?)", steps


def test_tags_are_counted_once_each_and_at_most_a_few() -> None:
    contacts = SPECS["contact"]
    for tags, counted in (("a," * 99 + "a", 1), ("a,b,a,c", 3), ("a,b,c,d,e,f", 4)):
        plan = query.parse(contacts, [("tags", tags)], 0)
        f = facets.probe(plan)
        assert f is not None
        sql, args = facets.counts_sql(contacts, f, "w_1", 1001)
        assert sql.count("SELECT count(*)") == counted and len(args) == 3 * counted
    # the rarest of those counted goes first; the others keep their order
    plan = query.parse(contacts, [("tags", "a,b,c,d,e")], 0)
    f = facets.probe(plan)
    assert f is not None
    new_plan, g = facets.rarest_first(plan, f, [9, 9, 1, 9])
    assert g.value == ("c", "a", "b", "d", "e") and new_plan.filters == (g,)


async def test_random_lists_answer_alike_through_the_index_and_the_json(tmp_path: Path) -> None:
    """Seeded random records (tags; custom numbers, reals, numeric strings, booleans, text,
    lists, nulls) and random tag and custom filters, ranges included, beside other filters
    or alone: the facet path gives the JSON path's rows, order and total."""
    rng = random.Random(7)
    db = Database(str(tmp_path / "random.db"))
    await db.open()
    pool: list[Any] = [0, 1, 2, 5, 10, -3, 1.0, 2.5, "1", "5", "a", "b", "zz", "", True, False]
    pool += [None, [1, 2], {"k": 1}]
    try:
        async with db.write() as tx:
            await tx.execute(
                "INSERT INTO workspaces (id, name, plan, created_at) VALUES ('w_1', 'w', 'free', 0)"
            )
            rows = []
            for n in range(300):
                tags = rng.sample(["t0", "t1", "t2", "t3", "t4"], rng.randint(0, 3))
                custom = {k: rng.choice(pool) for k in ("a", "b") if rng.random() < 0.8}
                rows.append(
                    (
                        f"c_{n:05d}",
                        f"name {n % 9}",
                        rng.choice(["lead", "customer"]),
                        json.dumps(tags) if tags or rng.random() < 0.5 else None,
                        json.dumps(custom),
                        rng.randint(0, 50),
                    )
                )
            await tx.executemany(
                "INSERT INTO contacts (id, workspace_id, name, stage, tags, custom,"
                " created_at, updated_at) VALUES (?, 'w_1', ?, ?, ?, ?, ?, 0)",
                rows,
            )
        values = ["0", "1", "2", "5", "-3", "2.5", "a", "b", "zz", "true", "[1,2]", "x"]
        for _ in range(300):
            key = rng.choice(["a", "b"])
            op = rng.choice(["", "in:", "gt:", "gte:", "lt:", "lte:"])
            value = ",".join(rng.sample(values, 2)) if op == "in:" else rng.choice(values)
            params = [(f"custom.{key}", op + value)]
            if rng.random() < 0.3:
                params = [("tags", rng.choice(["t1", "t0,t2", "in:t3,t4"]))]
            if rng.random() < 0.4:
                params.append(("stage", "lead"))
            if rng.random() < 0.3:
                params.append(("sort", "name"))
            contacts = SPECS["contact"]
            plan = query.parse(contacts, [*params, ("limit", "200")], 2000)
            assert facets.probe(plan) is not None
            rows_, total, _ = await store.page(db, contacts, plan, "w_1", None, None)
            got = ([row[0] for row in rows_[:200]], total)
            assert got == await json_path_page(db, [*params, ("limit", "200")]), params
    finally:
        await db.close()


async def test_beside_a_filter_with_its_own_index_the_smaller_side_is_read(
    tmp_path: Path,
) -> None:
    """2,000 of 4,000 contacts tagged "half": more than the count's cap, under DRIVE_CAP. Beside
    stage=customer (100 contacts, its own index) the stage index is read; beside stage=lead
    (3,900) the tag index is."""
    db = Database(str(tmp_path / "sides.db"))
    await db.open()
    db.idle_turn = 0.0  # pages on the reader threads, where they are traced
    try:
        async with db.write() as tx:
            await tx.execute(
                "INSERT INTO workspaces (id, name, plan, created_at) VALUES ('w_1', 'w', 'free', 0)"
            )
            await tx.executemany(
                "INSERT INTO contacts (id, workspace_id, name, stage, tags, created_at,"
                " updated_at) VALUES (?, 'w_1', 'n', ?, ?, ?, ?)",
                [
                    (
                        f"c_{n:05d}",
                        "customer" if n % 40 == 0 else "lead",
                        '["half"]' if n % 2 == 0 else "[]",
                        n,
                        n,
                    )
                    for n in range(4000)
                ],
            )
        traced = await trace_reads(db)
        contacts = SPECS["contact"]
        for stage, total, from_index in (("customer", 100, False), ("lead", 1001, True)):
            traced.clear()
            plan = query.parse(contacts, [("tags", "half"), ("stage", stage)], 2000)
            rows, counted, _ = await store.page(db, contacts, plan, "w_1", None, None)
            assert counted == total
            assert [r[0] for r in rows[:50]] == [
                f"c_{n:05d}"
                for n in range(3999, -1, -1)
                if n % 2 == 0 and (n % 40 == 0) == (stage == "customer")
            ][:50]
            [page] = [sql for sql in traced if "LIMIT 51" in sql]
            assert ("contacts_facets" in page) is from_index, page
    finally:
        await db.close()


# One custom value `v` per contact, of every kind a filter must tell apart, written as raw JSON
# (1e3 as an exponent, 2.0 as a real); what a reply writes for each is in the comment.
KINDS = {
    "c_int5": "5",  # custom.v=5
    "c_int1": "1",  # custom.v=1
    "c_real": "1.5",  # custom.v=1.5
    "c_real2": "2.0",  # custom.v=2.0
    "c_neg": "-0.25",  # custom.v=-0.25
    "c_exp": "1e3",  # custom.v=1000.0
    "c_true": "true",  # custom.v=true
    "c_false": "false",  # custom.v=false
    "c_str5": '"5"',  # custom.v=5
    "c_str1": '"1"',  # custom.v=1
    "c_str15": '"1.5"',  # custom.v=1.5
    "c_strtrue": '"true"',  # custom.v=true
    "c_text": '"abc"',  # custom.v=abc
    "c_null": "null",  # no pair
}
NONE = "c_nokey"  # custom {} (no pair)
EVERY = {*KINDS, NONE}

EQUAL = [
    ("5", {"c_int5", "c_str5"}),
    ("05", {"c_int5"}),  # the number 5; no string is spelled 05
    ("1", {"c_int1", "c_str1"}),  # not true: a reply writes it as true
    ("0", set()),  # not false
    ("1.5", {"c_real", "c_str15"}),
    ("1.50", {"c_real"}),
    ("-0.25", {"c_neg"}),
    ("2", {"c_real2"}),
    ("2.0", {"c_real2"}),
    ("1e3", {"c_exp"}),
    ("1000", {"c_exp"}),
    ("1000.0", {"c_exp"}),
    ("true", {"c_true", "c_strtrue"}),
    ("false", {"c_false"}),
    ("True", set()),  # a word matches as spelled
    ("abc", {"c_text"}),
    ("in:1.5,true", {"c_real", "c_str15", "c_true", "c_strtrue"}),
    ("in:5,false,abc", {"c_int5", "c_str5", "c_false", "c_text"}),
    ("in:1,0", {"c_int1", "c_str1"}),
    ("in:true,1", {"c_true", "c_strtrue", "c_int1", "c_str1"}),
    ("in:-0.25,1e3,nothing", {"c_neg", "c_exp"}),
]
NUMBERS = {"c_int5": 5, "c_int1": 1, "c_real": 1.5, "c_real2": 2, "c_neg": -0.25, "c_exp": 1000}
STRINGS = {"c_str5": "5", "c_str1": "1", "c_str15": "1.5", "c_strtrue": "true", "c_text": "abc"}
RANGES = [
    # numbers with numbers only: never true/false, never a string that looks like a number
    *(
        (f"{op}:{bound}", {c for c, n in NUMBERS.items() if test(n, bound)})
        for op, test in (
            ("gt", lambda n, b: n > float(b)),
            ("gte", lambda n, b: n >= float(b)),
            ("lt", lambda n, b: n < float(b)),
            ("lte", lambda n, b: n <= float(b)),
        )
        for bound in ("1", "1.5", "0", "-0.25", "2.0", "1e3")
    ),
    # text with text only: never a number, nor true/false (json_extract's 1 and 0)
    ("gt:abc", {"c_strtrue"}),
    ("gte:abc", {"c_strtrue", "c_text"}),
    ("lt:abc", {"c_str5", "c_str1", "c_str15"}),
    ("lte:true", set(STRINGS)),
    ("lt:true", set(STRINGS) - {"c_strtrue"}),
]
OTHERS = [
    # like: the value as a reply writes it (numbers as SQLite writes them, same here)
    ("like:5", {"c_int5", "c_real", "c_neg", "c_str5", "c_str15"}),
    ("like:tru", {"c_true", "c_strtrue"}),
    ("like:1", {"c_int1", "c_real", "c_exp", "c_str1", "c_str15"}),
    ("like:.0", {"c_real2", "c_exp"}),
    ("like:als", {"c_false"}),
    ("is:null", {"c_null", NONE}),
    ("not:null", set(KINDS) - {"c_null"}),
]
CUSTOM_CASES = [
    *EQUAL,
    # ne: exactly the records eq leaves out, those without the value included
    *((f"ne:{q}", EVERY - found) for q, found in EQUAL if not q.startswith("in:")),
    *RANGES,
    *OTHERS,
]


@pytest.fixture(scope="module")
def kinds_db(tmp_path_factory: pytest.TempPathFactory) -> Any:
    return tmp_path_factory.mktemp("kinds") / "kinds.db"


@pytest.fixture
async def kinds(kinds_db: Path) -> Any:
    """The contacts of KINDS (and one without the key) in w_1, reads traced."""
    db = Database(str(kinds_db))
    await db.open()
    db.idle_turn = 0.0  # pages on the reader threads, where they are traced
    if not await db.one("SELECT 1 FROM contacts LIMIT 1"):
        async with db.write() as tx:
            await tx.execute(
                "INSERT INTO workspaces (id, name, plan, created_at) VALUES ('w_1', 'w', 'free', 0)"
            )
            rows = [(id_, '{"v": %s}' % raw) for id_, raw in KINDS.items()] + [(NONE, "{}")]
            await tx.executemany(
                "INSERT INTO contacts (id, workspace_id, name, custom, created_at, updated_at)"
                " VALUES (?, 'w_1', 'n', ?, 0, 0)",
                rows,
            )
    traced = await trace_reads(db)
    try:
        yield db, traced
    finally:
        await db.close()


@pytest.mark.parametrize(("value", "found"), CUSTOM_CASES, ids=[q for q, _ in CUSTOM_CASES])
async def test_each_operator_matches_custom_values_as_a_reply_writes_them_by_either_path(
    kinds: Any, value: str, found: set[str]
) -> None:
    """Integers, decimals, booleans and strings that look like them: eq, in and the ranges
    read the facet index, and give what the JSON filter gives; ne, like and null checks read
    the JSON only."""
    db, traced = kinds
    params = [("custom.v", value), ("limit", "50")]
    by_json = await json_path_page(db, params)
    assert (set(by_json[0]), by_json[1]) == (found, len(found))
    traced.clear()
    assert await pages(db, params, 1) == by_json
    op = value.split(":")[0] if ":" in value else "eq"
    read = [sql for sql in traced if "LIMIT 51" in sql or "LIMIT 1001" in sql]
    indexed = [sql for sql in read if "contacts_facets" in sql]
    if op in ("ne", "like", "is", "not"):
        assert read and not indexed  # not an operator the index serves
    elif found:
        assert read and indexed == read  # the page came from the index
    else:
        assert not read  # the index's count of 0 answered alone
