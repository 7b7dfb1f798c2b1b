"""Seed a benchmark database: N contacts, companies and deals in one user's workspace.

    python bench/seed.py --db bench/bench.db --email bench@example.com --contacts 100000
    python bench/seed.py --db postgresql://postgres@127.0.0.1:5432/crmkit_bench --contacts 100000

Rows go in with bulk SQL (the API would take minutes for a million rows) but carry exactly
what the app writes: the same columns (the search columns included), the word-index rows and
the typo vocabulary, built by crmkit's own search helpers. Re-running with the same counts
does nothing.

PostgreSQL: the SQLite file of the same counts (--sqlite-db, default bench/bench-<N>.db) is
seeded (or reused) as above, then copied with `crmkit copy` into the URL's database (created
if missing) when that holds no rows yet, and `VACUUM ANALYZE` gives the planner statistics
(this server runs without autovacuum). A database that already holds the same number of
records is reused; one that holds other counts is refused (drop it: `python bench/pgdb.py
drop URL`).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pgdb

from crmkit import spec as S
from crmkit.config import redact_url
from crmkit.ids import new_id
from crmkit.store import searchtext as search
from crmkit.store.sqlite import words

FIRST = (
    "James Mary Robert Patricia John Jennifer Michael Linda David Elizabeth William Barbara "
    "Richard Susan Joseph Jessica Thomas Sarah Charles Karen Christopher Lisa Daniel Nancy "
    "Matthew Betty Anthony Margaret Mark Sandra Donald Ashley Steven Kimberly Paul Emily Andrew "
    "Donna Joshua Michelle Kenneth Carol Kevin Amanda Brian Dorothy George Melissa Timothy "
    "Deborah Ronald Stephanie Edward Rebecca Jason Sharon Jeffrey Laura Ryan Cynthia Jacob "
    "Kathleen Gary Amy Nicholas Angela Eric Shirley Jonathan Anna Stephen Brenda Larry Pamela "
    "Justin Emma Scott Nicole Brandon Helen Benjamin Samantha Samuel Katherine Gregory Christine"
).split()
LAST = (
    "Smith Johnson Williams Brown Jones Garcia Miller Davis Rodriguez Martinez Hernandez Lopez "
    "Gonzalez Wilson Anderson Thomas Taylor Moore Jackson Martin Lee Perez Thompson White Harris "
    "Sanchez Clark Ramirez Lewis Robinson Walker Young Allen King Wright Scott Torres Nguyen Hill "
    "Flores Green Adams Nelson Baker Hall Rivera Campbell Mitchell Carter Roberts Gomez Phillips "
    "Evans Turner Diaz Parker Cruz Edwards Collins Reyes Stewart Morris Morales Murphy Cook "
    "Rogers Gutierrez Ortiz Morgan Cooper Peterson Bailey Reed Kelly Howard Ramos Kim Cox Ward"
).split()
WORDS = "Acme Globex Initech Umbrella Stark Wayne Hooli Vandelay Soylent Tyrell Wonka Cyberdyne"
STAGES = ["lead", "lead", "lead", "qualified", "customer", "churned"]
DEAL_STAGES = ["discovery", "proposal", "negotiation", "closed"]
YEAR = 365 * 86400
HERE = Path(__file__).resolve().parent
# The key every benchmark process gives crmkit (CRMKIT_SECRET_KEY, unless set already): the same
# for every replica (their cursors must agree), none kept beside the SQLite files, and
# PostgreSQL has nowhere else to take one from. A benchmark key, not a secret.
SECRET_KEY = os.environ.get("CRMKIT_SECRET_KEY") or "crmkit-bench-key-not-a-secret-0123456789"


async def prepare(db_path: str, email: str) -> str:
    """Migrate, and return the workspace of `email` (creating user and workspace if needed)."""
    from crmkit.accounts import signin, tokens
    from crmkit.app import build_runtime
    from crmkit.config import Settings

    rt = build_runtime(
        Settings.from_env({"CRMKIT_DATABASE": db_path, "CRMKIT_SECRET_KEY": SECRET_KEY})
    )
    await rt.start()
    try:
        row = await rt.db.one(
            "SELECT t.workspace_id FROM tokens t JOIN users u ON u.id = t.user_id"
            " WHERE u.email = ? ORDER BY t.created_at LIMIT 1",
            (email,),
        )
        if row is not None:
            return str(row[0])
        done = await signin.sign_in(rt, email, tokens.clean_name("seed"))
        return done.token.workspace_id
    finally:
        await rt.stop()


def index_rows(
    rs: S.RecordSpec,
    ws: str,
    seq: int,
    parts: list[str],
    terms: set[tuple[str, str, str, str]],
    fts: list[tuple[Any, ...]],
) -> None:
    """A record's word-index row, trigram row and search columns (fts: (word row, trigram row,
    columns) each) and its typo vocabulary, as search.index writes them."""
    body = search.document(parts)
    folded = search.fold(body)
    tokens, long_runs = words.row(rs, ws, parts)
    grams = (search.key(seq), words.grams_row(ws, folded)) if folded else None
    fts.append(((search.key(seq), tokens), grams, (body or None, folded or None, seq)))
    if long_runs:
        terms.add((ws, rs.kind, *words.LONG_RUNS))
    for word in set(search.words(body)):
        if search.TYPO_MIN <= len(word) <= search.TERM_MAX and not word.isdigit():
            terms.add((ws, rs.kind, word, word))
            terms.update((ws, rs.kind, v, word) for v in search.deletions(word))


def insert_index_rows(conn: sqlite3.Connection, rs: S.RecordSpec, fts: list[Any]) -> None:
    conn.executemany(words.insert_sql(rs), [word for word, _, _ in fts])
    conn.executemany(words.grams_insert_sql(rs), [grams for _, grams, _ in fts if grams])
    conn.executemany(
        "UPDATE %s SET search_text = ?, search_fold = ? WHERE seq = ?" % rs.table,
        [columns for _, _, columns in fts],
    )


def count(conn: sqlite3.Connection, table: str, ws: str) -> int:
    return int(
        conn.execute(f"SELECT count(*) FROM {table} WHERE workspace_id = ?", (ws,)).fetchone()[0]
    )


def seed(db_path: str, ws: str, n_contacts: int, n_companies: int, n_deals: int) -> None:
    rnd = random.Random(42)
    now = int(time.time())
    conn = sqlite3.connect(db_path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=OFF")  # seeding only; the server runs with NORMAL
    terms: set[tuple[str, str, str, str]] = set()

    have = count(conn, "companies", ws)
    companies: list[tuple[str, str]] = [
        (str(r[0]), str(r[1]))
        for r in conn.execute(
            "SELECT id, name FROM companies WHERE workspace_id = ? LIMIT 5000", (ws,)
        )
    ]
    if have < n_companies:
        conn.execute("BEGIN")
        rows, fts = [], []
        seq = int(conn.execute("SELECT coalesce(max(seq), 0) FROM companies").fetchone()[0])
        for i in range(have, n_companies):
            seq += 1
            cid = new_id("co")
            name = f"{rnd.choice(WORDS.split())} {rnd.choice(LAST)} {i}"
            domain = f"company{i}.example.com"
            created = now - rnd.randrange(YEAR)
            rows.append(
                (
                    seq,
                    cid,
                    ws,
                    name,
                    domain,
                    None,
                    json.dumps(["b2b"]),
                    None,
                    created,
                    created,
                    "bench@example.com",
                )
            )
            index_rows(S.COMPANY, ws, seq, [name, domain, ""], terms, fts)
            companies.append((cid, name))
        conn.executemany(
            "INSERT INTO companies (seq, id, workspace_id, name, domain, notes, tags, custom,"
            " created_at, updated_at, created_by) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
            rows,
        )
        insert_index_rows(conn, S.COMPANY, fts)
        conn.execute("COMMIT")

    contact_ids: list[str] = []
    have = count(conn, "contacts", ws)
    if have < n_contacts:
        seq = int(conn.execute("SELECT coalesce(max(seq), 0) FROM contacts").fetchone()[0])
        for start in range(have, n_contacts, 50_000):
            conn.execute("BEGIN")
            rows, fts = [], []
            for i in range(start, min(start + 50_000, n_contacts)):
                seq += 1
                cid = new_id("c")
                name = f"{rnd.choice(FIRST)} {rnd.choice(LAST)}"
                email = f"person{i}@example.com"
                phone = f"+1555{i:07d}"
                company_id, company_name = rnd.choice(companies) if companies else (None, "")
                created = now - rnd.randrange(YEAR)
                tags = json.dumps(rnd.sample(["vip", "renewal", "newsletter", "partner"], 1))
                rows.append(
                    (
                        seq,
                        cid,
                        ws,
                        name,
                        email,
                        phone,
                        "Buyer",
                        company_id,
                        rnd.choice(STAGES),
                        tags,
                        created,
                        created,
                        "bench@example.com",
                    )
                )
                index_rows(S.CONTACT, ws, seq, [name, email, phone, company_name], terms, fts)
                if len(contact_ids) < 50_000:
                    contact_ids.append(cid)
            conn.executemany(
                "INSERT INTO contacts (seq, id, workspace_id, name, email, phone, title,"
                " company_id, stage, tags, created_at, updated_at, created_by)"
                " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                rows,
            )
            insert_index_rows(conn, S.CONTACT, fts)
            conn.execute("COMMIT")
    if not contact_ids:
        contact_ids = [
            str(r[0])
            for r in conn.execute(
                "SELECT id FROM contacts WHERE workspace_id = ? LIMIT 50000", (ws,)
            )
        ]

    have = count(conn, "deals", ws)
    if have < n_deals:
        conn.execute("BEGIN")
        rows, fts = [], []
        seq = int(conn.execute("SELECT coalesce(max(seq), 0) FROM deals").fetchone()[0])
        for i in range(have, n_deals):
            seq += 1
            title = f"{rnd.choice(WORDS.split())} renewal {i}"
            created = now - rnd.randrange(YEAR)
            company_id = rnd.choice(companies)[0] if companies else None
            rows.append(
                (
                    seq,
                    new_id("d"),
                    ws,
                    title,
                    rnd.randrange(100, 10_000_000),
                    "USD",
                    rnd.choice(contact_ids) if contact_ids else None,
                    company_id,
                    rnd.choice(DEAL_STAGES),
                    rnd.choice(["open", "open", "won", "lost"]),
                    created,
                    created,
                    "bench@example.com",
                )
            )
            index_rows(S.DEAL, ws, seq, [title], terms, fts)
        conn.executemany(
            "INSERT INTO deals (seq, id, workspace_id, title, amount_cents, currency, contact_id,"
            " company_id, stage, status, created_at, updated_at, created_by)"
            " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
            rows,
        )
        insert_index_rows(conn, S.DEAL, fts)
        conn.execute("COMMIT")

    if terms:
        conn.execute("BEGIN")
        conn.executemany(
            "INSERT OR IGNORE INTO search_terms (workspace_id, kind, variant, term)"
            " VALUES (?,?,?,?)",
            sorted(terms),
        )
        conn.execute("COMMIT")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()


def default_sqlite(contacts: int) -> str:
    """The SQLite file run.py and a PostgreSQL seed use for `contacts` by default."""
    return str(HERE / f"bench-{contacts}.db")


def record_counts(db_path: str) -> dict[str, int]:
    conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    try:
        return {
            t: int(conn.execute("SELECT count(*) FROM %s" % t).fetchone()[0])
            for t in pgdb.RECORD_TABLES
        }
    finally:
        conn.close()


def to_postgres(sqlite_db: str, url: str, *, vacuum_full: bool) -> None:
    """Copy the seeded SQLite file into the PostgreSQL database (once), then VACUUM ANALYZE."""
    shown = redact_url(url)
    if pgdb.ensure_database(url):
        print(f"created database {pgdb.database_name(url)}", file=sys.stderr, flush=True)
    want = record_counts(sqlite_db)
    have = pgdb.holdings(url)
    if have is not None and any(have.values()):
        if {t: have[t] for t in pgdb.RECORD_TABLES} != want:
            raise SystemExit(
                f"{shown} already holds other records ({have}) than {sqlite_db} ({want}):"
                f" drop it (python bench/pgdb.py drop URL) or name another database"
            )
        print(f"reused {shown}: it holds the same records as {sqlite_db} ({want})")
        return
    crmkit = str(Path(sys.executable).parent / "crmkit")
    env = {**os.environ, "CRMKIT_SECRET_KEY": SECRET_KEY}
    started = time.perf_counter()
    done = subprocess.run(
        [crmkit, "copy", "--from", sqlite_db, "--to", url],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    copied = time.perf_counter() - started
    summary = done.stdout.splitlines()[:1]
    if done.returncode != 0:
        raise SystemExit(f"crmkit copy failed ({done.returncode}): {done.stdout}")
    started = time.perf_counter()
    pgdb.vacuum_analyze(url, full=vacuum_full)
    vacuumed = time.perf_counter() - started
    print(
        f"copied {sqlite_db} to {shown} in {copied:.1f}s (crmkit copy),"
        f" {'VACUUM (FULL, ANALYZE)' if vacuum_full else 'VACUUM ANALYZE'} {vacuumed:.1f}s;"
        f" {summary[0] if summary else ''}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--db", required=True, help="SQLite file or postgresql:// URL")
    parser.add_argument(
        "--sqlite-db",
        default=None,
        help="with a PostgreSQL --db: the SQLite file seeded and copied from"
        " (default bench/bench-<contacts>.db)",
    )
    parser.add_argument(
        "--vacuum-full",
        action="store_true",
        help="PostgreSQL: VACUUM (FULL, ANALYZE) after the copy, which leaves every record"
        " table and index twice its size (its search columns are written after the rows)",
    )
    parser.add_argument("--email", default="bench@example.com")
    parser.add_argument("--contacts", type=int, default=100_000)
    parser.add_argument("--companies", type=int, default=20_000)
    parser.add_argument("--deals", type=int, default=50_000)
    args = parser.parse_args()
    postgres = pgdb.is_postgres(args.db)
    sqlite_db = (args.sqlite_db or default_sqlite(args.contacts)) if postgres else args.db
    started = time.perf_counter()
    ws = asyncio.run(prepare(sqlite_db, args.email))
    seed(sqlite_db, ws, args.contacts, args.companies, args.deals)
    print(
        f"seeded workspace/{ws} in {time.perf_counter() - started:.1f}s ({sqlite_db})", flush=True
    )
    if postgres:
        to_postgres(sqlite_db, args.db, vacuum_full=args.vacuum_full)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
