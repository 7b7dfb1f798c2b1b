"""Rules an outside audit could break without any test noticing: the end of "today" in
GET /reminders, the 16 KiB limit on `custom`, and the companies and deals plan caps."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from teams_util import error, snapshot

from crmkit.clock import FixedClock, iso
from tests.records_util import snapshot as record_snapshot

# 2026-09-21T14:13:20Z: the clock fixture's "now"; the day (UTC) ends 35,799 s later.
DAY = 86400


@pytest.fixture
def env() -> dict[str, str]:
    # Caps of their own for companies and deals (contacts keep the built-in 1,000), and unlike
    # each other, so a check that counts or caps the wrong kind is refused at the wrong count.
    return {"CRMKIT_PLANS": '{"free": {"companies": 2, "deals": 3}}'}


# --- GET /reminders: overdue, and due later today (UTC) -----------------------------------------


async def due_now(api: Any, token: str, path: str = "/reminders") -> dict[str, bool]:
    """name -> overdue, for every row of GET /reminders (one page holds them all)."""
    r = await api.json("GET", path + ("&" if "?" in path else "?") + "limit=200", token)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["next_cursor"] is None and body["total"] == len(body["data"])
    return {row["name"]: row["overdue"] for row in body["data"]}


async def test_reminders_end_at_the_last_second_of_today_utc(api: Any, clock: FixedClock) -> None:
    token = await api.sign_in("ann@acme.com")
    now = clock.now()
    midnight = now - now % DAY + DAY  # the first second of tomorrow (UTC)
    assert iso(midnight) == "2026-09-22T00:00:00Z"
    at = {
        "this morning": midnight - DAY + 36000,  # 10:00 today: overdue
        "just before now": now - 1,
        "at now": now,
        "last second of today": midnight - 1,
        "first second of tomorrow": midnight,
        "tomorrow noon": midnight + 43200,
        "last second of tomorrow": midnight + DAY - 1,
        "day after tomorrow": midnight + DAY,
    }
    for name, when in at.items():
        r = await api.json(
            "POST", "/contacts", token, json={"name": name, "follow_up_at": iso(when)}
        )
        assert r.status_code == 201, r.text

    # 14:13:20: what has passed is overdue; the rest of today is due, not overdue; not tomorrow.
    assert await due_now(api, token) == {
        "this morning": True,
        "just before now": True,
        "at now": False,
        "last second of today": False,
    }
    # days=0 looks no further than now; days=1 24 hours ahead, past midnight.
    assert set(await due_now(api, token, "/reminders?days=0")) == {
        "this morning",
        "just before now",
        "at now",
    }
    assert set(await due_now(api, token, "/reminders?days=1")) == {
        "this morning",
        "just before now",
        "at now",
        "last second of today",
        "first second of tomorrow",
        "tomorrow noon",
    }

    # 23:59:59, the day's last second: still today's list.
    clock.advance(midnight - 1 - now)
    assert await due_now(api, token) == {
        "this morning": True,
        "just before now": True,
        "at now": True,
        "last second of today": False,
    }
    # 00:00:00: a new day, and all of it due.
    clock.advance(1)
    assert await due_now(api, token) == {
        "this morning": True,
        "just before now": True,
        "at now": True,
        "last second of today": True,
        "first second of tomorrow": False,
        "tomorrow noon": False,
        "last second of tomorrow": False,
    }


# --- `custom`: at most 16 KiB as JSON ---------------------------------------------------------

LIMIT = 16384


def custom_of_size(size: int, char: str = "x") -> dict[str, str]:
    """A custom object whose JSON (as orjson writes it, UTF-8) is exactly `size` bytes."""
    overhead = len(orjson.dumps({"k": ""}))
    width = len(char.encode())
    assert (size - overhead) % width == 0
    custom = {"k": char * ((size - overhead) // width)}
    assert len(orjson.dumps(custom)) == size
    return custom


@pytest.mark.parametrize("char", ["x", "\u00e9"])  # one byte; two bytes in one character
async def test_custom_up_to_16_kib_is_kept_and_one_byte_more_refused(api: Any, char: str) -> None:
    token = await api.sign_in("ann@acme.com")
    fits, over = custom_of_size(LIMIT, char), custom_of_size(LIMIT + len(char.encode()), char)

    # Create: the limit itself fits; one byte (one character) more is a 400 that writes nothing.
    before = await record_snapshot(api.rt.db)
    r = await api.json("POST", "/contacts", token, json={"name": "Over", "custom": over})
    assert r.status_code == 400, r.text
    err = r.json()["error"]
    assert err["code"] == "invalid_field" and "custom" in err["message"]
    assert "16384 bytes" in err["message"], err
    assert await record_snapshot(api.rt.db) == before
    r = await api.json("POST", "/contacts", token, json={"name": "Fits", "custom": fits})
    assert r.status_code == 201, r.text
    handle = r.json()["data"]["handle"]
    assert r.json()["data"]["custom"] == fits

    # Update: the same limit, and a refused PATCH leaves the record as it was.
    smaller = {"k": "small"}
    r = await api.json("PATCH", f"/contacts/{handle}", token, json={"custom": smaller})
    assert r.status_code == 200, r.text
    before = await record_snapshot(api.rt.db)
    r = await api.json("PATCH", f"/contacts/{handle}", token, json={"custom": over})
    assert r.status_code == 400, r.text
    assert r.json()["error"]["code"] == "invalid_field"
    assert await record_snapshot(api.rt.db) == before
    got = (await api.json("GET", f"/contacts/{handle}", token)).json()["data"]
    assert got["custom"] == smaller and got["version"] == 2
    r = await api.json("PATCH", f"/contacts/{handle}", token, json={"custom": fits})
    assert r.status_code == 200, r.text
    assert r.json()["data"]["custom"] == fits and r.json()["data"]["version"] == 3


@pytest.mark.parametrize(
    ("plural", "body"), [("companies", {"name": "Co"}), ("deals", {"title": "D"})]
)
async def test_the_custom_limit_holds_for_companies_and_deals(
    api: Any, plural: str, body: dict[str, Any]
) -> None:
    token = await api.sign_in("ann@acme.com")
    before = await record_snapshot(api.rt.db)
    over = {**body, "custom": custom_of_size(LIMIT + 1)}
    r = await api.json("POST", f"/{plural}", token, json=over)
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_field", r.text
    assert await record_snapshot(api.rt.db) == before
    r = await api.json("POST", f"/{plural}", token, json={**body, "custom": custom_of_size(LIMIT)})
    assert r.status_code == 201, r.text


# --- plan caps on companies and deals ---------------------------------------------------------


async def delete(api: Any, token: str, handle: str) -> None:
    kind, id_ = handle.split("/")
    plural = {"company": "companies", "deal": "deals", "contact": "contacts"}[kind]
    r = await api.delete(f"/{plural}/{id_}", token)
    assert r.status_code == 428, r.text
    confirm = next(x for x in r.text.splitlines() if x.startswith("confirm: "))[9:]
    r = await api.delete(f"/{plural}/{id_}?confirm={confirm}", token)
    assert r.status_code == 200, r.text


async def assert_refused(api: Any, r: Any, cap: str, limit: int) -> None:
    assert r.status_code == 403, r.text
    body = error(r)
    assert body["code"] == "plan_limit_reached"
    assert (body["cap"], body["used"], body["limit"], body["plan"]) == (
        cap,
        str(limit),
        str(limit),
        "free",
    )
    assert f"{limit} {cap}" in body["message"]
    assert f"DELETE /{cap}" in body["hint"]


async def test_companies_cap(api: Any) -> None:
    token = await api.sign_in("ann@acme.com")
    handles = []
    for i in range(2):
        body = {"name": f"Co {i}", "domain": f"co{i}.example"}
        r = await api.json("POST", "/companies", token, json=body)
        assert r.status_code == 201, r.text
        handles.append(r.json()["data"]["handle"])
    # Deals and contacts have caps of their own: a full companies cap leaves them be.
    r = await api.json("POST", "/deals", token, json={"title": "Deal while full"})
    assert r.status_code == 201, r.text
    r = await api.json("POST", "/contacts", token, json={"name": "Contact while full"})
    assert r.status_code == 201, r.text
    whoami = (await api.get("/whoami", token)).text
    assert "usage/companies used=2 limit=2" in whoami
    assert "usage/deals used=1 limit=3" in whoami

    before = await snapshot(api)
    r = await api.json("POST", "/companies", token, json={"name": "One too many"})
    await assert_refused(api, r, "companies", 2)
    assert await snapshot(api) == before

    # An upsert that updates a company (same domain) does not count.
    r = await api.json(
        "POST", "/companies", token, json={"name": "Renamed", "domain": "co1.example"}
    )
    assert r.status_code == 200 and r.json()["data"]["name"] == "Renamed", r.text
    # Deleting one frees room for one.
    await delete(api, token, handles[0])
    r = await api.json("POST", "/companies", token, json={"name": "Now fits"})
    assert r.status_code == 201, r.text
    r = await api.json("POST", "/companies", token, json={"name": "Full again"})
    await assert_refused(api, r, "companies", 2)


async def test_deals_cap(api: Any) -> None:
    token = await api.sign_in("ann@acme.com")
    # Companies fill their own cap first: deals still have all of theirs.
    for i in range(2):
        r = await api.json("POST", "/companies", token, json={"name": f"Co {i}"})
        assert r.status_code == 201, r.text
    handles = []
    for i in range(3):
        r = await api.json("POST", "/deals", token, json={"title": f"Deal {i}"})
        assert r.status_code == 201, r.text
        handles.append(r.json()["data"]["handle"])
    assert "usage/deals used=3 limit=3" in (await api.get("/whoami", token)).text

    before = await snapshot(api)
    r = await api.json("POST", "/deals", token, json={"title": "One too many"})
    await assert_refused(api, r, "deals", 3)
    assert await snapshot(api) == before
    # A contact still fits: its cap is the built-in 1,000.
    r = await api.json("POST", "/contacts", token, json={"name": "Still fits"})
    assert r.status_code == 201, r.text

    await delete(api, token, handles[1])
    r = await api.json("POST", "/deals", token, json={"title": "Now fits"})
    assert r.status_code == 201, r.text
    r = await api.json("POST", "/deals", token, json={"title": "Full again"})
    await assert_refused(api, r, "deals", 3)
