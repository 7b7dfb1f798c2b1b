"""API rate limits: X-RateLimit-* on every reply, 429 past a plan's requests_per_minute, per
client address for routes without a token, and one limit across processes."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import Api, LiveServer, Smtp, free_port
from foundation_util import Process, clean_env, crmkit_command, run_cli

HEADERS = ("x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-reset")


def plans(per_minute: int) -> str:
    return json.dumps({p: {"requests_per_minute": per_minute} for p in ("free", "team")})


def quota(r: httpx.Response) -> tuple[int, int, int]:
    limit, remaining, reset = (int(r.headers[h]) for h in HEADERS)
    return limit, remaining, reset


class TestSmallLimits:
    @pytest.fixture
    def env(self) -> dict[str, str]:
        return {"CRMKIT_PLANS": plans(5), "CRMKIT_ANON_REQUESTS_PER_MINUTE": "4"}

    async def test_a_token_gets_its_plans_count_then_429(self, api: Api, clock: Any) -> None:
        token = await api.sign_in("limits@acme.com")  # 2 anonymous requests
        seen = []
        for _ in range(5):
            r = await api.get("/whoami", token)
            assert r.status_code == 200, r.text
            seen.append(quota(r))
        now = clock.now()
        assert [s[:2] for s in seen] == [(5, 4), (5, 3), (5, 2), (5, 1), (5, 0)]
        assert seen[-1][2] == now + 60  # empty: full again in a minute
        r = await api.json("POST", "/contacts", token, json={"name": "Ada"})
        assert r.status_code == 429, r.text
        error = r.json()["error"]
        assert error["code"] == "rate_limited" and "5 requests a minute" in error["message"]
        assert "Retry-After" in error["hint"] and r.headers["retry-after"] == "12"
        assert quota(r)[:2] == (5, 0)
        clock.advance(12)  # one request's worth refilled
        assert (await api.get("/whoami", token)).status_code == 200
        assert (await api.get("/whoami", token)).status_code == 429
        # the refused POST wrote nothing
        clock.advance(60)
        assert (await api.json("GET", "/contacts", token)).json()["data"] == []

    async def test_each_token_has_its_own_bucket(self, api: Api) -> None:
        first = await api.sign_in("one@acme.com")
        second = await api.sign_in("two@acme.com")
        for _ in range(5):
            assert (await api.get("/whoami", first)).status_code == 200
        assert (await api.get("/whoami", first)).status_code == 429
        assert (await api.get("/whoami", second)).status_code == 200

    async def test_headers_on_every_kind_of_reply(self, api: Api) -> None:
        token = await api.sign_in("headers@acme.com")
        replies = [
            await api.get("/contacts", token),
            await api.get("/contacts/c_aaaaaaaaaaaa", token),  # 404 from an endpoint
            await api.get("/contacts?colour=red", token),  # 400
            await api.get("/nowhere", token),  # no route
            await api.get("/whoami"),  # 401
            await api.get("/whoami", "ck_" + "x" * 43),
        ]
        for r in replies:
            assert all(h in r.headers for h in HEADERS), (r.request.url, r.headers)
        assert quota(replies[0])[0] == 5  # the token's plan
        assert quota(replies[3])[0] == 4  # not counted for the token: the address's


class TestUnlimited:
    @pytest.fixture
    def env(self) -> dict[str, str]:
        return {"CRMKIT_PLANS": plans(-1)}

    async def test_minus_one_is_no_limit_and_no_headers(self, api: Api) -> None:
        token = await api.sign_in("free@acme.com")
        r = await api.get("/whoami", token)
        assert r.status_code == 200 and "x-ratelimit-limit" not in r.headers


class TestPerAddress:
    @pytest.fixture
    def env(self) -> dict[str, str]:
        return {"CRMKIT_ANON_REQUESTS_PER_MINUTE": "3"}

    async def test_routes_without_a_token_are_limited_per_address(
        self, live: tuple[Api, LiveServer]
    ) -> None:
        _, server = live

        def client(address: str) -> httpx.AsyncClient:
            transport = httpx.AsyncHTTPTransport(local_address=address)
            return httpx.AsyncClient(base_url=server.url, transport=transport)

        async with client("127.0.0.2") as two, client("127.0.0.3") as three:
            for i in range(3):
                r = await two.get("/help")
                assert r.status_code == 200 and quota(r)[:2] == (3, 2 - i)
            r = await two.get("/help")
            assert r.status_code == 429 and r.headers["retry-after"] == "20"
            assert "this address may make 3 requests a minute" in r.text
            r = await two.post("/auth/request", json={"email": "a@acme.com"})
            assert r.status_code == 429  # sign-in is a route without a token too
            r = await three.get("/help")
            assert r.status_code == 200 and quota(r)[:2] == (3, 2)


@pytest.fixture
def database(backend: str, db_path: str) -> str:
    return db_path


def token_for(database: str, email: str) -> dict[str, str]:
    done = run_cli("token", "--email", email, "--db", database)
    assert done.returncode == 0, done.stderr
    return {"Authorization": f"Bearer {done.stdout.strip()}"}


def serve(
    tmp_path: Path, database: str, smtp: Smtp, per_minute: int, *args: str
) -> tuple[Process, str]:
    """`crmkit serve` on a free port with the plans' limit at `per_minute`, once it listens
    (every worker of it, with --workers)."""
    port = free_port()
    env = clean_env(
        database,
        CRMKIT_SMTP_URL=smtp.url,
        CRMKIT_BASE_URL=f"http://127.0.0.1:{port}",
        CRMKIT_PLANS=plans(per_minute),
    )
    command = [*crmkit_command(), "serve", "--port", str(port), "--db", database]
    proc = Process([*command, "--no-access-log", *args], env=env, cwd=str(tmp_path))
    workers = int(args[args.index("--workers") + 1]) if "--workers" in args else 1
    try:
        proc.wait_for(r"Application startup complete", count=workers)
    except BaseException:
        proc.stop()
        raise
    return proc, f"http://127.0.0.1:{port}"


def assert_one_limit(statuses: list[int], per_minute: int, elapsed: float, slack: int) -> None:
    """Together they served the limit, within 10% (plus what refilled meanwhile), and at most
    `slack` short of it (leased and left unspent)."""
    served = statuses.count(200)
    assert set(statuses) == {200, 429}
    assert served <= per_minute * 1.1 + elapsed * per_minute / 60, (served, elapsed)
    assert served >= per_minute - slack, statuses


async def test_two_processes_share_one_limit(tmp_path: Path, database: str, smtp: Smtp) -> None:
    """Two `crmkit serve` processes on one database, requests alternating between them: the
    token's 40 a minute hold for both together."""
    per_minute = 40
    auth = token_for(database, "shared@acme.com")
    servers = [serve(tmp_path, database, smtp, per_minute) for _ in range(2)]
    clients = [httpx.AsyncClient(base_url=url, timeout=30) for _, url in servers]
    try:
        started = time.monotonic()
        statuses = []
        for i in range(80):
            r = await clients[i % 2].get("/whoami", headers=auth)
            statuses.append(r.status_code)
        elapsed = time.monotonic() - started
    finally:
        for http in clients:
            await http.aclose()
        for proc, _ in servers:
            proc.stop()
    # Each process leases 2 at a time (5%) from the shared bucket: what a process leased and
    # left unspent (at most 2 each) is the most they can fall short.
    assert_one_limit(statuses, per_minute, elapsed, slack=2 * 2)
    # both processes served and both refused: the limit is one, not one each
    assert 200 in statuses[0::2] and 200 in statuses[1::2]
    assert 429 in statuses[0::2] and 429 in statuses[1::2]


async def test_workers_of_one_server_share_one_limit(
    tmp_path: Path, database: str, smtp: Smtp
) -> None:
    """`crmkit serve --workers 2`: a fresh connection per request, so the kernel hands them
    to either worker; together they serve the token's 30 a minute, not 30 each."""
    per_minute = 30
    auth = token_for(database, "workers@acme.com")
    proc, url = serve(tmp_path, database, smtp, per_minute, "--workers", "2")
    try:
        started = time.monotonic()
        statuses = []
        limits = httpx.Limits(max_keepalive_connections=0)
        async with httpx.AsyncClient(base_url=url, limits=limits) as http:
            for _ in range(60):
                statuses.append((await http.get("/whoami", headers=auth)).status_code)
        elapsed = time.monotonic() - started
    finally:
        proc.stop()
    assert_one_limit(statuses, per_minute, elapsed, slack=2 * 1)
