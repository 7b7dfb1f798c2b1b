"""Helpers for the records tests: sign in, create records, read text and JSON replies."""

from __future__ import annotations

from typing import Any

import aiosqlite
import httpx
from foundation_util import count
from teams_util import ids

from crmkit.store.base import Database
from crmkit.store.sqlite.schema import _statements, migrate, migration_files

FACETS = ("contacts_facets", "companies_facets", "deals_facets")  # migration 0008


async def create(api: Any, token: str, plural: str, body: dict[str, Any]) -> dict[str, Any]:
    r = await api.json("POST", f"/{plural}", token, json=body)
    assert r.status_code in (200, 201), r.text
    data: dict[str, Any] = r.json()["data"]
    return data


def bare(handle: str) -> str:
    return handle.split("/", 1)[1]


def records(r: httpx.Response) -> list[str]:
    """The record lines of a text reply (every line not starting '# ')."""
    return [line for line in r.text.splitlines() if line and not line.startswith("# ")]


def meta(r: httpx.Response) -> list[str]:
    return [line[2:] for line in r.text.splitlines() if line.startswith("# ")]


async def snapshot(db: Database) -> tuple[int, ...]:
    """Row counts of every table a records route could change, plus the sum of versions."""
    out = []
    present = await db.dialect.tables(db)
    for table in ("contacts", "companies", "deals", "activities", "audit", "search_terms", *FACETS):
        if table in present:  # the facet index is SQLite's
            out.append(await count(db, table))
    for table in ("contacts", "companies", "deals"):
        row = await db.one(f"SELECT coalesce(sum(version), 0) FROM {table}")
        assert row is not None
        out.append(int(row[0]))
    return tuple(out)


async def join(api: Any, token: str, address: str) -> str:
    """A second member of the token's workspace (the invites issue does this over HTTP; here
    the membership row and a token are made with the accounts code directly). Returns a token
    for `address` acting in that workspace."""
    from crmkit.accounts import tokens
    from crmkit.store import accounts

    rt = api.rt
    workspace_id, _ = await ids(api, token)
    await api.sign_in(address)  # creates the user (and their own workspace)
    async with rt.db.write() as tx:
        user = await accounts.user_by_email(tx, address)
        assert user is not None
        await accounts.insert_membership(tx, workspace_id, user[0], "member", rt.clock.now())
        minted = await tokens.mint(
            rt, tx, user_id=user[0], email=address, workspace_id=workspace_id, name="joined"
        )
    return minted.raw


async def reapply(db: Database, version: int) -> None:
    """Take a migration that only adds tables and triggers back out (dropping what it created),
    then apply it again over the rows already stored, as on a database made before it."""
    name, sql = next((n, sql) for v, n, sql in migration_files() if v == version)
    async with db.write() as tx:
        for statement in _statements(sql):
            for kind in ("TABLE", "TRIGGER"):
                if f"CREATE {kind} " in statement:
                    created = statement.split(f"CREATE {kind} ")[1].split()[0]
                    await tx.execute(f"DROP {kind} {created}")
        await tx.execute("DELETE FROM schema_migrations WHERE version = ?", (version,))
    async with aiosqlite.connect(db.path, isolation_level=None) as conn:
        await conn.execute("PRAGMA foreign_keys = ON")  # as Database.open migrates
        assert await migrate(conn) == [name]
