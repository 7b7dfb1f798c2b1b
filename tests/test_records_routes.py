"""Each record route in text and JSON; upsert; PATCH semantics; optimistic concurrency."""

from __future__ import annotations

import pytest

from tests.records_util import bare, count, create, join, meta, records, snapshot

CONTACT = {"name": "Jane Doe", "email": "jane@acme.com", "stage": "lead", "tags": ["vip"]}


@pytest.fixture
async def token(api):
    return await api.sign_in("owner@acme.com")


async def test_create_get_list_contact_text_and_json(api, token):
    r = await api.post("/contacts", token, json={**CONTACT, "custom": {"source": "web"}})
    assert r.status_code == 201
    assert meta(r) == ["created"]
    [line] = records(r)
    assert line.startswith("contact/c_")
    assert 'name="Jane Doe" email=jane@acme.com stage=lead tags=vip custom.source=web' in line
    assert "created_by=owner@acme.com version=1" in line
    handle = line.split()[0]

    r = await api.get(f"/contacts/{bare(handle)}", token)
    assert r.status_code == 200 and records(r) == [line]
    r = await api.get(f"/contacts/{handle}", token)  # the full handle works too
    assert records(r) == [line]

    r = await api.json("GET", f"/contacts/{handle}", token)
    data = r.json()["data"]
    assert data["handle"] == handle and data["custom"] == {"source": "web"}
    assert data["tags"] == ["vip"] and data["version"] == 1 and data["activities"] == 0

    r = await api.get("/contacts", token)
    assert meta(r)[0] == "total: 1"
    assert records(r)[0].startswith(handle + ' name="Jane Doe"')
    assert "version=" not in records(r)[0]  # list lines leave out created_by and version
    r = await api.get("/contacts?format=json", token)
    body = r.json()
    assert body["total"] == 1 and body["next_cursor"] is None
    assert body["data"][0]["handle"] == handle


async def test_company_and_deal_routes(api, token):
    r = await api.json("POST", "/companies", token, json={"name": "Acme", "domain": "acme.com"})
    assert r.status_code == 201 and r.json()["result"] == "created"
    company = r.json()["data"]["handle"]
    r = await api.json("POST", "/contacts", token, json={**CONTACT, "company_id": company})
    contact = r.json()["data"]["handle"]
    r = await api.post(
        "/deals",
        token,
        json={
            "title": "Renewal",
            "amount_cents": 500000,
            "contact_id": contact,
            "company_id": bare(company),
            "close_date": "2026-12-31",
        },
    )
    assert r.status_code == 201, r.text
    [line] = records(r)
    assert (
        f"title=Renewal amount_cents=500000 currency=USD contact={contact} company={company}"
        " status=open close_date=2026-12-31" in line
    )
    deal = line.split()[0]
    r = await api.patch(f"/deals/{deal}", token, json={"stage": "won", "status": "won"})
    assert r.status_code == 200 and meta(r) == ["updated"]
    assert "stage=won status=won" in records(r)[0] and "version=2" in records(r)[0]
    r = await api.json("GET", "/deals", token)
    assert r.json()["data"][0]["status"] == "won"
    r = await api.get("/companies", token)
    assert records(r)[0].startswith(company + " name=Acme domain=acme.com")


async def test_upsert_contact_by_email_case_insensitive(api, token):
    r = await api.json("POST", "/contacts", token, json=CONTACT)
    assert r.status_code == 201
    first = r.json()["data"]
    r = await api.json(
        "POST", "/contacts", token, json={"email": "JANE@Acme.COM", "stage": "customer"}
    )
    assert r.status_code == 200 and r.json()["result"] == "updated"
    data = r.json()["data"]
    assert data["handle"] == first["handle"]
    assert data["stage"] == "customer" and data["name"] == "Jane Doe"  # merged, not replaced
    assert data["email"] == "jane@acme.com" and data["version"] == 2
    r = await api.post("/contacts", token, json={"email": "jane@ACME.com", "title": "CTO"})
    assert r.status_code == 200 and meta(r) == ["updated"]
    assert await count(api.rt.db, "contacts") == 1
    # no key: always a new record
    await create(api, token, "contacts", {"name": "Jane Doe"})
    await create(api, token, "contacts", {"name": "Jane Doe"})
    assert await count(api.rt.db, "contacts") == 3


async def test_upsert_company_by_normalised_domain(api, token):
    r = await api.json("POST", "/companies", token, json={"name": "Acme", "domain": "acme.com"})
    assert r.status_code == 201
    handle = r.json()["data"]["handle"]
    r = await api.json(
        "POST",
        "/companies",
        token,
        json={"domain": "https://www.Acme.com/about", "notes": "big fish"},
    )
    assert r.status_code == 200 and r.json()["result"] == "updated"
    assert r.json()["data"]["handle"] == handle
    assert r.json()["data"]["notes"] == "big fish" and r.json()["data"]["domain"] == "acme.com"
    assert await count(api.rt.db, "companies") == 1


async def test_contact_company_name_resolves_or_creates(api, token):
    c1 = await create(api, token, "contacts", {"name": "A", "company": "Acme Corp"})
    c2 = await create(api, token, "contacts", {"name": "B", "company": "acme corp"})
    assert c1["company"] == c2["company"]
    assert await count(api.rt.db, "companies") == 1
    co = await create(api, token, "companies", {"name": "Initech", "domain": "initech.com"})
    c3 = await create(api, token, "contacts", {"name": "C", "company": "www.initech.com"})
    assert c3["company"] == co["handle"]


async def test_contact_company_given_as_a_handle_or_id_links_that_company(api, token):
    """`company` reads back as a handle: sent back after a GET it must link, not create a
    company named after the handle."""
    co = await create(api, token, "companies", {"name": "Initech"})
    made = await create(api, token, "contacts", {"name": "A", "company": co["handle"]})
    assert made["company"] == co["handle"]
    path = f"/contacts/{bare(made['handle'])}"
    for sent in (co["handle"], bare(co["handle"])):
        await api.patch(path, token, json={"company": None})
        r = await api.json("PATCH", path, token, json={"company": sent})
        assert r.status_code == 200 and r.json()["data"]["company"] == co["handle"]
    assert await count(api.rt.db, "companies") == 1
    other = await api.sign_in("other@elsewhere.com")
    theirs = await create(api, other, "companies", {"name": "Theirs"})
    before = await snapshot(api.rt.db)
    for sent in (theirs["handle"], "company/co_aaaaaaaaaaaa", made["handle"], "deal/d_x"):
        r = await api.json("PATCH", path, token, json={"company": sent})
        assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_field", r.text
        r = await api.json("POST", "/contacts", token, json={"name": "B", "company": sent})
        assert r.status_code == 400, r.text
    assert await snapshot(api.rt.db) == before
    # a name that merely starts like an id is a name
    r = await api.json("PATCH", path, token, json={"company": "co_working"})
    assert r.status_code == 200, r.text
    company = bare(r.json()["data"]["company"])
    linked = (await api.json("GET", f"/companies/{company}", token)).json()["data"]
    assert linked["name"] == "co_working"


async def test_patch_partial_and_null_clears(api, token):
    c = await create(api, token, "contacts", {**CONTACT, "phone": "+1 555", "custom": {"a": 1}})
    r = await api.json(
        "PATCH",
        f"/contacts/{c['handle']}",
        token,
        json={"phone": None, "tags": None, "custom": None, "title": "CEO"},
    )
    assert r.status_code == 200, r.text
    assert r.json()["result"] == "updated"  # as the text's "# updated" and an upsert say
    data = r.json()["data"]
    assert data["phone"] is None and data["tags"] is None and data["custom"] is None
    assert data["title"] == "CEO" and data["name"] == "Jane Doe" and data["stage"] == "lead"
    r = await api.get(f"/contacts/{c['handle']}", token)
    assert "phone=" not in r.text and "tags=" not in r.text and "title=CEO" in r.text


async def test_follow_up_set_and_cleared(api, token):
    c = await create(api, token, "contacts", CONTACT)
    r = await api.json(
        "PATCH",
        f"/contacts/{c['handle']}",
        token,
        json={"follow_up_at": "2026-10-01T09:00:00Z", "follow_up_note": "call back"},
    )
    assert r.json()["data"]["follow_up_at"] == "2026-10-01T09:00:00Z"
    r = await api.json("PATCH", f"/contacts/{c['handle']}", token, json={"follow_up_at": None})
    assert r.json()["data"]["follow_up_at"] is None


async def test_body_times_take_relative_times_and_errors_give_a_body_example(api, token, clock):
    """`"follow_up_at":"now+2d"` is what an agent setting a follow-up writes; a bad time's
    hint shows a body's form, not a query's (`follow_up_at=gte:...`)."""
    from crmkit.clock import iso

    c = await create(api, token, "contacts", CONTACT)
    path = f"/contacts/{c['handle']}"
    for sent, stored in (("now+2d", clock.now() + 2 * 86_400), ("now", clock.now())):
        r = await api.json("PATCH", path, token, json={"follow_up_at": sent})
        assert r.status_code == 200 and r.json()["data"]["follow_up_at"] == iso(stored)
    r = await api.json(
        "POST", f"{path}/activities", token, json={"kind": "call", "body": "hi", "at": "now-1h"}
    )
    assert r.status_code == 201 and r.json()["data"]["at"] == iso(clock.now() - 3_600), r.text
    before = await snapshot(api.rt.db)
    for method, where, body, message in (
        ("PATCH", path, {"follow_up_at": "tomorrow"}, "follow_up_at must be a time"),
        ("PATCH", path, {"follow_up_at": "now+999999w"}, "follow_up_at is out of range"),
        ("POST", "/deals", {"title": "x", "close_date": "2026-02-30"}, "close_date must be a"),
        ("POST", "/deals", {"title": "x", "close_date": "now"}, "close_date must be a date"),
        (
            "POST",
            f"{path}/activities",
            {"kind": "call", "body": "x", "at": "soon"},
            "at must be a time",
        ),
    ):
        r = await api.json(method, where, token, json=body)
        error = r.json()["error"]
        assert r.status_code == 400 and error["message"].startswith(message), r.text
        assert "=gte:" not in error["hint"], error
        assert "2026-" in error["hint"] or "between 1970 and 9999" in error["hint"], error
    assert await snapshot(api.rt.db) == before


async def test_stale_version_is_412_and_changes_nothing(api, token):
    c = await create(api, token, "contacts", CONTACT)
    path = f"/contacts/{c['handle']}"
    r = await api.patch(path, token, json={"stage": "qualified"}, headers={"If-Match": "1"})
    assert r.status_code == 200
    before = await snapshot(api.rt.db)
    r = await api.patch(path, token, json={"stage": "customer"}, headers={"If-Match": '"1"'})
    assert r.status_code == 412
    assert r.text.startswith("error: version_conflict:") and "current_version: 2" in r.text
    r = await api.json("PATCH", path, token, json={"stage": "customer", "version": 1})
    assert r.status_code == 412 and r.json()["error"]["code"] == "version_conflict"
    assert await snapshot(api.rt.db) == before
    r = await api.json("PATCH", path, token, json={"stage": "customer", "version": 2})
    assert r.status_code == 200 and r.json()["data"]["version"] == 3
    r = await api.patch(path, token, json={"stage": "x"}, headers={"If-Match": "abc"})
    assert r.status_code == 400


@pytest.mark.parametrize(
    "field",
    ["id", "handle", "created_at", "updated_at", "created_by", "workspace_id", "activities"],
)
async def test_read_only_fields_refused(api, token, field):
    c = await create(api, token, "contacts", CONTACT)
    before = await snapshot(api.rt.db)
    for method, path in (("POST", "/contacts"), ("PATCH", f"/contacts/{c['handle']}")):
        r = await api.json(method, path, token, json={"name": "X", field: "w_x"})
        assert r.status_code == 400, r.text
        err = r.json()["error"]
        assert err["code"] == "read_only_field" and repr(field) in err["message"]
    assert await snapshot(api.rt.db) == before


async def test_bad_bodies_are_400_and_change_nothing(api, token):
    before = await snapshot(api.rt.db)
    cases = [
        ("/contacts", {"name": "X", "colour": "red"}, "unknown_field"),
        ("/contacts", {"name": "X", "email": "not-an-email"}, "invalid_field"),
        ("/contacts", {"name": 5}, "invalid_field"),
        ("/contacts", {"stage": "lead"}, "missing_field"),
        ("/contacts", {"name": "X", "owner": "stranger@else.com"}, "invalid_field"),
        ("/contacts", {"name": "X", "company_id": "company/co_aaaaaaaaaaaa"}, "invalid_field"),
        ("/contacts", {"name": "X", "tags": "vip"}, "invalid_field"),
        ("/contacts", {"name": "X", "follow_up_at": "tomorrow"}, "invalid_field"),
        ("/contacts", {"name": "X", "follow_up_at": "10000-01-01T00:00:00Z"}, "invalid_field"),
        ("/companies", {"domain": "not a domain"}, "invalid_field"),
        ("/deals", {"title": "D", "amount_cents": -1}, "invalid_field"),
        ("/deals", {"title": "D", "amount_cents": 2**70}, "invalid_field"),
        ("/deals", {"title": "D", "status": "maybe"}, "invalid_field"),
        ("/deals", {"title": "D", "currency": "dollars"}, "invalid_field"),
        ("/deals", {"title": "D", "close_date": "2026-02-30"}, "invalid_field"),
        ("/deals", {"title": "D", "contact_id": "c_aaaaaaaaaaaa"}, "invalid_field"),
    ]
    for path, body, code in cases:
        r = await api.json("POST", path, token, json=body)
        assert r.status_code == 400, (body, r.text)
        assert r.json()["error"]["code"] == code, (body, r.text)
        assert r.json()["error"]["hint"]
    assert await snapshot(api.rt.db) == before


async def test_owner_must_be_member(api, token):
    c = await create(api, token, "contacts", {**CONTACT, "owner": "Owner@Acme.com"})
    assert c["owner"] == "owner@acme.com"
    await join(api, token, "colleague@acme.com")
    r = await api.json(
        "PATCH", f"/contacts/{c['handle']}", token, json={"owner": "colleague@acme.com"}
    )
    assert r.status_code == 200 and r.json()["data"]["owner"] == "colleague@acme.com"
    r = await api.get("/contacts?owner=colleague@acme.com", token)
    assert len(records(r)) == 1


async def test_patch_to_taken_email_is_refused(api, token):
    await create(api, token, "contacts", CONTACT)
    other = await create(api, token, "contacts", {"name": "Other", "email": "o@acme.com"})
    r = await api.json(
        "PATCH", f"/contacts/{other['handle']}", token, json={"email": "JANE@acme.com"}
    )
    assert r.status_code == 409 and r.json()["error"]["code"] == "duplicate"


async def test_missing_record_404_text_and_json(api, token):
    r = await api.get("/contacts/c_aaaaaaaaaaaa", token)
    assert r.status_code == 404
    assert r.text.splitlines()[0] == "error: not_found: no contact c_aaaaaaaaaaaa in this workspace"
    r = await api.json("PATCH", "/deals/nonsense", token, json={"title": "x"})
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
    r = await api.get("/companies/contact/c_aaaaaaaaaaaa", token)
    assert r.status_code == 404


async def test_routes_need_a_token(api):
    for method, path in (("GET", "/contacts"), ("POST", "/deals"), ("GET", "/companies/co_x")):
        r = await api.request(method, path)
        assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"


async def test_records_over_a_real_socket(live):
    api, _ = live
    token = await api.sign_in("live@acme.com")
    r = await api.post("/contacts", token, json=CONTACT)
    assert r.status_code == 201
    handle = records(r)[0].split()[0]
    r = await api.get("/contacts?stage=lead&sort=-created_at&limit=50", token)
    assert r.status_code == 200 and records(r)[0].startswith(handle)
    r = await api.get(f"/contacts/{handle}", token)
    assert r.status_code == 200 and r.headers["content-type"] == "text/plain; charset=utf-8"


async def test_no_stored_value_can_fake_a_line(api):
    """Unicode line separators are escaped, so even str.splitlines() sees one record."""
    token = await api.sign_in("lines@acme.com")
    sneaky = "a\u2028contact/c_fake name=evil\x85x\u2029y\rz"
    r = await api.post("/contacts", token, json={"name": sneaky, "custom": {"k\u2028": "v"}})
    assert r.status_code == 201, r.text
    listing = await api.get("/contacts", token)
    records = [ln for ln in listing.text.splitlines() if not ln.startswith("#")]
    assert len(records) == 1
    assert "\\u2028contact/c_fake" in records[0]
    got = await api.json("GET", "/contacts?search=evil", token)
    assert got.json()["data"][0]["name"] == sneaky  # JSON carries the value unchanged


async def test_a_trailing_slash_gets_a_404_that_says_what_to_do(api):
    token = await api.sign_in("slash@acme.com")
    r = await api.json("GET", "/contacts/", token)
    assert r.status_code == 404
    assert r.json()["error"]["message"] == "no contact id in the path"
    assert "GET /contacts" in r.json()["error"]["hint"]


@pytest.mark.sqlite_only
async def test_a_value_written_around_the_api_lists_as_it_reads(api, token):
    # A REAL in an INTEGER column (an operator's sqlite3 shell, an import) cannot come from
    # the API. A list reads it exactly as a GET does: not rounded to JSON's 15 digits.
    deal = await create(api, token, "deals", {"title": "Odd", "amount_cents": 1})
    async with api.rt.db.write() as tx:
        await tx.execute(
            "UPDATE deals SET amount_cents = ? WHERE id = ?", (0.1 + 0.2, bare(deal["handle"]))
        )
    one = await api.json("GET", f"/deals/{deal['handle']}", token)
    listed = await api.json("GET", "/deals", token)
    assert one.json()["data"]["amount_cents"] == 0.30000000000000004
    assert listed.json()["data"][0]["amount_cents"] == 0.30000000000000004
    line = records(await api.get("/deals", token))[0]
    assert "amount_cents=0.30000000000000004 " in line
    assert records(await api.get(f"/deals/{bare(deal['handle'])}", token))[0].startswith(line[:40])


@pytest.mark.sqlite_only
async def test_odd_times_and_json_written_around_the_api_still_show(api, token, clock):
    """Text or a fraction in a time column, milliseconds, and JSON columns holding no JSON
    (an operator's sqlite3 shell, an import): every reply shows them as stored, no 500."""
    made = await create(api, token, "contacts", {"name": "Odd", "email": "odd@acme.com"})
    handle, at = made["handle"], clock.now() - 60.5
    async with api.rt.db.write() as tx:
        await tx.execute(
            "UPDATE contacts SET follow_up_at = ?, last_activity_at = ?, updated_at = ?,"
            " tags = ?, custom = ? WHERE id = ?",
            (at, "next week", 1_700_000_000_000, "vip, gold", "{bad", bare(handle)),
        )
    for path in ("/contacts", f"/contacts/{bare(handle)}", "/reminders"):
        r = await api.get(path, token)
        assert r.status_code == 200, (path, r.text)
        [line] = records(r)
        assert f"follow_up_at={at}" in line, line
        if path != "/reminders":
            assert 'last_activity="next week"' in line and "updated_at=1700000000000" in line
            assert 'tags="vip, gold"' in line and "custom={bad" in line
        data = (await api.json("GET", path, token)).json()["data"]
        one = data if isinstance(data, dict) else data[0]
        assert one["follow_up_at"] == str(at)
        if path != "/reminders":
            assert one["last_activity"] == "next week" and one["updated_at"] == "1700000000000"
            assert one["tags"] == "vip, gold" and one["custom"] == "{bad"
    # JSON filters read no JSON there: no tag, no custom key (as the facet index has it).
    for query, found in (
        ("tags=ne:vip", 1),
        ("tags=in:vip,gold", 0),
        ("tags=vip", 0),
        ("custom.k=ne:1", 1),
        ("custom.k=like:b", 0),
        ("custom.k=gt:0", 0),
        ("custom.k=not:null", 0),
    ):
        r = await api.json("GET", f"/contacts?{query}", token)
        assert r.status_code == 200 and r.json()["total"] == found, (query, r.text)
    # A write replaces the odd values; the audit diff shows what was there.
    r = await api.patch(f"/contacts/{bare(handle)}", token, json={"tags": ["vip"], "custom": {}})
    assert r.status_code == 200, r.text
    audit = (await api.json("GET", f"/audit?target={handle}", token)).json()["data"][0]
    assert audit["detail"] == "tags: vip, gold -> vip; custom: {bad -> null"


async def test_a_reference_sent_by_the_name_replies_show_names_the_field_to_write(api, token):
    contact = await create(api, token, "contacts", {"name": "J"})
    deal = await create(api, token, "deals", {"title": "D"})
    before = await snapshot(api.rt.db)
    for key in ("company", "contact"):
        r = await api.json("PATCH", f"/deals/{bare(deal['handle'])}", token, json={key: "x"})
        error = r.json()["error"]
        assert r.status_code == 400 and error["code"] == "unknown_field"
        assert f"a body writes {key}_id" in error["message"] and f'"{key}_id":' in error["hint"]
    assert await snapshot(api.rt.db) == before
    # on a contact, `company` stays the find-or-create convenience
    r = await api.json(
        "PATCH", f"/contacts/{bare(contact['handle'])}", token, json={"company": "A"}
    )
    assert r.status_code == 200 and r.json()["data"]["company"].startswith("company/co_")


async def test_a_record_reply_carries_its_version_as_an_etag_that_if_match_takes(api, token):
    made = await api.post("/contacts", token, json={"name": "E"})
    assert made.headers["etag"] == 'W/"1"'
    handle = records(made)[0].split()[0]
    path = f"/contacts/{bare(handle)}"
    got = await api.json("GET", path, token)
    assert got.headers["etag"] == 'W/"1"'
    patched = await api.patch(
        path, token, json={"title": "x"}, headers={"If-Match": got.headers["etag"]}
    )
    assert patched.status_code == 200 and patched.headers["etag"] == 'W/"2"'
    stale = await api.patch(
        path, token, json={"title": "y"}, headers={"If-Match": got.headers["etag"]}
    )
    assert stale.status_code == 412
    assert "etag" not in (await api.get("/contacts", token)).headers  # a list has no one version


@pytest.mark.sqlite_only
async def test_blobs_and_fractional_times_written_around_the_api_still_list_and_page(api, token):
    """A BLOB (which JSON cannot carry) shows as the text reply writes it; a fractional `at`
    on a page boundary still pages (its cursor is one crmkit issued)."""
    made = await create(api, token, "contacts", {"name": "Blob"})
    cid = bare(made["handle"])
    for i in range(3):
        body = {"kind": "call", "body": f"b{i}", "at": f"2026-01-0{i + 1}T00:00:00Z"}
        assert (await api.post(f"/contacts/{cid}/activities", token, json=body)).status_code == 201
    async with api.rt.db.write() as tx:
        await tx.execute(
            "UPDATE contacts SET name = ?, custom = ? WHERE id = ?", (b"\xff\xfe", b"\x00", cid)
        )
        await tx.execute("UPDATE activities SET at = at + 0.5 WHERE body = 'b1'")
    for path in (f"/contacts/{cid}", "/contacts"):
        r = await api.json("GET", path, token)
        assert r.status_code == 200, r.text
        data = r.json()["data"]
        one = data if isinstance(data, dict) else data[0]
        assert one["name"] == str(b"\xff\xfe") and one["custom"] == str(b"\x00")
        assert (await api.get(path, token)).status_code == 200
    first = (await api.json("GET", f"/contacts/{cid}/activities?limit=2", token)).json()
    assert [a["body"] for a in first["data"]] == ["b2", "b1"]
    nxt = await api.json(
        "GET", f"/contacts/{cid}/activities?limit=2&cursor={first['next_cursor']}", token
    )
    assert nxt.status_code == 200, nxt.text
    assert [a["body"] for a in nxt.json()["data"]] == ["b0"]


async def test_an_email_with_a_non_ascii_capital_upserts_and_conflicts_cleanly(api) -> None:
    """Found by schemathesis: the upsert's lookup folded Ü with Python's lower() while the
    unique index folds A-Z only, so a repeat missed its match and its INSERT broke the index
    (a 500). Emails match ignoring the case of A-Z, as the manual says."""
    token = await api.sign_in("upsert@acme.com")
    first = await api.json("POST", "/contacts", token, json={"email": "Ünal@acme.com"})
    assert first.status_code == 201, first.text
    again = await api.json("POST", "/contacts", token, json={"email": "Ünal@ACME.com"})
    assert again.status_code == 200, again.text
    assert again.json()["data"]["handle"] == first.json()["data"]["handle"]
    other = await api.json("POST", "/contacts", token, json={"email": "bo@acme.com"})
    path = "/contacts/" + other.json()["data"]["handle"].split("/")[1]
    r = await api.json("PATCH", path, token, json={"email": "Ünal@acme.com"})
    assert r.status_code == 409, r.text
