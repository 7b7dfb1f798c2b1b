"""How large SQLite's write-ahead log grows under a write load beside a read load, with the
log's bound (store/sqlite/db.py WAL_BOUND) and without it (as before the bound existed).

    python bench/wal.py --db bench/bench-100000.db --seconds 30

Starts `crmkit serve` on the seeded database (bench/seed.py) twice, once with WAL_BOUND set
out of reach and journal_size_limit off (`--unbounded`), drives upserts (4 connections) and
list reads (28 connections) with wrk, samples the -wal file's size every half second, and
prints the largest and the last size seen, and the size once the load stops.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from run import (  # noqa: E402
    LUA_UPSERT,
    free_port,
    wait_ready,
    wrk_command,
)

SERVE = """
import sys
from crmkit.store.sqlite import db
if sys.argv[1] == "unbounded":
    db.WAL_BOUND = 1 << 60
    real = db.Database._pragmas
    db.Database._pragmas = lambda self, ms: [p for p in real(self, ms) if "journal_size" not in p]
import uvicorn
from crmkit.app import app_from_environment
uvicorn.run(app_from_environment(), host="127.0.0.1", port=int(sys.argv[2]), log_level="warning")
"""


def measure(db: str, token: str, seconds: int, unbounded: bool) -> dict[str, float]:
    port = free_port()
    env = {**os.environ, "CRMKIT_DATABASE": db, "CRMKIT_ACCESS_LOG": "0"}
    mode = "unbounded" if unbounded else "bounded"
    server = subprocess.Popen(
        [sys.executable, "-c", SERVE, mode, str(port)], env=env, stderr=subprocess.DEVNULL
    )
    wal = Path(db + "-wal")
    try:
        base = f"http://127.0.0.1:{port}"
        wait_ready(base + "/readyz", server)
        with tempfile.TemporaryDirectory() as tmp:
            lua = Path(tmp, "upsert.lua")
            lua.write_text(LUA_UPSERT % 100_000)
            listing = base + "/contacts?stage=lead&sort=-created_at&limit=50"
            reads = wrk_command(listing, token=token, duration=seconds, connections=28, threads=1)
            writes = wrk_command(
                base + "/contacts",
                token=token,
                duration=seconds,
                connections=4,
                script=str(lua),
                threads=1,
            )
            largest = 0
            with (
                subprocess.Popen(reads, stdout=subprocess.DEVNULL) as r,
                subprocess.Popen(writes, stdout=subprocess.DEVNULL) as w,
            ):
                while r.poll() is None or w.poll() is None:
                    size = wal.stat().st_size if wal.exists() else 0
                    largest = max(largest, size)
                    time.sleep(0.5)  # sampling a file's size in a benchmark, not a test
            during = wal.stat().st_size if wal.exists() else 0
            time.sleep(2)  # writes have paused: the bounded server truncates now
            after = wal.stat().st_size if wal.exists() else 0
    finally:
        server.terminate()
        server.wait(15)
    mb = 1024 * 1024
    return {"largest_mb": largest / mb, "at_end_mb": during / mb, "after_pause_mb": after / mb}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--db", required=True, help="a seeded SQLite file (bench/seed.py)")
    parser.add_argument("--seconds", type=int, default=30)
    args = parser.parse_args()
    crmkit = str(Path(sys.executable).parent / "crmkit")
    token = subprocess.run(
        [crmkit, "token", "--email", "bench@example.com", "--name", "wal", "--db", args.db],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    db_mb = os.path.getsize(args.db) / (1024 * 1024)
    print(f"database {args.db}: {db_mb:.1f} MB; {args.seconds} s of upserts beside list reads")
    print("| log bound | largest -wal MB | at the end | 2 s after the load |")
    print("|---|---:|---:|---:|")
    for unbounded in (True, False):
        r = measure(args.db, token, args.seconds, unbounded)
        name = "none (as before)" if unbounded else "64 MB, TRUNCATE when quiet"
        print(
            f"| {name} | {r['largest_mb']:.1f} | {r['at_end_mb']:.1f} | {r['after_pause_mb']:.1f} |"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
