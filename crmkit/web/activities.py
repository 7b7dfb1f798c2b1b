"""Activities on records, GET /activities, GET /reminders and GET /audit."""

from __future__ import annotations

from starlette.routing import Route

from crmkit import spec as S
from crmkit.records import activities, auditlog, feeds
from crmkit.render import Listing, Record
from crmkit.web.body import Body, parse
from crmkit.web.endpoint import Call, endpoint
from crmkit.web.routing import route


class ActivityBody(Body):
    kind: str
    body: str
    at: str | None = None


async def log_activity(call: Call) -> Record:
    body = await parse(call.request, ActivityBody)
    data = await activities.log(
        call.rt,
        call.who,
        call.record_spec,
        call.request.path_params["id"],
        body.kind,
        body.body,
        body.at,
    )
    return Record(data, meta=["created"], status=201, json_extra={"result": "created"})


def _listing(feed: feeds.Feed, empty: list[str]) -> Listing:
    return Listing(
        feed.rows,
        total=feed.total,
        total_is_lower_bound=feed.total_is_lower_bound,
        next_cursor=feed.next_cursor,
        empty=empty,
    )


async def record_activities(call: Call) -> Listing:
    feed = await activities.for_record(
        call.rt, call.who, call.record_spec, call.request.path_params["id"], call.query_items()
    )
    return _listing(feed, ["no activities yet"])


async def list_activities(call: Call) -> Listing:
    feed = await activities.search(call.rt, call.who, call.query_items())
    return _listing(feed, ["no activities match"])


async def reminders(call: Call) -> Listing:
    feed = await activities.reminders(call.rt, call.who, call.query_items())
    return _listing(
        feed, ["nothing is due", "hint: set follow_up_at on a record, or look ahead with days=7"]
    )


async def audit_log(call: Call) -> Listing:
    feed = await auditlog.recent(call.rt, call.who, call.query_items())
    return _listing(feed, ["no audit entries match"])


def _routes() -> list[Route]:
    routes = []
    for rs in S.SPECS.values():
        path = "/%s/{id:handle}/activities" % rs.plural
        routes.append(route(path, {"GET": record_activities, "POST": log_activity}))
    routes += [
        Route("/activities", endpoint(list_activities), methods=["GET"]),
        Route("/reminders", endpoint(reminders), methods=["GET"]),
        Route("/audit", endpoint(audit_log), methods=["GET"]),
    ]
    return routes


routes = _routes()
