"""Keyset pagination: no row skipped or repeated while rows are inserted between and during
page fetches; cursors are signed and bound to the query that made them."""

from __future__ import annotations

import asyncio

import pytest

from tests.records_util import create, meta, records

N = 250


@pytest.fixture
async def token(api):
    return await api.sign_in("pages@acme.com")


@pytest.fixture
async def seeded(api, token, clock):
    """250 contacts; ten share each created_at second, so ties need the id tie-break."""
    handles = set()
    for i in range(N):
        if i % 10 == 0:
            clock.advance(1)
        c = await create(
            api,
            token,
            "contacts",
            {"name": f"person {i * 7919 % N:03d}", "stage": "lead" if i % 2 else "customer"},
        )
        handles.add(c["handle"])
    return handles


async def _walk(api, token, query: str, limit: int, between) -> list[str]:
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        q = f"/contacts?{query}&limit={limit}" + (f"&cursor={cursor}" if cursor else "")
        page, _ = await asyncio.gather(api.json("GET", q, token), between(pages))
        assert page.status_code == 200, page.text
        body = page.json()
        seen += [d["handle"] for d in body["data"]]
        cursor = body["next_cursor"]
        pages += 1
        if cursor is None:
            return seen


@pytest.mark.parametrize("sort", ["-created_at", "created_at", "name", "-name", "-updated_at"])
async def test_no_row_skipped_or_repeated_under_concurrent_inserts(api, token, seeded, clock, sort):
    counter = 0

    async def insert_some(page: int) -> None:
        nonlocal counter
        for _ in range(3):
            counter += 1
            # names land everywhere in the name order; times at or after the newest row
            await create(api, token, "contacts", {"name": f"person {counter * 37 % N:03d}x"})
        if page % 2:
            clock.advance(1)

    seen = await _walk(api, token, f"sort={sort}", 37, insert_some)
    assert len(seen) == len(set(seen)), "a row was repeated"
    assert seeded <= set(seen), "a row was skipped"
    assert counter > 0


async def test_filtered_pages_and_total(api, token, seeded):
    async def nothing(page: int) -> None:
        return None

    seen = await _walk(api, token, "stage=lead&sort=-created_at", 50, nothing)
    assert len(seen) == len(set(seen)) == N // 2
    r = await api.get("/contacts?stage=lead&limit=50", token)
    lines = r.text.splitlines()
    assert lines[0] == "# total: 125"
    assert len(records(r)) == 50 and lines[-1].startswith("# next: ")
    r2 = await api.json("GET", "/contacts?stage=lead&limit=50", token)
    assert r2.json()["next_cursor"] == lines[-1][len("# next: ") :]
    assert r2.json()["total"] == 125


async def _cursor(api, token, query: str) -> str:
    r = await api.json("GET", f"/contacts?{query}", token)
    cursor = r.json()["next_cursor"]
    assert cursor
    return str(cursor)


async def test_tampered_and_mismatched_cursors_are_400(api, token, seeded):
    cursor = await _cursor(api, token, "stage=lead&limit=10")
    flipped = cursor[:-3] + ("A" if cursor[-3] != "A" else "B") + cursor[-2:]
    other = await api.sign_in("other@else.com")
    cases = [
        (token, f"stage=lead&limit=10&cursor={flipped}", "changed or cut"),
        (token, f"stage=lead&limit=10&cursor={cursor[:20]}", "changed or cut"),
        (token, "stage=lead&limit=10&cursor=" + "x" * 4097, "not one crmkit issued"),
        (token, f"stage=customer&limit=10&cursor={cursor}", "other filters"),
        (token, f"stage=lead&sort=name&limit=10&cursor={cursor}", "other filters"),
        (token, f"stage=lead&search=person&limit=10&cursor={cursor}", "other filters"),
        (token, f"limit=10&cursor={cursor}", "other filters"),
        (other, f"stage=lead&limit=10&cursor={cursor}", "other filters"),
    ]
    for who, query, message in cases:
        r = await api.json("GET", f"/contacts?{query}", who)
        assert r.status_code == 400, query
        err = r.json()["error"]
        assert err["code"] == "invalid_cursor" and message in err["message"], err
        assert "drop cursor=" in err["hint"]
    # the same filters (in another order) and another limit are fine
    r = await api.get(f"/contacts?limit=5&stage=lead&cursor={cursor}", token)
    assert r.status_code == 200 and len(records(r)) == 5
    r = await api.get(f"/contacts?stage=lead&sort=-created_at&cursor={cursor}", token)
    assert r.status_code == 200  # naming the default sort is the same query
    # a search ranked by relevance pages on another key than one sorted by its default column
    ranked = await _cursor(api, token, "search=person&limit=2")
    r = await api.json("GET", f"/contacts?search=person&sort=-created_at&cursor={ranked}", token)
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_cursor"


async def test_long_multibyte_sort_values_still_page(api, token):
    """A cursor carries the last row's sort value: 200 four-byte characters (the longest
    name) must still make a cursor the next request accepts."""
    emoji = "".join(chr(0x1F300 + i) for i in range(200))
    for n in range(3):
        await create(api, token, "contacts", {"name": emoji[: 199 - n] + str(n)})
    seen, cursor = [], ""
    while True:  # an empty cursor= asks for the first page
        r = await api.json("GET", f"/contacts?sort=name&limit=1&cursor={cursor}", token)
        assert r.status_code == 200, r.text
        seen += [d["name"] for d in r.json()["data"]]
        cursor = r.json()["next_cursor"]
        if not cursor:
            break
        assert len(cursor) > 1000  # longer than the old limit
    assert len(seen) == 3 == len(set(seen))


async def test_cursor_of_relative_time_filter_survives_the_clock(api, token, seeded, clock):
    cursor = await _cursor(api, token, "created_at=gte:now-1d&limit=10")
    clock.advance(60)
    r = await api.get(f"/contacts?created_at=gte:now-1d&limit=10&cursor={cursor}", token)
    assert r.status_code == 200 and len(records(r)) == 10


async def test_total_is_capped_at_1000(api, token):
    rt = api.rt
    r = await api.json("GET", "/whoami", token)
    ws = r.json()["data"]["workspace"]["handle"].split("/")[1]
    async with rt.db.write() as tx:
        await tx.executemany(
            "INSERT INTO contacts (id, workspace_id, name, created_at, updated_at)"
            " VALUES (?, ?, ?, ?, ?)",
            [(f"c_{i:012d}".replace("0", "a"), ws, f"n{i}", i, i) for i in range(1001)],
        )
    r = await api.get("/contacts?limit=1", token)
    assert meta(r)[0] == "total: 1000+"
    r = await api.json("GET", "/contacts?limit=1", token)
    assert r.json()["total"] == 1000 and r.json()["total_is_lower_bound"] is True


async def test_search_pages_never_skip_rows_while_matches_are_added(api):
    """Ranking works within the newest 1,001 matches; the window is pinned at the first page,
    so matches added while paging cannot push older ones out of later pages."""
    token = await api.sign_in("pager@acme.com")
    original = set()
    for i in range(300):
        r = await api.json("POST", "/contacts", token, json={"name": f"Acme person {i}"})
        original.add(r.json()["data"]["handle"])
    r = await api.json("GET", "/contacts?search=acme&limit=100", token)
    seen = [row["handle"] for row in r.json()["data"]]
    cursor = r.json()["next_cursor"]
    for i in range(710):  # enough newer matches to push every original out of a sliding window
        await api.post("/contacts", token, json={"name": f"Acme newcomer {i}"})
    while cursor:
        r = await api.json("GET", f"/contacts?search=acme&limit=100&cursor={cursor}", token)
        seen += [row["handle"] for row in r.json()["data"]]
        cursor = r.json()["next_cursor"]
    assert len(seen) == len(set(seen)) == 300
    assert set(seen) == original
