"""Activities, reminders (with the injected clock) and the audit log with field diffs."""

from __future__ import annotations

import pytest

from tests.records_util import bare, create, join, meta, records, snapshot


@pytest.fixture
async def token(api):
    return await api.sign_in("act@acme.com")


async def test_log_and_list_activities(api, token, clock):
    c = await create(api, token, "contacts", {"name": "Jane"})
    d = await create(api, token, "deals", {"title": "Deal"})
    path = f"/contacts/{bare(c['handle'])}/activities"
    r = await api.post(path, token, json={"kind": "call", "body": "Called, wants a quote"})
    assert r.status_code == 201 and meta(r) == ["created"]
    [line] = records(r)
    assert line.startswith("activity/a_")
    assert f'kind=call contact={c["handle"]} body="Called, wants a quote" by=act@acme.com' in line
    clock.advance(60)
    r = await api.json(
        "POST", path, token, json={"kind": "email", "body": "sent", "at": "2026-09-01T10:00:00Z"}
    )
    assert r.status_code == 201 and r.json()["data"]["at"] == "2026-09-01T10:00:00Z"
    await api.post(f"/deals/{d['handle']}/activities", token, json={"kind": "meeting", "body": "m"})

    r = await api.json("GET", path, token)
    assert [a["kind"] for a in r.json()["data"]] == ["call", "email"]  # newest `at` first
    r = await api.get(f"/contacts/{c['handle']}", token)
    assert "activities=2 last_activity=2026-09-21T14:13:20Z" in r.text
    r = await api.get("/contacts", token)
    assert "activities=2 last_activity=" in records(r)[0]

    r = await api.json("GET", "/activities", token)
    assert [a["kind"] for a in r.json()["data"]] == ["meeting", "call", "email"]
    r = await api.json("GET", f"/activities?contact={c['handle']},{bare(c['handle'])}", token)
    assert len(r.json()["data"]) == 2
    r = await api.json("GET", f"/activities?contact={c['handle']}&deal={d['handle']}", token)
    assert len(r.json()["data"]) == 3
    r = await api.json("GET", "/activities?kind=call,meeting&limit=1", token)
    assert [a["kind"] for a in r.json()["data"]] == ["meeting"]
    r = await api.get("/activities?kind=fax", token)
    assert r.status_code == 400 and "allowed: call, email, meeting, note, task" in r.text
    r = await api.get("/activities?contact=deal/d_aaaaaaaaaaaa", token)
    assert r.status_code == 400
    r = await api.get("/activities?limit=500", token)
    assert r.status_code == 400


async def test_bad_activities_change_nothing(api, token):
    c = await create(api, token, "contacts", {"name": "Jane"})
    path = f"/contacts/{bare(c['handle'])}/activities"
    before = await snapshot(api.rt.db)
    for body in (
        {"kind": "fax", "body": "x"},
        {"kind": "call", "body": ""},
        {"kind": "call"},
        {"kind": "call", "body": "x", "at": "soon"},
        {"kind": "call", "body": "x", "by": "me"},
    ):
        r = await api.json("POST", path, token, json=body)
        assert r.status_code == 400, body
    r = await api.post(
        "/contacts/c_aaaaaaaaaaaa/activities", token, json={"kind": "call", "body": "x"}
    )
    assert r.status_code == 404
    assert await snapshot(api.rt.db) == before


async def test_reminders_order_and_overdue_flag(api, token, clock):
    now = clock.now()  # 2026-09-21T14:13:20Z

    def at(offset: int) -> str:
        from crmkit.clock import iso

        return str(iso(now + offset))

    await create(
        api,
        token,
        "contacts",
        {"name": "Later today", "follow_up_at": at(3600), "follow_up_note": "ping"},
    )
    await create(api, token, "deals", {"title": "Long overdue", "follow_up_at": at(-5 * 86400)})
    await create(api, token, "companies", {"name": "Just overdue", "follow_up_at": at(-60)})
    await create(api, token, "contacts", {"name": "In 3 days", "follow_up_at": at(3 * 86400)})
    await create(api, token, "contacts", {"name": "No follow-up"})

    r = await api.get("/reminders", token)
    lines = records(r)
    assert [ln.split()[0].split("/")[0] for ln in lines] == ["deal", "company", "contact"]
    assert 'title="Long overdue"' in lines[0] and "overdue=true" in lines[0]
    assert "overdue=true" in lines[1]
    assert 'name="Later today"' in lines[2] and "note=ping" in lines[2]
    assert "overdue=false" in lines[2]

    r = await api.json("GET", "/reminders?days=7", token)
    data = r.json()["data"]
    assert [d.get("name") or d.get("title") for d in data] == [
        "Long overdue",
        "Just overdue",
        "Later today",
        "In 3 days",
    ]
    assert [d["overdue"] for d in data] == [True, True, False, False]
    r = await api.json("GET", "/reminders?days=7&limit=2", token)
    assert len(r.json()["data"]) == 2

    clock.advance(2 * 3600)  # "later today" is now overdue too
    r = await api.json("GET", "/reminders", token)
    assert [d["overdue"] for d in r.json()["data"]] == [True, True, True]
    assert (await api.get("/reminders?days=x", token)).status_code == 400


async def test_reminders_empty(api, token):
    r = await api.get("/reminders", token)
    assert r.text.startswith("# total: 0\n# nothing is due\n")


@pytest.mark.parametrize(
    "plural,create_body,patch_body,diff",
    [
        (
            "contacts",
            {"name": "Jane", "stage": "lead"},
            {"stage": "customer"},
            "stage: lead -> customer",
        ),
        (
            "companies",
            {"name": "Acme", "tags": ["a"]},
            {"tags": ["a", "b"], "notes": "n"},
            "notes: null -> n; tags: a -> a,b",
        ),
        (
            "deals",
            {"title": "D", "amount_cents": 100},
            {"amount_cents": 250, "close_date": None},
            "amount_cents: 100 -> 250",
        ),
    ],
)
async def test_audit_rows_with_diffs(api, token, plural, create_body, patch_body, diff):
    rec = await create(api, token, plural, create_body)
    kind = rec["handle"].split("/")[0]
    r = await api.patch(f"/{plural}/{rec['handle']}", token, json=patch_body)
    assert r.status_code == 200
    r = await api.get(f"/audit?target={rec['handle']}", token)
    lines = records(r)
    assert len(lines) == 2
    assert lines[0].startswith("audit/ev_")
    assert f'action={kind}.update target={rec["handle"]} detail="{diff}"' in lines[0]
    assert "by=act@acme.com token=token/t_" in lines[0]
    assert f"action={kind}.create" in lines[1]  # newest first
    r = await api.json("GET", f"/audit?action={kind}.*&by=act@acme.com&limit=1", token)
    assert [e["action"] for e in r.json()["data"]] == [f"{kind}.update"]


async def test_upsert_and_no_op_audit(api, token):
    await create(api, token, "contacts", {"email": "j@x.com", "stage": "lead"})
    await create(api, token, "contacts", {"email": "J@x.com", "stage": "won"})
    await create(api, token, "contacts", {"email": "j@x.com", "stage": "won"})  # no change
    r = await api.json("GET", "/audit?action=contact.*", token)
    assert [(e["action"], e["detail"]) for e in r.json()["data"]] == [
        ("contact.update", "stage: lead -> won"),
        ("contact.create", None),
    ]


async def test_audit_shows_who(api, token):
    colleague = await join(api, token, "colleague@acme.com")
    await create(api, colleague, "deals", {"title": "By colleague"})
    r = await api.json("GET", "/audit?by=colleague@acme.com&action=deal.create", token)
    assert len(r.json()["data"]) == 1
    r = await api.get("/audit?limit=0", token)
    assert r.status_code == 400
