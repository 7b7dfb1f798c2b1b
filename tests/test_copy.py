"""`crmkit copy --from DB --to DB`: every shared table into another, empty database (either
backend), the target's search index rebuilt, each table verified by rows and sha256.

The round trip SQLite -> PostgreSQL -> SQLite carries data made through the API; the copies
must hold the same rows (crmkit.store.copy.dump), accept the tokens minted before the copy,
answer searches and filters alike, and number new records after the copied ones.
"""

from __future__ import annotations

import os
import re
import sqlite3
import subprocess
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import Api, PostgresServer, Smtp
from copy_util import open_dump, sqlite_with_a_user
from foundation_util import clean_env, crmkit_command
from records_util import bare, create
from teams_util import create_workspace, ids, invite, mint

from crmkit.app import create_app
from crmkit.clock import FixedClock
from crmkit.config import Settings
from crmkit.store.copy import TABLES, dump

# PostgreSQL takes its secret key from the configuration (SQLite may keep its own).
SECRET = "copy-test-secret-" + "k" * 32
TABLE_NAMES = [t for t, _ in TABLES]
SEARCHED = ["contacts (search)", "companies (search)", "deals (search)"]
# A word longer than 32 letters: SQLite's word index marks its workspace with a row of its
# own in search_terms (searchtext.LONG_RUNS), which a copy does not carry but rebuilds.
LONG_WORD = "Supercalifragilisticexpialidocious"
BAR_LINE = re.compile(
    r"^(?P<table>\S.*?) +\[(?P<bar>[# ]{30})\] +(?P<pct>\d+)% (?P<done>\d+)/(?P<total>\d+)$"
)
SUMMARY_LINE = re.compile(
    r"^table/(?P<table>[a-z_]+) rows=(?P<rows>\d+) sha256=(?P<sha>[0-9a-f]{64})$"
)


# --- helpers --------------------------------------------------------------------------------


def copy_cli(source: str, target: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*crmkit_command(), "copy", "--from", source, "--to", target],
        env=clean_env(),
        cwd=str(cwd) if cwd else None,
        capture_output=True,
        text=True,
        timeout=60,
    )


@asynccontextmanager
async def app_on(url: str, smtp: Smtp, clock: FixedClock) -> AsyncIterator[Api]:
    """A second app on the database at `url`, started, with a client on it."""
    env = {
        "CRMKIT_DATABASE": url,
        "CRMKIT_SMTP_URL": smtp.url,
        "CRMKIT_BASE_URL": "http://testserver",
    }
    if "://" in url and not url.startswith("sqlite:"):
        env["CRMKIT_SECRET_KEY"] = SECRET
    settings = Settings.from_env(env)
    application = create_app(settings, clock=clock, access_log=False)
    await application.runtime.start()
    try:
        transport = httpx.ASGITransport(app=application, client=("10.1.2.3", 5555))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            yield Api(http, smtp.inbox, application)
    finally:
        await application.runtime.stop()


async def populate(api: Api) -> dict[str, Any]:
    """Several users, two workspaces, records of every type with tags, custom values and a
    linked company, activities, follow-ups, a pending invite and an OAuth client."""
    ann = await api.sign_in("ann@acme.com", "ann-laptop")
    ws1, _ = await ids(api, ann)
    r = await invite(api, ann, ws1, "bob@acme.com")
    assert r.status_code == 201, r.text
    bob = await api.sign_in("bob@acme.com")  # joins ws1 at sign-in
    assert (await ids(api, bob))[0] == ws1
    r = await invite(api, ann, ws1, "dave@elsewhere.org")  # stays pending
    assert r.status_code == 201, r.text
    cat = await api.sign_in("cat@beta.io")  # a workspace of her own
    ws2 = await create_workspace(api, ann, "Ann's second")
    ann2 = await mint(api, ann, ws2)

    jane = await create(
        api,
        ann,
        "contacts",
        {
            "name": "Jane Doe",
            "email": "jane@acme.com",
            "phone": "+1 (415) 555-0100",
            "company": "Acme Corp",
            "tags": ["vip", "eu"],
            "custom": {"tier": "gold", "seats": 5, "ratio": 1.5, "nested": {"a": [1, None, "x"]}},
            "follow_up_at": "now+2d",
            "follow_up_note": "call back",
        },
    )
    jonathan = await create(
        api,
        bob,
        "contacts",
        {
            "name": "Jonathan Smith",
            "email": "jonathan@globex.com",
            "company": "Globex",
            "stage": "customer",
            "tags": ["vip"],
            "custom": {"tier": "silver", "seats": 12},
            "follow_up_at": "now-1d",
        },
    )
    zoe = await create(
        api,
        ann,
        "contacts",
        {"name": f"Zoë Ångström {LONG_WORD}", "email": "zoe@acme.com", "title": "Lead"},
    )
    initech = await create(
        api, ann, "companies", {"name": "Initech", "domain": "initech.com", "notes": "TPS reports"}
    )
    deal = await create(
        api,
        ann,
        "deals",
        {
            "title": "Acme renewal",
            "amount_cents": 500000,
            "contact_id": jane["handle"],
            "company_id": initech["handle"],
            "close_date": "2026-12-01",
        },
    )
    await create(api, bob, "deals", {"title": "Globex pilot", "amount_cents": 120000})
    await create(api, ann, "deals", {"title": "Tiny deal", "amount_cents": 900, "status": "lost"})
    r = await api.patch(f"/contacts/{bare(jane['handle'])}", ann, json={"stage": "qualified"})
    assert r.status_code == 200, r.text
    for target, kind, body in (
        (f"/contacts/{bare(jane['handle'])}", "call", "Talked pricing"),
        (f"/contacts/{bare(jonathan['handle'])}", "email", "Sent the deck"),
        (f"/deals/{bare(deal['handle'])}", "meeting", "Kick-off"),
        (f"/companies/{bare(initech['handle'])}", "note", "Prefers email"),
    ):
        r = await api.post(f"{target}/activities", ann, json={"kind": kind, "body": body})
        assert r.status_code == 201, r.text
    # The second workspace: records of its own, one with Jane's name.
    await create(
        api, ann2, "contacts", {"name": "Jane Roe", "email": "jane@roe.net", "tags": ["vip"]}
    )
    await create(api, ann2, "companies", {"name": "Umbrella", "domain": "umbrella.com"})
    await create(api, cat, "contacts", {"name": "Cat's contact", "email": "x@beta.io"})
    r = await api.post(
        "/oauth/register",
        json={
            "client_name": "Claude",
            "redirect_uris": ["https://claude.ai/api/mcp/auth_callback"],
        },
    )
    assert r.status_code == 201, r.text
    return {
        "tokens": {"ann": ann, "bob": bob, "cat": cat, "ann2": ann2},
        "jane": jane,
        "jonathan": jonathan,
        "zoe": zoe,
        "deal": deal,
    }


# What every copy must answer exactly as the original: (token, path).
QUERIES = [
    ("ann", "/whoami"),
    ("ann", "/contacts"),
    ("ann", "/contacts?search=jane"),
    ("ann", "/contacts?search=jonathon"),  # one typo: the typo vocabulary
    ("ann", "/contacts?search=acme"),  # a contact's company name
    ("ann", "/contacts?search=14155550100"),  # a phone by its digits
    ("ann", "/contacts?search=%C3%85ngstr%C3%B6m"),  # Ångström
    ("ann", "/contacts?search=" + LONG_WORD.lower()[3:20]),
    ("ann", "/contacts?tags=vip"),
    ("ann", "/contacts?tags=in:vip,eu&sort=-name"),
    ("ann", "/contacts?custom.tier=gold"),
    ("ann", "/contacts?custom.seats=gte:10"),
    ("ann", "/contacts?stage=in:qualified,customer&sort=email"),
    ("ann", "/contacts?follow_up_at=is:null"),
    ("ann", "/companies"),
    ("ann", "/companies?name=like:init"),
    ("ann", "/companies?search=tps"),
    ("ann", "/deals?amount_cents=gte:100000&sort=-amount_cents"),
    ("ann", "/deals?status=lost"),
    ("ann", "/deals?search=renewal"),
    ("ann", "/activities"),
    ("ann", "/activities?kind=call,email"),
    ("ann", "/reminders?days=7"),
    ("ann", "/audit?limit=200"),
    ("ann", "/tokens"),
    ("bob", "/whoami"),
    ("bob", "/contacts?search=doe"),
    ("ann2", "/contacts?search=jane"),
    ("ann2", "/companies"),
    ("cat", "/contacts"),
]


async def answers(api: Api, tokens: dict[str, str]) -> list[tuple[int, str]]:
    out = []
    for who, path in QUERIES:
        r = await api.get(path, tokens[who])
        out.append((r.status_code, r.text))
    return out


def check_summary(
    stdout: str, expected: dict[str, tuple[int, str]], source: str, target: str
) -> None:
    lines = stdout.splitlines()
    total = sum(rows for rows, _ in expected.values())
    assert lines[0] == (
        f"# copied {total} rows in {len(TABLES)} tables from {source} to {target};"
        " every table verified (rows and sha256)"
    ), stdout
    listed = {}
    for line in lines[1:]:
        match = SUMMARY_LINE.match(line)
        assert match, f"bad summary line {line!r}"
        listed[match["table"]] = (int(match["rows"]), match["sha"])
    assert [SUMMARY_LINE.match(x)["table"] for x in lines[1:]] == TABLE_NAMES  # type: ignore[index]
    assert listed == expected


# --- the round trip -------------------------------------------------------------------------


@pytest.mark.sqlite_only
async def test_sqlite_to_postgresql_to_sqlite_keeps_every_row_and_works(
    api: Api,
    db_path: str,
    postgres: PostgresServer,
    smtp: Smtp,
    clock: FixedClock,
    tmp_path: Path,
) -> None:
    made = await populate(api)
    tokens = made["tokens"]
    original = await dump(api.rt.db)
    assert original["users"][0] == 3 and original["workspaces"][0] == 3
    assert original["invites"][0] == 1 and original["oauth_clients"][0] == 1
    assert original["contacts"][0] == 5 and original["activities"][0] == 4
    long_runs = await api.rt.db.one("SELECT count(*) FROM search_terms WHERE variant = ''")
    assert long_runs is not None and long_runs[0] >= 1  # the copy must not carry it

    pg = postgres.create(migrated=False)  # the copy migrates an empty database itself
    final = str(tmp_path / "back.db")
    try:
        there = copy_cli(db_path, pg)
        assert there.returncode == 0, there.stderr
        check_summary(there.stdout, original, db_path, pg)
        assert await open_dump(pg) == original

        back = copy_cli(pg, "sqlite:///" + final)
        assert back.returncode == 0, back.stderr
        check_summary(back.stdout, original, pg, "sqlite:///" + final)
        assert await open_dump(final) == original

        # Same answers everywhere, with tokens minted before the copies.
        want = await answers(api, tokens)
        assert [status for status, _ in want] == [200] * len(QUERIES)
        assert not [
            path for (_, path), (_, text) in zip(QUERIES, want, strict=True) if "# total: 0" in text
        ]
        assert made["jonathan"]["handle"] in want[3][1]  # the typo search
        assert made["zoe"]["handle"] in want[7][1]  # the long word
        async with app_on(pg, smtp, clock) as on_pg:
            assert await answers(on_pg, tokens) == want
            await new_records_take_fresh_numbers(on_pg, tokens)
        async with app_on(final, smtp, clock) as on_sqlite:
            assert await answers(on_sqlite, tokens) == want
            await new_records_take_fresh_numbers(on_sqlite, tokens)
    finally:
        postgres.drop(pg)


async def new_records_take_fresh_numbers(api: Api, tokens: dict[str, str]) -> None:
    """A record of each type created on a copy: created (no clash with a copied seq), numbered
    after every copied row, found by search, and audited."""
    db = api.rt.db
    before = {}
    for table in ("contacts", "companies", "deals", "activities", "audit"):
        row = await db.one(f"SELECT max(seq) FROM {table}")
        assert row is not None
        before[table] = int(row[0])
    ann = tokens["ann"]
    contact = await create(api, ann, "contacts", {"name": "Newton Fresh", "company": "Freshco"})
    deal = await create(api, ann, "deals", {"title": "Fresh deal", "contact_id": contact["handle"]})
    r = await api.post(
        f"/deals/{bare(deal['handle'])}/activities", ann, json={"kind": "note", "body": "new"}
    )
    assert r.status_code == 201, r.text
    for table, handle in (
        ("contacts", contact["handle"]),
        ("companies", contact["company"]),
        ("deals", deal["handle"]),
    ):
        row = await db.one(f"SELECT seq FROM {table} WHERE id = ?", (bare(handle),))
        assert row is not None and row[0] > before[table], table
    for table in ("activities", "audit"):
        row = await db.one(f"SELECT max(seq) FROM {table}")
        assert row is not None and row[0] > before[table], table
    r = await api.get("/contacts?search=newton", ann)
    assert contact["handle"] in r.text
    r = await api.get("/contacts", ann)
    assert "# total: 4" in r.text  # 3 copied into ann's first workspace, and the new one
    r = await api.get("/audit?limit=1", ann)
    assert "action=activity.create" in r.text, r.text


# --- progress and summary -------------------------------------------------------------------


def bar_lines(stderr: str) -> dict[str, list[tuple[int, int, int, str]]]:
    """Each table's progress lines as (percent, done, total, bar), in order; every line of
    stderr must be one."""
    found: dict[str, list[tuple[int, int, int, str]]] = {}
    for line in stderr.splitlines():
        match = BAR_LINE.match(line)
        assert match, f"not a progress line: {line!r}"
        found.setdefault(match["table"], []).append(
            (int(match["pct"]), int(match["done"]), int(match["total"]), match["bar"])
        )
    return found


@pytest.mark.sqlite_only
async def test_progress_on_stderr_for_each_table_and_summary_on_stdout(
    api: Api, db_path: str, postgres: PostgresServer
) -> None:
    await populate(api)
    source = await dump(api.rt.db)
    pg = postgres.create(migrated=True)
    try:
        done = copy_cli(db_path, pg)
        assert done.returncode == 0, done.stderr
        check_summary(done.stdout, source, db_path, pg)
        assert await open_dump(pg) == source

        progress = bar_lines(done.stderr)
        assert list(progress) == TABLE_NAMES  # PostgreSQL derives its search index itself
        for table, lines in progress.items():
            assert 1 <= len(lines) <= 11, (table, lines)  # a line per tenth, not a terminal
            assert len({pct // 10 for pct, *_ in lines}) == len(lines), (table, lines)
            dones = [d for _, d, _, _ in lines]
            assert dones == sorted(dones), (table, lines)
            assert {t for _, _, t, _ in lines} == {lines[0][2]}, (table, lines)
        # Each table's bar ends full, at the rows the summary says were copied.
        for table in TABLE_NAMES:
            pct, done_rows, total, bar = progress[table][-1]
            assert (pct, done_rows, total, bar) == (
                100,
                source[table][0],
                source[table][0],
                "#" * 30,
            ), table
        # Back to SQLite: its word index is rebuilt from the records, a bar per type.
        back = db_path + ".back.db"
        done = copy_cli(pg, back)
        assert done.returncode == 0, done.stderr
        progress = bar_lines(done.stderr)
        assert list(progress) == TABLE_NAMES + SEARCHED
        for label in SEARCHED:
            pct, done_rows, total, bar = progress[label][-1]
            assert pct == 100 and done_rows == total and bar == "#" * 30, label
        assert progress["contacts (search)"][-1][1] == source["contacts"][0]
    finally:
        postgres.drop(pg)


# --- refusals -------------------------------------------------------------------------------


async def test_a_non_empty_target_is_refused_and_left_as_it_was(
    api: Api, db_path: str, tmp_path: Path
) -> None:
    """The target (either backend) holds a user and a contact: exit 1, a message, no change."""
    token = await api.sign_in("ann@acme.com")
    await create(api, token, "contacts", {"name": "Keep me", "tags": ["x"]})
    source = tmp_path / "source.db"
    await sqlite_with_a_user(source)
    before = await dump(api.rt.db)
    done = copy_cli(str(source), db_path)
    assert done.returncode == 1, (done.stdout, done.stderr)
    assert done.stdout == ""
    assert done.stderr.startswith("crmkit: copy refused or failed: the target is not empty")
    assert "users has rows" in done.stderr
    assert "Traceback" not in done.stderr
    assert await dump(api.rt.db) == before
    r = await api.get("/contacts", token)
    assert "Keep me" in r.text and "# total: 1" in r.text


async def test_a_target_a_server_started_on_once_takes_the_copy(
    backend: str, postgres: PostgresServer, tmp_path: Path, smtp: Smtp, clock: FixedClock
) -> None:
    """A new database that `crmkit serve` (or `prepare_database` of --workers) has started on
    holds no record, but may hold meta rows of its own (the generated secret key, where the
    key is kept in the database): the copy's emptiness check skips meta, so the copy must go
    through (the source's meta replacing the target's), and the copied tokens work."""
    from crmkit.app import prepare_database

    source = tmp_path / "source.db"
    token = await sqlite_with_a_user(source)
    target = postgres.create(migrated=False) if backend == "postgresql" else str(tmp_path / "t.db")
    try:
        env = {"CRMKIT_DATABASE": target}
        if backend == "postgresql":
            env["CRMKIT_SECRET_KEY"] = SECRET
        await prepare_database(Settings.from_env(env))
        done = copy_cli(str(source), target)
        assert "Traceback" not in done.stderr, done.stderr
        assert done.returncode == 0, done.stderr
        assert await open_dump(target) == await open_dump(str(source))
        async with app_on(target, smtp, clock) as on_copy:
            r = await on_copy.get("/whoami", token)
            assert r.status_code == 200 and "email=zed@zeta.org" in r.text, r.text
    finally:
        if backend == "postgresql":
            postgres.drop(target)


@pytest.mark.parametrize("bad", ["mysql://u:secret@db.example/crm", "http://x", "sqlite:/x"])
@pytest.mark.parametrize("side", ["--from", "--to"])
def test_an_unknown_scheme_on_either_side_is_refused(side: str, bad: str, tmp_path: Path) -> None:
    good = tmp_path / "good.db"  # a SQLite file either way round: read from or written to
    with sqlite3.connect(good) as conn:
        conn.execute("CREATE TABLE t (x)")
    before = good.read_bytes()
    work = tmp_path / "cwd"
    work.mkdir()
    source, target = (bad, str(good)) if side == "--from" else (str(good), bad)
    done = copy_cli(source, target, cwd=work)
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert done.stdout == ""
    assert "names no backend crmkit has" in done.stderr
    assert "SQLite" in done.stderr and "PostgreSQL" in done.stderr
    assert "secret" not in done.stderr
    assert "Traceback" not in done.stderr
    assert os.listdir(work) == []
    assert good.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cwd", "good.db"]


def test_a_missing_sqlite_source_is_refused_not_created(
    tmp_path: Path, postgres: PostgresServer
) -> None:
    """A mistyped --from path must not become a new, empty database copied with success."""
    missing = tmp_path / "typo.db"
    target = postgres.create(migrated=True)
    try:
        done = copy_cli(str(missing), target)
        assert not missing.exists()
        assert done.returncode != 0, done.stdout
        assert "typo.db" in done.stderr and "Traceback" not in done.stderr
    finally:
        postgres.drop(target)
