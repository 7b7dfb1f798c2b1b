"""List queries: parse, page with a sealed keyset cursor, count up to a cap, render-ready rows.

A cursor carries the last row's sort key and id, encrypted (signing.Cipher: its numbers are
nobody's business) and bound to a hash of the filters,
search and sort (and the workspace): a tampered cursor, or one reused with other filters, is a
400 instead of a silently wrong page.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from itsdangerous import BadData

from crmkit import query
from crmkit import spec as S
from crmkit.errors import BadRequest
from crmkit.principal import Principal
from crmkit.records.views import table
from crmkit.render import Table
from crmkit.runtime import Runtime
from crmkit.store import records as store
from crmkit.store.sql_query import COUNT_CAP, SEARCH_CANDIDATES

CURSOR_SALT = "crmkit.cursor"
WINDOW_FULL = (
    f"this search ranked its {SEARCH_CANDIDATES:,} newest matches only:"
    " add a word to reach older ones"
)
# Longer is not one we issued. The largest: a 254-character sort value whose every character
# takes 6 bytes of JSON (an escaped control character), base64'd, plus binding, id and MAC.
MAX_CURSOR_LEN = 4096


@dataclass
class Page:
    rows: Table
    total: int
    total_is_lower_bound: bool
    next_cursor: str | None
    filtered: bool
    window_full: bool  # a search whose older matches were never looked at


def _binding(fingerprint: str, workspace_id: str) -> str:
    return hashlib.sha256((workspace_id + "|" + fingerprint).encode()).hexdigest()[:16]


def bad_cursor(message: str) -> BadRequest:
    return BadRequest(
        message,
        "send the same filters, search and sort as the request that gave you the cursor,"
        " or drop cursor= to start from the first page",
        code="invalid_cursor",
    )


@dataclass(frozen=True)
class After:
    """Where the next page starts: the last row's sort value and id, and for a search the
    newest row id its first page saw."""

    value: Any
    id: str
    upto: int | None = None


def sign_cursor(rt: Runtime, fingerprint: str, workspace_id: str, position: list[Any]) -> str:
    """A cursor for the page after `position`, bound to the query `fingerprint` names (its
    filters, search and sort: never its limit) in this workspace."""
    return rt.cipher(CURSOR_SALT).dumps([_binding(fingerprint, workspace_id), *position])


def read_cursor(rt: Runtime, raw: str | None, fingerprint: str, workspace_id: str) -> list[Any]:
    """The position a cursor carries; [] for none (the first page). Shared by every list
    that pages (records, activities, reminders, the audit log): one cursor format, one 400."""
    if raw is None:
        return []
    if len(raw) > MAX_CURSOR_LEN:
        raise bad_cursor("the cursor is not one crmkit issued")
    try:
        data = rt.cipher(CURSOR_SALT).loads(raw)
    except BadData:
        raise bad_cursor("the cursor is not one crmkit issued (it was changed or cut)") from None
    if not (isinstance(data, list) and len(data) > 1):
        raise bad_cursor("the cursor is not one crmkit issued")
    if data[0] != _binding(fingerprint, workspace_id):
        raise bad_cursor(
            "the cursor belongs to another query (other filters, search or sort) or workspace"
        )
    return data[1:]


def decode_cursor(rt: Runtime, plan: query.Plan, workspace_id: str) -> After | None:
    position = read_cursor(rt, plan.cursor, plan.fingerprint, workspace_id)
    if not position:
        return None
    if not (len(position) in (2, 3) and isinstance(position[1], str)):
        raise bad_cursor("the cursor is not one crmkit issued")
    upto = position[2] if len(position) == 3 and isinstance(position[2], int) else None
    return After(position[0], position[1], upto)


async def list_records(
    rt: Runtime, who: Principal, rs: S.RecordSpec, params: Iterable[tuple[str, str]]
) -> Page:
    plan = query.parse(rs, params, rt.clock.now())
    after = decode_cursor(rt, plan, who.workspace_id)
    found, upto = None, None
    if plan.search is not None:
        upto = after.upto if after is not None else await store.max_seq(rt.db, rs, who.workspace_id)
        found = await store.search_plan(rt.db, rs, who.workspace_id, plan, upto)
    position = None if after is None else (after.value, after.id)
    rows, total, more = await store.page(rt.db, rs, plan, who.workspace_id, position, found)
    next_cursor = None
    if len(rows) > plan.limit:
        rows = rows[: plan.limit]
        last = rows[-1]
        key = [last[-2], last[0]]  # sort key, id
        if upto is not None:
            key.append(upto)
        next_cursor = sign_cursor(rt, plan.fingerprint, who.workspace_id, key)
    return Page(
        rows=table(rs, rows, full=False),
        total=min(total, COUNT_CAP),
        total_is_lower_bound=total > COUNT_CAP or more,
        window_full=more,
        next_cursor=next_cursor,
        filtered=bool(plan.filters) or plan.search is not None,
    )
