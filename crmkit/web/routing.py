"""The route table's parts (`route(path, {method: Op})`) and the router that serves it.

Every route crmkit serves is an ApiRoute: each of its methods has an Op (web/endpoint.py)
saying what token scope it needs and what query and body it takes. The endpoint enforces that;
/openapi.json is generated from it.

The router tries only the routes a request's first path segment can match.

Why: Starlette tries every route in order, a regex match each (~1.5 us). With ~45 routes a
single GET of a contact tried 16 and /healthz 25, a tenth of their time. Routes are grouped
by their first path segment (`/contacts/{id:handle}` -> "contacts"); a request tries its
group, in the table's order, so the first full match is the one Starlette would pick. A
route whose first segment is not literal could match any path and joins every group.
Anything else (a 405, a 404) goes through Starlette's own loop over every route, so those
answers are Starlette's.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from starlette._utils import get_route_path
from starlette.convertors import PathConvertor, register_url_convertor
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Match, Route, Router
from starlette.types import Receive, Scope, Send

from crmkit.web.endpoint import Op, endpoint


class HandleConvertor(PathConvertor):
    """`{id:handle}`: an id in the path, bare (`c_...`) or as a handle (`contact/c_...`). The
    `path` convertor also took `c_.../activities`, so a wrong method or a typo under a
    record answered "no contact c_.../activities"."""

    regex = "(?:[a-z]+/)?[^/]*"  # empty too: the handler says an id is missing


register_url_convertor("handle", HandleConvertor())


class ApiRoute(Route):
    """A Route that keeps its table entry: each method's Op."""

    def __init__(self, path: str, ops: Mapping[str, Op]) -> None:
        self.ops = dict(ops)
        if len(ops) == 1:
            [(method, op)] = ops.items()
            super().__init__(path, endpoint(op, method, path), methods=[method])
            return
        runs = {m: endpoint(o, m, path) for m, o in ops.items()}

        async def by_method(request: Request) -> Response:
            method = request.method
            return await runs["GET" if method == "HEAD" else method](request)

        by_method.__name__ = "_".join(o.handler.__name__ for o in ops.values())
        super().__init__(path, by_method, methods=list(ops))


def route(path: str, ops: Mapping[str, Op]) -> ApiRoute:
    """One route for every method a path takes: a wrong method's 405 then names them all (with
    a route per method, Starlette's 405 names only the first route's)."""
    return ApiRoute(path, ops)


def first_segment(path: str) -> str | None:
    """The literal first segment of a route's path, or None if it may be anything."""
    segment = path.lstrip("/").split("/", 1)[0]
    return None if "{" in segment else segment


def group_routes(routes: Sequence[BaseRoute]) -> tuple[dict[str, list[BaseRoute]], list[BaseRoute]]:
    """(first segment -> the routes that may match a path starting with it, in order; the
    routes any path may match)."""
    anywhere: list[BaseRoute] = []
    groups: dict[str, list[BaseRoute]] = {}
    for route in routes:
        segment = first_segment(route.path) if isinstance(route, Route) else None
        if segment is None:
            anywhere.append(route)
            for members in groups.values():
                members.append(route)
        else:
            groups.setdefault(segment, list(anywhere)).append(route)
    return groups, anywhere


class SegmentRouter(Router):
    _groups: dict[str, list[BaseRoute]] | None = None
    _anywhere: list[BaseRoute] = []

    def _candidates(self, scope: Scope) -> list[BaseRoute]:
        if self._groups is None:  # routes are final once requests arrive
            self._groups, self._anywhere = group_routes(self.routes)
        segment = get_route_path(scope).lstrip("/").split("/", 1)[0]
        return self._groups.get(segment, self._anywhere)

    async def app(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            for route in self._candidates(scope):
                match, child_scope = route.matches(scope)
                if match is Match.FULL:
                    scope.setdefault("router", self)
                    scope["route"] = route
                    scope.update(child_scope)
                    await route.handle(scope, receive, send)
                    return
        await super().app(scope, receive, send)
