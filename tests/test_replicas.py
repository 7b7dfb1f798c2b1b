"""Two `crmkit serve` processes on one PostgreSQL database behave as one service: what one
writes the other reads; racing upserts make one record; a confirm token or a step-up code one
issued works on the other; their rate limits are one; and killing one under write load loses
no acknowledged write."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import PostgresServer, Smtp, free_port
from foundation_util import JSON, Process, clean_env, crmkit_command, run_cli

from crmkit.accounts import signin

pytestmark = pytest.mark.postgresql_only


@pytest.fixture
def database(postgres: PostgresServer) -> Iterator[str]:
    url = postgres.create()
    try:
        yield url
    finally:
        postgres.drop(url)


def start(tmp_path: Path, url: str, smtp: Smtp, name: str) -> tuple[Process, str]:
    port = free_port()
    proc = Process(
        [*crmkit_command(), "serve", "--port", str(port), "--db", url, "--no-access-log"],
        env=clean_env(url, CRMKIT_SMTP_URL=smtp.url, CRMKIT_BASE_URL=f"http://127.0.0.1:{port}"),
        cwd=str(tmp_path),
    )
    try:
        proc.wait_for(r"Application startup complete")
    except BaseException:
        proc.stop()
        raise
    return proc, f"http://127.0.0.1:{port}"


@pytest.fixture
async def replicas(
    tmp_path: Path, database: str, smtp: Smtp
) -> AsyncIterator[list[tuple[Process, httpx.AsyncClient]]]:
    started = [start(tmp_path, database, smtp, name) for name in ("a", "b")]
    clients = [httpx.AsyncClient(base_url=url, timeout=30) for _, url in started]
    try:
        yield [(proc, http) for (proc, _), http in zip(started, clients, strict=True)]
    finally:
        for http in clients:
            await http.aclose()
        for proc, _ in started:
            proc.stop()


def mint(database: str, email: str) -> dict[str, str]:
    done = run_cli("token", "--email", email, "--db", database)
    assert done.returncode == 0, done.stderr
    return {"Authorization": f"Bearer {done.stdout.strip()}", **JSON}


async def test_one_service_across_two_replicas(
    replicas: list[tuple[Process, httpx.AsyncClient]], database: str, smtp: Smtp
) -> None:
    (_, a), (_, b) = replicas
    auth = mint(database, "ann@acme.com")

    # A write through one is read through the other.
    r = await a.post("/contacts", json={"name": "Jane Doe", "email": "jane@acme.com"}, headers=auth)
    assert r.status_code == 201, r.text
    jane = r.json()["data"]["handle"]
    r = await b.get("/contacts?search=jane", headers=auth)
    assert [c["handle"] for c in r.json()["data"]] == [jane]

    # 32 concurrent upserts of one email, half through each: one record.
    async def upsert(http: httpx.AsyncClient, i: int) -> int:
        body = {"name": f"Same {i}", "email": "Same@Acme.com"}
        return (await http.post("/contacts", json=body, headers=auth)).status_code

    raced = await asyncio.gather(*(upsert(a if i % 2 else b, i) for i in range(32)))
    assert sorted(raced) == [200] * 31 + [201]
    r = await a.get("/contacts?email=same@acme.com", headers=auth)
    assert r.json()["total"] == 1

    # A delete's confirm token from one works on the other (the key is shared).
    path = f"/contacts/{jane.split('/')[1]}"
    r = await a.delete(path, headers=auth)
    assert r.status_code == 428
    confirm = r.json()["error"]["confirm"]
    r = await b.delete(f"{path}?confirm={confirm}", headers=auth)
    assert r.status_code == 200, r.text
    assert (await a.get(path, headers=auth)).status_code == 404

    # A step-up code mailed by one unlocks the action on the other.
    me = (await a.get("/whoami", headers=auth)).json()["data"]
    invites = f"/workspaces/{me['workspace']['handle'].split('/')[1]}/invites"
    body = {"email": "boss@acme.com", "role": "admin"}
    r = await a.post(invites, json=body, headers=auth)
    assert r.status_code == 403 and r.json()["error"]["code"] == "escalation_required"
    code = smtp.inbox.code_for("ann@acme.com")
    r = await b.post(f"{invites}?code={code}", json=body, headers=auth)
    assert r.status_code == 201, r.text

    # The sign-in limit is one count across both.
    statuses = []
    for i in range(signin.PER_EMAIL + 1):
        http = a if i % 2 else b
        r = await http.post("/auth/request", json={"email": "limited@acme.com"})
        statuses.append(r.status_code)
    assert statuses == [200] * signin.PER_EMAIL + [429]
    assert (await a.post("/auth/request", json={"email": "limited@acme.com"})).status_code == 429


async def test_killing_a_replica_under_write_load_loses_no_acknowledged_write(
    replicas: list[tuple[Process, httpx.AsyncClient]], database: str
) -> None:
    (victim, a), (_, b) = replicas
    auth = mint(database, "load@acme.com")
    acknowledged: list[str] = []
    enough = asyncio.Event()

    async def writer(http: httpx.AsyncClient, prefix: str, n: int) -> None:
        for i in range(n):
            email = f"{prefix}{i}@load.co"
            try:
                r = await http.post("/contacts", json={"email": email}, headers=auth)
            except httpx.TransportError:
                return  # the replica is gone: what it never acknowledged may or may not exist
            assert r.status_code == 201, r.text
            acknowledged.append(email)
            if len(acknowledged) >= 100:
                enough.set()

    async def killer() -> None:
        await enough.wait()  # writers on both replicas have requests in flight
        os.kill(victim.proc.pid, signal.SIGKILL)

    await asyncio.gather(
        killer(),
        *(writer(a, f"a{k}-", 1000) for k in range(4)),
        *(writer(b, f"b{k}-", 60) for k in range(4)),
    )
    assert victim.proc.wait(timeout=15) == -signal.SIGKILL
    present: set[str] = set()
    cursor: Any = None
    while True:
        params = {"limit": "200", **({"cursor": cursor} if cursor else {})}
        page = (await b.get("/contacts", params=params, headers=auth)).json()
        present.update(c["email"] for c in page["data"])
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert [e for e in acknowledged if e not in present] == []
    assert sum(e.startswith("b") for e in acknowledged) == 4 * 60  # the survivor took them all
    assert len(present) >= len(acknowledged)  # unacknowledged writes may have landed too


async def test_one_idempotency_key_across_replicas_makes_one_effect(
    replicas: list[tuple[Process, httpx.AsyncClient]], database: str
) -> None:
    """Repeats racing through two processes: one waits in the database for the other's
    transaction (the key's row), then replays its reply; nothing happens twice."""
    (_, a), (_, b) = replicas
    auth = {**mint(database, "keys@acme.com"), "Idempotency-Key": "one-deal"}
    body = {"title": "Raced"}
    replies = await asyncio.gather(
        *((a if i % 2 else b).post("/deals", json=body, headers=auth) for i in range(30))
    )
    assert {r.status_code for r in replies} <= {201, 409}, [r.text for r in replies]
    firsts = [r for r in replies if r.status_code == 201 and "idempotent-replayed" not in r.headers]
    assert len(firsts) == 1
    assert {r.content for r in replies if r.status_code == 201} == {firsts[0].content}
    for http in (a, b):
        r = await http.post("/deals", json=body, headers=auth)
        assert r.content == firsts[0].content and r.headers["idempotent-replayed"] == "true"
    r = await a.get("/deals", headers=auth)
    assert [d["title"] for d in r.json()["data"]] == ["Raced"]
    r = await b.get("/audit?action=deal.create", headers=auth)
    assert len(r.json()["data"]) == 1
