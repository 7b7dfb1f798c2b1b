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
from crmkit.records import feeds
from crmkit.records.service import missing, record_id
from crmkit.records.values import body_time
from crmkit.runtime import Runtime
from crmkit.store import activities as store
from crmkit.store import records as records_store
from crmkit.store.base import Row

KINDS = ("call", "email", "meeting", "note", "task")
BODY_MAX = 10000


def view(row: Row) -> dict[str, Any]:
    id_, kind, target_kind, target_id, body, by, at = row[:7]  # a page's rows carry more
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
            raise await missing(tx, who, rs, raw_id)
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


# What each list takes (DESIGN 6: anything else is a 400 that lists these).
RECORD_PARAMS = ("limit", "cursor")
SEARCH_PARAMS = ("contact", "company", "deal", "kind", "limit", "cursor")
REMINDER_PARAMS = ("days", "limit", "cursor")


async def _page(
    rt: Runtime,
    who: Principal,
    targets: list[str],
    kinds: list[str],
    args: dict[str, str],
) -> feeds.Feed:
    limit = query.parse_limit(args.get("limit"))
    # Bound to what the filters mean, not how they were spelt: a handle and its bare id, or
    # a reordered list, give the same rows in the same order.
    targets, kinds = sorted(set(targets)), sorted(set(kinds))
    fingerprint = repr(("activities", targets, kinds))
    after = feeds.position(rt, who, fingerprint, args.get("cursor"), (int, int))
    fetched = await store.page(
        rt.db,
        who.workspace_id,
        targets=targets,
        kinds=kinds,
        after=None if after is None else (after[0], after[1]),
        limit=limit,
        cap=feeds.COUNT_CAP,
    )
    return feeds.page(rt, who, fingerprint, fetched, limit, lambda r: [r[6], r[7]], view)


async def for_record(
    rt: Runtime, who: Principal, rs: S.RecordSpec, raw_id: str, params: list[tuple[str, str]]
) -> feeds.Feed:
    args = query.fixed_params(params, RECORD_PARAMS, f"/{rs.plural}/{{id}}/activities")
    id_ = record_id(rs, raw_id)
    if id_ is None or not await records_store.exists(rt.db, rs, who.workspace_id, id_):
        raise await missing(rt.db, who, rs, raw_id)
    return await _page(rt, who, [id_], [], args)


async def search(rt: Runtime, who: Principal, params: list[tuple[str, str]]) -> feeds.Feed:
    """GET /activities?contact=&company=&deal=&kind=: ids or handles comma-separated, any of
    them (a record's activities are those logged on it, whichever filter names it)."""
    args = query.fixed_params(params, SEARCH_PARAMS, "/activities")
    targets: list[str] = []
    for kind, rs in S.SPECS.items():
        raw = args.get(kind)
        if raw is None:
            continue
        items = raw.split(",")
        if len(items) > query.MAX_IN_ITEMS:
            raise InvalidQuery(
                f"{kind}= lists more than {query.MAX_IN_ITEMS} {rs.plural}",
                "split the query into several",
            )
        for item in items:
            found = bare_id(item.strip(), kind, rs.prefix)
            if found is None:
                raise InvalidQuery(
                    f"{kind}= needs {kind} ids or handles, got {item[:60]!r}",
                    f"e.g. {kind}={kind}/{rs.prefix}_7k2m9q4x1zab or"
                    f" {kind}={rs.prefix}_7k2m9q4x1zab (several: comma-separated)",
                )
            targets.append(found)
    kinds: list[str] = []
    if args.get("kind") is not None:
        kinds = args["kind"].split(",")
        bad = [k for k in kinds if k not in KINDS]
        if bad:
            raise InvalidQuery(
                f"unknown activity kind {bad[0][:40]!r}", "kind=call,email", allowed=KINDS
            )
    return await _page(rt, who, targets, kinds, args)


async def reminders(rt: Runtime, who: Principal, params: list[tuple[str, str]]) -> feeds.Feed:
    """Overdue follow-ups and those due later today (UTC); with days=N, due within N days.
    Soonest first, so the overdue ones lead."""
    args = query.fixed_params(params, REMINDER_PARAMS, "/reminders")
    limit = query.parse_limit(args.get("limit"))
    now = rt.clock.now()
    days = args.get("days")
    ahead = None
    if days is None:
        until = now - now % 86400 + 86399
    else:
        ahead = query.whole_number("days", days, 0, 3650, "e.g. days=7 looks a week ahead")
        until = now + ahead * 86400
    fingerprint = repr(("reminders", ahead))
    after = feeds.position(rt, who, fingerprint, args.get("cursor"), (int, str))
    fetched = await store.due(
        rt.db,
        who.workspace_id,
        until,
        after=None if after is None else (after[0], after[1]),
        limit=limit,
        cap=feeds.COUNT_CAP,
    )

    def due_view(row: Row) -> dict[str, Any]:
        kind, id_, label, at, note = row[:5]
        return {
            "handle": f"{kind}/{id_}",
            S.SPECS[kind].title: label,
            "follow_up_at": iso(at),
            "note": note,
            "overdue": at < now,
        }

    return feeds.page(rt, who, fingerprint, fetched, limit, lambda r: [r[3], r[1]], due_view)
