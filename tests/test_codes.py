"""Login codes: single use, 10 minutes, 5 wrong tries, up to 3 live, rate limits, mail refusal."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from foundation_util import JSON, assert_error, count, counts

EMAIL = "jane@acme.com"
ADDRESS = "10.1.2.3"  # the `api` fixture's client address


async def request(api: Any, email: str = EMAIL, **kw: Any) -> Any:
    return await api.post("/auth/request", json={"email": email}, **kw)


async def verify(api: Any, code: str, email: str = EMAIL) -> Any:
    return await api.post("/auth/verify", json={"email": email, "code": code}, headers=JSON)


def wrong(code: str) -> str:
    return "%06d" % ((int(code) + 1) % 10**6)


async def test_code_is_stored_only_as_hmac(api: Any) -> None:
    assert (await request(api)).status_code == 200
    code = api.inbox.code_for(EMAIL)
    rows = await api.rt.db.all("SELECT key, digest FROM codes")
    assert len(rows) == 1
    assert rows[0][0] == f"login:{EMAIL}"
    assert code.encode() not in rows[0][1] and len(rows[0][1]) == 32


async def test_five_wrong_tries_burn_the_code(api: Any) -> None:
    assert (await request(api)).status_code == 200
    code = api.inbox.code_for(EMAIL)
    for _ in range(5):
        assert_error(await verify(api, wrong(code)), 401, "invalid_code")
    before = await counts(api.app)
    r = await verify(api, code)
    err = assert_error(r, 401, "invalid_code")
    assert "POST /auth/request" in err["hint"]
    after = await counts(api.app)
    assert after["users"] == before["users"] == 0
    assert after["tokens"] == before["tokens"] == 0
    assert after["codes"] == 0


async def test_four_wrong_tries_still_leave_the_code_usable(api: Any) -> None:
    assert (await request(api)).status_code == 200
    code = api.inbox.code_for(EMAIL)
    for _ in range(4):
        assert_error(await verify(api, wrong(code)), 401, "invalid_code")
    assert (await verify(api, code)).status_code == 201


async def test_expired_code_is_refused(api: Any) -> None:
    assert (await request(api)).status_code == 200
    code = api.inbox.code_for(EMAIL)
    api.app.runtime.clock.advance(601)
    assert_error(await verify(api, code), 401, "invalid_code")
    assert await count(api.rt.db, "users") == 0


async def test_code_valid_until_ten_minutes(api: Any) -> None:
    assert (await request(api)).status_code == 200
    code = api.inbox.code_for(EMAIL)
    api.app.runtime.clock.advance(600)
    assert (await verify(api, code)).status_code == 201


async def test_code_works_once(api: Any) -> None:
    assert (await request(api)).status_code == 200
    code = api.inbox.code_for(EMAIL)
    assert (await verify(api, code)).status_code == 201
    before = await counts(api.app)
    assert_error(await verify(api, code), 401, "invalid_code")
    assert await counts(api.app) == before


async def test_a_new_request_leaves_the_earlier_code_valid(api: Any) -> None:
    """Anyone may ask for a code for any address: that must not kill the one its owner is
    about to type. A sign-in uses up every code of the address."""
    assert (await request(api)).status_code == 200
    old = api.inbox.code_for(EMAIL)
    assert (await request(api)).status_code == 200
    new = api.inbox.code_for(EMAIL)
    assert len(api.inbox.to(EMAIL)) == 2
    assert await count(api.rt.db, "codes") == 2
    assert (await verify(api, old)).status_code == 201
    assert await count(api.rt.db, "codes") == 0
    if old != new:  # one in a million they coincide
        assert_error(await verify(api, new), 401, "invalid_code")


async def test_at_most_three_live_codes_and_no_mail_beyond(api: Any) -> None:
    """A request while three codes are live mails nothing, and says so: an address gets at
    most three codes per ten minutes, whoever asks."""
    clock = api.app.runtime.clock
    for i in range(3):
        if i:
            clock.advance(60)
        assert (await request(api)).status_code == 200
    r = await request(api)
    assert r.status_code == 200 and "not sent" in r.text and "use the newest" in r.text
    assert len(api.inbox.to(EMAIL)) == 3 and await count(api.rt.db, "codes") == 3
    clock.advance(8 * 60 + 1)  # the first of the three expires: room for one more
    r = await request(api, headers=JSON)
    assert r.status_code == 200 and r.json()["data"]["sent"] is True
    assert len(api.inbox.to(EMAIL)) == 4


async def test_a_new_request_resets_the_wrong_try_count(api: Any) -> None:
    assert (await request(api)).status_code == 200
    burned = api.inbox.code_for(EMAIL)
    for _ in range(5):
        assert_error(await verify(api, wrong(burned)), 401, "invalid_code")
    assert await count(api.rt.db, "codes") == 0  # the fifth wrong try burned it
    assert (await request(api)).status_code == 200
    assert (await verify(api, api.inbox.code_for(EMAIL))).status_code == 201


async def test_code_of_one_email_does_not_open_another(api: Any) -> None:
    assert (await request(api)).status_code == 200
    code = api.inbox.code_for(EMAIL)
    assert (await request(api, "bob@acme.com")).status_code == 200
    assert_error(await verify(api, code, "bob@acme.com"), 401, "invalid_code")
    assert await count(api.rt.db, "users") == 0


async def test_malformed_codes(api: Any) -> None:
    assert (await request(api)).status_code == 200
    code = api.inbox.code_for(EMAIL)
    # (spaces around or inside a code are ignored: " 123 456" is 123456, as a mail shows it)
    malformed = ["", "12345", "1234567", "abcdef", code[:5] + " ", "\uff11" * 6, "-12345"]
    for bad in malformed:
        assert_error(await verify(api, bad), 401, "invalid_code")
    # Malformed strings count as wrong tries: the code is burned by now.
    assert await count(api.rt.db, "codes") == 0
    assert_error(await verify(api, code), 401, "invalid_code")

    assert (await request(api)).status_code == 200
    code = api.inbox.code_for(EMAIL)
    before = await counts(api.app)
    for bad_type in [int(code), None, [code], {"c": code}, True]:
        r = await api.post("/auth/verify", json={"email": EMAIL, "code": bad_type}, headers=JSON)
        err = assert_error(r, 400, "invalid_field")
        assert "code" in err["message"]
    r = await api.post("/auth/verify", json={"email": EMAIL}, headers=JSON)
    err = assert_error(r, 400, "missing_field")
    assert "code" in err["message"]
    assert await counts(api.app) == before
    # A body that never reached the code check does not count as a try.
    assert (await verify(api, code)).status_code == 201


async def test_no_code_requested_is_invalid_code(api: Any) -> None:
    assert_error(await verify(api, "123456"), 401, "invalid_code")
    assert await count(api.rt.db, "users") == 0


async def test_sixth_request_per_email_from_one_address_is_rate_limited(api: Any) -> None:
    clock = api.app.runtime.clock
    for _ in range(5):
        assert (await request(api)).status_code == 200
        clock.advance(60)
    codes_before = await api.rt.db.all("SELECT digest FROM codes ORDER BY digest")
    for headers in ({}, JSON):
        r = await request(api, headers=headers)
        err = assert_error(r, 429, "rate_limited")
        # The oldest of the 5 hits was 300 s ago; it leaves the 15-minute window in 600 s.
        assert r.headers["retry-after"] == "600"
        assert err["retry_after"] == "600"
    assert len(api.inbox.to(EMAIL)) == 3  # three live codes: the rest mailed nothing
    assert await api.rt.db.all("SELECT digest FROM codes ORDER BY digest") == codes_before
    # The code already sent still works while the requests are limited.
    assert (await verify(api, api.inbox.code_for(EMAIL))).status_code == 201
    # Another address is not limited by this one.
    assert (await request(api, "bob@acme.com")).status_code == 200


async def test_at_most_twenty_requests_a_day_for_one_email_from_one_address(api: Any) -> None:
    """Five wrong tries a code: at most 100 guesses at one account a day from one address
    (NIST SP 800-63B 5.2.2), where the 15-minute limit alone allowed 2,400."""
    clock = api.app.runtime.clock
    for round_ in range(4):
        if round_:
            clock.advance(15 * 60)
        for _ in range(5):
            assert (await request(api)).status_code == 200
    # Both limits are full: Retry-After is the longer wait, not the 15 minutes'.
    r = await request(api, headers=JSON)
    err = assert_error(r, 429, "rate_limited")
    assert "at most 20 per 24 hours" in err["message"]
    assert int(r.headers["retry-after"]) == 24 * 3600 - 3 * 15 * 60
    assert len(api.inbox.to(EMAIL)) == 12  # three a round: each round's first three
    assert (await request(api, "bob@acme.com")).status_code == 200  # per email
    clock.advance(int(r.headers["retry-after"]))
    assert (await request(api)).status_code == 200


async def test_email_limit_lifts_after_the_window(api: Any) -> None:
    clock = api.app.runtime.clock
    for _ in range(5):
        assert (await request(api)).status_code == 200
    clock.advance(899)
    r = await request(api)
    assert_error(r, 429, "rate_limited")
    assert r.headers["retry-after"] == "1"
    clock.advance(1)
    assert (await request(api)).status_code == 200
    assert len(api.inbox.to(EMAIL)) == 4  # three, then one once they had expired


async def test_thirty_first_request_per_ip_is_rate_limited(api: Any) -> None:
    for i in range(30):
        assert (await request(api, f"user{i}@acme.com")).status_code == 200
    r = await request(api, "user30@acme.com", headers=JSON)
    err = assert_error(r, 429, "rate_limited")
    assert r.headers["retry-after"] == err["retry_after"] == "900"
    assert "address" in err["message"]
    assert api.inbox.to("user30@acme.com") == []
    assert await count(api.rt.db, "codes") == 30
    api.app.runtime.clock.advance(900)
    assert (await request(api, "user30@acme.com")).status_code == 200


async def test_smtp_refusal_is_503_and_leaves_no_code(api: Any) -> None:
    api.inbox.refuse = True
    for headers in ({}, JSON):
        r = await request(api, headers=headers)
        err = assert_error(r, 503, "email_unavailable")
        assert "CRMKIT_SMTP_URL" in err["hint"]
    assert await count(api.rt.db, "codes") == 0
    assert api.inbox.messages == []
    # A later request that fails to mail withdraws its own code only: the one already
    # delivered still works.
    api.inbox.refuse = False
    assert (await request(api)).status_code == 200
    code = api.inbox.code_for(EMAIL)
    api.inbox.refuse = True
    assert (await request(api)).status_code == 503
    assert await count(api.rt.db, "codes") == 1
    assert (await verify(api, code)).status_code == 201


async def test_concurrent_verifies_of_one_code_mint_one_token(api: Any) -> None:
    assert (await request(api)).status_code == 200
    code = api.inbox.code_for(EMAIL)
    replies = await asyncio.gather(*(verify(api, code) for _ in range(5)))
    assert sorted(r.status_code for r in replies) == [201, 401, 401, 401, 401]
    assert await count(api.rt.db, "tokens") == 1


async def test_concurrent_requests_respect_the_email_limit(api: Any) -> None:
    replies = await asyncio.gather(*(request(api) for _ in range(8)))
    assert sorted(r.status_code for r in replies) == [200] * 5 + [429] * 3
    assert len(api.inbox.to(EMAIL)) == 3
    key = f"login-email:{EMAIL}:{ADDRESS}"
    assert await count(api.rt.db, "rate_hits", "key = ?", (key,)) == 5


async def test_one_limit_never_purges_another_limits_hits(api: Any) -> None:
    """The rate table is shared: a hit under a 15-minute limit must not delete the hits an
    hourly (or daily) limit still counts."""
    from crmkit.accounts import ratelimit
    from crmkit.errors import RateLimited

    rt, clock = api.rt, api.app.runtime.clock
    hourly = ratelimit.Limit("test-hourly", 1, 3600, "hourly things")
    async with rt.db.write() as tx:
        await ratelimit.hit(rt, tx, [hourly], "wait")
    clock.advance(16 * 60)
    async with rt.db.write() as tx:
        await ratelimit.hit(rt, tx, [ratelimit.Limit("test-short", 5, 900, "short")], "wait")
    with pytest.raises(RateLimited):
        async with rt.db.write() as tx:
            await ratelimit.hit(rt, tx, [hourly], "wait")
