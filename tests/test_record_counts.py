"""Each workspace's record counts (migration 0009): kept equal to its rows through every kind
of write, read by plan cap checks and /whoami, and never the reason a create that fits is
refused."""

from __future__ import annotations

from typing import Any

import aiosqlite
import pytest
from teams_util import create_workspace, ids, mint, stepped_up

from crmkit.store.sqlite.db import Database
from tests.records_util import bare, create, reapply

TABLES = ("contacts", "companies", "deals")


@pytest.fixture
def env() -> dict[str, str]:
    return {"CRMKIT_PLANS": '{"free": {"contacts": 3}}'}


async def kept(db: Database) -> dict[tuple[str, str], int]:
    rows = await db.all("SELECT workspace_id, kind, n FROM record_counts WHERE n <> 0")
    return {(str(ws), str(kind)): int(n) for ws, kind, n in rows}


async def actual(db: Database) -> dict[tuple[str, str], int]:
    counts: dict[tuple[str, str], int] = {}
    for table in TABLES:
        for ws, n in await db.all(f"SELECT workspace_id, count(*) FROM {table} GROUP BY 1"):
            counts[(str(ws), table)] = int(n)
    return counts


async def usage(api: Any, token: str) -> dict[str, int]:
    r = await api.json("GET", "/whoami", token)
    assert r.status_code == 200, r.text
    return {u["handle"].split("/")[1]: u["used"] for u in r.json()["data"]["usage"]}


async def delete(api: Any, token: str, handle: str) -> None:
    plural = {"contact": "contacts", "company": "companies", "deal": "deals"}[handle.split("/")[0]]
    r = await api.delete(f"/{plural}/{bare(handle)}", token)
    confirm = next(x for x in r.text.splitlines() if x.startswith("confirm: "))[9:]
    r = await api.delete(f"/{plural}/{bare(handle)}?confirm={confirm}", token)
    assert r.status_code == 200, r.text


async def test_counts_follow_every_api_write_and_stay_in_their_workspace(api: Any) -> None:
    token = await api.sign_in("ann@acme.com")
    ws, _ = await ids(api, token)
    other = await mint(api, token, await create_workspace(api, token, "Second"))
    ws2, _ = await ids(api, other)
    db = api.rt.db
    a = await create(api, token, "contacts", {"name": "A", "email": "a@x.com"})
    await create(api, token, "contacts", {"name": "B", "email": "b@x.com"})
    await create(api, token, "contacts", {"name": "A again", "email": "A@X.com"})  # an update
    co = await create(api, token, "companies", {"name": "Acme", "domain": "acme.com"})
    await create(api, token, "deals", {"title": "D1", "company_id": bare(co["handle"])})
    await create(api, other, "deals", {"title": "elsewhere"})
    assert (
        await kept(db)
        == await actual(db)
        == {
            (ws, "contacts"): 2,
            (ws, "companies"): 1,
            (ws, "deals"): 1,
            (ws2, "deals"): 1,
        }
    )
    assert await usage(api, token) == {
        "contacts": 2,
        "companies": 1,
        "deals": 1,
        "members": 1,
        "workspaces": 2,
    }
    # `"company": "Acme Two"` on a contact creates the company too: both are counted.
    await create(api, token, "contacts", {"name": "C", "email": "c@x.com", "company": "Acme Two"})
    await delete(api, token, a["handle"])
    await delete(api, token, co["handle"])
    assert await kept(db) == await actual(db)
    assert (await usage(api, token))["companies"] == 1
    # A workspace deleted through the API takes its counts with it.
    r = await stepped_up(api, "DELETE", f"/workspaces/{ws2}", token, "ann@acme.com")
    assert r.status_code == 200, r.text
    assert not await db.all("SELECT 1 FROM record_counts WHERE workspace_id = ?", (ws2,))


async def test_counts_follow_writes_by_other_means(api: Any) -> None:
    """An operator's shell: bulk inserts, deletes, a record moved between workspaces, and a
    workspace deleted with plain SQL (the records' cascade)."""
    token = await api.sign_in("ann@acme.com")
    ws, _ = await ids(api, token)
    ws2, _ = await ids(api, await mint(api, token, await create_workspace(api, token, "Two")))
    db = api.rt.db
    async with db.write() as tx:
        for i in range(5):
            await tx.execute(
                "INSERT INTO contacts (id, workspace_id, name, email, stage, created_at,"
                " updated_at, created_by) VALUES (?, ?, ?, ?, 'lead', 0, 0, 'u')",
                (f"c_bulk{i}", ws, f"Bulk {i}", f"bulk{i}@x.com"),
            )
        await tx.execute("DELETE FROM contacts WHERE id = 'c_bulk0'")
        await tx.execute("UPDATE contacts SET workspace_id = ? WHERE id = 'c_bulk1'", (ws2,))
        await tx.execute("UPDATE contacts SET name = 'renamed' WHERE id = 'c_bulk2'")
    assert await kept(db) == await actual(db) == {(ws, "contacts"): 3, (ws2, "contacts"): 1}
    async with db.write() as tx:
        await tx.execute("DELETE FROM workspaces WHERE id = ?", (ws2,))
    assert await kept(db) == await actual(db) == {(ws, "contacts"): 3}
    assert not await db.all("SELECT 1 FROM record_counts WHERE workspace_id = ?", (ws2,))


async def test_a_count_that_drifted_up_never_refuses_a_create_that_fits(api: Any) -> None:
    token = await api.sign_in("ann@acme.com")
    ws, _ = await ids(api, token)
    await create(api, token, "contacts", {"name": "A", "email": "a@x.com"})
    async with api.rt.db.write() as tx:  # as an INSERT OR REPLACE over a record would leave it
        await tx.execute(
            "UPDATE record_counts SET n = 7 WHERE workspace_id = ? AND kind = 'contacts'", (ws,)
        )
    r = await api.json("POST", "/contacts", token, json={"name": "B", "email": "b@x.com"})
    assert r.status_code == 201, r.text
    # The recount (1, below the cap, so exact) replaced the drifted count.
    assert (await usage(api, token))["contacts"] == 2
    r = await api.json("POST", "/contacts", token, json={"name": "C", "email": "c@x.com"})
    assert r.status_code == 201, r.text
    # Now the rows themselves reach the cap of 3: refused, with their true count.
    r = await api.json("POST", "/contacts", token, json={"name": "D", "email": "d@x.com"})
    assert r.status_code == 403, r.text
    assert r.json()["error"]["used"] == "3"


async def test_the_cap_check_reads_the_kept_count(api: Any) -> None:
    """Below the cap, the rows are not counted: a kept count the rows do not reach yet still
    lets creates through, and one at the cap is what sends the check to the rows."""
    token = await api.sign_in("ann@acme.com")
    ws, _ = await ids(api, token)
    for name in ("A", "B", "C"):
        await create(api, token, "contacts", {"name": name, "email": f"{name}@x.com"})
    async with api.rt.db.write() as tx:  # rows the count does not know of (hand-edited)
        await tx.execute(
            "UPDATE record_counts SET n = 1 WHERE workspace_id = ? AND kind = 'contacts'", (ws,)
        )
    r = await api.json("POST", "/contacts", token, json={"name": "D", "email": "d@x.com"})
    assert r.status_code == 201, r.text
    r = await api.json("POST", "/contacts", token, json={"name": "E", "email": "e@x.com"})
    assert r.status_code == 201, r.text  # kept count 2 -> 3
    r = await api.json("POST", "/contacts", token, json={"name": "F", "email": "f@x.com"})
    assert r.status_code == 403, r.text
    assert r.json()["error"]["used"] == "3"  # counted no further than the cap


@pytest.mark.sqlite_only
async def test_migration_0009_counts_what_is_already_stored(api: Any) -> None:
    token = await api.sign_in("old@acme.com")
    for i in range(3):
        await create(api, token, "contacts", {"name": f"N{i}", "email": f"n{i}@x.com"})
    await create(api, token, "deals", {"title": "D"})
    db = api.rt.db
    expected = await actual(db)
    # A record whose workspace row is gone (deleted from a shell with foreign keys off) is
    # not counted, and does not stop the migration on its foreign key.
    async with aiosqlite.connect(db.path, isolation_level=None) as shell:  # FKs off
        await shell.execute(
            "INSERT INTO contacts (id, workspace_id, name, stage, created_at, updated_at,"
            " created_by) VALUES ('c_orphan', 'w_gone', 'Orphan', 'lead', 0, 0, 'u')"
        )
    await reapply(db, 9)
    assert await kept(db) == expected
    assert (await usage(api, token))["contacts"] == 3
