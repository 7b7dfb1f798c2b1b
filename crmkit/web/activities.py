"""Activities on records, GET /activities, GET /reminders and GET /audit."""

from __future__ import annotations

from starlette.routing import Route

from crmkit import spec as S
from crmkit.records import activities, auditlog, feeds
from crmkit.render import Listing, Record
from crmkit.web.body import Body, parse
from crmkit.web.endpoint import Call, Op
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
    routes: list[Route] = []
    for rs in S.SPECS.values():
        path = "/%s/{id:handle}/activities" % rs.plural
        ops = {
            "GET": Op(
                record_activities,
                "read",
                f"A {rs.kind}'s activities, newest first",
                params=activities.RECORD_PARAMS,
            ),
            "POST": Op(log_activity, "write", f"Log an activity on a {rs.kind}", body=ActivityBody),
        }
        routes.append(route(path, ops))
    routes += [
        route(
            "/activities",
            {
                "GET": Op(
                    list_activities,
                    "read",
                    "Activities across records, newest first",
                    params=activities.SEARCH_PARAMS,
                )
            },
        ),
        route(
            "/reminders",
            {
                "GET": Op(
                    reminders,
                    "read",
                    "Follow-ups due now (or within days=N)",
                    params=activities.REMINDER_PARAMS,
                )
            },
        ),
        route(
            "/audit",
            {"GET": Op(audit_log, "read", "The audit log, newest first", params=auditlog.PARAMS)},
        ),
    ]
    return routes


routes = _routes()
