"""Server CPU per request, without HTTP or a load generator: call the ASGI app directly.

    python bench/asgi_cost.py --db bench/bench-100000.db            # the standard paths
    python bench/asgi_cost.py --db ... "/contacts?search=smith"      # any paths
    python bench/asgi_cost.py --db postgresql://postgres@127.0.0.1:5432/crmkit_bench
    python bench/asgi_cost.py --db ... --limiter-cost   # the rate limiter on against off

wrk on a 2-core machine shares the cores with the server; this isolates what crmkit itself
costs per request (auth, query, render), which is what optimisations should move.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pgdb
from seed import SECRET_KEY

from crmkit.app import App, create_app
from crmkit.config import Settings


async def call(app: App, token: bytes, path: str) -> tuple[int, bytes]:
    route, _, query = path.partition("?")
    scope: dict[str, Any] = {
        "type": "http",
        "http_version": "1.1",
        "method": "GET",
        "path": route,
        "raw_path": route.encode(),
        "query_string": query.encode(),
        "headers": [(b"host", b"bench"), (b"authorization", b"Bearer " + token)],
        "client": ("127.0.0.1", 1),
        "server": ("bench", 80),
        "scheme": "http",
        "root_path": "",
    }
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(scope, receive, send)
    return int(sent[0]["status"]), bytes(sent[1]["body"])


async def first_contact(app: App, token: bytes) -> str:
    """The id of a contact the token sees, for the paths that name one."""
    _, body = await call(app, token, "/contacts?limit=1")
    first = [ln for ln in body.decode().splitlines() if not ln.startswith("#")][0]
    return first.split(" ")[0].split("/")[1]


def settings_for(db: str, per_minute: int | None = None) -> Settings:
    env = {"CRMKIT_DATABASE": db, "CRMKIT_SECRET_KEY": SECRET_KEY}
    if per_minute is not None:  # every plan, and routes without a token
        plans = {p: {"requests_per_minute": per_minute} for p in ("free", "team", "unlimited")}
        env["CRMKIT_PLANS"] = json.dumps(plans)
        env["CRMKIT_ANON_REQUESTS_PER_MINUTE"] = str(per_minute)
    return Settings.from_env(env)


async def limiter_cost(db: str, token: str, paths: list[str], rounds: int) -> None:
    """The same requests through two apps on one database, the limiter counting every request
    (a limit the run cannot reach) and off (-1), in alternating batches so that the machine's
    drift falls on both alike."""
    on = create_app(settings_for(db, 10_000_000), access_log=False)
    off = create_app(settings_for(db, -1), access_log=False)
    for app in (on, off):
        await app.runtime.start()
    try:
        raw = token.encode()
        contact = await first_contact(on, raw)
        for path in paths:
            path = path.replace("{contact}", contact)
            spent = {id(on): 0.0, id(off): 0.0}
            batch = max(5, rounds // 20)
            for app in (on, off):  # warm both
                for _ in range(batch):
                    await call(app, raw, path)
            for _ in range(20):
                for app in (on, off):
                    started = time.perf_counter()
                    for _ in range(batch):
                        await call(app, raw, path)
                    spent[id(app)] += time.perf_counter() - started
            n = 20 * batch
            a, b = spent[id(on)] / n * 1000, spent[id(off)] / n * 1000
            print(f"| `{path}` | {b:.3f} | {a:.3f} | {(a / b - 1) * 100:+.1f}% |")
    finally:
        for app in (on, off):
            await app.runtime.stop()


async def measure(db: str, token: str, paths: list[str], rounds: int) -> None:
    settings = settings_for(db)
    app = create_app(settings, access_log=False)
    await app.runtime.start()
    try:
        raw = token.encode()
        contact = await first_contact(app, raw)
        for path in paths:
            path = path.replace("{contact}", contact)
            status, _ = await call(app, raw, path)
            n = max(5, rounds // 20) if "search=" in path else rounds
            started = time.perf_counter()
            for _ in range(n):
                await call(app, raw, path)
            per = (time.perf_counter() - started) / n * 1000
            print(f"| `{path}` | {status} | {per:.3f} |")
    finally:
        await app.runtime.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--db", required=True, help="SQLite file or postgresql:// URL")
    parser.add_argument("--email", default="bench@example.com")
    parser.add_argument("--rounds", type=int, default=300)
    parser.add_argument(
        "--limiter-cost", action="store_true", help="the rate limiter on against off, per path"
    )
    parser.add_argument("paths", nargs="*")
    args = parser.parse_args()
    if not pgdb.is_postgres(args.db) and not Path(args.db).is_file():
        print(f"no database at {args.db}: run bench/seed.py first", file=sys.stderr)
        return 2
    crmkit = str(Path(sys.executable).parent / "crmkit")
    token = subprocess.run(
        [crmkit, "token", "--email", args.email, "--name", "asgi-cost", "--db", args.db],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "CRMKIT_SECRET_KEY": SECRET_KEY},
    ).stdout.strip()
    paths = args.paths or [
        "/healthz",
        "/contacts/{contact}",
        "/contacts?stage=lead&created_at=gte:now-90d&sort=-created_at&limit=50",
        "/contacts?search=jonathan",
    ]
    if args.limiter_cost:
        print("| path | limiter off ms | limiter on ms | cost |")
        print("|---|---:|---:|---:|")
        asyncio.run(limiter_cost(args.db, token, paths, args.rounds))
        return 0
    print("| path | status | ms per request |")
    print("|---|---:|---:|")
    asyncio.run(measure(args.db, token, paths, args.rounds))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
