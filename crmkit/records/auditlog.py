"""Reading the workspace audit log: who did what to which record, newest first."""

from __future__ import annotations

from typing import Any

from crmkit import query
from crmkit.accounts.audit import ACTION_KINDS, ACTIONS
from crmkit.clock import iso
from crmkit.errors import InvalidQuery
from crmkit.ids import PREFIXES, any_handle
from crmkit.principal import Principal
from crmkit.records import feeds
from crmkit.runtime import Runtime
from crmkit.store import audit as store
from crmkit.store.base import Row
from crmkit.store.oauth import user_email

PARAMS = ("by", "target", "action", "limit", "cursor")
# The kinds of handle an audit row names as its target.
TARGET_KINDS = ("contact", "company", "deal", "workspace", "user", "token", "invite")
MAX_EMAIL = 254


def _view(row: Row) -> dict[str, Any]:
    id_, at, email, token, action, target, detail = row[:7]  # a page's rows carry more
    return {
        "handle": "audit/" + id_,
        "action": action,
        "target": target,
        "detail": detail,
        "by": email,
        "token": token,
        "at": iso(at),
    }


def _target(raw: str | None) -> str | None:
    if raw is None:
        return None
    found = any_handle(raw, TARGET_KINDS)
    if found is None:
        raise InvalidQuery(
            f"target= needs a handle or a bare id, got {raw[:60]!r}",
            "e.g. target=contact/c_7k2m9q4x1zab or target=c_7k2m9q4x1zab (also: "
            + ", ".join(f"{k}/{PREFIXES[k]}_..." for k in TARGET_KINDS[1:])
            + ")",
        )
    return found


def _action(raw: str | None) -> str | None:
    if raw is None or raw in ACTIONS or (raw.endswith(".*") and raw[:-2] in ACTION_KINDS):
        return raw
    raise InvalidQuery(
        f"crmkit writes no audit action {raw[:60]!r}",
        "use one of the allowed actions, or <kind>.* for every action of a kind"
        " (e.g. action=contact.*)",
        allowed=(*ACTIONS, *(k + ".*" for k in ACTION_KINDS)),
    )


async def _by(rt: Runtime, raw: str | None) -> tuple[str | None, str | None]:
    """(what the cursor is bound to, the email whose rows are asked for): a user handle that
    names no one is bound to itself and has no email, so no rows."""
    if raw is None:
        return None, None
    if "@" in raw and len(raw) <= MAX_EMAIL:  # a handle never holds an @
        return raw.lower(), raw.lower()
    user = any_handle(raw, ("user",))
    if user is None:
        raise InvalidQuery(
            f"by= needs an email or a user handle, got {raw[:60]!r}",
            "e.g. by=jane@acme.com, by=user/u_7k2m9q4x1zab or by=u_7k2m9q4x1zab"
            " (GET /workspaces/{id}/members lists them)",
        )
    email = await user_email(rt.db, user.partition("/")[2])
    return (user, None) if email is None else (email, email)


async def recent(rt: Runtime, who: Principal, params: list[tuple[str, str]]) -> feeds.Feed:
    args = query.fixed_params(params, PARAMS, "/audit")
    limit = query.parse_limit(args.get("limit"))
    target = _target(args.get("target"))
    action = _action(args.get("action"))
    by_key, by = await _by(rt, args.get("by"))
    # Bound to what the filters mean: a bare id and its handle, a user and their email, page
    # on the same rows.
    fingerprint = repr(("audit", by_key, target, action))
    after = feeds.position(rt, who, fingerprint, args.get("cursor"), (int,))
    if by_key is not None and by is None:
        return feeds.EMPTY
    fetched = await store.page(
        rt.db,
        who.workspace_id,
        by=by,
        target=target,
        action=action,
        before=None if after is None else after[0],
        limit=limit,
        cap=feeds.COUNT_CAP,
    )
    return feeds.page(rt, who, fingerprint, fetched, limit, lambda r: [r[7]], _view)
