"""Pages of the lists whose order is fixed: activities, reminders and the audit log.

They page as record lists do (records/listing.py, DESIGN 6): a signed keyset cursor bound to
the list's filters and workspace, `# total:` exact up to COUNT_CAP and then a lower bound, and
`# next:` while rows remain. Each order ends with a key no two rows share, which the cursor
carries, so a page never skips or repeats a row while others are written.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from crmkit.principal import Principal
from crmkit.records.listing import bad_cursor, read_cursor, sign_cursor
from crmkit.runtime import Runtime
from crmkit.store import sql_query
from crmkit.store.base import Row

COUNT_CAP = sql_query.COUNT_CAP  # the same cap as record lists' totals


@dataclass
class Feed:
    rows: list[dict[str, Any]]
    total: int
    total_is_lower_bound: bool
    next_cursor: str | None


EMPTY = Feed([], 0, False, None)


def position(
    rt: Runtime, who: Principal, fingerprint: str, cursor: str | None, types: tuple[type, ...]
) -> list[Any] | None:
    """Where the page starts: the previous page's last row's key (of these `types`), or None
    for the first page. `cursor=` with nothing is the first page, as for record lists."""
    found = read_cursor(rt, cursor or None, fingerprint, who.workspace_id)
    if not found:
        return None
    # A key read from a time column may be a REAL written around the API: still a number.
    if len(found) != len(types) or not all(
        type(v) is t or (t is int and type(v) is float) for v, t in zip(found, types, strict=True)
    ):
        raise bad_cursor("the cursor is not one crmkit issued")
    return found


def page(
    rt: Runtime,
    who: Principal,
    fingerprint: str,
    fetched: tuple[list[Row], int],
    limit: int,
    key: Callable[[Row], list[Any]],
    view: Callable[[Row], dict[str, Any]],
) -> Feed:
    """`fetched`: up to limit + 1 rows (one more says more remain) and the count of all
    matches up to COUNT_CAP + 1; `key`: a row's position in the order, for the next cursor."""
    rows, total = fetched
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        next_cursor = sign_cursor(rt, fingerprint, who.workspace_id, key(rows[-1]))
    return Feed([view(r) for r in rows], min(total, COUNT_CAP), total > COUNT_CAP, next_cursor)
