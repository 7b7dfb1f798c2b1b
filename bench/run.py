"""Load-test crmkit over loopback with wrk and print Markdown tables.

    python bench/run.py --contacts 100000                 # SQLite: seed (once) and measure
    python bench/run.py --contacts 1000000 --db bench/1m.db
    python bench/run.py --contacts 1000000 --db postgresql://postgres@127.0.0.1:5432/crmkit_bench
    python bench/run.py --contacts 1000000 --db postgresql://... --compare --replicas 1,2
    python bench/run.py --contacts 1000000 --db postgresql://... --explain

What it does: seeds a database (bench/seed.py; reused when it already holds the counts),
starts `crmkit serve` (one uvicorn worker; uvloop + httptools via uvicorn[standard]) and a
bare Starlette endpoint as the floor, mints a token with `crmkit token`, then runs each
scenario with wrk (32 connections, --latency) and reports requests/s, p50 and p99.
Needs `wrk` (Debian package). Loopback only; every run is bounded by --duration.

PostgreSQL (`--db postgresql://...`): seed.py seeds the SQLite file of the same counts
(`--sqlite-db`, default bench/bench-<N>.db) and copies it into that database with `crmkit copy`
once (then VACUUM ANALYZE); the same scenarios run against it.

- `--compare`: SQLite (the `--sqlite-db` file) and then PostgreSQL in one invocation, each
  with its own floor, and one table with both columns and the PostgreSQL/SQLite ratios.
- `--replicas 1,2`: for each count N, N `crmkit serve` processes (and N bare endpoints for the
  floor) on N ports over the same database, each scenario driven by N wrk processes at once
  (connections and wrk threads split evenly, one wrk per replica, at least one connection
  each: a one-connection scenario gets one per replica): req/s is their sum, p50 and p99 the
  slowest wrk's. A table gives each count's ratio against one replica. Each PostgreSQL run
  starts with VACUUM ANALYZE, so the writes of the run before leave it no dead rows.
- `--explain` (PostgreSQL): EXPLAIN (ANALYZE, BUFFERS) of every statement crmkit runs for the
  list, the single GET, the searches and the upsert (bench/explain.py), then exit.
- The header records the machine (nproc, CPU model, memory) and PostgreSQL's settings that
  move the figures; with both backends, or both replica counts, the issue's targets are
  checked at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

import pgdb
from seed import SECRET_KEY, default_sqlite

from crmkit.config import redact_url

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
EMAIL = "bench@example.com"
Result = dict[str, float]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_ready(url: str, proc: subprocess.Popen[bytes], seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited early ({proc.returncode}); see its log above")
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


def parse_wrk(out: str) -> Result:
    def ms(text: str) -> float:
        m = re.match(r"([\d.]+)(us|ms|s)", text)
        assert m, text
        value, unit = float(m.group(1)), m.group(2)
        return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value

    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p50 = ms(re.search(r"\s50%\s+(\S+)", out).group(1))  # type: ignore[union-attr]
    p99 = ms(re.search(r"\s99%\s+(\S+)", out).group(1))  # type: ignore[union-attr]
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    sockets = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out
    )
    return {
        "rps": rps,
        "p50": p50,
        "p99": p99,
        "non2xx": float(errors.group(1)) if errors else 0,
        "socket_errors": float(sum(int(g) for g in sockets.groups())) if sockets else 0,
    }


def wrk_command(
    url: str,
    *,
    token: str | None,
    duration: int,
    connections: int,
    script: str | None = None,
    threads: int = 2,
    timeout: str | None = None,
) -> list[str]:
    threads = min(threads, connections)  # wrk needs a connection per thread
    cmd = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{duration}s", "--latency"]
    if timeout:
        cmd += ["--timeout", timeout]
    if token:
        cmd += ["-H", f"Authorization: Bearer {token}"]
    if script:
        cmd += ["-s", script]
    cmd.append(url)
    return cmd


def run_wrk(commands: list[list[str]]) -> list[Result]:
    """wrk commands all at once; each one's figures."""
    procs = [
        subprocess.Popen(c, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for c in commands
    ]
    outs = [p.communicate() for p in procs]
    for p, (_, err) in zip(procs, outs, strict=True):
        if p.returncode != 0:
            raise SystemExit(f"wrk failed ({p.returncode}): {err.strip()}")
    return [parse_wrk(out) for out, _ in outs]


def combined(results: list[Result]) -> Result:
    """Several wrk processes as one load: requests/s and errors summed, the slowest p50/p99."""
    return {
        "rps": sum(r["rps"] for r in results),
        "p50": max(r["p50"] for r in results),
        "p99": max(r["p99"] for r in results),
        "non2xx": sum(r["non2xx"] for r in results),
        "socket_errors": sum(r["socket_errors"] for r in results),
    }


def split(total: int, parts: int) -> list[int]:
    """`total` connections over `parts` wrk processes, evenly, at least one each."""
    return [max(1, total // parts + (1 if i < total % parts else 0)) for i in range(parts)]


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


@dataclass(frozen=True)
class Target:
    """One measured configuration: a backend's database served by `replicas` processes."""

    backend: str  # "SQLite" or "PostgreSQL"
    db: str
    replicas: int
    workers: int
    limiter: bool = True  # False: requests_per_minute -1, the rate limiter counts nothing

    @property
    def label(self) -> str:
        text = f"{self.backend} x{self.replicas}"
        text += f" ({self.workers} workers each)" if self.workers != 1 else ""
        return text + ("" if self.limiter else " limiter off")


@dataclass(frozen=True)
class Scenario:
    name: str
    path: str  # after each replica's base URL (a wrk script may replace it)
    script: str | None = None
    connections: int | None = None  # None: --connections (split over the replicas)
    bare: bool = False  # the bare Starlette endpoint, without a token


LIST = "list: stage=lead, 90 days, -created_at, 50"
GET = "single GET"
SEARCH = "search=name"
UPSERT = "upsert POST /contacts (existing email)"
FLOOR = "bare Starlette endpoint (floor)"
MIXED_READ = "mixed: single GET (28 connections) ..."
MIXED_WRITE = "mixed: ... beside PATCH (4 connections)"
LOAD = "load"  # not a scenario: the 1-minute load average as the run started


def backend_of(db: str) -> str:
    return "PostgreSQL" if pgdb.is_postgres(db) else "SQLite"


# The rate limiter runs (every request counted against the token's bucket) but never
# refuses: a plan whose limit the load cannot reach. --limiter-cost also runs with it off.
NEVER_LIMITED = 10_000_000


def crmkit_env(db: str, limiter: bool = True) -> dict[str, str]:
    per_minute = NEVER_LIMITED if limiter else -1
    return {
        **os.environ,
        "CRMKIT_DATABASE": db,
        "CRMKIT_DEFAULT_PLAN": "unlimited",
        "CRMKIT_SECRET_KEY": SECRET_KEY,
        "CRMKIT_PLANS": json.dumps(
            {p: {"requests_per_minute": per_minute} for p in ("free", "team", "unlimited")}
        ),
        "CRMKIT_ANON_REQUESTS_PER_MINUTE": str(NEVER_LIMITED if limiter else -1),
    }


def crmkit_bin() -> str:
    return str(Path(sys.executable).parent / "crmkit")


def seed(args: argparse.Namespace, sqlite_db: str) -> tuple[str, list[str]]:
    """Seed (or reuse) the databases: the seeded workspace's id and what seed.py said."""
    cmd = [sys.executable, str(HERE / "seed.py"), "--db", args.db, "--email", EMAIL]
    cmd += ["--contacts", str(args.contacts), "--companies", str(args.companies)]
    cmd += ["--deals", str(args.deals)]
    if pgdb.is_postgres(args.db):
        cmd += ["--sqlite-db", sqlite_db]
        cmd += ["--vacuum-full"] if args.vacuum_full else []
    done = subprocess.run(cmd, stdout=subprocess.PIPE, text=True, env=crmkit_env(args.db))
    print(done.stdout, end="", file=sys.stderr)
    if done.returncode != 0:
        raise SystemExit(f"bench/seed.py failed ({done.returncode})")
    found = re.search(r"seeded workspace/(\S+)", done.stdout)
    if found is None:
        raise SystemExit("bench/seed.py named no workspace")
    said = [line.split("; # copied")[0] for line in done.stdout.splitlines() if line.strip()]
    return found.group(1), said


def mint_token(db: str, workspace: str) -> str:
    """A token of the bench user, checked to land in the seeded workspace."""
    done = subprocess.run(
        [crmkit_bin(), "token", "--email", EMAIL, "--name", "bench", "--db", db],
        capture_output=True,
        text=True,
        env=crmkit_env(db),
    )
    if done.returncode != 0:
        raise SystemExit(f"crmkit token failed on {redact_url(db)}: {done.stderr.strip()}")
    landed = re.search(r"workspace/(\S+)", done.stderr)
    if landed is not None and landed.group(1) != workspace:
        raise SystemExit(
            f"the bench token on {redact_url(db)} is for workspace/{landed.group(1)},"
            f" not the seeded workspace/{workspace}"
        )
    return done.stdout.strip()


@contextmanager
def serving(target: Target, tmp: str) -> Iterator[tuple[list[str], list[str]]]:
    """`target.replicas` crmkit servers and as many bare endpoints: their base URLs."""
    env = crmkit_env(target.db, target.limiter)
    servers: list[tuple[subprocess.Popen[bytes], str, Path]] = []
    bares: list[tuple[subprocess.Popen[bytes], str]] = []
    try:
        for i in range(target.replicas):
            port, bare_port = free_port(), free_port()
            log = Path(tmp, f"{target.backend}-x{target.replicas}-{i}.log")
            with log.open("wb") as out:
                serve = subprocess.Popen(
                    [crmkit_bin(), "serve", "--db", target.db, "--port", str(port)]
                    + ["--no-access-log", "--workers", str(target.workers)],
                    env=env,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                )
            servers.append((serve, f"http://127.0.0.1:{port}", log))
            bare = subprocess.Popen(
                [sys.executable, "-m", "uvicorn", "bare:app", "--port", str(bare_port)]
                + ["--no-access-log", "--log-level", "warning"],
                cwd=tmp,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            bares.append((bare, f"http://127.0.0.1:{bare_port}"))
        for proc, base, log in servers:
            try:
                wait_ready(base + "/readyz", proc)
            except SystemExit:
                print(log_tail(log), file=sys.stderr)
                raise
        for proc, base in bares:
            wait_ready(base + "/", proc)
        yield [base for _, base, _ in servers], [base for _, base in bares]
    finally:
        procs = [p for p, _, _ in servers] + [p for p, _ in bares]
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def log_tail(log: Path, lines: int = 30) -> str:
    try:
        text = log.read_text(errors="replace").splitlines()
    except OSError:
        return ""
    return f"--- last lines of {log.name} ---\n" + "\n".join(text[-lines:])


def scenarios(base: str, token: str, contacts: int, tmp: str) -> list[Scenario]:
    """The scenarios, their URLs found through the first replica."""
    # The bench token's own workspace is the seeded one (seed.py gives it the data).
    listing = "/contacts?stage=lead&created_at=gte:now-90d&sort=-created_at&limit=50"
    first = http("GET", base + "/contacts?limit=1&sort=-created_at", token)
    one_id = first.split("\n")[1].split(" ")[0] if first.startswith("#") else first.split(" ")[0]
    # walk 50 pages of 200 to reach a cursor 10,000 rows deep
    url, cursor = base + "/contacts?sort=-created_at&limit=200", ""
    for _ in range(50):
        page = http("GET", url + (f"&cursor={cursor}" if cursor else ""), token)
        nxt = [ln for ln in page.splitlines() if ln.startswith("# next: ")]
        cursor = nxt[0][len("# next: ") :] if nxt else ""
    deep = f"/contacts?sort=-created_at&limit=50&cursor={cursor}"
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
    upsert_lua.write_text(LUA_UPSERT % contacts)
    patch_lua.write_text(LUA_PATCH % ids_file)
    rename_lua.write_text(LUA_RENAME % ids_file)
    search = "/contacts?search="
    return [
        Scenario(FLOOR, "/", bare=True),
        Scenario(LIST, listing),
        Scenario("page 10,000 rows deep (cursor)", deep),
        Scenario(SEARCH, search + "jonathan"),
        # Search latency without queueing behind 31 other searches (one per replica):
        Scenario("search=name, one connection", search + "jonathan", connections=1),
        Scenario("search=name with a typo, one connection", search + "jonathn", connections=1),
        Scenario(GET, "/contacts/" + one_id.split("/")[-1]),
        Scenario(UPSERT, "/contacts", script=str(upsert_lua)),
        Scenario("PATCH /contacts/{id}", "/contacts/x", script=str(patch_lua)),
        # A rename: the record's search rows are written again.
        Scenario("PATCH a contact's name (search rows rewritten)", "/contacts/x", str(rename_lua)),
    ]


def measure(
    sc: Scenario,
    bases: list[str],
    bares: list[str],
    token: str,
    args: argparse.Namespace,
    duration: int,
) -> Result:
    urls = bares if sc.bare else bases
    threads = max(1, args.threads // len(urls))
    commands = [
        wrk_command(
            url + sc.path,
            token=None if sc.bare else token,
            duration=duration,
            connections=conns,
            script=sc.script,
            threads=threads,
            timeout=args.wrk_timeout,
        )
        for url, conns in zip(
            urls, split(sc.connections or args.connections, len(urls)), strict=True
        )
    ]
    return combined(run_wrk(commands))


def run_target(target: Target, token: str, args: argparse.Namespace, tmp: str) -> dict[str, Result]:
    only = set(args.only.split(",")) if args.only else None
    results: dict[str, Result] = {}
    print(f"\n## {target.label}: {redact_url(target.db)}", file=sys.stderr)
    if target.backend == "PostgreSQL":
        # Every PostgreSQL run starts from the same state: the dead rows and the visibility
        # map that the last run's writes left (this server may run without autovacuum) would
        # otherwise slow the next run's reads (index-only scans that visit the heap).
        started = time.perf_counter()
        pgdb.vacuum_analyze(target.db)
        print(f"VACUUM ANALYZE: {time.perf_counter() - started:.1f}s", file=sys.stderr)
    results[LOAD] = {"load": os.getloadavg()[0]}
    with serving(target, tmp) as (bases, bares):
        planned = scenarios(bases[0], token, args.contacts, tmp)
        for sc in planned:
            if only and not any(o in sc.name for o in only):
                continue
            # Warm up first (caches, the statement cache, WAL state left by the last scenario).
            measure(sc, bases, bares, token, args, 2)
            results[sc.name] = measure(sc, bases, bares, token, args, args.duration)
            print(f"{sc.name}: {results[sc.name]}", file=sys.stderr)
        if not only or any("mixed" in o for o in only):
            get_path = next(sc.path for sc in planned if sc.name == GET)
            read, write = mixed(bases, get_path, token, args, tmp)
            results[MIXED_READ], results[MIXED_WRITE] = read, write
            print(f"mixed: {read} / {write}", file=sys.stderr)
        if any(r["non2xx"] or r["socket_errors"] for r in scenario_results(results).values()):
            for log in sorted(Path(tmp).glob(f"{target.backend}-x{target.replicas}-*.log")):
                print(log_tail(log), file=sys.stderr)
    return results


def mixed(
    bases: list[str], get_path: str, token: str, args: argparse.Namespace, tmp: str
) -> tuple[Result, Result]:
    """28 connections reading one contact while 4 PATCH others: writes must not starve."""
    n = len(bases)
    reads = [
        wrk_command(
            b + get_path,
            token=token,
            duration=args.duration,
            connections=c,
            threads=1,
            timeout=args.wrk_timeout,
        )
        for b, c in zip(bases, split(28, n), strict=True)
    ]
    writes = [
        wrk_command(
            b + "/contacts/x",
            token=token,
            duration=args.duration,
            connections=c,
            script=str(Path(tmp, "patch.lua")),
            threads=1,
            timeout=args.wrk_timeout,
        )
        for b, c in zip(bases, split(4, n), strict=True)
    ]
    run_wrk(reads + writes)  # warm-up
    out = run_wrk(reads + writes)
    return combined(out[:n]), combined(out[n:])


# --- the report ---------------------------------------------------------------------------


def machine() -> list[str]:
    model = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    memory = ""
    try:
        with open("/proc/meminfo") as f:
            kb = int(next(ln for ln in f if ln.startswith("MemTotal")).split()[1])
        memory = f", {kb / 1024 / 1024:.0f} GiB"
    except (OSError, StopIteration, ValueError):
        pass
    nproc = subprocess.run(["nproc"], capture_output=True, text=True).stdout.strip()
    rev = subprocess.run(
        ["git", "-C", str(ROOT), "log", "-1", "--format=%h"], capture_output=True, text=True
    ).stdout.strip()
    return [
        f"machine: nproc {nproc or os.cpu_count()}, {model}{memory}; Python"
        f" {platform.python_version()}, SQLite {sqlite3.sqlite_version}; crmkit at {rev or '?'}"
        " (plus any uncommitted changes)",
    ]


def postgres_header(url: str) -> list[str]:
    shown = pgdb.settings(url)
    own = pgdb.crmkit_session_settings()
    if "jit" in own and "jit" in shown:
        shown["jit"] += f" (crmkit's connections set jit={own['jit']})"
    return [f"PostgreSQL {redact_url(url)}: " + ", ".join(f"{k}={v}" for k, v in shown.items())]


def cell(r: Result | None, key: str) -> str:
    if r is None:
        return "-"
    return f"{r[key]:,.0f}" if key == "rps" else f"{r[key]:.2f}"


def value(r: Result | None, key: str) -> float | None:
    return None if r is None else r[key]


def ratio(a: float | None, b: float | None) -> str:
    return "-" if not a or not b else f"{a / b:.2f}x"


def errors_cell(r: Result) -> str:
    text = f"{r['non2xx']:.0f}"
    return text + (f" (+{r['socket_errors']:.0f} socket)" if r["socket_errors"] else "")


def scenario_results(results: dict[str, Result]) -> dict[str, Result]:
    return {name: r for name, r in results.items() if name != LOAD}


def table(target: Target, results: dict[str, Result]) -> list[str]:
    load = results.get(LOAD, {}).get("load")
    out = [
        f"\n### {target.label}"
        + ("" if load is None else f" (1-minute load average as it started: {load:.2f})")
        + "\n",
        "| scenario | req/s | p50 ms | p99 ms | non-2xx |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, r in scenario_results(results).items():
        out.append(
            f"| {name} | {cell(r, 'rps')} | {cell(r, 'p50')} | {cell(r, 'p99')}"
            f" | {errors_cell(r)} |"
        )
    return out


def compare_table(
    a: Target, ra: dict[str, Result], b: Target, rb: dict[str, Result], title: str
) -> list[str]:
    """Both columns and b/a for req/s and p50."""
    x, y = a.label, b.label
    out = [
        f"\n### {title}\n",
        f"| scenario | {x} req/s | {y} req/s | req/s {y} / {x} | {x} p50 | {y} p50"
        f" | p50 {y} / {x} | {x} p99 | {y} p99 |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    ra, rb = scenario_results(ra), scenario_results(rb)
    for name in [*ra, *(n for n in rb if n not in ra)]:
        p, q = ra.get(name), rb.get(name)
        out.append(
            f"| {name} | {cell(p, 'rps')} | {cell(q, 'rps')}"
            f" | {ratio(value(q, 'rps'), value(p, 'rps'))} | {cell(p, 'p50')} | {cell(q, 'p50')}"
            f" | {ratio(value(q, 'p50'), value(p, 'p50'))} | {cell(p, 'p99')} | {cell(q, 'p99')} |"
        )
    return out


def check(name: str, measured: float | None, need: str) -> str:
    if measured is None:
        return f"| {name} | not measured | {need} | - |"
    op, value = need[:1], float(need[1:].rstrip("x"))
    met = measured >= value if op == ">" else measured <= value
    return f"| {name} | {measured:.2f}x | {need} | {'yes' if met else '**no**'} |"


def targets_table(runs: dict[Target, dict[str, Result]]) -> list[str]:
    """The issue's targets, from whatever this invocation measured."""
    runs = {t: r for t, r in runs.items() if t.limiter}
    sqlite = next((r for t, r in runs.items() if t.backend == "SQLite" and t.replicas == 1), None)
    pg = {t.replicas: r for t, r in runs.items() if t.backend == "PostgreSQL"}
    rows: list[str] = []

    def rel(a: dict[str, Result], b: dict[str, Result], sc: str, key: str) -> float | None:
        if sc not in a or sc not in b or not b[sc][key]:
            return None
        return a[sc][key] / b[sc][key]

    def floor(a: dict[str, Result], b: dict[str, Result], name: str) -> str:
        found = rel(a, b, FLOOR, "rps")
        return f"| ({name}) | {'-' if found is None else f'{found:.2f}x'} | | |"

    if sqlite is not None and 1 in pg:
        one = pg[1]
        rows.append(
            check("list req/s, PostgreSQL / SQLite", rel(one, sqlite, LIST, "rps"), ">0.7x")
        )
        rows.append(
            check("single GET req/s, PostgreSQL / SQLite", rel(one, sqlite, GET, "rps"), ">0.8x")
        )
        for sc in (n for n in one if n.startswith("search=")):
            rows.append(
                check(f"{sc} p50, PostgreSQL / SQLite", rel(one, sqlite, sc, "p50"), "<1.5x")
            )
        rows.append(
            check("upsert req/s, PostgreSQL / SQLite", rel(one, sqlite, UPSERT, "rps"), ">0.8x")
        )
        rows.append(floor(one, sqlite, "the floor, PostgreSQL run / SQLite run"))
    if 1 in pg and 2 in pg:
        rows.append(
            check("list req/s, PostgreSQL 2 replicas / 1", rel(pg[2], pg[1], LIST, "rps"), ">1.6x")
        )
        rows.append(floor(pg[2], pg[1], "the floor, 2 bare replicas / 1"))
    if not rows:
        return []
    return [
        "\n### The issue's targets\n",
        "| target | measured | needed | met |",
        "|---|---:|---:|---|",
        *rows,
    ]


def report(
    args: argparse.Namespace, header: list[str], runs: dict[Target, dict[str, Result]]
) -> None:
    print(
        f"\n{args.contacts:,} contacts, {args.companies:,} companies, {args.deals:,} deals;"
        f" wrk -t{args.threads} -c{args.connections} -d{args.duration}s per scenario, split over"
        " the replicas (one wrk each); one uvicorn worker per replica"
        + (f" x{args.workers}" if args.workers != 1 else "")
        + (f"; wrk --timeout {args.wrk_timeout}" if args.wrk_timeout else "")
        + ("; VACUUM ANALYZE before each PostgreSQL run" if pgdb.is_postgres(args.db) else "")
    )
    for line in header:
        print("\n" + line)
    for target, results in runs.items():
        print("\n".join(table(target, results)))
    targets = list(runs)
    sqlite = next((t for t in targets if t.backend == "SQLite" and t.replicas == 1), None)
    pg_one = next((t for t in targets if t.backend == "PostgreSQL" and t.replicas == 1), None)
    if sqlite is not None and pg_one is not None:
        print(
            "\n".join(
                compare_table(
                    sqlite, runs[sqlite], pg_one, runs[pg_one], "PostgreSQL against SQLite"
                )
            )
        )
    for target in targets:
        if not target.limiter:
            on = replace(target, limiter=True)
            title = f"{target.backend}: the rate limiter on against off"
            print("\n".join(compare_table(target, runs[target], on, runs[on], title)))
    for backend in ("SQLite", "PostgreSQL"):
        one = next((t for t in targets if t.backend == backend and t.replicas == 1), None)
        for t in targets:
            if one is not None and t.backend == backend and t.replicas > 1:
                title = f"{backend}: {t.replicas} replicas against one"
                print("\n".join(compare_table(one, runs[one], t, runs[t], title)))
    print("\n".join(targets_table(runs)))


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n")[0],
        epilog=__doc__.split("\n", 1)[1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--contacts", type=int, default=100_000)
    parser.add_argument("--companies", type=int, default=20_000)
    parser.add_argument("--deals", type=int, default=50_000)
    parser.add_argument(
        "--db", default=None, help="SQLite file or postgresql:// URL (default bench/bench-<N>.db)"
    )
    parser.add_argument(
        "--sqlite-db",
        default=None,
        help="with a PostgreSQL --db: the SQLite file it is copied from, and --compare's"
        " SQLite side (default bench/bench-<N>.db)",
    )
    parser.add_argument(
        "--compare",
        action="store_true",
        help="with a PostgreSQL --db: run SQLite (--sqlite-db) first, then PostgreSQL, and"
        " print both with their ratios",
    )
    parser.add_argument(
        "--replicas",
        default="1",
        help="comma-separated counts of `crmkit serve` processes on --db, e.g. 1,2"
        " (each on its own port, driven by its own wrk)",
    )
    parser.add_argument("--explain", action="store_true", help="PostgreSQL: print the plans, exit")
    parser.add_argument(
        "--vacuum-full", action="store_true", help="seed.py --vacuum-full (PostgreSQL seeding)"
    )
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument(
        "--wrk-timeout",
        default=None,
        help="wrk --timeout (wrk's default: 2s; a slower reply counts as a socket error)",
    )
    parser.add_argument("--threads", type=int, default=2, help="wrk threads in all (default 2)")
    parser.add_argument("--only", default=None, help="comma-separated scenario names")
    parser.add_argument(
        "--workers", type=int, default=1, help="crmkit serve --workers (the issue measures 1)"
    )
    parser.add_argument("--save", default=None, help="also write the results to this JSON file")
    parser.add_argument(
        "--limiter-cost",
        action="store_true",
        help="also run each backend with the rate limiter off, and compare",
    )
    args = parser.parse_args()
    args.db = args.db or default_sqlite(args.contacts)
    postgres = pgdb.is_postgres(args.db)
    sqlite_db = args.sqlite_db or (default_sqlite(args.contacts) if postgres else args.db)
    try:
        replicas = sorted({int(n) for n in args.replicas.split(",")})
    except ValueError:
        parser.error("--replicas takes counts such as 1 or 1,2")
    if not replicas or replicas[0] < 1:
        parser.error("--replicas takes counts of 1 or more")
    if (args.compare or args.explain) and not postgres:
        parser.error("--compare and --explain need --db postgresql://...")
    if shutil.which("wrk") is None and not args.explain:
        print("wrk is missing: apt-get install -y wrk", file=sys.stderr)
        return 2

    workspace, seeded = seed(args, sqlite_db)
    token = mint_token(args.db, workspace)
    if args.explain:
        import asyncio

        import explain

        pgdb.vacuum_analyze(args.db)  # the state each benchmark run starts from
        requests = asyncio.run(explain.standard_requests(args.db, token))
        print(f"# EXPLAIN (ANALYZE, BUFFERS) on {redact_url(args.db)}")
        for line in machine() + postgres_header(args.db):
            print("\n" + line)
        asyncio.run(explain.run(args.db, token, requests))
        return 0

    targets: list[Target] = []
    tokens = {args.db: token}
    if args.compare:
        targets.append(Target("SQLite", sqlite_db, 1, args.workers))
        tokens[sqlite_db] = mint_token(sqlite_db, workspace)
    targets += [Target(backend_of(args.db), args.db, n, args.workers) for n in replicas]
    if args.limiter_cost:
        targets += [replace(t, limiter=False) for t in targets if t.replicas == 1]
    header = (
        machine() + (postgres_header(args.db) if postgres else []) + ["seed: " + "; ".join(seeded)]
    )
    runs: dict[Target, dict[str, Result]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        Path(tmp, "bare.py").write_text(BARE_APP)
        for target in targets:
            runs[target] = run_target(target, tokens[target.db], args, tmp)
    report(args, header, runs)
    if args.save:
        Path(args.save).write_text(
            json.dumps(
                {
                    "args": vars(args),
                    "header": header,
                    "runs": [
                        {"target": t.label, "db": redact_url(t.db), "results": r}
                        for t, r in runs.items()
                    ],
                },
                indent=2,
            )
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
