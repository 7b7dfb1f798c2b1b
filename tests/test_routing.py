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


async def test_record_routes_work_behind_a_root_path(api: Any) -> None:
    # Behind a proxy that mounts crmkit at /api (uvicorn --root-path /api), the scope's
    # path keeps the prefix; the record type must come from the path as routes match it.
    token = await api.sign_in("owner@acme.com")
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    async def call(method: str, path: str, *headers: tuple[bytes, bytes]) -> int:
        sent.clear()
        scope = {
            "type": "http",
            "http_version": "1.1",
            "method": method,
            "path": path,
            "raw_path": path.encode(),
            "root_path": "/api",
            "query_string": b"",
            "headers": [(b"host", b"t"), *headers],
            "client": ("127.0.0.1", 1),
            "server": ("t", 80),
            "scheme": "http",
        }
        await api.app(scope, receive, send)
        assert b"internal_error" not in sent[-1].get("body", b"")
        return int(sent[0]["status"])

    bearer = (b"authorization", f"Bearer {token}".encode())
    assert await call("GET", "/api/contacts", bearer) == 200
    assert await call("GET", "/api/deals/d_none", bearer) == 404
    # and a browser's preflight to /mcp still gets its CORS answer
    preflight = [(b"origin", b"https://claude.ai"), (b"access-control-request-method", b"POST")]
    assert await call("OPTIONS", "/api/mcp", *preflight) == 204
    assert (b"access-control-allow-origin", b"*") in sent[0]["headers"]


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("PUT", "/contacts/c_aaaaaaaaaaaa", "DELETE, GET, HEAD, PATCH"),
        ("PUT", "/deals/deal/d_aaaaaaaaaaaa", "DELETE, GET, HEAD, PATCH"),
        ("DELETE", "/contacts", "GET, HEAD, POST"),
        ("DELETE", "/contacts/c_aaaaaaaaaaaa/activities", "GET, HEAD, POST"),
        ("PATCH", "/companies/company/co_aaaaaaaaaaaa/activities", "GET, HEAD, POST"),
        ("PUT", "/workspaces", "GET, HEAD, POST"),
    ],
)
async def test_a_wrong_method_is_told_every_method_the_path_takes(
    api: Any, method: str, path: str, allowed: str
) -> None:
    """One route per path: with a route per method, a PUT to update was told `GET, HEAD` and
    steered away from PATCH; a DELETE under a record's activities was "no contact
    c_.../activities"."""
    token = await api.sign_in("methods@acme.com")
    r = await api.request(method, path, token, headers={"Accept": "application/json"})
    assert r.status_code == 405, r.text
    assert sorted(r.headers["allow"].split(", ")) == allowed.split(", ")
    assert sorted(r.json()["error"]["allowed"].split(", ")) == allowed.split(", ")
