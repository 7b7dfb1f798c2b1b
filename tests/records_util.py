"""Helpers for the records tests: sign in, create records, read text and JSON replies."""

from __future__ import annotations

from typing import Any

import httpx

from crmkit.store.db import Database


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


async def count(db: Database, table: str, where: str = "1", params: tuple[Any, ...] = ()) -> int:
    row = await db.one(f"SELECT count(*) FROM {table} WHERE {where}", params)
    assert row is not None
    return int(row[0])


async def snapshot(db: Database) -> tuple[int, ...]:
    """Row counts of every table a records route could change, plus the sum of versions."""
    out = []
    for table in ("contacts", "companies", "deals", "activities", "audit", "search_terms"):
        out.append(await count(db, table))
    for table in ("contacts", "companies", "deals"):
        row = await db.one(f"SELECT coalesce(sum(version), 0) FROM {table}")
        assert row is not None
        out.append(int(row[0]))
    return tuple(out)
