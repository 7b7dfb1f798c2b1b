"""What a stranger can do to someone else's sign-in: never lock them out, never void the code
they are typing, never mail them more than three codes in ten minutes; and one address cannot
spread code guesses over many accounts. Over real sockets, the stranger's bound to 127.0.0.2
and the owner's to 127.0.0.3."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from conftest import LiveServer
from foundation_util import JSON

from crmkit.accounts import signin
from crmkit.netaddr import address_group

VICTIM = "victim@acme.com"


def client(server: LiveServer, address: str) -> httpx.AsyncClient:
    transport = httpx.AsyncHTTPTransport(local_address=address)
    return httpx.AsyncClient(base_url=server.url, transport=transport)


@pytest.fixture
async def pair(live: tuple[Any, LiveServer]) -> AsyncIterator[tuple[Any, httpx.AsyncClient, ...]]:
    api, server = live
    async with client(server, "127.0.0.2") as stranger, client(server, "127.0.0.3") as owner:
        yield api, stranger, owner


async def ask(http: httpx.AsyncClient, email: str = VICTIM) -> httpx.Response:
    return await http.post("/auth/request", json={"email": email}, headers=JSON)


async def test_a_stranger_cannot_lock_the_owner_out(pair: Any) -> None:
    api, stranger, owner = pair
    clock = api.rt.clock
    # A day's worth of a stranger's requests for the victim's address, in four rounds.
    refused = 0
    for _ in range(signin.PER_EMAIL_DAY // signin.PER_EMAIL):
        for _ in range(signin.PER_EMAIL):
            r = await ask(stranger)
            refused += r.status_code == 429
        clock.advance(15 * 60)
    r = await ask(stranger)
    assert r.status_code == 429 and int(r.headers["retry-after"]) > 15 * 60  # the day's cap
    assert refused == 0
    # The owner, from their own address, is not refused ...
    r = await ask(owner)
    assert r.status_code == 200, r.text
    # ... and signs in with the newest code in the mailbox.
    code = api.inbox.code_for(VICTIM)
    r = await owner.post("/auth/verify", json={"email": VICTIM, "code": code}, headers=JSON)
    assert r.status_code == 201, r.text


async def test_a_strangers_request_never_voids_the_code_being_typed(pair: Any) -> None:
    api, stranger, owner = pair
    assert (await ask(owner)).json()["data"]["sent"] is True
    typing = api.inbox.code_for(VICTIM)
    for _ in range(signin.PER_EMAIL):
        assert (await ask(stranger)).status_code == 200
    r = await owner.post("/auth/verify", json={"email": VICTIM, "code": typing}, headers=JSON)
    assert r.status_code == 201, r.text


async def test_many_strangers_mail_at_most_three_codes_per_ten_minutes(
    live: tuple[Any, LiveServer],
) -> None:
    api, server = live
    sent = []
    for address in ("127.0.0.2", "127.0.0.4", "127.0.0.5", "127.0.0.6"):
        async with client(server, address) as http:
            for _ in range(signin.PER_EMAIL):
                r = await ask(http)
                assert r.status_code == 200, r.text
                sent.append(r.json()["data"]["sent"])
    assert sent.count(True) == 3 and len(api.inbox.to(VICTIM)) == 3
    api.rt.clock.advance(10 * 60 + 1)  # all three expired: one more may go
    async with client(server, "127.0.0.7") as http:
        assert (await ask(http)).json()["data"]["sent"] is True
    assert len(api.inbox.to(VICTIM)) == 4


async def test_one_address_cannot_spread_guesses_over_many_accounts(pair: Any) -> None:
    api, stranger, owner = pair
    for i in range(signin.GUESSES_PER_IP_HOUR):
        body = {"email": f"target{i % 40}@acme.com", "code": "%06d" % i}
        r = await stranger.post("/auth/verify", json=body, headers=JSON)
        assert r.status_code == 401, r.text
    body = {"email": "target0@acme.com", "code": "999999"}
    r = await stranger.post("/auth/verify", json=body, headers=JSON)
    assert r.status_code == 429 and r.json()["error"]["code"] == "rate_limited"
    assert 0 < int(r.headers["retry-after"]) <= 3600
    # Even a right code from that address waits: the ceiling is checked first.
    assert (await ask(stranger, "target1@acme.com")).status_code == 200
    code = api.inbox.code_for("target1@acme.com")
    r = await stranger.post(
        "/auth/verify", json={"email": "target1@acme.com", "code": code}, headers=JSON
    )
    assert r.status_code == 429
    # Another address signs in with it.
    r = await owner.post(
        "/auth/verify", json={"email": "target1@acme.com", "code": code}, headers=JSON
    )
    assert r.status_code == 201, r.text
    api.rt.clock.advance(3600)
    r = await stranger.post("/auth/verify", json=body, headers=JSON)
    assert r.status_code == 401


def test_ipv6_addresses_count_by_their_64() -> None:
    assert address_group("2001:db8:1:2:aaaa::1") == address_group("2001:db8:1:2:ffff::9")
    assert address_group("2001:db8:1:2::1") != address_group("2001:db8:1:3::1")
    assert address_group("::ffff:192.0.2.7") == address_group("192.0.2.7") == "192.0.2.7"


async def test_one_ipv6_64_is_one_address_to_the_limits(api: Any) -> None:
    """Every per-address limit: a host hopping between addresses of its /64 is one address."""
    replies = []
    for i in range(signin.PER_IP + 1):
        transport = httpx.ASGITransport(app=api.app, client=(f"2001:db8:7:7::{i + 1:x}", 1))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            replies.append((await ask(http, f"u{i}@acme.com")).status_code)
    assert replies == [200] * signin.PER_IP + [429]
