"""What AI agents tripped over (issue 21), each with the request the agent made: before the fix
it answered as the comment says."""

from __future__ import annotations

from typing import Any

import pytest


@pytest.fixture
async def token(api: Any) -> str:
    return await api.sign_in("trips@acme.com")


async def audit_rows(api: Any, token: str, target: str) -> list[dict[str, Any]]:
    r = await api.json("GET", f"/audit?target={target}", token)
    rows: list[dict[str, Any]] = r.json()["data"]
    return rows


async def test_a_reimport_that_changes_nothing_says_unchanged(api: Any, token: str) -> None:
    """Point 3: it said `# updated`, bumped nothing visible, and agents counted it a change."""
    body = {"name": "Jane Doe", "email": "jane@acme.com", "stage": "lead"}
    first = await api.json("POST", "/contacts", token, json=body)
    handle = first.json()["data"]["handle"]
    again = await api.post("/contacts", token, json=body)
    assert again.status_code == 200
    assert again.text.startswith("# unchanged\n"), again.text
    assert "version=1" in again.text
    r = await api.json("POST", "/contacts", token, json={**body, "email": "JANE@acme.com"})
    assert r.json()["result"] == "unchanged" and r.json()["data"]["version"] == 1
    path = "/contacts/" + handle.split("/")[1]
    r = await api.json("PATCH", path, token, json={"stage": "lead"})
    assert r.json()["result"] == "unchanged" and r.json()["data"]["version"] == 1
    assert [row["action"] for row in await audit_rows(api, token, handle)] == ["contact.create"]
    # a real change still says updated
    r = await api.json("PATCH", path, token, json={"stage": "customer"})
    assert r.json()["result"] == "updated" and r.json()["data"]["version"] == 2
    r = await api.post("/contacts?dry_run=true", token, json={**body, "stage": "customer"})
    assert r.text.startswith("# dry run: would change nothing\n"), r.text


async def test_a_missing_authorization_header_says_so(api: Any) -> None:
    """Point 6: it answered "sign in again" to an agent that held a token and only forgot
    the header."""
    r = await api.json("GET", "/contacts")
    assert r.status_code == 401
    error = r.json()["error"]
    assert error["code"] == "auth_required"
    assert "no Authorization header" in error["message"]
    assert error["hint"].startswith("send your token as the header Authorization: Bearer")
    assert "sign in again" not in error["hint"]
    # the precise message of a header without "Bearer " is unchanged
    r = await api.json("GET", "/contacts", headers={"Authorization": "ck_abc"})
    assert r.json()["error"]["hint"].startswith("send it as Authorization: Bearer <token>")
