"""Shared by the search tests: a search walked page by page (which index answered it: the
`paths` fixture in conftest.py)."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

EVERYTHING = "created_at=gte:1970-01-01"  # a filter every record passes: the trigram path


async def walk(
    api: Any, token: str, plural: str, q: str, *, force: bool = False, limit: int = 2
) -> tuple[list[str], set[tuple[int, bool]]]:
    """Every page of a search, cursor after cursor: (handles in order, {(total, lower bound)}).
    `force`: through the trigram index (a filter every record passes)."""
    extra = "&" + EVERYTHING if force else ""
    handles: list[str] = []
    totals: set[tuple[int, bool]] = set()
    cursor = ""
    for _ in range(2000):
        r = await api.json(
            "GET", f"/{plural}?search={quote(q)}{extra}&limit={limit}{cursor}", token
        )
        assert r.status_code == 200, r.text
        body = r.json()
        handles += [d["handle"] for d in body["data"]]
        totals.add((body["total"], bool(body.get("total_is_lower_bound"))))
        if not body["next_cursor"]:
            return handles, totals
        cursor = "&cursor=" + body["next_cursor"]
    raise AssertionError("the pages never end")
