"""GET /activities, /<type>s/{id}/activities, /reminders and /audit page like record lists:
signed keyset cursors bound to the filters, `# total:` capped at 1,000, `# next:` while rows
remain, no row skipped or repeated while rows are written between pages; unknown parameters
and bad values are 400s that change nothing."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from teams_util import ids

from crmkit.clock import iso
from crmkit.records import feeds
from tests.records_util import bare, create, meta, records, snapshot


@pytest.fixture
async def token(api):
    return await api.sign_in("feeds@acme.com")


async def nothing(page: int) -> None:
    return None


async def walk(
    api: Any,
    token: str,
    path: str,
    limit: int,
    between: Callable[[int], Awaitable[None]] = nothing,
) -> list[dict[str, Any]]:
    """Every row of `path`, page by page (JSON), calling `between` after each page."""
    seen: list[dict[str, Any]] = []
    cursor = None
    pages = 0
    sep = "&" if "?" in path else "?"
    while True:
        q = f"{path}{sep}limit={limit}" + (f"&cursor={cursor}" if cursor else "")
        r = await api.json("GET", q, token)
        assert r.status_code == 200, r.text
        body = r.json()
        assert len(body["data"]) <= limit
        seen += body["data"]
        cursor = body["next_cursor"]
        pages += 1
        if cursor is None:
            assert pages > 1 or len(seen) <= limit
            return seen
        assert len(body["data"]) == limit  # a page that says more remain is full
        await between(pages)


def handles(rows: list[dict[str, Any]]) -> list[str]:
    return [r["handle"] for r in rows]


async def audit_ids(api: Any, workspace_id: str, where: str = "TRUE") -> set[str]:
    rows = await api.rt.db.all(
        f"SELECT id FROM audit WHERE workspace_id = ? AND {where}", (workspace_id,)
    )
    return {"audit/" + r[0] for r in rows}


# --- paging with writes between pages -------------------------------------------------------


async def test_audit_pages_skip_and_repeat_nothing_while_rows_are_written(api, token, clock):
    workspace_id, _ = await ids(api, token)
    for i in range(23):
        await create(api, token, "contacts", {"name": f"p{i}"})
        if i % 5 == 0:
            clock.advance(1)
    before = await audit_ids(api, workspace_id)
    written = 0

    async def write(page: int) -> None:
        nonlocal written
        for _ in range(2):
            written += 1
            await create(api, token, "deals", {"title": f"new {written}"})

    seen = handles(await walk(api, token, "/audit", 4, write))
    assert len(seen) == len(set(seen)), "a row was repeated"
    assert before <= set(seen), "a row was skipped"
    assert written >= 10
    # newest first: the log's own order (the order rows were written in)
    rows = await api.rt.db.all(
        "SELECT id FROM audit WHERE workspace_id = ? ORDER BY seq DESC", (workspace_id,)
    )
    order = ["audit/" + r[0] for r in rows]
    assert [h for h in order if h in before] == [h for h in seen if h in before]


async def test_activities_page_on_at_then_logging_order(api, token, clock):
    c = await create(api, token, "contacts", {"name": "Jane"})
    d = await create(api, token, "deals", {"title": "Deal"})
    logged: set[str] = set()
    on_c: set[str] = set()
    for i in range(17):
        # most share one `at`: only the tie-break keeps them apart; some are back-dated
        body: dict[str, Any] = {"kind": "note", "body": f"n{i}"}
        if i % 4 == 0:
            body["at"] = iso(clock.now() - 86400 * (i + 1))
        target = c if i % 3 else d
        plural = "contacts" if target is c else "deals"
        path = f"/{plural}/{bare(target['handle'])}/activities"
        r = await api.json("POST", path, token, json=body)
        assert r.status_code == 201, r.text
        logged.add(r.json()["data"]["handle"])
        if target is c:
            on_c.add(r.json()["data"]["handle"])
    written = 0

    async def write(page: int) -> None:
        nonlocal written
        for at in (None, iso(clock.now() - 3 * 86400)):  # one in front, one in the middle
            written += 1
            body = {"kind": "call", "body": f"w{written}"} | ({"at": at} if at else {})
            r = await api.post(f"/contacts/{c['handle']}/activities", token, json=body)
            assert r.status_code == 201

    for path in (
        "/activities",
        f"/activities?contact={bare(c['handle'])}&deal={d['handle']}",
    ):
        rows = await walk(api, token, path, 3, write)
        seen = handles(rows)
        assert len(seen) == len(set(seen)), (path, "a row was repeated")
        assert logged <= set(seen), (path, "a row was skipped")
        ats = [r["at"] for r in rows]
        assert ats == sorted(ats, reverse=True), "newest first"

    rows = await walk(api, token, f"/contacts/{bare(c['handle'])}/activities", 2, write)
    seen = handles(rows)
    assert len(seen) == len(set(seen))
    assert on_c <= set(seen)
    assert all(r["contact"] == c["handle"] for r in rows)


async def test_reminders_page_soonest_first_ties_by_id(api, token, clock):
    now = clock.now()
    due: set[str] = set()
    for i in range(19):
        plural = ("contacts", "companies", "deals")[i % 3]
        key = "title" if plural == "deals" else "name"
        # four distinct times: many ties, across the three types
        at = iso(now + ((i % 4) - 2) * 3600 * 24)
        rec = await create(api, token, plural, {key: f"r{i}", "follow_up_at": at})
        due.add(rec["handle"])
    await create(api, token, "contacts", {"name": "far", "follow_up_at": iso(now + 90 * 86400)})
    written = 0

    async def write(page: int) -> None:
        nonlocal written
        written += 1
        await create(
            api, token, "contacts", {"name": f"w{written}", "follow_up_at": iso(now - 86400)}
        )

    rows = await walk(api, token, "/reminders?days=5", 4, write)
    seen = handles(rows)
    assert len(seen) == len(set(seen)), "a row was repeated"
    assert due <= set(seen), "a row was skipped"
    assert not any("far" == r.get("name") for r in rows)
    keys = [(r["follow_up_at"], bare(r["handle"])) for r in rows]
    assert keys == sorted(keys), "soonest first, ties by id"
    overdue = [r["overdue"] for r in rows]
    assert overdue == sorted(overdue, reverse=True), "overdue ones lead"
    # Both kinds are there (days -2 and -1 are past, 0 is now and +1 ahead), and each row's
    # flag says whether its time has passed.
    assert True in overdue and False in overdue
    assert overdue == [r["follow_up_at"] < iso(now) for r in rows]


# --- the text form: total first, next last ----------------------------------------------------


async def test_text_pages_carry_total_and_next(api, token):
    c = await create(api, token, "contacts", {"name": "Jane", "follow_up_at": "2020-01-01"})
    for i in range(3):
        r = await api.post(
            f"/contacts/{c['handle']}/activities", token, json={"kind": "note", "body": f"{i}"}
        )
        assert r.status_code == 201
    for path, total in (
        ("/audit?action=activity.create", 3),
        ("/activities", 3),
        (f"/contacts/{bare(c['handle'])}/activities", 3),
    ):
        r = await api.get(path + "&limit=2" if "?" in path else path + "?limit=2", token)
        lines = r.text.splitlines()
        assert lines[0] == f"# total: {total}", r.text
        assert len(records(r)) == 2
        assert lines[-1].startswith("# next: ")
        cursor = lines[-1][len("# next: ") :]
        sep = "&" if "?" in path else "?"
        r = await api.get(f"{path}{sep}limit=2&cursor={cursor}", token)
        assert r.status_code == 200, r.text
        assert r.text.splitlines()[0] == f"# total: {total}"
        assert len(records(r)) == 1 and not r.text.splitlines()[-1].startswith("# next:")
    r = await api.json("GET", "/reminders", token)
    body = r.json()
    assert body["total"] == 1 and body["next_cursor"] is None and len(body["data"]) == 1
    assert "total_is_lower_bound" not in body


# --- totals and their cap ---------------------------------------------------------------------


async def test_totals_are_capped_like_record_lists(api, token, monkeypatch, clock):
    monkeypatch.setattr(feeds, "COUNT_CAP", 4)
    c = await create(api, token, "contacts", {"name": "J", "follow_up_at": "2020-01-01"})
    for i in range(5):
        await api.post(
            f"/contacts/{c['handle']}/activities", token, json={"kind": "call", "body": "x"}
        )
        await create(api, token, "deals", {"title": f"d{i}", "follow_up_at": "2020-01-02"})
    for path in ("/audit", "/activities", f"/contacts/{c['handle']}/activities", "/reminders"):
        r = await api.get(path + "?limit=2", token)
        assert meta(r)[0] == "total: 4+", (path, r.text)
        r = await api.json("GET", path + "?limit=2", token)
        body = r.json()
        assert body["total"] == 4 and body["total_is_lower_bound"] is True, path
    r = await api.json("GET", "/audit?action=contact.create", token)
    assert r.json()["total"] == 1 and "total_is_lower_bound" not in r.json()
    r = await api.json("GET", "/reminders?limit=1", token)
    assert r.json()["total"] == 4  # 6 due, capped


async def test_audit_total_is_exact_to_1000_then_a_lower_bound(api, token):
    workspace_id, _ = await ids(api, token)
    signed_in = len(await audit_ids(api, workspace_id))  # the sign-in's own rows
    seeded = 1000 - signed_in
    async with api.rt.db.write() as tx:
        for i in range(seeded):
            await tx.execute(
                "INSERT INTO audit (id, workspace_id, at, actor_email, action, target)"
                " VALUES (?, ?, ?, 'feeds@acme.com', 'contact.update', 'contact/c_aaaaaaaaaaaa')",
                (f"ev_seed{i:05d}", workspace_id, 1_700_000_000 + i),
            )
    r = await api.get("/audit?target=c_aaaaaaaaaaaa&limit=1", token)
    assert meta(r)[0] == f"total: {seeded}"
    r = await api.get("/audit?limit=1", token)
    assert meta(r)[0] == "total: 1000"
    r = await api.json("GET", "/audit?limit=1", token)
    assert r.json()["total"] == 1000 and "total_is_lower_bound" not in r.json()
    await create(api, token, "contacts", {"name": "one more"})
    r = await api.get("/audit?limit=1", token)
    assert meta(r)[0] == "total: 1000+"
    r = await api.json("GET", "/audit?limit=1", token)
    assert r.json()["total"] == 1000 and r.json()["total_is_lower_bound"] is True


# --- cursors: tampered, mismatched, foreign ---------------------------------------------------


async def _cursor(api: Any, token: str, path: str) -> str:
    r = await api.json("GET", path, token)
    assert r.status_code == 200, r.text
    cursor = r.json()["next_cursor"]
    assert isinstance(cursor, str)
    return cursor


def _tampered(cursor: str) -> str:
    i = len(cursor) // 3
    return cursor[:i] + ("A" if cursor[i] != "A" else "B") + cursor[i + 1 :]


async def test_tampered_and_mismatched_cursors_are_400(api, token):
    c = await create(api, token, "contacts", {"name": "J", "follow_up_at": "2020-01-01"})
    other = await create(api, token, "contacts", {"name": "K", "follow_up_at": "2020-01-01"})
    await create(api, token, "deals", {"title": "D", "follow_up_at": "2020-01-01"})
    for _ in range(3):
        for rec in (c, other):
            r = await api.post(
                f"/contacts/{rec['handle']}/activities", token, json={"kind": "call", "body": "x"}
            )
            assert r.status_code == 201
    audit = await _cursor(api, token, "/audit?action=contact.*&limit=1")
    acts = await _cursor(api, token, f"/activities?contact={c['handle']}&limit=1")
    mine = await _cursor(api, token, f"/contacts/{c['handle']}/activities?limit=1")
    due = await _cursor(api, token, "/reminders?days=7&limit=1")
    listed = await _cursor(api, token, "/contacts?limit=1")
    cases = [
        ("/audit?action=contact.*", _tampered(audit)),
        ("/audit?action=contact.*", audit[:-3]),
        ("/audit?action=deal.*", audit),
        ("/audit", audit),
        ("/audit", listed),
        ("/audit", "abc"),
        (f"/activities?contact={c['handle']}", _tampered(acts)),
        (f"/activities?contact={other['handle']}", acts),
        (f"/activities?contact={c['handle']}&kind=call", acts),
        ("/activities", audit),
        (f"/contacts/{other['handle']}/activities", mine),
        (f"/contacts/{c['handle']}/activities", due),
        ("/reminders?days=8", due),
        ("/reminders", due),
        ("/reminders?days=7", _tampered(due)),
        ("/reminders?days=7", "x" * 5000),
        ("/contacts", due),
    ]
    before = await snapshot(api.rt.db)
    for path, cursor in cases:
        sep = "&" if "?" in path else "?"
        r = await api.json("GET", f"{path}{sep}cursor={cursor}", token)
        assert r.status_code == 400, (path, r.text)
        assert r.json()["error"]["code"] == "invalid_cursor", (path, r.text)
        r = await api.get(f"{path}{sep}cursor={cursor}", token)
        assert r.text.startswith("error: invalid_cursor: ") and "\nhint: " in r.text
    assert await snapshot(api.rt.db) == before
    # the same filters spelt otherwise (a bare id, the same list reordered) keep the cursor
    r = await api.json("GET", f"/activities?contact={bare(c['handle'])}&cursor={acts}", token)
    assert r.status_code == 200 and len(r.json()["data"]) == 2
    r = await api.json("GET", f"/contacts/{bare(c['handle'])}/activities?cursor={mine}", token)
    assert r.status_code == 200 and len(r.json()["data"]) == 2
    # `cursor=` with nothing is the first page, as for record lists
    r = await api.json("GET", "/audit?action=contact.*&cursor=", token)
    assert r.status_code == 200 and r.json()["total"] == 2


async def test_another_workspaces_cursor_is_400(api, token):
    for i in range(3):
        await create(api, token, "contacts", {"name": f"p{i}"})
    cursor = await _cursor(api, token, "/audit?limit=1")
    theirs = await api.sign_in("other@b.example")
    for i in range(3):
        await create(api, theirs, "contacts", {"name": f"q{i}"})
    r = await api.json("GET", f"/audit?limit=1&cursor={cursor}", theirs)
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_cursor"


# --- unknown parameters and bad values --------------------------------------------------------


async def test_unknown_parameters_and_bad_values_are_400_and_change_nothing(api, token):
    c = await create(api, token, "contacts", {"name": "J"})
    cid = bare(c["handle"])
    cases = [
        ("/reminders?day=7", "allowed: cursor, days, format, limit"),
        ("/activities?kinds=call", "allowed: company, contact, cursor, deal, format, kind, limit"),
        ("/audit?actions=contact.create", "allowed: action, by, cursor, format, limit, target"),
        (f"/contacts/{cid}/activities?kind=call", "allowed: cursor, format, limit"),
        (f"/deals/{cid}/activities?x=1", None),  # a bad parameter before a missing record
        ("/audit?action=bogus", "allowed: activity.*, activity.create, auth.*"),
        ("/audit?action=contact.created", "contact.update"),
        ("/audit?action=bogus.*", "hint: use one of the allowed actions, or <kind>.*"),
        ("/audit?action=", None),
        ("/audit?target=garbage", "hint: e.g. target=contact/c_"),
        ("/audit?target=deal/c_aaaaaaaaaaaa", "hint: e.g. target=contact/c_"),
        ("/audit?target=contact/c_AAAA", None),
        ("/audit?target=", None),
        ("/audit?by=nobody", "hint: e.g. by=jane@acme.com, by=user/u_"),
        ("/audit?by=contact/c_aaaaaaaaaaaa", None),
        ("/audit?by=", None),
        ("/audit?by=a@b.c&by=d@e.f", "send by= once"),
        ("/audit?limit=1&limit=2", "send limit= once"),
        ("/activities?contact=deal/d_aaaaaaaaaaaa", "hint: e.g. contact=contact/c_"),
        ("/activities?contact=d_aaaaaaaaaaaa", None),
        ("/activities?company=c_aaaaaaaaaaaa", "hint: e.g. company=company/co_"),
        ("/activities?deal=", None),
        ("/activities?kind=fax", "allowed: call, email, meeting, note, task"),
        ("/activities?contact=" + ",".join([cid] * 101), "more than 100"),
        ("/reminders?days=-1", None),
        ("/reminders?limit=0", None),
        ("/reminders?days=7%00", None),
    ]
    before = await snapshot(api.rt.db)
    UNKNOWN = 5  # the first five send a parameter the route does not take
    for i, (path, expected) in enumerate(cases):
        r = await api.get(path, token)
        assert r.status_code == 400, (path, r.text)
        # a parameter the route does not take at all is unknown_parameter; a bad value of
        # one it does take is invalid_query
        code = "unknown_parameter" if i < UNKNOWN else "invalid_query"
        assert r.text.startswith(f"error: {code}: "), (path, r.text)
        if expected:
            assert expected in r.text, (path, r.text)
        r = await api.json("GET", path, token)
        assert r.status_code == 400 and r.json()["error"]["code"] == code
    assert await snapshot(api.rt.db) == before
    # format= is the renderer's, on these routes as on every other
    r = await api.get("/reminders?format=json&days=1", token)
    assert r.status_code == 200 and r.json()["total"] == 0


# --- target= and by= take every spelling of an id ---------------------------------------------


async def test_audit_target_bare_or_handle_and_by_user_or_email(api, token):
    c = await create(api, token, "contacts", {"name": "J", "stage": "lead"})
    await api.patch(f"/contacts/{c['handle']}", token, json={"stage": "customer"})
    d = await create(api, token, "deals", {"title": "D"})
    _, user_id = await ids(api, token)

    async def rows(query: str) -> list[str]:
        r = await api.json("GET", "/audit?" + query, token)
        assert r.status_code == 200, r.text
        return handles(r.json()["data"])

    by_handle = await rows(f"target={c['handle']}")
    assert len(by_handle) == 2
    assert await rows(f"target={bare(c['handle'])}") == by_handle
    assert await rows(f"target={bare(d['handle'])}") != by_handle
    everything = await rows("action=contact.*")
    assert len(everything) == 2
    by_email = await rows("by=FEEDS@acme.com&action=contact.*")
    assert by_email == everything
    assert await rows(f"by=user/{user_id}&action=contact.*") == everything
    assert await rows(f"by={user_id}&action=contact.*") == everything
    assert await rows("by=user/u_aaaaaaaaaaaa") == []
    r = await api.json("GET", "/audit?by=user/u_aaaaaaaaaaaa", token)
    assert r.json()["total"] == 0 and r.json()["next_cursor"] is None
    assert await rows(f"target=workspace/{(await ids(api, token))[0]}") != []


async def test_another_workspaces_handles_never_show_rows(api, token):
    mine = await create(api, token, "contacts", {"name": "Mine"})
    theirs_token = await api.sign_in("bob@b.example")
    theirs = await create(
        api, theirs_token, "contacts", {"name": "Bob", "follow_up_at": "2020-01-01"}
    )
    r = await api.post(
        f"/contacts/{theirs['handle']}/activities", theirs_token, json={"kind": "call", "body": "b"}
    )
    assert r.status_code == 201
    _, their_user = await ids(api, theirs_token)
    for query in (
        f"/audit?target={theirs['handle']}",
        f"/audit?target={bare(theirs['handle'])}",
        f"/audit?by=user/{their_user}",
        f"/audit?by={their_user}",
        f"/audit?target=user/{their_user}",
        f"/activities?contact={bare(theirs['handle'])}",
        f"/activities?contact={theirs['handle']},{mine['handle']}",
        "/reminders?days=3650",
    ):
        r = await api.json("GET", query, token)
        assert r.status_code == 200, (query, r.text)
        assert r.json()["data"] == [] and r.json()["total"] == 0, (query, r.text)
    r = await api.get(f"/contacts/{bare(theirs['handle'])}/activities", token)
    assert r.status_code == 404
    # and the owner sees them: the filters above did match something
    r = await api.json("GET", f"/audit?target={bare(theirs['handle'])}", theirs_token)
    assert r.json()["total"] == 2
    r = await api.json("GET", f"/audit?by=user/{their_user}&action=contact.*", theirs_token)
    assert r.json()["total"] == 1


async def test_a_page_past_the_last_row_still_counts(api, token):
    """Rows gone between two pages (here, written around the API) leave the next page empty;
    its total is then read on its own (store/feeds.rows_and_total)."""
    made = await create(api, token, "contacts", {"name": "Gone"})
    path = f"/contacts/{bare(made['handle'])}/activities"
    for body in ("one", "two", "three"):
        r = await api.post(path, token, json={"kind": "note", "body": body})
        assert r.status_code == 201
    first = (await api.json("GET", f"{path}?limit=2", token)).json()
    assert first["total"] == 3 and first["next_cursor"]
    async with api.rt.db.write() as tx:
        await tx.execute("DELETE FROM activities WHERE body = 'one'")
    r = await api.json("GET", f"{path}?limit=2&cursor={first['next_cursor']}", token)
    assert r.status_code == 200, r.text
    assert (r.json()["data"], r.json()["total"], r.json()["next_cursor"]) == ([], 2, None)
