"""Contacts, companies and deals over HTTP: one generic set of handlers, routed per type.

GET/POST /<type>s, GET/PATCH/DELETE /<type>s/{id}. Handlers parse and authorize; the rules
live in crmkit/records/.
"""

from __future__ import annotations

import re

from starlette.routing import Route

from crmkit import spec as S
from crmkit.errors import InvalidField
from crmkit.records import deletes, listing, service
from crmkit.render import Listing, Message, Record
from crmkit.web import activities
from crmkit.web.body import read_json
from crmkit.web.endpoint import Call, Op
from crmkit.web.record_bodies import parse_body
from crmkit.web.routing import route

_IF_MATCH = re.compile(r'^(?:W/)?"?(\d{1,18})"?\Z', re.ASCII)


def if_match(call: Call, body_version: int | None) -> int | None:
    raw = call.request.headers.get("if-match")
    if raw is None:
        return body_version
    match = _IF_MATCH.match(raw.strip())
    if match is None:
        raise InvalidField(
            f"If-Match must be a record version number, got {raw[:40]!r}",
            "send If-Match: <version> with the version from GET (or leave it out)",
        )
    version = int(match.group(1))
    if body_version is not None and body_version != version:
        raise InvalidField(
            "If-Match and the body's version disagree", "send the version in one place only"
        )
    return version


def _empty_lines(rs: S.RecordSpec, filtered: bool, window_full: bool) -> list[str]:
    if window_full:
        # Older matches were never looked at: "none match" would be wrong (the trailer says
        # how to reach them).
        return [f"no {rs.plural} among the matches this search ranked pass these filters"]
    if filtered:
        return [
            f"no {rs.plural} match these filters",
            "hint: drop a filter or try search=<part of a name>",
        ]
    return [f"no {rs.plural} yet", f"hint: create one with POST /{rs.plural}"]


async def list_records(call: Call) -> Listing:
    rs = call.record_spec
    page = await listing.list_records(call.rt, call.who, rs, call.query_items())
    return Listing(
        page.rows,
        total=page.total,
        total_is_lower_bound=page.total_is_lower_bound,
        next_cursor=page.next_cursor,
        empty=_empty_lines(rs, page.filtered, page.window_full),
        trailer=[listing.WINDOW_FULL] if page.window_full else [],
    )


async def create_record(call: Call) -> Record:
    rs = call.record_spec
    sent, version = parse_body(rs, await read_json(call.request))
    saved = await service.save(call.rt, call.who, rs, sent, if_match(call, version))
    return Record(
        saved.data,
        meta=[saved.result],
        status=201 if saved.created else 200,
        json_extra={"result": saved.result},
    )


async def get_record(call: Call) -> Record:
    rs = call.record_spec
    return Record(await service.get(call.rt, call.who, rs, call.request.path_params["id"]))


async def patch_record(call: Call) -> Record:
    rs = call.record_spec
    raw_id = call.request.path_params["id"]
    sent, version = parse_body(rs, await read_json(call.request))
    saved = await service.patch(call.rt, call.who, rs, raw_id, sent, if_match(call, version))
    # as an upsert says: updated, or unchanged (no field differed: no new version, no audit)
    return Record(saved.data, meta=[saved.result], json_extra={"result": saved.result})


async def delete_record(call: Call) -> Message:
    rs = call.record_spec
    done = await deletes.delete(
        call.rt, call.who, rs, call.request.path_params["id"], call.query("confirm")
    )
    return Message(
        [f"deleted {done.handle}: {done.said}"],
        {
            "deleted": done.handle,
            "activities_removed": done.activities,
            "unlinked": done.unlinked or None,
        },
    )


def _collection_route(rs: S.RecordSpec) -> Route:
    key = f", or update the one with the same {rs.upsert_key}" if rs.upsert_key else ""
    return route(
        "/" + rs.plural,
        {
            "GET": Op(
                list_records,
                "read",
                f"List {rs.plural}: filters, search, sort, pages",
                own_query=True,  # the query language (crmkit/query.py) names what it takes
            ),
            "POST": Op(create_record, "write", f"Create a {rs.kind}{key}"),
        },
    )


def _item_route(rs: S.RecordSpec) -> Route:
    return route(
        "/" + rs.plural + "/{id:handle}",
        {
            "GET": Op(get_record, "read", f"One {rs.kind}"),
            "PATCH": Op(patch_record, "write", f"Change some fields of a {rs.kind}"),
            "DELETE": Op(
                delete_record,
                "write",
                f"Delete a {rs.kind} (two steps: the first answers a confirm token)",
                params=("confirm",),
            ),
        },
    )


# A request tries the routes of its first path segment in this order (web/routing.py), a
# regex match each: the lists first (the busiest), then the activity routes and the records.
routes = [
    *(_collection_route(rs) for rs in S.SPECS.values()),
    *activities.routes,
    *(_item_route(rs) for rs in S.SPECS.values()),
]
