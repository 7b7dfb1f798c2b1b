"""Dynamic client registration cannot be blocked for everyone: it is limited per address (an
IPv6 /64 counts as one) and by nothing overall, and what bounds the table instead is that a
client never used within 24 hours is deleted ("used": an authorization code was issued to it)."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from conftest import Api, LiveServer, PostgresServer
from foundation_util import count
from mcp_util import authorize_url, pkce, redeem, register, walk_signin

from crmkit.app import App
from crmkit.clock import FixedClock
from crmkit.oauth import clients
from crmkit.store.postgres.schema import PACKAGE as PG_MIGRATIONS
from crmkit.store.sqlite.schema import _statements, migration_files

BASE = "http://testserver"
CALLBACK = "https://claude.ai/api/mcp/auth_callback"
DAY = 24 * 3600
OLD_OVERALL_CAP = 1000  # registrations per hour in all, before this change
PER_ADDRESS = 20  # registrations per hour from one address, as GET /help/mcp says
HELP = Path(__file__).resolve().parent.parent / "crmkit" / "help" / "mcp.txt"


@asynccontextmanager
async def from_address(app: App, host: str) -> AsyncIterator[httpx.AsyncClient]:
    """An in-process client whose requests come from `host`."""
    transport = httpx.ASGITransport(app=app, client=(host, 5555))
    async with httpx.AsyncClient(transport=transport, base_url=BASE) as http:
        yield http


async def try_register(http: httpx.AsyncClient) -> httpx.Response:
    return await http.post("/oauth/register", json={"redirect_uris": [CALLBACK]})


async def exists(api: Api, client_id: str) -> bool:
    return await count(api.rt.db, "oauth_clients", "id = ?", (client_id,)) == 1


async def page_opens(api: Api, client_id: str) -> bool:
    """Whether the sign-in page opens for the client (else: the not-registered error page)."""
    _, challenge = pkce()
    r = await api.get(authorize_url(client_id, challenge))
    if r.status_code == 200:
        return True
    assert r.status_code == 400 and "not registered" in r.text, r.text
    return False


# --- per address, and only per address --------------------------------------------------------


async def test_registrations_are_limited_per_address_not_for_everyone(
    api: Api, clock: FixedClock
) -> None:
    for _ in range(PER_ADDRESS):
        await register(api.http)  # from 10.1.2.3
    r = await try_register(api.http)
    assert r.status_code == 429
    assert r.json()["error"] == "rate_limited"
    assert "from this address" in r.json()["error_description"]
    assert int(r.headers["retry-after"]) == 3600  # the clock stood still: a whole hour
    before = await count(api.rt.db, "oauth_clients")
    async with from_address(api.app, "127.0.0.2") as other:
        r = await try_register(other)
        assert r.status_code == 201, r.text
    assert await count(api.rt.db, "oauth_clients") == before + 1
    # 10.1.2.3 is still refused, and gets in again once its hour has passed
    assert (await try_register(api.http)).status_code == 429
    clock.advance(3600)
    assert (await try_register(api.http)).status_code == 201


async def test_an_ipv6_slash_64_is_one_address(api: Api) -> None:
    async with from_address(api.app, "2001:db8:1:2::1") as first:
        for _ in range(PER_ADDRESS):
            assert (await try_register(first)).status_code == 201
    # another address of the same /64: the same count
    async with from_address(api.app, "2001:db8:1:2:ffff:ffff:ffff:9") as neighbour:
        r = await try_register(neighbour)
        assert r.status_code == 429, r.text
        assert int(r.headers["retry-after"]) > 0
    # the next /64 over is another address
    async with from_address(api.app, "2001:db8:1:3::1") as elsewhere:
        assert (await try_register(elsewhere)).status_code == 201


async def test_the_limit_holds_per_address_over_real_sockets(live: tuple[Api, LiveServer]) -> None:
    """Over real TCP, from 127.0.0.2 and 127.0.0.3: the address the server sees is the
    socket's, and each has a limit of its own."""
    _, server = live

    @asynccontextmanager
    async def bound(local: str) -> AsyncIterator[httpx.AsyncClient]:
        transport = httpx.AsyncHTTPTransport(local_address=local)
        async with httpx.AsyncClient(transport=transport, base_url=server.url) as http:
            yield http

    async with bound("127.0.0.2") as first, bound("127.0.0.3") as second:
        for _ in range(PER_ADDRESS):
            assert (await try_register(first)).status_code == 201
        r = await try_register(first)
        assert r.status_code == 429
        assert int(r.headers["retry-after"]) > 0
        r = await try_register(second)
        assert r.status_code == 201, r.text


async def test_no_overall_cap_a_connector_registers_after_many_addresses_filled_the_old_one(
    api: Api,
) -> None:
    """The probe's attack: 50 addresses, each at its limit, together made as many
    registrations as the old overall cap allowed an hour (1,000), and a real connector at
    another address then got 429 for up to an hour. Now each address has its own allowance
    and nothing else counts. (Going past a total of 1,000 takes 1,000 registrations whatever
    the per-address limit: the bulk goes through the service the endpoint calls, which holds
    every rule, to keep the test quick; the connector comes over HTTP.)"""
    addresses = [f"10.77.{n}.1" for n in range(OLD_OVERALL_CAP // PER_ADDRESS)]
    body = {"redirect_uris": [CALLBACK]}
    for address in addresses:
        for _ in range(PER_ADDRESS):
            await clients.register(api.rt, body, address)
    assert await count(api.rt.db, "oauth_clients") == OLD_OVERALL_CAP
    async with from_address(api.app, addresses[-1]) as full:
        assert (await try_register(full)).status_code == 429  # each held to its own limit
    async with from_address(api.app, "192.0.2.77") as connector:
        r = await try_register(connector)
        assert r.status_code == 201, r.text  # the 1,001st registration of the hour
    assert await count(api.rt.db, "oauth_clients") == OLD_OVERALL_CAP + 1


def test_the_manual_states_the_limits_that_hold() -> None:
    assert clients.PER_ADDRESS_PER_HOUR == PER_ADDRESS
    assert clients.UNUSED_CLIENT_SECONDS == DAY
    manual = " ".join(HELP.read_text(encoding="utf-8").split())
    assert f"At most {PER_ADDRESS} registrations per hour per address" in manual
    assert "an IPv6 /64 counts as one address" in manual
    assert "within 24 hours of registering is deleted" in manual
    assert "1,000 per hour" not in manual and "in all (429" not in manual


# --- unused clients expire --------------------------------------------------------------------


async def test_an_unused_client_is_deleted_after_24_hours_a_used_one_is_kept(
    api: Api, clock: FixedClock
) -> None:
    unused = await register(api.http, name="Never signed in")
    opened = await register(api.http, name="Page opened only")
    denied = await register(api.http, name="Denied")
    coded = await register(api.http, name="Reached a code")
    granted = await register(api.http, name="Holds a grant")

    _, challenge = pkce()
    assert (await api.get(authorize_url(opened, challenge))).status_code == 200
    walk = await walk_signin(
        api.http, authorize_url(denied, challenge), api.inbox, "d@acme.com", decision="deny"
    )
    assert walk.params["error"] == "access_denied"
    walk = await walk_signin(api.http, authorize_url(coded, challenge), api.inbox, "c@acme.com")
    assert "code" in walk.params  # issued, never redeemed
    verifier, challenge = pkce()
    walk = await walk_signin(api.http, authorize_url(granted, challenge), api.inbox, "g@acme.com")
    r = await redeem(api.http, granted, walk.params["code"], verifier)
    assert r.status_code == 200, r.text
    access = r.json()["access_token"]

    clock.advance(12 * 3600)
    young = await register(api.http, name="Registered 12 hours later")
    clock.advance(12 * 3600 + 1)  # the first five are 24 hours and a second old
    async with from_address(api.app, "127.0.0.2") as other:
        assert (await try_register(other)).status_code == 201  # purges as it registers

    for gone in (unused, opened, denied):
        assert not await exists(api, gone)
        assert not await page_opens(api, gone)
    for kept in (coded, granted, young):
        assert await exists(api, kept)
        assert await page_opens(api, kept)
    # the grant, and the connector's token, are untouched
    assert await count(api.rt.db, "oauth_grants", "client_id = ?", (granted,)) == 1
    assert (await api.get("/whoami", access)).status_code == 200


async def test_use_is_remembered_after_the_code_itself_is_forgotten(
    api: Api, clock: FixedClock
) -> None:
    """Codes are deleted a day after they expire; the client's use is not."""
    client_id = await register(api.http)
    _, challenge = pkce()
    await walk_signin(api.http, authorize_url(client_id, challenge), api.inbox, "c@acme.com")
    clock.advance(3 * DAY)
    other = await register(api.http, name="Other")
    verifier, challenge = pkce()
    walk = await walk_signin(api.http, authorize_url(other, challenge), api.inbox, "o@acme.com")
    assert (await redeem(api.http, other, walk.params["code"], verifier)).status_code == 200
    assert await count(api.rt.db, "oauth_codes", "client_id = ?", (client_id,)) == 0  # purged
    async with from_address(api.app, "127.0.0.2") as second:
        assert (await try_register(second)).status_code == 201
    assert await exists(api, client_id)
    assert await page_opens(api, client_id)


async def test_each_registration_deletes_a_bounded_batch_oldest_first(
    api: Api, clock: FixedClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(clients, "PURGE_BATCH", 2)
    old = []
    for _ in range(5):
        old.append(await register(api.http))
        clock.advance(1)
    clock.advance(DAY)
    async with from_address(api.app, "127.0.0.2") as other:
        assert (await try_register(other)).status_code == 201
        assert [await exists(api, c) for c in old] == [False, False, True, True, True]
        assert (await try_register(other)).status_code == 201
        assert [await exists(api, c) for c in old] == [False] * 4 + [True]
    # a refused registration deletes nothing either
    monkeypatch.setattr(clients, "PER_ADDRESS_PER_HOUR", 0)
    r = await try_register(api.http)
    assert r.status_code == 429
    assert await exists(api, old[4])


# --- the migration that adds used_at ----------------------------------------------------------


SEED = [
    "INSERT INTO users (id, email, created_at) VALUES ('u_a', 'a@acme.com', 0)",
    "INSERT INTO workspaces (id, name, plan, created_by, created_at)"
    " VALUES ('w_a', 'A', 'free', 'u_a', 0)",
    "INSERT INTO oauth_clients (id, name, redirect_uris, created_at) VALUES"
    " ('oc_none', 'None', '[]', 5), ('oc_code', 'Code', '[]', 6), ('oc_grant', 'Grant', '[]', 7)",
    "INSERT INTO oauth_codes (hash, client_id, redirect_uri, code_challenge, user_id,"
    " workspace_id, expires_at) VALUES ({blob}, 'oc_code', 'https://a/cb', 'x', 'u_a', 'w_a', 9)",
    "INSERT INTO oauth_grants (id, client_id, user_id, workspace_id, created_at)"
    " VALUES ('og_a', 'oc_grant', 'u_a', 'w_a', 8)",
]
EXPECTED = {"oc_none": None, "oc_code": 6, "oc_grant": 7}


def test_sqlite_migration_counts_clients_with_a_code_or_grant_as_used() -> None:
    files = migration_files()
    target = next(v for v, name, _ in files if name == "0015_oauth_client_use.sql")
    conn = sqlite3.connect(":memory:")
    for version, _, sql in files:
        if version < target:
            for statement in _statements(sql):
                conn.execute(statement)
    for statement in SEED:
        conn.execute(statement.format(blob="x'01'"))
    for version, _, sql in files:
        if version == target:
            for statement in _statements(sql):
                conn.execute(statement)
    assert dict(conn.execute("SELECT id, used_at FROM oauth_clients")) == EXPECTED


@pytest.mark.postgresql_only
async def test_postgresql_migration_counts_clients_with_a_code_or_grant_as_used(
    postgres: PostgresServer,
) -> None:
    files = migration_files(PG_MIGRATIONS)
    target = next(v for v, name, _ in files if name == "0003_oauth_client_use.sql")
    url = postgres.create(migrated=False)
    try:
        conn: Any = await asyncpg.connect(url)
        try:
            for version, _, sql in files:
                if version < target:
                    await conn.execute(sql)
            for statement in SEED:
                await conn.execute(statement.format(blob="'\\x01'::bytea"))
            for version, _, sql in files:
                if version == target:
                    await conn.execute(sql)
            rows = await conn.fetch("SELECT id, used_at FROM oauth_clients")
            assert {r["id"]: r["used_at"] for r in rows} == EXPECTED
        finally:
            await conn.close()
    finally:
        postgres.drop(url)
