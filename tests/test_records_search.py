"""Fuzzy search=: substrings across the key fields, one typo in longer words, bounded ranking."""

from __future__ import annotations

import os
from base64 import b32encode

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crmkit.store.searchtext import within_one_edit
from tests.records_util import create


@pytest.fixture
async def token(api):
    return await api.sign_in("s@acme.com")


@pytest.fixture
async def people(api, token):
    acme = await create(
        api,
        token,
        "companies",
        {"name": "Acme Corp", "domain": "acme.com", "notes": "Rocket skates"},
    )
    await create(api, token, "companies", {"name": "Initech", "domain": "initech.io"})
    await create(
        api,
        token,
        "contacts",
        {
            "name": "Jonathan Smith",
            "email": "jon@acme.com",
            "company_id": acme["handle"],
            "phone": "+1 555 0100",
        },
    )
    await create(api, token, "contacts", {"name": "Jane Doe", "email": "jane@initech.io"})
    await create(api, token, "contacts", {"name": "Acme", "email": "acme@else.org"})
    await create(api, token, "contacts", {"name": "Acmeister", "email": "x@y.org"})
    await create(api, token, "contacts", {"name": "Bob Acmeson", "email": "bob@z.org"})
    await create(api, token, "deals", {"title": "Acme renewal 2027"})
    return acme


async def names(api, token, plural: str, q: str) -> list[str]:
    r = await api.json("GET", f"/{plural}?{q}", token)
    assert r.status_code == 200, r.text
    return [d.get("name") or d.get("title") for d in r.json()["data"]]


async def test_substrings_across_fields_and_ranking(api, token, people):
    # exact name first, then names starting with it, then any field containing it;
    # Jonathan matches through his email and his company's name
    found = await names(api, token, "contacts", "search=acme")
    assert found[:2] == ["Acme", "Acmeister"] and set(found) == {
        "Acme",
        "Acmeister",
        "Bob Acmeson",
        "Jonathan Smith",
    }
    assert await names(api, token, "companies", "search=acme") == ["Acme Corp"]
    assert await names(api, token, "companies", "search=ACME.COM") == ["Acme Corp"]
    assert await names(api, token, "companies", "search=rocket") == ["Acme Corp"]  # notes
    assert await names(api, token, "deals", "search=renewal") == ["Acme renewal 2027"]
    assert await names(api, token, "contacts", "search=nath") == ["Jonathan Smith"]
    assert await names(api, token, "contacts", "search=555 0100") == ["Jonathan Smith"]
    assert await names(api, token, "contacts", "search=jane@initech") == ["Jane Doe"]
    assert await names(api, token, "contacts", "search=smith jonathan") == ["Jonathan Smith"]
    assert await names(api, token, "contacts", "search=jonathan%20zzz") == []


async def test_one_typo_in_long_words(api, token, people):
    for typo in ("jonathn", "jonatham", "jonahtan", "jonathaan", "JONATHN"):
        assert await names(api, token, "contacts", f"search={typo}") == ["Jonathan Smith"], typo
    assert await names(api, token, "contacts", "search=jonathn smith") == ["Jonathan Smith"]
    assert await names(api, token, "companies", "search=initeck") == ["Initech"]
    assert await names(api, token, "contacts", "search=jonthn") == []  # two edits
    assert await names(api, token, "contacts", "search=jnae") == []  # short words: exact only


async def test_short_queries(api, token, people):
    assert await names(api, token, "contacts", "search=jo") == ["Jonathan Smith"]
    assert await names(api, token, "contacts", "search=do") == ["Jane Doe"]


async def test_search_with_filters_sort_and_pages(api, token, people):
    assert await names(api, token, "contacts", "search=acme&email=like:.org&sort=name") == [
        "Acme",
        "Acmeister",
        "Bob Acmeson",
    ]
    assert await names(api, token, "contacts", "search=acme&sort=-name") == [
        "Jonathan Smith",
        "Bob Acmeson",
        "Acmeister",
        "Acme",
    ]
    seen, cursor = [], None
    while True:
        q = "search=acme&limit=1" + (f"&cursor={cursor}" if cursor else "")
        r = await api.json("GET", f"/contacts?{q}", token)
        body = r.json()
        assert body["total"] == 4
        seen += [d["name"] for d in body["data"]]
        cursor = body["next_cursor"]
        if not cursor:
            break
    assert seen == await names(api, token, "contacts", "search=acme")


async def test_index_follows_changes(api, token, people):
    [jane] = (await api.json("GET", "/contacts?search=jane", token)).json()["data"]
    r = await api.patch(f"/contacts/{jane['handle']}", token, json={"name": "Janet Roe"})
    assert r.status_code == 200
    assert await names(api, token, "contacts", "search=doe") == []
    assert await names(api, token, "contacts", "search=janet") == ["Janet Roe"]
    r = await api.get("/contacts?search=doe", token)
    assert "# no contacts match these filters" in r.text


def test_within_one_edit():
    assert within_one_edit("jonathan", "jonathn")
    assert within_one_edit("jonathan", "jonahtan")
    assert within_one_edit("jonathan", "jonathen")
    assert not within_one_edit("jonathan", "jonthn")
    assert not within_one_edit("abcde", "badce")


async def test_company_rename_reaches_its_contacts(api, token, people):
    r = await api.patch(f"/companies/{people['handle']}", token, json={"name": "Zenith Labs"})
    assert r.status_code == 200
    assert await names(api, token, "contacts", "search=zenith") == ["Jonathan Smith"]
    assert "Jonathan Smith" not in await names(api, token, "contacts", "search=corp")


async def test_many_matches_are_capped_and_counted_as_lower_bound(api, token):
    r = await api.json("GET", "/whoami", token)
    ws = r.json()["data"]["workspace"]["handle"].split("/")[1]
    rt = api.rt
    from crmkit import spec as S
    from crmkit.store import records as store

    async with rt.db.write() as tx:
        for i in range(1100):
            row = await tx.one(
                "INSERT INTO contacts (id, workspace_id, name, created_at, updated_at)"
                " VALUES (?, ?, ?, 0, 0) RETURNING seq",
                (
                    f"c_bulk{i:08d}".replace("0", "a")
                    .replace("1", "b")
                    .replace("8", "c")
                    .replace("9", "d"),
                    ws,
                    f"Sam Sample {i}",
                ),
            )
            await store.index(tx, S.CONTACT, row[0], ws, [f"Sam Sample {i}"], False)
    r = await api.get("/contacts?search=sample&limit=5", token)
    assert r.text.splitlines()[0] == "# total: 1000+"
    assert len([ln for ln in r.text.splitlines() if not ln.startswith("#")]) == 5


async def test_workspace_delete_takes_records_index_and_vocabulary(api, token, people):
    r = await api.json("GET", "/whoami", token)
    ws = r.json()["data"]["workspace"]["handle"].split("/")[1]
    db = api.rt.db
    assert (await db.one("SELECT count(*) FROM search_terms WHERE workspace_id = ?", (ws,)))[0]
    async with db.write() as tx:
        await tx.execute("DELETE FROM workspaces WHERE id = ?", (ws,))
    present = await db.dialect.tables(db)
    for table in (
        "contacts",
        "companies",
        "deals",
        "contacts_fts",
        "companies_fts",
        "deals_fts",
        "search_terms",
        "activities",
    ):
        if table in present:  # the _fts tables are SQLite's
            assert (await db.one(f"SELECT count(*) FROM {table}"))[0] == 0, table


async def test_every_short_word_must_match(api):
    token = await api.sign_in("short@acme.com")
    for name in ("Ab Cd", "Ab Ef"):
        assert (await api.post("/contacts", token, json={"name": name})).status_code == 201
    r = await api.json("GET", "/contacts?search=ab%20qq", token)
    assert r.json()["data"] == []
    r = await api.json("GET", "/contacts?search=ab%20ef", token)
    assert [row["name"] for row in r.json()["data"]] == ["Ab Ef"]


async def _bulk_matches(api, ws: str, names: list[str], stage: str = "lead") -> None:
    """Contacts with these names in workspace `ws`, indexed, newer than any made before."""
    from crmkit import spec as S
    from crmkit.store import records as store

    async with api.rt.db.write() as tx:
        for name in names:
            row = await tx.one(
                "INSERT INTO contacts (id, workspace_id, name, stage, created_at, updated_at)"
                " VALUES (?, ?, ?, ?, 0, 0) RETURNING seq",
                ("c_" + b32encode(os.urandom(10)).decode().lower()[:12], ws, name, stage),
            )
            await store.index(tx, S.CONTACT, row[0], ws, [name], False)


async def _workspace(api, token) -> str:
    r = await api.json("GET", "/whoami", token)
    return r.json()["data"]["workspace"]["handle"].split("/")[1]


async def test_newer_matches_in_another_workspace_never_crowd_out_this_ones(api, token):
    """The window of 1,001 candidates is taken after the workspace is checked."""
    mine = await create(api, token, "contacts", {"name": "Sam Sample", "stage": "customer"})
    other = await api.sign_in("other@initech.io")
    await _bulk_matches(api, await _workspace(api, other), ["Sam Sample"] * 1100)
    r = await api.json("GET", "/contacts?search=sample", token)
    assert [d["handle"] for d in r.json()["data"]] == [mine["handle"]]
    assert r.json()["total"] == 1
    r = await api.json("GET", "/contacts?search=sample&limit=200", other)
    assert len(r.json()["data"]) == 200
    assert mine["handle"] not in {d["handle"] for d in r.json()["data"]}


async def test_a_record_that_starts_passing_a_filter_never_pushes_another_out(api, token):
    """Filters are judged inside the window, not used to choose it: a newer record that
    starts passing the filter between pages cannot push an older one out of the window,
    so every row the first page counted is still served by the later ones."""
    ws = await _workspace(api, token)
    await _bulk_matches(api, ws, ["Zed Sample"])  # the oldest match
    await _bulk_matches(api, ws, [f"Amy Sample {i:04d}" for i in range(1000)])
    await _bulk_matches(api, ws, ["Bea Sample"], stage="customer")  # the newest
    [bea] = (await api.json("GET", "/contacts?search=bea", token)).json()["data"]
    query = "/contacts?search=sample&stage=lead&sort=name&limit=200"
    first = (await api.json("GET", query, token)).json()
    before, cursor = [d["name"] for d in first["data"]], first["next_cursor"]
    while cursor:  # the names page 1 promised, read before anything changes
        page = (await api.json("GET", f"{query}&cursor={cursor}", token)).json()
        before += [d["name"] for d in page["data"]]
        cursor = page["next_cursor"]
    assert len(before) >= 1000

    seen = [d["name"] for d in first["data"]]
    r = await api.patch(f"/contacts/{bea['handle']}", token, json={"stage": "lead"})
    assert r.status_code == 200
    cursor = first["next_cursor"]
    while cursor:
        page = (await api.json("GET", f"{query}&cursor={cursor}", token)).json()
        seen += [d["name"] for d in page["data"]]
        cursor = page["next_cursor"]
    assert len(seen) == len(set(seen))
    assert set(before) <= set(seen)


_score_text = st.text(st.sampled_from("aAbB%_\\ .@éÉİKk1"), max_size=6)


@given(
    rows=st.lists(
        st.tuples(st.none() | _score_text, st.none() | _score_text, st.none() | _score_text),
        min_size=1,
        max_size=6,
    ),
    query=_score_text.filter(lambda q: " ".join(q.split()) != ""),
)
@settings(max_examples=300, deadline=None)
def test_rank_by_like_agrees_with_lower_case_comparisons(rows, query) -> None:
    """The ranking's LIKE tests give what comparing lower() copies gave (the way it was
    written before), for wildcards, escapes and non-ASCII letters too."""
    import sqlite3

    from crmkit import spec as S
    from crmkit.store.searchtext import TIER, score_sql, words
    from crmkit.store.sqlite.dialect import DIALECT

    q = " ".join(query.split()).lower()
    qwords = words(q) or [q]
    score, params = score_sql(DIALECT, S.CONTACT, q, qwords)
    hay = (
        "lower(coalesce(name, '')) || ' ' || lower(coalesce(email, ''))"
        " || ' ' || lower(coalesce(phone, ''))"
    )
    by_lower = (
        "(CASE WHEN lower(coalesce(name, '')) = ? OR lower(coalesce(email, '')) = ? THEN 0"
        " WHEN substr(lower(coalesce(name, '')), 1, ?) = ? THEN 1"
        " WHEN %s THEN 2 ELSE 3 END) * %d - contacts.seq"
        % (" AND ".join("instr(%s, ?) > 0" % hay for _ in qwords), TIER)
    )
    db = sqlite3.connect(":memory:")
    db.execute("CREATE TABLE contacts (seq INTEGER PRIMARY KEY, name TEXT, email TEXT, phone TEXT)")
    db.executemany("INSERT INTO contacts (name, email, phone) VALUES (?, ?, ?)", rows)
    new = db.execute(f"SELECT {score} FROM contacts ORDER BY seq", params).fetchall()
    old = db.execute(
        f"SELECT {by_lower} FROM contacts ORDER BY seq", [q, q, len(qwords[0]), qwords[0], *qwords]
    ).fetchall()
    assert new == old


async def test_a_full_window_makes_the_total_a_lower_bound_and_says_so(api, token):
    """Matches older than the 1,001 newest are never looked at: when the window is full, a
    filtered total is only a lower bound ("3+", total_is_lower_bound) and a line says how to
    reach the rest; below a full window the total is exact and nothing is added."""
    ws = await _workspace(api, token)
    await _bulk_matches(api, ws, ["Zed Sample"], stage="customer")  # the oldest
    await _bulk_matches(api, ws, ["Cy Sample"] * 3, stage="customer")
    await _bulk_matches(api, ws, [f"Amy Sample {i:04d}" for i in range(998)])
    note = "# this search ranked its 1,001 newest matches only: add a word to reach older ones"

    r = await api.get("/contacts?search=sample&stage=customer", token)
    lines = r.text.splitlines()
    assert lines[0] == "# total: 3+" and note in lines
    assert len([ln for ln in lines if not ln.startswith("#")]) == 3  # Zed is beyond the window
    body = (await api.json("GET", "/contacts?search=sample&stage=customer", token)).json()
    assert (body["total"], body["total_is_lower_bound"]) == (3, True)

    # None of the ranked matches passes: that is not "none match" (older ones may), and
    # dropping a filter is not the only way on.
    r = await api.get("/contacts?search=sample&stage=churned", token)
    assert r.text.splitlines() == [
        "# total: 0+",
        "# no contacts among the matches this search ranked pass these filters",
        note,
    ]

    body = (await api.json("GET", "/contacts?search=zed", token)).json()
    assert (body["total"], body.get("total_is_lower_bound")) == (1, None)
    assert note not in (await api.get("/contacts?search=zed", token)).text


@pytest.mark.sqlite_only
async def test_migration_0016_moves_search_into_the_workspace(api, token, people):
    """A database from before 0016 (one trigram index for every workspace, no search columns,
    word-index rows without trigram tokens) finds the same records in the same order after
    it, by either path, and a deleted record still takes its activities along."""
    import aiosqlite

    from crmkit.store.sqlite.schema import migrate

    db = api.rt.db
    queries = [
        ("contacts", "acme"),  # the word path
        ("contacts", "jonathn"),  # a typo
        ("contacts", "acme&stage=lead"),  # a filter: the trigram path
        ("contacts", "jo"),  # a word too short for a trigram
        ("deals", "renewal"),
    ]
    before = {
        q: (await api.json("GET", f"/{plural}?search={q}", token)).json() for plural, q in queries
    }
    assert all(body["data"] for body in before.values())
    # As 0015 left a database: the trigram tables and their triggers, no search columns, no
    # trigram index of the workspace's own, the word index (here: empty), no workspace index.
    async with db.write() as tx:
        for table in ("contacts", "companies", "deals"):
            await tx.execute(f"DROP TRIGGER {table}_activities_delete")
            await tx.execute(f"DROP INDEX {table}_by_workspace")
            await tx.execute(
                f"CREATE VIRTUAL TABLE {table}_fts USING fts5(body, tokenize='trigram',"
                " columnsize=0)"
            )
            await tx.execute(
                f"CREATE TRIGGER {table}_fts_delete AFTER DELETE ON {table} BEGIN"
                f" DELETE FROM {table}_fts WHERE rowid = -old.seq;"
                " DELETE FROM activities WHERE target_id = old.id; END"
            )
            await tx.execute(f"ALTER TABLE {table} DROP COLUMN search_text")
            await tx.execute(f"ALTER TABLE {table} DROP COLUMN search_fold")
            await tx.execute(f"DELETE FROM {table}_words")
            await tx.execute(f"DROP TABLE {table}_grams")
        await tx.execute("DELETE FROM schema_migrations WHERE version = 16")
    async with aiosqlite.connect(db.path, isolation_level=None) as conn:
        await conn.execute("PRAGMA foreign_keys = ON")
        assert await migrate(conn) == ["0016_search_by_workspace.sql"]
    await db._reopen_readers()  # the loop's reader saw the old schema
    for plural, q in queries:
        assert (await api.json("GET", f"/{plural}?search={q}", token)).json() == before[q], q
    tables = await db.dialect.tables(db)
    assert not any(name.endswith("_fts") for name in tables)
    assert {"contacts_grams_data", "companies_grams_data", "deals_grams_data"} <= set(tables)
    assert {"search_text", "search_fold"} <= set(tables["contacts"])
    first = before["renewal"]["data"][0]["handle"].split("/")[1]
    await api.post(f"/deals/{first}/activities", token, json={"kind": "note", "body": "x"})
    r = await api.json("DELETE", f"/deals/{first}", token)
    await api.delete(f"/deals/{first}?confirm={r.json()['error']['confirm']}", token)
    assert (await db.one("SELECT count(*) FROM activities WHERE target_id = ?", (first,)))[0] == 0


async def test_a_phone_with_separators_is_found_by_its_digits(api, token):
    """An agent holding +14155550100 (E.164) or 4155550100 finds "+1 (415) 555-0100"."""
    made = await create(api, token, "contacts", {"name": "Dialed", "phone": "+1 (415) 555-0100"})
    plain = await create(api, token, "contacts", {"name": "Plain", "phone": "+15550199"})
    queries = ("4155550100", "14155550100", "%2B14155550100", "5550100", "555-0100")

    async def found() -> list[list[str]]:
        out = []
        for q in queries:
            r = await api.json("GET", f"/contacts?search={q}", token)
            out.append([c["handle"] for c in r.json()["data"]])
        return out

    assert await found() == [[made["handle"]]] * len(queries)
    assert (await api.json("GET", "/contacts?search=15550199", token)).json()["data"][0][
        "handle"
    ] == plain["handle"]
