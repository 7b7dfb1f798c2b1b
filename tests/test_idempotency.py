"""Idempotency-Key on the authenticated writes: one effect however often a request is sent,
the original reply byte for byte on a repeat, 422 for a key reused on another request, 409
while the first still runs; scoped to workspace and user; forgotten after 24 hours; kept
across a kill -9; through the MCP tool's argument too."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path
from typing import Any

import httpx
import mcp_util
import pytest
from conftest import Api, LiveServer, Smtp, free_port
from foundation_util import JSON, Process, clean_env, crmkit_command, run_cli
from mcp_util import mcp_session, text_of

port = mcp_util.port
env = mcp_util.env
server = mcp_util.server


def key(value: str) -> dict[str, str]:
    return {"Idempotency-Key": value}


async def contacts(api: Api, token: str) -> list[dict[str, Any]]:
    r = await api.json("GET", "/contacts", token)
    data: list[dict[str, Any]] = r.json()["data"]
    return data


async def audit_actions(api: Api, token: str) -> list[str]:
    r = await api.json("GET", "/audit?limit=200", token)
    return [row["action"] for row in r.json()["data"]]


async def used(api: Api, token: str, resource: str) -> int:
    r = await api.json("GET", "/whoami", token)
    return next(u["used"] for u in r.json()["data"]["usage"] if u["handle"] == f"usage/{resource}")


async def test_a_repeat_replays_the_first_reply_byte_for_byte(api: Api) -> None:
    token = await api.sign_in("ann@acme.com")
    body = {"name": "Ada", "email": "ada@acme.com"}
    first = await api.post("/contacts", token, json=body, headers=key("add-ada"))
    assert first.status_code == 201 and "idempotent-replayed" not in first.headers
    again = await api.post("/contacts", token, json=body, headers=key("add-ada"))
    assert again.status_code == 201
    assert again.content == first.content
    assert again.headers["idempotent-replayed"] == "true"
    assert again.headers["etag"] == first.headers["etag"]
    assert again.headers["content-type"] == first.headers["content-type"]
    assert len(await contacts(api, token)) == 1
    assert (await audit_actions(api, token)).count("contact.create") == 1
    # JSON asked the second time: still the first reply (Accept is not part of the request)
    replay = await api.json("POST", "/contacts", token, json=body, headers=key("add-ada"))
    assert replay.content == first.content


@pytest.mark.parametrize(
    "method,path,body",
    [
        ("POST", "/contacts", {"name": "Ada", "email": "other@acme.com"}),  # another body
        ("POST", "/companies", {"name": "Ada", "email": "ada@acme.com"}),  # another path
        ("POST", "/contacts?format=json", {"name": "Ada", "email": "ada@acme.com"}),  # query
    ],
)
async def test_the_same_key_on_another_request_is_422(
    api: Api, method: str, path: str, body: dict[str, Any]
) -> None:
    token = await api.sign_in("ann@acme.com")
    r = await api.post(
        "/contacts", token, json={"name": "Ada", "email": "ada@acme.com"}, headers=key("k-1")
    )
    assert r.status_code == 201
    r = await api.json(method, path, token, json=body, headers=key("k-1"))
    assert r.status_code == 422, r.text
    error = r.json()["error"]
    assert error["code"] == "idempotency_key_reused" and "new key" in error["hint"]
    assert len(await contacts(api, token)) == 1


async def test_keys_are_per_workspace_and_user(api: Api) -> None:
    ann = await api.sign_in("ann@acme.com")
    bob = await api.sign_in("bob@acme.com")
    body = {"name": "Ada"}
    a = await api.post("/contacts", ann, json=body, headers=key("shared"))
    b = await api.post("/contacts", bob, json=body, headers=key("shared"))
    assert a.status_code == b.status_code == 201
    assert "idempotent-replayed" not in b.headers and a.content != b.content
    # the same user in another workspace: another request too
    r = await api.json("POST", "/workspaces", ann, json={"name": "Second"})
    workspace = r.json()["data"]["handle"].split("/")[1]
    r = await api.json("POST", f"/workspaces/{workspace}/tokens", ann, json={})
    elsewhere = r.json()["data"]["token"]
    c = await api.post("/contacts", elsewhere, json=body, headers=key("shared"))
    assert c.status_code == 201 and "idempotent-replayed" not in c.headers
    assert len(await contacts(api, ann)) == len(await contacts(api, bob)) == 1


async def test_a_key_is_forgotten_after_24_hours(api: Api, clock: Any) -> None:
    token = await api.sign_in("ann@acme.com")
    body = {"title": "Renewal"}
    first = await api.post("/deals", token, json=body, headers=key("deal-1"))
    clock.advance(24 * 3600 - 1)
    again = await api.post("/deals", token, json=body, headers=key("deal-1"))
    assert again.headers.get("idempotent-replayed") == "true"
    clock.advance(2)
    later = await api.post("/deals", token, json=body, headers=key("deal-1"))
    assert later.status_code == 201 and "idempotent-replayed" not in later.headers
    assert later.content != first.content
    r = await api.json("GET", "/deals", token)
    assert len(r.json()["data"]) == 2


async def test_a_refusal_is_kept_a_server_error_is_not(api: Api) -> None:
    token = await api.sign_in("ann@acme.com")
    bad = await api.post(
        "/contacts", token, json={"name": "Ada", "colour": "red"}, headers=key("bad")
    )
    assert bad.status_code == 400
    again = await api.post(
        "/contacts", token, json={"name": "Ada", "colour": "red"}, headers=key("bad")
    )
    assert again.content == bad.content and again.headers["idempotent-replayed"] == "true"
    # a PATCH on a version that moved on: 412 kept, the record untouched by the repeat
    c = (await api.json("POST", "/contacts", token, json={"name": "Bo"})).json()["data"]
    path = "/contacts/" + c["handle"].split("/")[1]
    conflict = await api.patch(
        path, token, json={"stage": "customer", "version": 9}, headers=key("p")
    )
    assert conflict.status_code == 412
    assert (
        await api.patch(path, token, json={"stage": "customer", "version": 9}, headers=key("p"))
    ).content == conflict.content


@pytest.mark.parametrize("value", ["", "x" * 256, "tab\there", "caf\u00e9"])
async def test_a_malformed_key_is_400_and_changes_nothing(api: Api, value: str) -> None:
    token = await api.sign_in("ann@acme.com")
    headers = {"Idempotency-Key": value.encode("utf-8")}  # type: ignore[dict-item]
    r = await api.json("POST", "/contacts", token, json={"name": "Ada"}, headers=headers)
    assert r.status_code == 400, r.text
    assert r.json()["error"]["code"] == "invalid_idempotency_key"
    assert await contacts(api, token) == []


async def test_fifty_concurrent_repeats_make_one_effect(api: Api) -> None:
    token = await api.sign_in("ann@acme.com")
    before = await used(api, token, "contacts")
    body = {"name": "Racer", "email": "racer@acme.com"}
    replies = await asyncio.gather(
        *(api.post("/contacts", token, json=body, headers=key("race")) for _ in range(50))
    )
    statuses = sorted(r.status_code for r in replies)
    assert set(statuses) <= {201, 409}, statuses
    originals = [r for r in replies if r.status_code == 201]
    assert len([r for r in originals if "idempotent-replayed" not in r.headers]) == 1
    assert len({r.content for r in originals}) == 1
    for r in replies:
        if r.status_code == 409:
            assert r.headers["retry-after"] == "1" and "idempotency_in_progress" in r.text
    assert len(await contacts(api, token)) == 1
    assert (await audit_actions(api, token)).count("contact.create") == 1
    assert await used(api, token, "contacts") == before + 1
    # the 409s retried: all replays now
    r = await api.post("/contacts", token, json=body, headers=key("race"))
    assert r.headers["idempotent-replayed"] == "true" and r.content == originals[0].content


async def test_deletes_and_admin_writes_take_keys_too(api: Api) -> None:
    token = await api.sign_in("ann@acme.com")
    c = (await api.json("POST", "/contacts", token, json={"name": "Gone"})).json()["data"]
    path = "/contacts/" + c["handle"].split("/")[1]
    first = await api.delete(path, token)
    assert first.status_code == 428
    confirm = first.text.split("confirm=")[1].split()[0]
    gone = await api.delete(f"{path}?confirm={confirm}", token, headers=key("del"))
    assert gone.status_code == 200
    again = await api.delete(f"{path}?confirm={confirm}", token, headers=key("del"))
    assert again.content == gone.content and again.headers["idempotent-replayed"] == "true"
    r = await api.json("POST", "/workspaces", token, json={"name": "Team"}, headers=key("ws"))
    assert r.status_code == 201
    r2 = await api.json("POST", "/workspaces", token, json={"name": "Team"}, headers=key("ws"))
    assert r2.content == r.content
    r = await api.json("GET", "/workspaces", token)
    assert [w["name"] for w in r.json()["data"]].count("Team") == 1


async def test_the_mcp_tool_forwards_its_idempotency_key(server: tuple[Api, LiveServer]) -> None:
    api, srv = server
    token = await api.sign_in("ann@acme.com")
    call = {
        "method": "POST",
        "path": "/contacts",
        "body": {"name": "Ada"},
        "idempotency_key": "mcp-1",
    }
    async with mcp_session(srv.url, token) as session:
        first = await session.call_tool("request", call)
        again = await session.call_tool("request", call)
        other = await session.call_tool("request", {**call, "body": {"name": "Bo"}})
        bad = await session.call_tool("request", {**call, "idempotency_key": ""})
    assert not first.is_error and text_of(again) == text_of(first)
    assert other.is_error and "idempotency_key_reused" in text_of(other)
    assert bad.is_error and "idempotency_key must be" in text_of(bad)
    assert len(await contacts(api, token)) == 1


async def test_a_kill_after_commit_then_a_retry_after_restart(
    tmp_path: Path, db_path: str, smtp: Smtp
) -> None:
    """The stored reply is written in the write's own transaction: killed with -9 once the
    write was committed, restarted, the retry answers the original reply. And killed while
    requests are in flight, a retry after the restart still makes one contact."""
    done = run_cli("token", "--email", "ann@acme.com", "--db", db_path)
    assert done.returncode == 0, done.stderr
    auth = {"Authorization": f"Bearer {done.stdout.strip()}", **JSON}

    def start() -> tuple[Process, str]:
        port = free_port()
        proc = Process(
            [*crmkit_command(), "serve", "--port", str(port), "--db", db_path, "--no-access-log"],
            env=clean_env(db_path, CRMKIT_SMTP_URL=smtp.url),
            cwd=str(tmp_path),
        )
        proc.wait_for(r"Application startup complete")
        return proc, f"http://127.0.0.1:{port}"

    body = {"name": "Kept", "email": "kept@acme.com"}
    proc, url = start()
    try:
        async with httpx.AsyncClient(base_url=url, timeout=30) as http:
            first = await http.post("/contacts", json=body, headers={**auth, **key("kill-1")})
            assert first.status_code == 201
            # in flight: a burst of keyed writes, killed part way
            sends = [
                http.post("/deals", json={"title": f"D{i}"}, headers={**auth, **key(f"d{i}")})
                for i in range(20)
            ]
            tasks = [asyncio.ensure_future(s) for s in sends]
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            os.kill(proc.proc.pid, signal.SIGKILL)
            await asyncio.gather(*tasks, return_exceptions=True)
    finally:
        assert proc.proc.wait(timeout=15) == -signal.SIGKILL
        proc.stop()
    proc, url = start()
    try:
        async with httpx.AsyncClient(base_url=url, timeout=30) as http:
            again = await http.post("/contacts", json=body, headers={**auth, **key("kill-1")})
            assert again.status_code == 201 and again.content == first.content
            assert again.headers["idempotent-replayed"] == "true"
            for i in range(20):
                r = await http.post(
                    "/deals", json={"title": f"D{i}"}, headers={**auth, **key(f"d{i}")}
                )
                assert r.status_code == 201, r.text
            deals = (await http.get("/deals?limit=200", headers=auth)).json()["data"]
            titles = sorted(d["title"] for d in deals)
            assert titles == sorted(f"D{i}" for i in range(20))  # each exactly once
    finally:
        proc.stop()
