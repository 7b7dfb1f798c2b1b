"""The tag index (migration 0008): kept equal to every record's tags through every kind of
write, and used by lists only where it is faster, with the same rows and totals either way."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiosqlite
import pytest

from crmkit import query
from crmkit.spec import SPECS
from crmkit.store import records as store
from crmkit.store.db import Database
from crmkit.store.schema import _statements, migrate, migration_files
from tests.records_util import bare, create

TABLES = ("contacts", "companies", "deals")


async def index_rows(db: Database, table: str) -> list[tuple[Any, ...]]:
    return list(await db.all(f"SELECT workspace_id, tag, seq FROM {table}_tags ORDER BY 1, 2, 3"))


async def json_rows(db: Database, table: str) -> list[tuple[Any, ...]]:
    """What the index must hold: one row per tag of every record whose tags are valid JSON."""
    return list(
        await db.all(
            f"SELECT DISTINCT r.workspace_id, j.value, r.seq FROM {table} r, json_each(r.tags) j"
            " WHERE r.tags IS NOT NULL AND json_valid(r.tags) AND j.value IS NOT NULL"
            " ORDER BY 1, 2, 3"
        )
    )


async def assert_in_step(db: Database) -> None:
    for table in TABLES:
        assert await index_rows(db, table) == await json_rows(db, table), table


async def test_the_index_follows_every_write(api: Any) -> None:
    token = await api.sign_in("tags@acme.com")
    db = api.rt.db
    made = {
        "contacts": await create(api, token, "contacts", {"name": "A", "email": "a@x.com"}),
        "companies": await create(api, token, "companies", {"name": "C", "tags": ["b2b"]}),
        "deals": await create(api, token, "deals", {"title": "D", "tags": ["q4", "big"]}),
    }
    await assert_in_step(db)
    assert len(await index_rows(db, "deals")) == 2
    for plural, rec in made.items():
        path = f"/{plural}/{bare(rec['handle'])}"
        for tags in (["vip", "eu"], ["eu"], None, ["x", "x", "y"]):
            r = await api.json("PATCH", path, token, json={"tags": tags})
            assert r.status_code == 200, r.text
            await assert_in_step(db)
        r = await api.json("PATCH", path, token, json={"name": "Renamed", "title": "Renamed"})
        await assert_in_step(db)  # a write that leaves the tags alone
    # an upsert that merges new tags into an existing contact
    await create(api, token, "contacts", {"email": "A@X.com", "tags": ["merged"]})
    await assert_in_step(db)
    assert [t for _, t, _ in await index_rows(db, "contacts")] == ["merged"]
    # a bad write changes nothing, the index included
    before = await index_rows(db, "contacts")
    path = f"/contacts/{bare(made['contacts']['handle'])}"
    r = await api.json("PATCH", path, token, json={"tags": ["ok"], "nope": 1})
    assert r.status_code == 400 and await index_rows(db, "contacts") == before
    # writes by other means: the same rules, and a value that is not JSON indexes nothing
    async with db.write() as tx:
        seq = (await tx.one("SELECT seq FROM contacts"))[0]  # type: ignore[index]
        await tx.execute("UPDATE contacts SET tags = 'not json' WHERE seq = ?", (seq,))
        await tx.execute("UPDATE contacts SET tags = '[\"back\", 7, null]' WHERE seq = ?", (seq,))
    await assert_in_step(db)
    assert {t for _, t, _ in await index_rows(db, "contacts")} == {"back", 7}
    # a delete takes its rows along
    r = await api.json("DELETE", path, token)
    await api.delete(f"{path}?confirm={r.json()['error']['confirm']}", token)
    await assert_in_step(db)
    assert await index_rows(db, "contacts") == []
    # and so does a workspace delete, through the records' cascade
    ws = made["deals"]["handle"] and (await db.one("SELECT workspace_id FROM deals"))[0]  # type: ignore[index]
    async with db.write() as tx:
        await tx.execute("DELETE FROM workspaces WHERE id = ?", (ws,))
    for table in TABLES:
        assert await index_rows(db, table) == []


async def test_migration_0008_indexes_the_tags_already_stored(api: Any) -> None:
    token = await api.sign_in("old@acme.com")
    for i in range(5):
        await create(api, token, "contacts", {"name": f"N{i}", "tags": ["t", f"t{i % 2}"]})
    await create(api, token, "deals", {"title": "D", "tags": ["q4"]})
    db = api.rt.db
    expected = {t: await json_rows(db, t) for t in TABLES}
    assert len(expected["contacts"]) == 10
    new_sql = next(sql for v, _, sql in migration_files() if v == 8)
    async with db.write() as tx:  # back to the schema before 0008
        for statement in _statements(new_sql):
            if "CREATE TABLE" in statement or "CREATE TRIGGER" in statement:
                kind = "TABLE" if "CREATE TABLE" in statement else "TRIGGER"
                name = statement.split(f"CREATE {kind} ")[1].split()[0]
                await tx.execute(f"DROP {kind} {name}")
        await tx.execute("DELETE FROM schema_migrations WHERE version = 8")
    async with aiosqlite.connect(db.path, isolation_level=None) as conn:
        assert await migrate(conn) == ["0008_tag_index.sql"]
    assert {t: await index_rows(db, t) for t in TABLES} == expected
    r = await api.json("GET", "/contacts?tags=t1&sort=name", token)
    assert [d["name"] for d in r.json()["data"]] == ["N1", "N3"]


@pytest.fixture
async def tagged(tmp_path: Path) -> Any:
    """1,100 contacts in w_1 tagged "common"; every 100th also "rare", every 7th "seventh"."""
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
            rows.append((f"c_{n:05d}", f"name {n % 50:02d}", str(tags).replace("'", '"'), n, n))
        await tx.executemany(
            "INSERT INTO contacts (id, workspace_id, name, tags, created_at, updated_at)"
            " VALUES (?, 'w_1', ?, ?, ?, ?)",
            rows,
        )
    traced: list[str] = []
    for reader in db._readers:
        await reader.set_trace_callback(traced.append)
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
        ([("tags", "rare")], lambda n: n % 100 == 0, 11, "= 'rare'"),
        ([("tags", "in:rare,none")], lambda n: n % 100 == 0, 11, "IN ('rare', 'none')"),
        # the rarest of several from the index, the others checked on each record
        ([("tags", "common,seventh,rare")], lambda n: n % 700 == 0, 2, "= 'rare'"),
        ([("tags", "rare"), ("tags", "seventh")], lambda n: n % 700 == 0, 2, "= 'rare'"),
        ([("tags", "seventh"), ("sort", "name")], lambda n: n % 7 == 0, 158, "= 'seventh'"),
        # many: walked in the sort's order; one common tag alone is not even counted again
        ([("tags", "common")], lambda n: True, 1001, None),
        ([("tags", "common"), ("sort", "name")], lambda n: True, 1001, None),
        ([("tags", "common"), ("name", "name 07")], lambda n: n % 50 == 7, 22, None),
        ([("tags", "in:common,rare")], lambda n: True, 1001, None),
        # none: answered from the index alone
        ([("tags", "none")], lambda n: False, 0, ""),
        ([("tags", "common,none")], lambda n: False, 0, ""),
    ],
)
async def test_lists_by_tag_page_alike_by_either_path(
    tagged: Any, params: list[tuple[str, str]], test: Any, total: int, from_index: str | None
) -> None:
    db, traced = tagged
    sort = dict(params).get("sort", "-created_at")
    seen, counted = await pages(db, [*params, ("limit", "9")], 3)
    assert counted == total
    assert seen == expected(test, sort)[:27]
    pages_read = [sql for sql in traced if "LIMIT 10" in sql]
    index_read = [sql for sql in pages_read if "FROM contacts_tags WHERE" in sql]
    if from_index:  # every page through the index, sorted after, rarest tag only
        assert pages_read and index_read == pages_read
        for sql in index_read:  # the page and its count, each with one lookup
            assert sql.count(f"tag {from_index})") == sql.count("FROM contacts_tags") == 2, sql
            assert "ORDER BY +" in sql
    elif from_index is None:
        assert pages_read and not index_read
    else:
        assert not pages_read
    if total == 1001 and len(params) == 1 and params[0][1] == "common":
        assert not [sql for sql in traced if "LIMIT 1001" in sql and "json_each" in sql]


async def test_a_cursor_past_the_end_of_a_rare_tag_still_counts(tagged: Any) -> None:
    db, _traced = tagged
    contacts = SPECS["contact"]
    plan = query.parse(contacts, [("tags", "rare")], 2000)
    rows, total, _ = await store.page(db, contacts, plan, "w_1", (0, "c_00000"), None)
    assert rows == [] and total == 11
