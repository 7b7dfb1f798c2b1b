"""The route table (web/routing.py ApiRoute ops) is what the endpoints enforce: every route
refuses a query parameter it does not take."""

from __future__ import annotations

import re

import pytest
from starlette.routing import Route

from crmkit.web.routing import ApiRoute

# Routes that read their own query: OAuth endpoints ignore what they don't know (RFC 6749
# 3.1), and /mcp is the MCP transport.
OWN_QUERY_PREFIXES = ("/oauth/", "/.well-known/", "/mcp")


@pytest.fixture
async def token(api) -> str:
    return await api.sign_in("routes@acme.com")


def table(app) -> list[tuple[str, str, object]]:
    rows = []
    for route in app.starlette.router.routes:
        if isinstance(route, ApiRoute):
            for method, op in route.ops.items():
                rows.append((method, route.path, op))
        elif isinstance(route, Route):
            assert route.path.startswith(OWN_QUERY_PREFIXES), f"{route.path} is not in the table"
    return rows


def concrete(path: str) -> str:
    return re.sub(r"\{[^}]*\}", "x_aaaaaaaaaaaa", path)


async def test_every_route_refuses_an_unknown_parameter(api, token) -> None:
    rows = table(api.app)
    assert len(rows) > 40
    refused = 0
    for method, path, op in rows:
        if op.own_query and path.startswith(OWN_QUERY_PREFIXES):
            continue
        url = concrete(path) + "?zz_unknown=1"
        r = await api.json(method, url, token if op.scope else None, json={})
        assert r.status_code == 400, (method, path, r.text)
        error = r.json()["error"]
        assert error["code"] == "unknown_parameter", (method, path, error)
        assert "zz_unknown" in error["message"] and error["hint"], (method, path, error)
        refused += 1
    assert refused > 40


@pytest.mark.parametrize("path", ["/contacts?colour=red", "/whoami?verbose=1"])
async def test_the_reply_names_what_the_route_takes(api, token, path) -> None:
    r = await api.get(path, token)
    assert r.status_code == 400 and r.text.startswith("error: unknown_parameter: "), r.text
    assert "format" in r.text


async def test_a_write_with_an_unknown_parameter_changes_nothing(api, token) -> None:
    r = await api.json("POST", "/contacts?dryrun=true", token, json={"name": "Ada"})
    assert r.status_code == 400 and r.json()["error"]["code"] == "unknown_parameter"
    r = await api.json("GET", "/contacts", token)
    assert r.json()["data"] == []
