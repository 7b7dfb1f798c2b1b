"""The segment router picks exactly the route Starlette's own loop would."""

from __future__ import annotations

import re
from typing import Any

import pytest
from starlette.routing import BaseRoute, Match, Route

from crmkit.app import create_app
from crmkit.config import Settings
from crmkit.web.routing import SegmentRouter, first_segment, group_routes

METHODS = ["GET", "POST", "PATCH", "DELETE", "PUT", "OPTIONS"]


def scope(method: str, path: str) -> dict[str, Any]:
    return {"type": "http", "method": method, "path": path, "root_path": "", "headers": []}


def first_full(routes: list[BaseRoute], request: dict[str, Any]) -> BaseRoute | None:
    return next((r for r in routes if r.matches(request)[0] is Match.FULL), None)


def sample_paths(routes: list[BaseRoute]) -> list[str]:
    paths = {"/", "/nope", "/contacts/", "/contacts/c_1/activities/x", "//contacts"}
    for route in routes:
        if isinstance(route, Route):
            concrete = re.sub(r"\{[^}]*\}", "x", route.path)
            paths.update({concrete, concrete + "/", concrete + "/extra"})
    return sorted(paths)


def test_every_request_gets_the_route_starlettes_loop_would_pick() -> None:
    app = create_app(Settings.from_env({"CRMKIT_DATABASE": ":memory:"}), access_log=False)
    router = app.starlette.router
    assert isinstance(router, SegmentRouter)
    routes = list(router.routes)
    checked = 0
    for path in sample_paths(routes):
        for method in METHODS:
            request = scope(method, path)
            assert first_full(router._candidates(request), request) is first_full(
                routes, request
            ), (method, path)
            checked += 1
    assert checked > 300


def test_routes_group_by_their_literal_first_segment_in_order() -> None:
    async def endpoint(request: Any) -> None: ...

    a, b = Route("/a", endpoint), Route("/a/{id}", endpoint)
    anything = Route("/{slug}", endpoint)
    c = Route("/c", endpoint)
    groups, anywhere = group_routes([a, anything, b, c])
    assert groups == {"a": [a, anything, b], "c": [anything, c]}
    assert anywhere == [anything]
    assert [first_segment(p) for p in ("/", "/x/y", "/{p}/y", "/.well-known/z")] == [
        "",
        "x",
        None,
        ".well-known",
    ]


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [("GET", "/healthz", 200), ("PUT", "/contacts", 405), ("GET", "/nothing/here", 404)],
)
async def test_found_not_allowed_and_not_found_answer_as_before(
    api: Any, method: str, path: str, status: int
) -> None:
    response = await api.request(method, path)
    assert response.status_code == status
