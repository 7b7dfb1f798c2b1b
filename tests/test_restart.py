"""A restart keeps users, tokens and the secret key; CRMKIT_SECRET_KEY overrides the key file."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from conftest import Api, Smtp
from foundation_util import JSON

from crmkit.app import create_app
from crmkit.clock import FixedClock
from crmkit.config import Settings


@asynccontextmanager
async def running(settings: Settings, clock: FixedClock, smtp: Smtp) -> AsyncIterator[Api]:
    app = create_app(settings, clock=clock, access_log=False)
    await app.runtime.start()
    try:
        transport = httpx.ASGITransport(app=app, client=("10.9.9.9", 1))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            yield Api(http, smtp.inbox, app)
    finally:
        await app.runtime.stop()


async def secret_in_meta(api: Api) -> str | None:
    row = await api.rt.db.one("SELECT value FROM meta WHERE key = 'secret_key'")
    return None if row is None else str(row[0])


async def test_restart_keeps_users_tokens_and_secret(
    settings: Settings, clock: FixedClock, smtp: Smtp
) -> None:
    async with running(settings, clock, smtp) as api:
        token = await api.sign_in("jane@acme.com")
        who = (await api.json("GET", "/whoami", token)).json()["data"]
        secret = api.rt.secret_key
        assert len(secret) >= 32 and await secret_in_meta(api) is None  # never in the database
        # A code requested before the restart ...
        assert (await api.post("/auth/request", json={"email": "bob@acme.com"})).status_code == 200
        bob_code = api.inbox.code_for("bob@acme.com")

    async with running(settings, clock, smtp) as api:
        assert api.rt.secret_key == secret
        r = await api.json("GET", "/whoami", token)
        assert r.status_code == 200, r.text
        assert r.json()["data"] == who
        # ... still verifies after it, because the HMAC key is the same.
        body = {"email": "bob@acme.com", "code": bob_code}
        r = await api.post("/auth/verify", json=body, headers=JSON)
        assert r.status_code == 201, r.text
        rows = await api.rt.db.all("SELECT email FROM users ORDER BY email")
        assert rows == [("bob@acme.com",), ("jane@acme.com",)]


async def test_secret_key_from_the_environment_overrides(
    settings: Settings, clock: FixedClock, smtp: Smtp
) -> None:
    async with running(settings, clock, smtp) as api:
        token = await api.sign_in("jane@acme.com")
        before = api.rt.secret_key
    configured = dataclasses.replace(settings, secret_key="k" * 40)
    async with running(configured, clock, smtp) as api:
        assert api.rt.secret_key == "k" * 40 != before
        # Tokens are SHA-256 hashed, not keyed: they survive a key change.
        assert (await api.get("/whoami", token)).status_code == 200
        assert (await api.post("/auth/request", json={"email": "bob@acme.com"})).status_code == 200
        code = api.inbox.code_for("bob@acme.com")
        row = await api.rt.db.one("SELECT digest FROM codes")
        assert row is not None and row[0] == api.rt.hmac(f"login:bob@acme.com:{code}")
    async with running(settings, clock, smtp) as api:
        assert api.rt.secret_key == before  # the key file (or the configured key) again
