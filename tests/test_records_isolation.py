"""Workspace isolation as a matrix over the route table: another workspace's ids answer exactly
like missing ones, change nothing, and never show up in a list."""

from __future__ import annotations

import pytest

from crmkit.web.records import routes
from tests.records_util import bare, create, records, snapshot

MISSING = {"contact": "c_aaaaaaaaaaaa", "company": "co_aaaaaaaaaaaa", "deal": "d_aaaaaaaaaaaa"}
PLURAL = {"contact": "contacts", "company": "companies", "deal": "deals"}


@pytest.fixture
async def world(api):
    """Workspace B holds one of everything; A is a different person's workspace."""
    a = await api.sign_in("alice@a.example")
    b = await api.sign_in("bob@b.example")
    company = await create(api, b, "companies", {"name": "Bco", "domain": "b.example"})
    contact = await create(
        api,
        b,
        "contacts",
        {
            "name": "Bob",
            "email": "bob@b.example",
            "company_id": company["handle"],
            "follow_up_at": "2020-01-01T00:00:00Z",
        },
    )
    deal = await create(api, b, "deals", {"title": "B deal", "contact_id": contact["handle"]})
    for h in (contact["handle"], company["handle"], deal["handle"]):
        kind, id_ = h.split("/")
        r = await api.post(
            f"/{PLURAL[kind]}/{id_}/activities", b, json={"kind": "note", "body": "x"}
        )
        assert r.status_code == 201
    ids = {
        "contact": bare(contact["handle"]),
        "company": bare(company["handle"]),
        "deal": bare(deal["handle"]),
    }
    return a, b, ids


BODIES = {"PATCH": {"tags": ["x"]}, "POST": {"kind": "call", "body": "hi"}}


def _id_routes() -> list[tuple[str, str]]:
    """(method, path template) of every records route that takes an id: from the route table,
    so a new route cannot be left out of the matrix."""
    found = []
    for route in routes:
        if "{id" in route.path:
            for method in sorted(route.methods or ()):
                if method != "HEAD":
                    found.append((method, route.path))
    return found


def test_matrix_covers_every_id_route():
    paths = {(m, p.split("/", 2)[2]) for m, p in _id_routes()}
    assert paths == {
        ("GET", "{id:handle}"),
        ("PATCH", "{id:handle}"),
        ("DELETE", "{id:handle}"),
        ("GET", "{id:handle}/activities"),
        ("POST", "{id:handle}/activities"),
    }
    assert len(_id_routes()) == 15


def _requests(kind: str, id_: str) -> list[tuple[str, str, dict | None]]:
    out: list[tuple[str, str, dict | None]] = []
    for method, template in _id_routes():
        if not template.startswith(f"/{PLURAL[kind]}/"):
            continue
        for shown in (id_, f"{kind}/{id_}"):
            path = template.replace("{id:handle}", shown)
            out.append((method, path, BODIES.get(method)))
            if method == "DELETE":
                out.append((method, path + "?confirm=abc", None))
    return out


@pytest.mark.parametrize("as_json", [False, True])
async def test_other_workspace_ids_are_404_like_missing_and_change_nothing(api, world, as_json):
    a, _, ids = world
    before = await snapshot(api.rt.db)
    headers = {"Accept": "application/json"} if as_json else {}
    for kind, id_ in ids.items():
        for (method, path, body), (_, missing_path, _) in zip(
            _requests(kind, id_), _requests(kind, MISSING[kind]), strict=True
        ):
            theirs = await api.request(method, path, a, json=body, headers=headers)
            missing = await api.request(method, missing_path, a, json=body, headers=headers)
            assert theirs.status_code == missing.status_code == 404, (method, path, theirs.text)
            assert theirs.text.replace(id_, MISSING[kind]) == missing.text
    assert await snapshot(api.rt.db) == before


async def test_other_workspace_ids_in_bodies_are_refused_like_missing(api, world):
    a, _, ids = world
    mine = await create(api, a, "contacts", {"name": "Mine"})
    before = await snapshot(api.rt.db)
    cases = [
        ("POST", "/contacts", {"name": "X", "company_id": "company/%s"}, "company"),
        ("PATCH", f"/contacts/{mine['handle']}", {"company_id": "%s"}, "company"),
        ("POST", "/deals", {"title": "X", "contact_id": "%s"}, "contact"),
        ("POST", "/deals", {"title": "X", "company_id": "%s"}, "company"),
    ]
    for method, path, template, kind in cases:
        key = next(iter(k for k in template if k.endswith("_id")))
        theirs_body = {**template, key: template[key] % ids[kind]}
        missing_body = {**template, key: template[key] % MISSING[kind]}
        theirs = await api.json(method, path, a, json=theirs_body)
        missing = await api.json(method, path, a, json=missing_body)
        assert theirs.status_code == missing.status_code == 400
        assert theirs.text.replace(ids[kind], MISSING[kind]) == missing.text
    assert await snapshot(api.rt.db) == before


async def test_lists_and_queries_never_show_other_workspace_rows(api, world):
    a, b, ids = world
    for p in PLURAL.values():
        r = await api.get(f"/{p}", a)
        assert records(r) == [], r.text
        r = await api.get(f"/{p}?search=b", a)
        assert records(r) == []
        r = await api.get(f"/{p}", b)
        assert len(records(r)) == 1
    queries = [
        f"/contacts?company_id={ids['company']}",
        "/contacts?search=bob",
        "/contacts?email=bob@b.example",
        "/companies?domain=b.example",
        f"/deals?contact_id=contact/{ids['contact']}",
        f"/activities?contact={ids['contact']}",
        f"/activities?deal=deal/{ids['deal']}&company={ids['company']}",
        "/activities",
        "/reminders?days=3650",
        f"/audit?target=contact/{ids['contact']}",
        "/audit?by=bob@b.example",
    ]
    for q in queries:
        r = await api.get(q, a)
        assert r.status_code == 200, (q, r.text)
        assert records(r) == [], (q, r.text)
        assert ids["contact"] not in r.text and ids["company"] not in r.text


async def test_upsert_never_merges_into_another_workspace(api, world):
    a, b, ids = world
    r = await api.json("POST", "/contacts", a, json={"email": "BOB@b.example", "name": "A's Bob"})
    assert r.status_code == 201 and r.json()["result"] == "created"
    r = await api.json("POST", "/companies", a, json={"domain": "www.b.example"})
    assert r.status_code == 201
    r = await api.json("GET", f"/contacts/{ids['contact']}", b)
    assert r.json()["data"]["name"] == "Bob" and r.json()["data"]["version"] == 1


async def test_confirm_token_from_another_workspace_does_not_delete(api, world):
    a, b, ids = world
    r = await api.json("DELETE", f"/contacts/{ids['contact']}", b)
    assert r.status_code == 428
    token = r.json()["error"]["confirm"]
    mine = await create(api, a, "contacts", {"name": "Mine"})
    before = await snapshot(api.rt.db)
    r = await api.delete(f"/contacts/{ids['contact']}?confirm={token}", a)
    assert r.status_code == 404
    r = await api.json("DELETE", f"/contacts/{mine['handle']}?confirm={token}", a)
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_confirmation"
    assert await snapshot(api.rt.db) == before
