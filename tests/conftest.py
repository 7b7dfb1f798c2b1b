"""Shared fixtures: a real SMTP server on loopback, the app in-process or on uvicorn.

No mocks of our own code: tests talk HTTP to the real app over a real database, and read
sign-in codes from mail the app really sent.

Backends: every test that uses the `db_path` fixture (the app's database) runs once per
backend in CRMKIT_TEST_BACKENDS (default "sqlite,postgresql"): a SQLite file in the test's
temporary folder, or a PostgreSQL database of its own, created from a migrated template on
the server CRMKIT_TEST_POSTGRES names (default the local one) and dropped after the test.
Tests marked `sqlite_only` look inside SQLite itself and run on it alone.
"""

from __future__ import annotations

import asyncio
import email
import itertools
import json
import os
import re
import socket
import threading
from collections.abc import AsyncIterator, Coroutine, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from email.message import Message
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from aiosmtpd.controller import Controller

from crmkit.app import App, create_app
from crmkit.clock import FixedClock
from crmkit.config import Settings
from crmkit.store import records as store
from crmkit.store.sqlite import words

CODE_RE = re.compile(r"\b(\d{6})\b")
BACKENDS = [
    b.strip()
    for b in os.environ.get("CRMKIT_TEST_BACKENDS", "sqlite,postgresql").split(",")
    if b.strip()
]
POSTGRES = os.environ.get("CRMKIT_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres")
# PostgreSQL takes its secret key from the configuration (SQLite makes a key file): the tests'
# apps and the `crmkit` commands they run share this one.
TEST_SECRET = "test-secret-key-" + "k" * 32


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "sqlite_only: looks inside SQLite itself; runs on the SQLite backend alone"
    )
    config.addinivalue_line(
        "markers", "postgresql_only: needs PostgreSQL; left out when CRMKIT_TEST_BACKENDS lacks it"
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if "postgresql" in BACKENDS:
        return
    left_out = [item for item in items if item.get_closest_marker("postgresql_only")]
    if left_out:
        config.hook.pytest_deselected(items=left_out)
        items[:] = [item for item in items if item not in left_out]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "backend" in metafunc.fixturenames:
        only_sqlite = metafunc.definition.get_closest_marker("sqlite_only") is not None
        backends = [b for b in BACKENDS if b == "sqlite" or not only_sqlite]
        metafunc.parametrize("backend", backends)


def run_sync(work: Coroutine[Any, Any, Any]) -> Any:
    """Run a coroutine to its end from synchronous code, on a loop of its own (a thread, so
    that it never meets the test's own loop)."""
    result: list[Any] = []
    failure: list[BaseException] = []

    def target() -> None:
        try:
            result.append(asyncio.run(work))
        except BaseException as exc:  # handed to the caller
            failure.append(exc)

    thread = threading.Thread(target=target)
    thread.start()
    thread.join()
    if failure:
        raise failure[0]
    return result[0]


class PostgresServer:
    """The tests' databases on a PostgreSQL server. A test gets the run's shared database,
    migrated once and emptied before each use (every table's rows deleted, the numbering
    restarted: cheaper than creating a database, which writes the whole template through the
    WAL); `create()` makes one of its own. Commits skip the wait for the disk
    (synchronous_commit=off, set on these databases only): a test never crashes the server."""

    def __init__(self, admin_url: str) -> None:
        self.admin_url = admin_url
        self.prefix = "crmkit_test_%d" % os.getpid()
        self.shared = self.prefix + "_shared"
        self._numbers = itertools.count(1)
        self._tables: list[str] | None = None

    def url(self, name: str) -> str:
        base, _, _ = self.admin_url.rpartition("/")
        return f"{base}/{name}"

    async def _admin(self, *statements: str, url: str | None = None) -> None:
        import asyncpg

        conn = await asyncpg.connect(url or self.admin_url)
        try:
            for sql in statements:
                await conn.execute(sql)
        finally:
            await conn.close()

    async def _new(self, name: str, migrated: bool) -> None:
        from crmkit.store.postgres.db import PostgresDatabase

        await self._admin(
            f"DROP DATABASE IF EXISTS {name} WITH (FORCE)",
            f"CREATE DATABASE {name}",
            f"ALTER DATABASE {name} SET synchronous_commit = off",
        )
        if migrated:
            db = PostgresDatabase(self.url(name), min_size=1, max_size=1)
            await db.open()
            await db.close()

    async def _empty(self) -> list[str]:
        import asyncpg

        conn = await asyncpg.connect(self.url(self.shared))
        try:
            if self._tables is None:
                self._tables = [
                    r[0]
                    for r in await conn.fetch(
                        "SELECT table_name FROM information_schema.tables WHERE table_schema ="
                        " 'public' AND table_type = 'BASE TABLE'"
                        " AND table_name <> 'schema_migrations'"
                    )
                ]
            async with conn.transaction():
                # No triggers or reference checks while emptying: every table goes anyway.
                await conn.execute("SET LOCAL session_replication_role = replica")
                await conn.execute("SET LOCAL lock_timeout = '5s'")
                for table in self._tables:
                    await conn.execute(f'DELETE FROM "{table}"')
                await conn.execute(
                    "SELECT setval(s.oid, 1, false) FROM pg_class s WHERE s.relkind = 'S'"
                )
        finally:
            await conn.close()
        return self._tables

    def database(self) -> str:
        """The shared database, empty and migrated."""
        if self._tables is None:
            run_sync(self._new(self.shared, migrated=True))
        run_sync(self._empty())
        return self.url(self.shared)

    def create(self, migrated: bool = True) -> str:
        """A database of the test's own (drop it with `drop`)."""
        name = "%s_%d" % (self.prefix, next(self._numbers))
        run_sync(self._new(name, migrated))
        return self.url(name)

    def drop(self, url: str) -> None:
        name = url.rpartition("/")[2]
        run_sync(self._admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))

    def close(self) -> None:
        if self._tables is not None:
            self.drop(self.url(self.shared))


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    server = PostgresServer(POSTGRES)
    try:
        yield server
    finally:
        server.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Inbox:
    """What the loopback SMTP server received."""

    messages: list[Message] = field(default_factory=list)
    refuse: bool = False  # answer 554 to every DATA when set
    unknown: tuple[str, ...] = ()  # recipients answered 550 (no such mailbox)

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: Any
    ) -> str:
        if address in self.unknown:
            return "550 5.1.1 no such mailbox"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.refuse:
            return "554 Transaction failed (test refuses mail)"
        msg = email.message_from_bytes(envelope.content)
        msg["X-Envelope-To"] = ",".join(envelope.rcpt_tos)
        self.messages.append(msg)
        return "250 OK"

    def to(self, address: str) -> list[Message]:
        return [m for m in self.messages if address in m["X-Envelope-To"]]

    def last_body(self, address: str) -> str:
        found = self.to(address)
        assert found, f"no mail to {address}; got mail to {[m['To'] for m in self.messages]}"
        payload = found[-1].get_payload(decode=True)
        assert isinstance(payload, bytes)
        return payload.decode()

    def code_for(self, address: str) -> str:
        match = CODE_RE.search(self.last_body(address))
        assert match, "no 6-digit code in the mail"
        return match.group(1)


@dataclass
class Smtp:
    inbox: Inbox
    port: int

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"


@pytest.fixture
def smtp() -> Iterator[Smtp]:
    inbox = Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield Smtp(inbox, port)
    finally:
        controller.stop()


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(1_790_000_000)  # 2026-09-21, a fixed "now" the tests move by hand


@pytest.fixture
def db_path(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[str]:
    """The app's database: a SQLite file, or a fresh PostgreSQL database's URL."""
    if backend == "sqlite":
        yield str(tmp_path / "crmkit.db")
        return
    server: PostgresServer = request.getfixturevalue("postgres")
    yield server.database()


@pytest.fixture
def env() -> dict[str, str]:
    """Extra CRMKIT_* variables for the app under test; tests override before `client`."""
    return {}


@pytest.fixture
def settings(db_path: str, backend: str, smtp: Smtp, env: dict[str, str]) -> Settings:
    base = {
        "CRMKIT_DATABASE": db_path,
        "CRMKIT_SMTP_URL": smtp.url,
        "CRMKIT_BASE_URL": "http://testserver",
        # The rate limits stay on, out of the way of tests that send thousands of requests
        # under a clock that never moves (tests/test_rate_limits.py sets small ones).
        "CRMKIT_ANON_REQUESTS_PER_MINUTE": "10000000",
    }
    plans = json.loads(env.get("CRMKIT_PLANS", "{}"))  # a test's own caps keep this limit
    for plan in ("free", "team", "unlimited"):
        plans.setdefault(plan, {}).setdefault("requests_per_minute", 10_000_000)
    env = {**env, "CRMKIT_PLANS": json.dumps(plans)}
    if backend == "postgresql":
        base["CRMKIT_SECRET_KEY"] = TEST_SECRET
    return Settings.from_env({**base, **env})


class Api:
    """An httpx client plus the few steps every test repeats (sign in, auth headers)."""

    def __init__(self, http: httpx.AsyncClient, inbox: Inbox, app: App) -> None:
        self.http = http
        self.inbox = inbox
        self.app = app

    @property
    def rt(self) -> Any:
        return self.app.runtime

    async def request(
        self, method: str, path: str, token: str | None = None, **kwargs: Any
    ) -> httpx.Response:
        headers = dict(kwargs.pop("headers", {}) or {})
        if token:
            headers["Authorization"] = f"Bearer {token}"
        return await self.http.request(method, path, headers=headers, **kwargs)

    async def get(self, path: str, token: str | None = None, **kw: Any) -> httpx.Response:
        return await self.request("GET", path, token, **kw)

    async def post(self, path: str, token: str | None = None, **kw: Any) -> httpx.Response:
        return await self.request("POST", path, token, **kw)

    async def patch(self, path: str, token: str | None = None, **kw: Any) -> httpx.Response:
        return await self.request("PATCH", path, token, **kw)

    async def delete(self, path: str, token: str | None = None, **kw: Any) -> httpx.Response:
        return await self.request("DELETE", path, token, **kw)

    async def sign_in(self, address: str, token_name: str | None = None) -> str:
        """The whole email-code flow; returns the raw token."""
        r = await self.post("/auth/request", json={"email": address})
        assert r.status_code == 200, r.text
        body: dict[str, Any] = {"email": address, "code": self.inbox.code_for(address)}
        if token_name:
            body["token_name"] = token_name
        r = await self.post("/auth/verify", json=body, headers={"Accept": "application/json"})
        assert r.status_code == 201, r.text
        token = r.json()["data"]["token"]
        assert isinstance(token, str)
        return token

    async def json(
        self, method: str, path: str, token: str | None = None, **kw: Any
    ) -> httpx.Response:
        headers = dict(kw.pop("headers", {}) or {})
        headers["Accept"] = "application/json"
        return await self.request(method, path, token, headers=headers, **kw)


@pytest.fixture
async def app(settings: Settings, clock: FixedClock) -> AsyncIterator[App]:
    application = create_app(settings, clock=clock, access_log=False)
    # SQLite: list pages as under load, packed on a reader thread. Tests send one request
    # at a time, so they would otherwise take the idle path (a plain read on the loop, the
    # path every other read takes); tests/test_store.py covers that choice itself.
    if hasattr(application.runtime.db, "idle_turn"):
        application.runtime.db.idle_turn = 0.0
    await application.runtime.start()
    try:
        yield application
    finally:
        await application.runtime.stop()


@pytest.fixture
async def api(app: App, smtp: Smtp) -> AsyncIterator[Api]:
    """The app in-process (httpx.ASGITransport): fast, and still real SQLite and real SMTP."""
    transport = httpx.ASGITransport(app=app, client=("10.1.2.3", 5555))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield Api(http, smtp.inbox, app)


class _Server(uvicorn.Server):
    """uvicorn that signals an event once it listens (or gives up), so tests never sleep."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.ready = threading.Event()

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        try:
            await super().startup(sockets)
        finally:
            self.ready.set()

    def run(self, sockets: list[socket.socket] | None = None) -> None:
        try:
            super().run(sockets)
        finally:
            self.ready.set()


class LiveServer:
    """uvicorn in a thread on a loopback port: a free one, or `port` when the app had to know
    its own address before it was configured (OAuth metadata points back at it)."""

    def __init__(self, app: Any, port: int | None = None) -> None:
        self.port = free_port() if port is None else port
        self.app = app
        config = uvicorn.Config(
            app, host="127.0.0.1", port=self.port, log_config=None, access_log=False, lifespan="on"
        )
        self.server = _Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        self.thread.start()
        await asyncio.to_thread(self.server.ready.wait, 30)
        if not self.server.started:
            raise RuntimeError("uvicorn failed to start")

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


@pytest.fixture
async def live(
    settings: Settings, clock: FixedClock, smtp: Smtp
) -> AsyncIterator[tuple[Api, LiveServer]]:
    """The app on uvicorn over a real socket, with a client pointed at it."""
    async with serve(create_app(settings, clock=clock, access_log=False), smtp) as pair:
        yield pair


@asynccontextmanager
async def serve(
    application: Any, smtp: Smtp, port: int | None = None
) -> AsyncIterator[tuple[Api, LiveServer]]:
    """Run `application` on uvicorn and yield a client pointed at it; stops it on exit."""
    server = LiveServer(application, port)
    await server.start()
    try:
        async with httpx.AsyncClient(base_url=server.url) as http:
            yield Api(http, smtp.inbox, application), server
    finally:
        server.stop()


@pytest.fixture
def paths(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Which index answered each search since the last clear(): "words" or "trigram"."""
    taken: list[str] = []
    real = store.search_plan

    async def spy(*args: Any, **kwargs: Any) -> Any:
        found = await real(*args, **kwargs)
        taken.append("words" if isinstance(found, words.WordSearch) else "trigram")
        return found

    monkeypatch.setattr(store, "search_plan", spy)
    return taken
