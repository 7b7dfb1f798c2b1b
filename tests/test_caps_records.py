"""The contacts cap against the real record routes (needs the records branch: POST /contacts,
DELETE /contacts/{id} with its two-step confirmation). Runs after the merge."""

from __future__ import annotations

import pytest
from teams_util import error, snapshot


@pytest.fixture
def env():
    return {"CRMKIT_PLANS": '{"free": {"contacts": 3}}'}


async def create(api, token, name, email):
    return await api.json("POST", "/contacts", token, json={"name": name, "email": email})


async def test_contacts_cap(api):
    token = await api.sign_in("ann@acme.com")
    handles = []
    for i in range(3):
        r = await create(api, token, f"Person {i}", f"p{i}@acme.com")
        assert r.status_code == 201, r.text
        handles.append(r.json()["data"]["handle"])
    r = await api.get("/whoami", token)
    assert "usage/contacts used=3 limit=3" in r.text

    # The 4th create is refused with the figures, and nothing is written.
    before = await snapshot(api)
    r = await create(api, token, "One too many", "p3@acme.com")
    assert r.status_code == 403, r.text
    body = error(r)
    assert body["code"] == "plan_limit_reached"
    assert (body["cap"], body["used"], body["limit"], body["plan"]) == (
        "contacts",
        "3",
        "3",
        "free",
    )
    assert "3 contacts" in body["message"]
    assert "DELETE /contacts" in body["hint"]
    r = await api.post("/contacts", token, json={"name": "One too many", "email": "p3@acme.com"})
    assert r.status_code == 403
    assert "cap: contacts\nused: 3\nlimit: 3\nplan: free\n" in r.text
    assert await snapshot(api) == before

    # An upsert that updates an existing contact does not count.
    r = await api.json("POST", "/contacts", token, json={"name": "Renamed", "email": "P1@acme.com"})
    assert r.status_code == 200, r.text
    assert r.json()["data"]["name"] == "Renamed"

    # Deleting (two-step) frees room.
    contact_id = handles[0].split("/")[1]
    r = await api.delete(f"/contacts/{contact_id}", token)
    assert r.status_code == 428, r.text
    confirm = next(x for x in r.text.splitlines() if x.startswith("confirm: "))[9:]
    r = await api.delete(f"/contacts/{contact_id}?confirm={confirm}", token)
    assert r.status_code == 200, r.text
    r = await create(api, token, "Now fits", "p3@acme.com")
    assert r.status_code == 201, r.text
    r = await api.get("/whoami", token)
    assert "usage/contacts used=3 limit=3" in r.text
