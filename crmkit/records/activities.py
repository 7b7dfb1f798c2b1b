"""Activities logged on a record, the reminders view of follow-ups, and the audit log view."""

from __future__ import annotations

from typing import Any

from crmkit import query
from crmkit import spec as S
from crmkit.accounts import audit
from crmkit.clock import iso
from crmkit.errors import InvalidField, InvalidQuery
from crmkit.ids import bare_id, new_id
from crmkit.principal import Principal
from crmkit.records.service import not_found, record_id
from crmkit.records.values import body_time
from crmkit.runtime import Runtime
from crmkit.store import activities as store
from crmkit.store import records as records_store
from crmkit.store.db import Row

KINDS = ("call", "email", "meeting", "note", "task")
BODY_MAX = 10000


def view(row: Row) -> dict[str, Any]:
    id_, kind, target_kind, target_id, body, by, at = row
    return {
        "handle": "activity/" + id_,
        "kind": kind,
        target_kind: "%s/%s" % (target_kind, target_id),
        "body": body,
        "by": by,
        "at": iso(at),
    }


async def log(
    rt: Runtime, who: Principal, rs: S.RecordSpec, raw_id: str, kind: str, body: str, at: str | None
) -> dict[str, Any]:
    if kind not in KINDS:
        raise InvalidField(
            f"kind cannot be {kind[:40]!r}", f"use one of: {', '.join(KINDS)}", allowed=KINDS
        )
    body = body.strip()
    if not body or len(body) > BODY_MAX:
        raise InvalidField(
            f"body must be 1-{BODY_MAX} characters", 'e.g. "body":"Called, wants a quote"'
        )
    now = rt.clock.now()
    when = now if at is None else body_time("at", at, now)
    id_ = record_id(rs, raw_id)
    async with rt.db.write() as tx:
        if id_ is None or not await records_store.exists(tx, rs, who.workspace_id, id_):
            raise not_found(rs, raw_id)
        activity_id = new_id("a")
        row = await store.insert(
            tx,
            rs,
            id_=activity_id,
            workspace_id=who.workspace_id,
            target_id=id_,
            kind=kind,
            body=body,
            at=when,
            now=now,
            by=who.email,
        )
        await audit.record(
            tx,
            workspace_id=who.workspace_id,
            at=now,
            action="activity.create",
            target=rs.handle(id_),
            detail=f"activity/{activity_id} kind={kind}",
            actor=who,
        )
    return view(row)


def _limit(raw: str | None) -> int:
    return query.parse_limit(raw)


async def for_record(
    rt: Runtime, who: Principal, rs: S.RecordSpec, raw_id: str, limit: str | None
) -> list[dict[str, Any]]:
    n = _limit(limit)
    id_ = record_id(rs, raw_id)
    if id_ is None or not await records_store.exists(rt.db, rs, who.workspace_id, id_):
        raise not_found(rs, raw_id)
    rows = await store.recent(rt.db, who.workspace_id, targets=[id_], kinds=[], limit=n)
    return [view(r) for r in rows]


async def search(
    rt: Runtime, who: Principal, filters: dict[str, str | None], limit: str | None
) -> list[dict[str, Any]]:
    """GET /activities?contact=&company=&deal=&kind=: handles comma-separated, any of them."""
    n = _limit(limit)
    targets: list[str] = []
    for kind, rs in S.SPECS.items():
        raw = filters.get(kind)
        if raw is None:
            continue
        for item in raw.split(",")[:100]:
            found = bare_id(item.strip(), kind, rs.prefix)
            if found is None:
                raise InvalidQuery(
                    f"{kind}= needs {kind} handles, got {item[:60]!r}",
                    f"e.g. {kind}={kind}/{rs.prefix}_7k2m9q4x1z (several: comma-separated)",
                )
            targets.append(found)
    kinds: list[str] = []
    if filters.get("kind") is not None:
        kinds = str(filters["kind"]).split(",")
        bad = [k for k in kinds if k not in KINDS]
        if bad:
            raise InvalidQuery(
                f"unknown activity kind {bad[0][:40]!r}", "kind=call,email", allowed=KINDS
            )
    if any(filters.get(k) is not None for k in S.SPECS) and not targets:
        return []
    rows = await store.recent(rt.db, who.workspace_id, targets=targets, kinds=kinds, limit=n)
    return [view(r) for r in rows]


async def reminders(
    rt: Runtime, who: Principal, days: str | None, limit: str | None
) -> list[dict[str, Any]]:
    """Overdue follow-ups and those due later today (UTC); with days=N, due within N days.
    Soonest first, so the overdue ones lead."""
    n = _limit(limit)
    now = rt.clock.now()
    if days is None:
        until = now - now % 86400 + 86399
    else:
        ahead = query.whole_number("days", days, 0, 3650, "e.g. days=7 looks a week ahead")
        until = now + ahead * 86400
    rows = await store.due(rt.db, who.workspace_id, until, n)
    out = []
    for kind, id_, label, at, note in rows:
        key = S.SPECS[kind].title
        out.append(
            {
                "handle": f"{kind}/{id_}",
                key: label,
                "follow_up_at": iso(at),
                "note": note,
                "overdue": at < now,
            }
        )
    return out
