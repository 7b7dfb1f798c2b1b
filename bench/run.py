"""Load-test crmkit over loopback with wrk and print a Markdown table.

    python bench/run.py --contacts 100000            # seed (once) and measure
    python bench/run.py --contacts 1000000 --db bench/1m.db

What it does: seeds a database (bench/seed.py; reused when it already holds the counts),
starts `crmkit serve` (one uvicorn worker; uvloop + httptools via uvicorn[standard]) and a
bare Starlette endpoint as the floor, mints a token with `crmkit token`, then runs each
scenario with wrk (32 connections, --latency) and reports requests/s, p50 and p99.
Needs `wrk` (Debian package). Loopback only; every run is bounded by --duration.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_ready(url: str, proc: subprocess.Popen[bytes], seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited early ({proc.returncode})")
        try:
            with urllib.request.urlopen(url, timeout=1) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.1)  # a start-up poll in a benchmark script, not a test
    raise SystemExit(f"server at {url} did not become ready")


def http(method: str, url: str, token: str, body: dict[str, object] | None = None) -> str:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method)
    req.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(req, timeout=30) as r:
        return str(r.read().decode())


def parse_wrk(out: str) -> dict[str, float]:
    def ms(text: str) -> float:
        m = re.match(r"([\d.]+)(us|ms|s)", text)
        assert m, text
        value, unit = float(m.group(1)), m.group(2)
        return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value

    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p50 = ms(re.search(r"\s50%\s+(\S+)", out).group(1))  # type: ignore[union-attr]
    p99 = ms(re.search(r"\s99%\s+(\S+)", out).group(1))  # type: ignore[union-attr]
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {"rps": rps, "p50": p50, "p99": p99, "non2xx": float(errors.group(1)) if errors else 0}


def wrk_command(
    url: str,
    *,
    token: str | None,
    duration: int,
    connections: int,
    script: str | None = None,
    threads: int = 2,
) -> list[str]:
    threads = min(threads, connections)  # wrk needs a connection per thread
    cmd = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{duration}s", "--latency"]
    if token:
        cmd += ["-H", f"Authorization: Bearer {token}"]
    if script:
        cmd += ["-s", script]
    cmd.append(url)
    return cmd


def wrk(
    url: str, *, token: str | None, duration: int, connections: int, script: str | None = None
) -> dict[str, float]:
    cmd = wrk_command(url, token=token, duration=duration, connections=connections, script=script)
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    return parse_wrk(out)


def wrk_beside(reads: list[str], writes: list[str]) -> tuple[dict[str, float], dict[str, float]]:
    """Two wrk runs at once: how writes fare beside a read load, and the reads beside them."""
    with (
        subprocess.Popen(reads, stdout=subprocess.PIPE, text=True) as r,
        subprocess.Popen(writes, stdout=subprocess.PIPE, text=True) as w,
    ):
        read_out, _ = r.communicate()
        write_out, _ = w.communicate()
    return parse_wrk(read_out), parse_wrk(write_out)


# wrk.format() sends only the headers it is given, so copy -H (the token) into them.
LUA_HEADERS = """
local headers = nil
local function json_headers()
  if headers == nil then
    headers = {}
    for k, v in pairs(wrk.headers) do headers[k] = v end
    headers["Content-Type"] = "application/json"
  end
  return headers
end
"""

LUA_UPSERT = (
    LUA_HEADERS
    + """
local n = 0
local count = %d
request = function()
  n = n + 1
  local i = math.random(0, count - 1)
  local body = string.format('{"email":"person%%d@example.com","stage":"stage%%d"}', i, n %% 7)
  return wrk.format("POST", "/contacts", json_headers(), body)
end
"""
)

LUA_PATCH = (
    LUA_HEADERS
    + """
local ids = {}
for line in io.lines("%s") do ids[#ids + 1] = line end
local n = 0
request = function()
  n = n + 1
  local id = ids[math.random(1, #ids)]
  local body = string.format('{"title":"Title %%d"}', n)
  return wrk.format("PATCH", "/contacts/" .. id, json_headers(), body)
end
"""
)

# A rename: the record's rows in both search indexes are written again (the PATCH above
# changes a field no index holds).
LUA_RENAME = (
    LUA_HEADERS
    + """
local ids = {}
for line in io.lines("%s") do ids[#ids + 1] = line end
local names = {"Mary Smith", "James Brown", "Linda Jones", "Robert Miller"}
local n = 0
request = function()
  n = n + 1
  local id = ids[math.random(1, #ids)]
  local body = string.format('{"name":"%%s %%d"}', names[n %% 4 + 1], n)
  return wrk.format("PATCH", "/contacts/" .. id, json_headers(), body)
end
"""
)

BARE_APP = """
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route
async def hello(request):
    return PlainTextResponse("contact/c_x name=hello\\n")
app = Starlette(routes=[Route("/", hello)])
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--contacts", type=int, default=100_000)
    parser.add_argument("--companies", type=int, default=20_000)
    parser.add_argument("--deals", type=int, default=50_000)
    parser.add_argument("--db", default=None, help="database file (default bench/<N>.db)")
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--only", default=None, help="comma-separated scenario names")
    parser.add_argument(
        "--workers", type=int, default=1, help="crmkit serve --workers (the issue measures 1)"
    )
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        print("wrk is missing: apt-get install -y wrk", file=sys.stderr)
        return 2
    db = args.db or str(HERE / f"bench-{args.contacts}.db")
    bin_dir = Path(sys.executable).parent
    crmkit = str(bin_dir / "crmkit")
    env = {**os.environ, "CRMKIT_DATABASE": db, "CRMKIT_DEFAULT_PLAN": "unlimited"}

    subprocess.run(
        [
            sys.executable,
            str(HERE / "seed.py"),
            "--db",
            db,
            "--contacts",
            str(args.contacts),
            "--companies",
            str(args.companies),
            "--deals",
            str(args.deals),
        ],
        check=True,
        env=env,
    )
    token = subprocess.run(
        [crmkit, "token", "--email", "bench@example.com", "--name", "bench"],
        capture_output=True,
        text=True,
        check=True,
        env=env,
    ).stdout.strip()

    port, bare_port = free_port(), free_port()
    server = subprocess.Popen(
        [crmkit, "serve", "--port", str(port), "--no-access-log", "--workers", str(args.workers)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    with tempfile.TemporaryDirectory() as tmp:
        Path(tmp, "bare.py").write_text(BARE_APP)
        bare = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "bare:app",
                "--port",
                str(bare_port),
                "--no-access-log",
                "--log-level",
                "warning",
            ],
            cwd=tmp,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            base = f"http://127.0.0.1:{port}"
            wait_ready(base + "/readyz", server)
            wait_ready(f"http://127.0.0.1:{bare_port}/", bare)
            results = run_scenarios(base, f"http://127.0.0.1:{bare_port}/", token, args, tmp)
        finally:
            server.terminate()
            bare.terminate()
            server.wait(10)
            bare.wait(10)
    print(
        f"\n{args.contacts:,} contacts, {args.companies:,} companies, {args.deals:,} deals; "
        f"wrk -t2 -c{args.connections} -d{args.duration}s; "
        f"{'one uvicorn worker' if args.workers == 1 else f'{args.workers} uvicorn workers'}\n"
    )
    print("| scenario | req/s | p50 ms | p99 ms | non-2xx |")
    print("|---|---:|---:|---:|---:|")
    for name, r in results.items():
        print(f"| {name} | {r['rps']:,.0f} | {r['p50']:.2f} | {r['p99']:.2f} | {r['non2xx']:.0f} |")
    return 0


def run_scenarios(
    base: str, bare_url: str, token: str, args: argparse.Namespace, tmp: str
) -> dict[str, dict[str, float]]:
    # The bench token's own workspace is the seeded one (seed.py gives it the data).
    listing = base + "/contacts?stage=lead&created_at=gte:now-90d&sort=-created_at&limit=50"
    first = http("GET", base + "/contacts?limit=1&sort=-created_at", token)
    one_id = first.split("\n")[1].split(" ")[0] if first.startswith("#") else first.split(" ")[0]
    # walk 50 pages of 200 to reach a cursor 10,000 rows deep
    url, cursor = base + "/contacts?sort=-created_at&limit=200", ""
    for _ in range(50):
        page = http("GET", url + (f"&cursor={cursor}" if cursor else ""), token)
        nxt = [ln for ln in page.splitlines() if ln.startswith("# next: ")]
        cursor = nxt[0][len("# next: ") :] if nxt else ""
    deep = base + f"/contacts?sort=-created_at&limit=50&cursor={cursor}"
    ids_file = Path(tmp, "ids.txt")
    ids = http("GET", base + "/contacts?limit=200", token)
    ids_file.write_text(
        "\n".join(
            ln.split(" ")[0].split("/")[1]
            for ln in ids.splitlines()
            if ln and not ln.startswith("#")
        )
        + "\n"
    )
    upsert_lua, patch_lua = Path(tmp, "upsert.lua"), Path(tmp, "patch.lua")
    rename_lua = Path(tmp, "rename.lua")
    upsert_lua.write_text(LUA_UPSERT % args.contacts)
    patch_lua.write_text(LUA_PATCH % ids_file)
    rename_lua.write_text(LUA_RENAME % ids_file)

    search = base + "/contacts?search="
    # name -> (url, token, wrk script, connections: None = --connections)
    scenarios: dict[str, tuple[str, str | None, str | None, int | None]] = {
        "bare Starlette endpoint (floor)": (bare_url, None, None, None),
        "list: stage=lead, 90 days, -created_at, 50": (listing, token, None, None),
        "page 10,000 rows deep (cursor)": (deep, token, None, None),
        "search=name": (search + "jonathan", token, None, None),
        # Search latency without queueing behind 31 other searches:
        "search=name, one connection": (search + "jonathan", token, None, 1),
        "search=name with a typo, one connection": (search + "jonathn", token, None, 1),
        "single GET": (base + "/contacts/" + one_id.split("/")[-1], token, None, None),
        "upsert POST /contacts (existing email)": (
            base + "/contacts",
            token,
            str(upsert_lua),
            None,
        ),
        "PATCH /contacts/{id}": (base + "/contacts/x", token, str(patch_lua), None),
        "PATCH a contact's name (search rows rewritten)": (
            base + "/contacts/x",
            token,
            str(rename_lua),
            None,
        ),
    }
    only = set(args.only.split(",")) if args.only else None
    results = {}
    for name, (url, tok, script, conns) in scenarios.items():
        if only and not any(o in name for o in only):
            continue
        # Warm up first (caches, the statement cache, WAL state left by the last scenario).
        conns = conns or args.connections
        wrk(url, token=tok, duration=2, connections=conns, script=script)
        results[name] = wrk(
            url, token=tok, duration=args.duration, connections=conns, script=script
        )
        print(f"{name}: {results[name]}", file=sys.stderr)
    if not only or any("mixed" in o for o in only):
        # 28 connections reading one contact while 4 PATCH others: writes must not starve.
        get_url = scenarios["single GET"][0]
        reads = wrk_command(get_url, token=token, duration=args.duration, connections=28, threads=1)
        writes = wrk_command(
            base + "/contacts/x",
            token=token,
            duration=args.duration,
            connections=4,
            script=str(patch_lua),
            threads=1,
        )
        wrk_beside(reads, writes)  # warm-up
        read, write = wrk_beside(reads, writes)
        results["mixed: single GET (28 connections) ..."] = read
        results["mixed: ... beside PATCH (4 connections)"] = write
        print(f"mixed: {read} / {write}", file=sys.stderr)
    return results


if __name__ == "__main__":
    raise SystemExit(main())
