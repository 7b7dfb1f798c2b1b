"""EXPLAIN (ANALYZE, BUFFERS) of every statement crmkit runs for a request, on PostgreSQL.

    python bench/run.py --db postgresql://postgres@127.0.0.1:5432/crmkit_bench --explain
    python bench/explain.py --db postgresql://... --token ck_... "/contacts?search=smith"

The app runs in this process (as bench/asgi_cost.py does) on the database; each request is
sent a few times (caches, the statement cache), then once more while every statement it runs
through the Database (reads, and each write transaction's statements) is recorded with its
parameters: exactly the SQL crmkit sends, not a hand-written equivalent. Each statement is
then explained on a connection of its own with crmkit's session settings, inside a
transaction that is rolled back, so explaining a write changes nothing.

Two plans per statement: the custom plan (the planner sees the values, as for the first five
runs of a statement) and, when its shape differs, the generic plan (PREPARE with the
parameters' types, plan_cache_mode=force_generic_plan). asyncpg keeps each statement prepared
per connection, and PostgreSQL switches a prepared statement to its generic plan after five
runs when that plan looks no costlier (plan_cache_mode=auto): under load, the server runs
that one.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import sys
import time
from collections.abc import AsyncIterator, MutableMapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import asyncpg
from seed import SECRET_KEY

from crmkit.app import App, create_app
from crmkit.config import Settings
from crmkit.store.postgres import db as pg

WARM_UP = 5


def settings(url: str) -> Settings:
    return Settings.from_env({"CRMKIT_DATABASE": url, "CRMKIT_SECRET_KEY": SECRET_KEY})


@dataclass
class Statement:
    sql: str
    params: tuple[Any, ...]
    write: bool  # inside a write transaction
    seconds: float  # as the app waited for it (round trip and all)


class Recorder:
    """Wraps a PostgresDatabase instance's reads and write transactions to record them."""

    def __init__(self, db: Any) -> None:
        self.db = db
        self.on = False
        self.seen: list[Statement] = []
        self.transactions = 0
        self._all, self._one, self._write = db.all, db.one, db.write
        db.all, db.one, db.write = self.all, self.one, self.write  # `many` calls `all`

    def note(self, sql: str, params: Any, write: bool, started: float) -> None:
        if self.on:
            self.seen.append(Statement(sql, tuple(params), write, time.perf_counter() - started))

    async def all(self, sql: str, params: Any = ()) -> Any:
        started = time.perf_counter()
        try:
            return await self._all(sql, params)
        finally:
            self.note(sql, params, False, started)

    async def one(self, sql: str, params: Any = ()) -> Any:
        started = time.perf_counter()
        try:
            return await self._one(sql, params)
        finally:
            self.note(sql, params, False, started)

    @asynccontextmanager
    async def write(self, *, heavy: bool = False, key: str | None = None) -> AsyncIterator[Any]:
        if self.on:
            self.transactions += 1
        async with self._write(heavy=heavy, key=key) as tx:
            yield _TxRecorder(tx, self)


class _TxRecorder:
    def __init__(self, tx: Any, rec: Recorder) -> None:
        self._tx, self._rec = tx, rec
        self.dialect = tx.dialect

    async def execute(self, sql: str, params: Any = ()) -> Any:
        started = time.perf_counter()
        try:
            return await self._tx.execute(sql, params)
        finally:
            self._rec.note(sql, params, True, started)

    async def all(self, sql: str, params: Any = ()) -> Any:
        started = time.perf_counter()
        try:
            return await self._tx.all(sql, params)
        finally:
            self._rec.note(sql, params, True, started)

    async def one(self, sql: str, params: Any = ()) -> Any:
        started = time.perf_counter()
        try:
            return await self._tx.one(sql, params)
        finally:
            self._rec.note(sql, params, True, started)

    async def executemany(self, sql: str, rows: Any) -> Any:
        rows = [tuple(r) for r in rows]
        started = time.perf_counter()
        try:
            return await self._tx.executemany(sql, rows)
        finally:
            for r in rows[:1]:  # the first row stands for the batch
                self._rec.note(sql, r, True, started)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._tx, name)


async def call(
    app: App, token: str, method: str, path: str, body: dict[str, Any] | None = None
) -> tuple[int, bytes]:
    route, _, query = path.partition("?")
    raw = b"" if body is None else json.dumps(body).encode()
    headers = [(b"host", b"bench"), (b"authorization", b"Bearer " + token.encode())]
    if body is not None:
        headers.append((b"content-type", b"application/json"))
    scope: dict[str, Any] = {
        "type": "http",
        "http_version": "1.1",
        "method": method,
        "path": route,
        "raw_path": route.encode(),
        "query_string": query.encode(),
        "headers": headers,
        "client": ("127.0.0.1", 1),
        "server": ("bench", 80),
        "scheme": "http",
        "root_path": "",
    }
    sent: list[MutableMapping[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": raw, "more_body": False}

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(message)

    await app(scope, receive, send)
    body_out = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return int(sent[0]["status"]), body_out


def varied(body: dict[str, Any] | None, i: int) -> dict[str, Any] | None:
    """A body whose `stage` changes from call to call (as run.py's upserts), so that each call
    writes rather than finding nothing to change."""
    if body is None or "stage" not in body:
        return body
    return {**body, "stage": f"stage{i % 7}"}


def literal(value: Any) -> str:
    """A parameter as a SQL literal, for EXECUTE (which takes no bound parameters)."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return "'\\x%s'" % bytes(value).hex()
    return "'" + str(value).replace("'", "''") + "'"


_COSTS = re.compile(r"\s+\((cost|actual)[^)]*\)")


def shape(plan: list[str]) -> list[str]:
    """A plan's nodes and conditions without costs, timings, buffers and parameter values."""
    out = []
    for line in plan:
        text = line.strip()
        if text.startswith(("Buffers:", "Planning", "Execution", "I/O Timings")):
            continue
        if text.startswith(("Index Cond", "Filter", "Recheck Cond", "Rows Removed", "Heap ")):
            continue
        out.append(_COSTS.sub("", line).rstrip())
    return out


async def _plan(conn: asyncpg.Connection, sql: str, params: Sequence[Any] = ()) -> list[str]:
    """EXPLAIN (ANALYZE, BUFFERS) of `sql` in a transaction that is rolled back; a statement
    that fails when run again (an INSERT of a key the app just wrote) is explained unrun."""
    tx = conn.transaction()
    await tx.start()
    try:
        rows = await conn.fetch("EXPLAIN (ANALYZE, BUFFERS) " + sql, *params)
        return [str(r[0]) for r in rows]
    except asyncpg.PostgresError as exc:
        await tx.rollback()
        tx = conn.transaction()
        await tx.start()
        rows = await conn.fetch("EXPLAIN " + sql, *params)
        return [f"(not run again: {type(exc).__name__}: {exc})"] + [str(r[0]) for r in rows]
    finally:
        await tx.rollback()


async def explain(conn: asyncpg.Connection, st: Statement) -> tuple[list[str], list[str] | None]:
    """(custom plan, generic plan or None when its shape is the custom one's)."""
    sql = pg.numbered(st.sql)
    await _plan(conn, sql, st.params)  # catalog caches warm: the next planning time is steady
    custom = await _plan(conn, sql, st.params)
    if not st.params:
        return custom, None
    prepared = await conn.prepare(sql)
    types = [
        str(await conn.fetchval("SELECT format_type($1::oid, NULL)", t.oid))
        for t in prepared.get_parameters()
    ]
    await conn.execute("PREPARE bench_generic(%s) AS %s" % (", ".join(types), sql))
    try:
        await conn.execute("SET plan_cache_mode = force_generic_plan")
        generic = await _plan(
            conn, "EXECUTE bench_generic(%s)" % ", ".join(literal(p) for p in st.params)
        )
    finally:
        await conn.execute("RESET plan_cache_mode")
        await conn.execute("DEALLOCATE bench_generic")
    return custom, (None if shape(generic) == shape(custom) else generic)


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


async def run(url: str, token: str, requests: Sequence[tuple[str, str, Any]]) -> None:
    """Print, for each (method, path, body), the statements crmkit runs and their plans."""
    app = create_app(settings(url), access_log=False)
    rt = app.runtime
    await rt.start()
    conn = await asyncpg.connect(
        url, server_settings={**pg._SETTINGS, "application_name": "crmkit-bench-explain"}
    )
    try:
        rec = Recorder(rt.db)
        for method, path, body in requests:
            for i in range(WARM_UP):
                status, _ = await call(app, token, method, path, varied(body, i))
            rec.seen.clear()
            rec.transactions = 0
            rec.on = True
            started = time.perf_counter()
            status, reply = await call(app, token, method, path, varied(body, WARM_UP))
            took = (time.perf_counter() - started) * 1000
            rec.on = False
            print(f"\n### {method} {path}" + (f" {json.dumps(body)}" if body else ""))
            print(
                f"\nstatus {status}, {len(reply)} bytes, {took:.2f} ms in process;"
                f" {len(rec.seen)} statements ({sum(s.write for s in rec.seen)} in writes),"
                f" {sum(s.seconds for s in rec.seen) * 1000:.2f} ms waiting for them"
                + (
                    f"; {rec.transactions} write transaction(s), each also BEGIN,"
                    " pg_advisory_xact_lock and COMMIT (not listed)"
                    if rec.transactions
                    else ""
                )
                + "\n"
            )
            for i, st in enumerate(rec.seen, 1):
                custom, generic = await explain(conn, st)
                kind = "write tx" if st.write else "read"
                print(f"{i}. ({kind}, {st.seconds * 1000:.2f} ms as the app waited)")
                print("```sql\n" + st.sql + "\n```")
                if st.params:
                    print("params: " + ", ".join(_shown(p) for p in st.params))
                print("```\n" + "\n".join(custom) + "\n```")
                if generic is None:
                    print("generic plan: the same shape\n")
                else:
                    print("generic plan (differs):\n```\n" + "\n".join(generic) + "\n```\n")
    finally:
        await conn.close()
        await rt.stop()


async def standard_requests(url: str, token: str) -> list[tuple[str, str, Any]]:
    """What run.py's scenarios send: the list, the page 10,000 rows deep, a single GET, the
    searches and an upsert (the newest contact and the deep cursor read through the app)."""
    app = create_app(settings(url), access_log=False)
    await app.runtime.start()
    try:
        _, body = await call(app, token, "GET", "/contacts?limit=1&sort=-created_at")
        line = next(ln for ln in body.decode().splitlines() if ln and not ln.startswith("#"))
        contact = line.split(" ")[0].split("/")[1]
        cursor = ""
        for _ in range(50):
            path = "/contacts?sort=-created_at&limit=200" + (f"&cursor={cursor}" if cursor else "")
            _, body = await call(app, token, "GET", path)
            nxt = [ln for ln in body.decode().splitlines() if ln.startswith("# next: ")]
            cursor = nxt[0][len("# next: ") :] if nxt else ""
    finally:
        await app.runtime.stop()
    return [
        ("GET", "/contacts?stage=lead&created_at=gte:now-90d&sort=-created_at&limit=50", None),
        ("GET", f"/contacts?sort=-created_at&limit=50&cursor={cursor}", None),
        ("GET", "/contacts/" + contact, None),
        ("GET", "/contacts?search=jonathan", None),
        ("GET", "/contacts?search=jonathn", None),
        ("POST", "/contacts", {"email": "person1@example.com", "stage": "stage1"}),
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--db", required=True, help="postgresql:// URL")
    parser.add_argument("--token", required=True)
    parser.add_argument("paths", nargs="*", help="GET paths (default: run.py's scenarios)")
    args = parser.parse_args(argv)
    if args.paths:
        requests: list[tuple[str, str, Any]] = [("GET", p, None) for p in args.paths]
    else:
        requests = asyncio.run(standard_requests(args.db, args.token))
    asyncio.run(run(args.db, args.token, requests))
    return 0


if __name__ == "__main__":
    sys.exit(main())
