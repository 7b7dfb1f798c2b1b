"""Two-step deletes: the first call never deletes; the confirm token is bound to workspace,
record and user and lasts 10 minutes; activities go with the record."""

from __future__ import annotations

import pytest

from tests.records_util import bare, count, create, join, records, snapshot

PLURAL = {"contact": "contacts", "company": "companies", "deal": "deals"}
BODIES = {"contacts": {"name": "Jane"}, "companies": {"name": "Acme"}, "deals": {"title": "D"}}


@pytest.fixture
async def token(api):
    return await api.sign_in("del@acme.com")


async def _first_call(api, token, path: str) -> str:
    r = await api.delete(path, token)
    assert r.status_code == 428, r.text
    lines = r.text.splitlines()
    assert lines[0].startswith("error: confirmation_required: deleting ")
    confirm = next(ln for ln in lines if ln.startswith("confirm: "))[len("confirm: ") :]
    hint = next(ln for ln in lines if ln.startswith("hint: "))
    assert f"DELETE {path}?confirm={confirm}" in hint  # the exact retry request
    return confirm


@pytest.mark.parametrize("plural", list(PLURAL.values()))
async def test_two_step_delete_with_activities(api, token, plural):
    rec = await create(api, token, plural, BODIES[plural])
    path = f"/{plural}/{bare(rec['handle'])}"
    for kind in ("call", "note"):
        r = await api.post(path + "/activities", token, json={"kind": kind, "body": "hi"})
        assert r.status_code == 201
    other = await create(api, token, plural, BODIES[plural])
    await api.post(
        f"/{plural}/{bare(other['handle'])}/activities",
        token,
        json={"kind": "call", "body": "stays"},
    )
    before = await snapshot(api.rt.db)
    confirm = await _first_call(api, token, path)
    assert await snapshot(api.rt.db) == before  # the first call never deletes
    r = await api.json("DELETE", path, token)
    assert r.status_code == 428 and r.json()["error"]["confirm"]
    # issue 21, points 4 and 13: the 428 says what goes, and that it cannot be undone
    error = r.json()["error"]
    assert "cannot be undone, and 2 activities go with it" in error["message"]
    assert error["activities"] == "2" and error["unlinks"] == "nothing"

    r = await api.delete(f"{path}?confirm={confirm}", token)
    assert r.status_code == 200
    assert r.text == f"# deleted {rec['handle']}: 2 activities removed\n"
    # issue 21, point 13: a deleted record answers `deleted`, with when and by whom
    gone = await api.json("GET", path, token)
    assert gone.status_code == 404 and gone.json()["error"]["code"] == "deleted"
    assert "deleted at " in gone.json()["error"]["message"]
    assert "by del@acme.com; deletes are permanent" in gone.json()["error"]["message"]
    assert "POST /" in gone.json()["error"]["hint"]
    for method in ("PATCH", "DELETE"):
        r = await api.json(method, path, token, json={"tags": ["x"]} if method == "PATCH" else None)
        assert r.status_code == 404 and r.json()["error"]["code"] == "deleted", r.text
    r = await api.json("POST", path + "/activities", token, json={"kind": "note", "body": "x"})
    assert r.json()["error"]["code"] == "deleted"
    # another workspace sees nothing of it: the plain not_found
    stranger = await api.sign_in("stranger@acme.com")
    r = await api.json("GET", path, stranger)
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
    assert await count(api.rt.db, "activities", "target_id = ?", (bare(rec["handle"]),)) == 0
    assert await count(api.rt.db, "activities", "target_id = ?", (bare(other["handle"]),)) == 1
    if api.rt.db.dialect.name == "sqlite":  # PostgreSQL keeps the search text on the row
        assert await count(api.rt.db, plural + "_words") == 1  # its search row went too
    r = await api.json(
        "GET", f"/audit?target={rec['handle']}&action={rec['handle'].split('/')[0]}.delete", token
    )
    [entry] = r.json()["data"]
    assert entry["detail"] == "activities removed: 2" and entry["by"] == "del@acme.com"
    # the token is spent with its record: a replay finds nothing
    r = await api.delete(f"{path}?confirm={confirm}", token)
    assert r.status_code == 404


async def test_json_delete_reply(api, token):
    rec = await create(api, token, "deals", {"title": "D"})
    path = f"/deals/{bare(rec['handle'])}"
    r = await api.json("DELETE", path, token)
    confirm = r.json()["error"]["confirm"]
    r = await api.json("DELETE", f"{path}?confirm={confirm}", token)
    assert r.json() == {
        "data": {"deleted": rec["handle"], "activities_removed": 0, "unlinked": None}
    }


async def test_confirm_token_binding(api, token, clock):
    a = await create(api, token, "contacts", {"name": "A"})
    b = await create(api, token, "contacts", {"name": "B"})
    path_a, path_b = f"/contacts/{bare(a['handle'])}", f"/contacts/{bare(b['handle'])}"
    colleague = await join(api, token, "colleague@acme.com")
    confirm_a = await _first_call(api, token, path_a)
    deal = await create(api, token, "deals", {"title": "D"})
    confirm_deal = await _first_call(api, token, f"/deals/{bare(deal['handle'])}")
    before = await snapshot(api.rt.db)
    attempts = [
        (token, path_b, confirm_a),  # other record
        (colleague, path_a, confirm_a),  # other user, same workspace
        (token, path_a, confirm_a[:-2] + ("xx" if confirm_a[-2:] != "xx" else "yy")),  # wrong
        (token, path_a, "nonsense"),
        (token, path_a, ""),
    ]
    for who, path, confirm in attempts:
        r = await api.json("DELETE", f"{path}?confirm={confirm}", who)
        assert r.status_code == 400, (path, r.text)
        assert r.json()["error"]["code"] == "invalid_confirmation"
        assert "without confirm=" in r.json()["error"]["hint"]
    # a deal token does not delete a contact with the same user either
    r = await api.delete(f"{path_a}?confirm={confirm_deal}", token)
    assert r.status_code == 400
    assert await snapshot(api.rt.db) == before
    # expiry, by the injected clock
    clock.advance(601)
    r = await api.delete(f"{path_a}?confirm={confirm_a}", token)
    assert r.status_code == 400 and "invalid_confirmation" in r.text
    assert await count(api.rt.db, "contacts") == 2
    fresh = await _first_call(api, token, path_a)
    clock.advance(599)
    r = await api.delete(f"{path_a}?confirm={fresh}", token)
    assert r.status_code == 200
    r = await api.get("/contacts", token)
    assert [ln.split()[0] for ln in records(r)] == [b["handle"]]


async def test_deleting_a_company_unlinks_its_contacts(api, token):
    co = await create(api, token, "companies", {"name": "Acme"})
    c = await create(api, token, "contacts", {"name": "J", "company_id": co["handle"]})
    path = f"/companies/{bare(co['handle'])}"
    confirm = await _first_call(api, token, path)
    assert (await api.delete(f"{path}?confirm={confirm}", token)).status_code == 200
    r = await api.json("GET", f"/contacts/{c['handle']}", token)
    assert r.json()["data"]["company"] is None


async def test_records_that_lose_a_link_get_a_new_version_an_audit_row_and_new_search_text(
    api, token, clock
):
    """The foreign key's SET NULL changed records silently: their version stayed, so an
    If-Match on it still went through, and neither the audit nor the search saw it."""
    co = await create(api, token, "companies", {"name": "Initech"})
    contact = await create(api, token, "contacts", {"name": "J", "company_id": co["handle"]})
    deal = await create(
        api,
        token,
        "deals",
        {"title": "D", "company_id": co["handle"], "contact_id": contact["handle"]},
    )
    other = await create(api, token, "contacts", {"name": "K"})
    assert records(await api.get("/contacts?search=initech", token)) != []
    clock.advance(60)
    path = f"/companies/{bare(co['handle'])}"
    first = (await api.json("DELETE", path, token)).json()["error"]
    assert first["message"].endswith(
        "cannot be undone, and 0 activities go with it; 1 contact, 1 deal lose their link to it"
    )
    assert first["unlinks"] == "1 contact, 1 deal"
    r = await api.delete(f"{path}?confirm={first['confirm']}", token)
    assert r.status_code == 200
    got_contact = (await api.json("GET", f"/contacts/{bare(contact['handle'])}", token)).json()[
        "data"
    ]
    got_deal = (await api.json("GET", f"/deals/{bare(deal['handle'])}", token)).json()["data"]
    for got in (got_contact, got_deal):
        assert (
            got["company"] is None
            and got["version"] == 2
            and got["updated_at"] != got["created_at"]
        )
    assert got_deal["contact"] == contact["handle"]  # the other link stays
    assert (await api.json("GET", f"/contacts/{bare(other['handle'])}", token)).json()["data"][
        "version"
    ] == 1
    stale = await api.json(
        "PATCH",
        f"/contacts/{bare(contact['handle'])}",
        token,
        json={"title": "x"},
        headers={"If-Match": "1"},
    )
    assert stale.status_code == 412
    audit = (await api.json("GET", "/audit?limit=10", token)).json()["data"]
    by_target = {a["target"]: a for a in audit if a["action"].endswith(".update")}
    for made in (contact, deal):
        assert by_target[made["handle"]]["detail"] == f"company_id: {co['handle']} -> null"
    deleted = next(a for a in audit if a["action"] == "company.delete")
    assert deleted["detail"] == "unlinked: 1 contact, 1 deal"
    assert records(await api.get("/contacts?search=initech", token)) == []


async def test_a_delete_with_many_links_runs_on_the_writer_thread(api, token, monkeypatch):
    """Unlinking rewrites each record's search text: past HEAVY_LINKS the delete leaves the
    loop (as a workspace delete does), with the same result."""
    from crmkit.records import deletes

    monkeypatch.setattr(deletes, "HEAVY_LINKS", 1)
    co = await create(api, token, "companies", {"name": "Globex"})
    made = [
        await create(api, token, "contacts", {"name": f"P{i}", "company_id": co["handle"]})
        for i in range(3)
    ]
    path = f"/companies/{bare(co['handle'])}"
    confirm = await _first_call(api, token, path)
    db = api.rt.db
    offloaded = getattr(db, "writes_offloaded", 0)
    assert (await api.delete(f"{path}?confirm={confirm}", token)).status_code == 200
    if db.dialect.name == "sqlite":  # PostgreSQL's writes never run on the loop
        assert db.writes_offloaded == offloaded + 1
    for c in made:
        data = (await api.json("GET", f"/contacts/{bare(c['handle'])}", token)).json()["data"]
        assert data["company"] is None and data["version"] == 2
    assert records(await api.get("/contacts?search=globex", token)) == []
    audit = (await api.json("GET", "/audit?action=contact.update", token)).json()
    assert audit["total"] == 3
