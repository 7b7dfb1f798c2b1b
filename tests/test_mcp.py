"""/mcp with the official MCP Python client and a bearer token, over a real socket."""

from __future__ import annotations

import logging

import httpx2
import mcp_util
import pytest
from conftest import Api, LiveServer, Smtp, serve
from mcp.client.client import Client
from mcp.client.session import ClientSession
from mcp.client.streamable_http import streamable_http_client
from mcp_util import mcp_session, text_of

from crmkit import __version__
from crmkit.app import create_app
from crmkit.clock import FixedClock
from crmkit.config import Settings
from crmkit.mcp_tool import MANUAL

port = mcp_util.port
env = mcp_util.env
server = mcp_util.server


async def test_initialize_list_and_call_whoami(server: tuple[Api, LiveServer]) -> None:
    api, srv = server
    token = await api.sign_in("jane@acme.com", token_name="cli")
    async with mcp_session(srv.url, token) as session:
        init = session.initialize_result
        assert init is not None
        assert init.server_info.name == "crmkit"
        assert init.server_info.version == __version__
        assert init.instructions is not None and "GET" in init.instructions
        assert "/help" in init.instructions

        tools = await session.list_tools()
        assert [t.name for t in tools.tools] == ["request"]
        tool = tools.tools[0]
        assert tool.description == MANUAL and len(MANUAL) < 4000
        assert tool.annotations is not None
        assert tool.annotations.read_only_hint is False
        assert tool.annotations.open_world_hint is False
        assert tool.annotations.destructive_hint is True  # it can overwrite and delete
        assert tool.input_schema["required"] == ["method", "path"]

        result = await session.call_tool("request", {"method": "GET", "path": "/whoami"})
        assert result.is_error is False
        http_reply = await api.get("/whoami", token)
        assert text_of(result) == http_reply.text
        assert "email=jane@acme.com" in text_of(result)


async def test_json_format_is_forced_to_text(server: tuple[Api, LiveServer]) -> None:
    api, srv = server
    token = await api.sign_in("jane@acme.com")
    async with mcp_session(srv.url, token) as session:
        result = await session.call_tool(
            "request", {"method": "GET", "path": "/tokens?format=json"}
        )
    assert result.is_error is False
    assert text_of(result).startswith("# total: 1\ntoken/t_")


async def test_error_reply_is_a_tool_error_with_the_hint(server: tuple[Api, LiveServer]) -> None:
    api, srv = server
    token = await api.sign_in("jane@acme.com")
    async with mcp_session(srv.url, token) as session:
        result = await session.call_tool(
            "request", {"method": "DELETE", "path": "/tokens/t_doesnotexist"}
        )
    assert result.is_error is True
    reply = await api.delete("/tokens/t_doesnotexist", token)
    assert reply.status_code == 404
    assert text_of(result) == reply.text
    assert "error: not_found:" in text_of(result)
    assert "hint: list yours with GET /tokens" in text_of(result)


@pytest.mark.parametrize(
    "path",
    [
        "/auth/request",
        "/auth/verify",
        "/oauth/token",
        "/OAuth/register",
        "/mcp",
        "/mcp/",
        "/.well-known/oauth-authorization-server",
        "/%61uth/request",
        "/x/../auth/request",
    ],
)
async def test_sign_in_and_oauth_paths_are_refused(
    server: tuple[Api, LiveServer], path: str
) -> None:
    api, srv = server
    token = await api.sign_in("jane@acme.com")
    mails_before = len(api.inbox.messages)
    async with mcp_session(srv.url, token) as session:
        result = await session.call_tool(
            "request", {"method": "POST", "path": path, "body": {"email": "eve@evil.com"}}
        )
    assert result.is_error is True
    assert "hint:" in text_of(result)
    assert len(api.inbox.messages) == mails_before  # no code was mailed to anyone


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [
        (
            {"method": "PUT", "path": "/whoami"},
            "invalid_field: method must be one of GET, POST, PATCH, DELETE",
        ),
        ({"method": "GET"}, "invalid_field: path is required"),
        ({"method": "GET", "path": "https://evil.com/x"}, "invalid_field: path must start with"),
        ({"method": "GET", "path": "//evil.com/x"}, "invalid_field: path must start with a"),
        ({"method": "GET", "path": "/whoami", "body": {"a": 1}}, "invalid_field: GET takes no"),
        ({"method": "POST", "path": "/contacts", "body": "x"}, "invalid_json: body must be a"),
        ({"method": "GET", "path": "/whoami", "extra": 1}, "unknown_field: unknown argument(s)"),
        ({"method": "GET", "path": "/who ami"}, "invalid_field: path has spaces"),
        (
            {"method": "POST", "path": "/contacts", "body": {"custom": {"n": 2**70}}},
            "invalid_field: the body holds an integer past 64 bits",
        ),
    ],
)
async def test_bad_arguments_say_what_is_allowed(
    server: tuple[Api, LiveServer], arguments: dict[str, object], expected: str
) -> None:
    api, srv = server
    token = await api.sign_in("jane@acme.com")
    async with mcp_session(srv.url, token) as session:
        result = await session.call_tool("request", arguments)
    assert result.is_error is True
    # the HTTP API's error shape: `error: <code>: <message>` then `hint: ...`
    assert text_of(result).startswith("error: " + expected)
    assert "\nhint: " in text_of(result)


async def test_mcp_without_a_token_points_at_the_metadata(server: tuple[Api, LiveServer]) -> None:
    api, srv = server
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}
    headers = {"Accept": "application/json, text/event-stream"}
    for auth in (None, "Bearer ck_not_a_real_token", "Basic abc"):
        h = dict(headers)
        if auth:
            h["Authorization"] = auth
        r = await api.http.post("/mcp", json=body, headers=h)
        assert r.status_code == 401
        challenge = r.headers["www-authenticate"]
        assert challenge.startswith(
            f'Bearer resource_metadata="{srv.url}/.well-known/oauth-protected-resource/mcp"'
        )
        error = r.json()["error"]  # the client accepts JSON, so the error comes as JSON
        assert error["code"] in ("auth_required", "invalid_token")
        assert "oauth-protected-resource/mcp" in error["hint"]
    r = await api.http.post("/mcp", json=body)
    assert r.status_code == 401
    assert r.text.startswith("error: auth_required: ")
    assert "\nhint: authorize through OAuth" in r.text


async def test_mcp_is_served_at_slash_mcp_without_redirect(
    server: tuple[Api, LiveServer],
) -> None:
    api, srv = server
    for method in ("GET", "POST", "DELETE"):
        r = await api.http.request(method, "/mcp")
        assert r.status_code == 401, method  # answered right there, never redirected to /mcp/
        assert "location" not in r.headers


async def test_foreign_origin_is_refused(server: tuple[Api, LiveServer]) -> None:
    api, srv = server
    token = await api.sign_in("jane@acme.com")
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}
    headers = {"Accept": "application/json, text/event-stream", "Origin": "https://evil.example"}
    r = await api.post("/mcp", token, json=body, headers=headers)
    assert r.status_code == 403
    assert r.json()["error"]["code"] == "origin_not_allowed"
    # The server's own origin (and loopback, for local inspectors) is fine.
    headers["Origin"] = srv.url
    r = await api.post("/mcp", token, json=body, headers=headers)
    assert r.status_code == 200, r.text
    assert r.json()["result"]["tools"][0]["name"] == "request"


async def test_a_foreign_host_gets_a_crmkit_error_naming_the_base_url(
    server: tuple[Api, LiveServer],
) -> None:
    """DNS rebinding defence: a Host this server does not answer as is a 421, in crmkit's
    error shape with what to set (the SDK's own 421 was a bare "Invalid Host header")."""
    api, _srv = server
    token = await api.sign_in("jane@acme.com")
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}
    headers = {"Accept": "application/json, text/event-stream", "Host": "evil.com"}
    r = await api.post("/mcp", token, json=body, headers=headers)
    assert r.status_code == 421, r.text
    error = r.json()["error"]
    assert error["code"] == "misdirected_request"
    assert error["message"].startswith("this server answers /mcp as 127.0.0.1:")
    assert error["hint"].startswith("set CRMKIT_BASE_URL")
    for host in ("localhost:9999", "LOCALHOST:9999"):  # loopback, any port, any case
        headers["Host"] = host
        r = await api.post("/mcp", token, json=body, headers=headers)
        assert r.status_code == 200, r.text
    r = await api.request("PUT", "/mcp", token, headers={"Accept": "application/json"})
    assert (r.status_code, r.headers["allow"]) == (405, "POST")  # not GET or DELETE


async def test_cors_preflight_on_mcp_and_token(server: tuple[Api, LiveServer]) -> None:
    api, srv = server
    paths = ("/mcp", "/oauth/token", "/oauth/register", "/.well-known/oauth-authorization-server")
    for path in paths:
        r = await api.http.options(
            path,
            headers={
                "Origin": "http://localhost:6274",
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "authorization, content-type",
            },
        )
        assert r.status_code == 204, path
        assert r.headers["access-control-allow-origin"] == "*"
        assert "Authorization" in r.headers["access-control-allow-headers"]
    r = await api.http.post("/mcp", json={}, headers={"Origin": "http://localhost:6274"})
    assert r.status_code == 401
    assert "WWW-Authenticate" in r.headers["access-control-expose-headers"]
    assert "Mcp-Session-Id" in r.headers["access-control-expose-headers"]
    # Other endpoints are not opened to browsers.
    r = await api.http.get("/whoami", headers={"Origin": "http://localhost:6274"})
    assert "access-control-allow-origin" not in r.headers


async def test_revoked_token_gets_401_at_mcp(server: tuple[Api, LiveServer]) -> None:
    api, srv = server
    token = await api.sign_in("jane@acme.com")
    other = await api.sign_in("jane@acme.com", token_name="other")
    who = await api.json("GET", "/whoami", token)
    token_id = who.json()["data"]["token"]["handle"].removeprefix("token/")
    async with mcp_session(srv.url, token) as session:
        assert (await session.list_tools()).tools
    r = await api.delete(f"/tokens/{token_id}", other)
    assert r.status_code == 200
    body = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "tools/call",
        "params": {"name": "request", "arguments": {"method": "GET", "path": "/whoami"}},
    }
    r = await api.post(
        "/mcp", token, json=body, headers={"Accept": "application/json, text/event-stream"}
    )
    assert r.status_code == 401
    assert 'error="invalid_token"' in r.headers["www-authenticate"]


async def test_modern_protocol_client(server: tuple[Api, LiveServer]) -> None:
    """The SDK's high-level Client negotiates the newer stateless protocol; same answers."""
    api, srv = server
    token = await api.sign_in("jane@acme.com")
    async with httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}) as http:
        transport = streamable_http_client(srv.url + "/mcp", http_client=http)
        async with Client(transport) as client:
            tools = await client.list_tools()
            assert [t.name for t in tools.tools] == ["request"]
            result = await client.call_tool("request", {"method": "GET", "path": "/whoami"})
    assert result.is_error is False
    assert text_of(result) == (await api.get("/whoami", token)).text


async def test_tool_runs_in_process_with_the_callers_request_id(
    settings: Settings,
    clock: FixedClock,
    smtp: Smtp,
    port: int,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="crmkit.access")
    application = create_app(settings, clock=clock, access_log=True)
    async with serve(application, smtp, port) as (api, srv):
        token = await api.sign_in("jane@acme.com")
        headers = {"Authorization": f"Bearer {token}", "X-Request-Id": "trace-42"}
        async with (
            httpx2.AsyncClient(headers=headers) as http2,
            streamable_http_client(srv.url + "/mcp", http_client=http2) as (read, write),
            ClientSession(read, write) as session,
        ):
            await session.initialize()
            result = await session.call_tool("request", {"method": "GET", "path": "/whoami"})
            assert result.is_error is False
    traced = [r.getMessage() for r in caplog.records if "id=trace-42" in r.getMessage()]
    # The inner GET /whoami ran through the same app (its own access line) with the outer id.
    assert any('"GET /whoami" 200' in line for line in traced), traced
    assert any('"POST /mcp" 200' in line for line in traced), traced


async def test_in_process_app_without_lifespan_answers_503_not_500(api: Api) -> None:
    token = await api.sign_in("jane@acme.com")
    r = await api.post("/mcp", token, json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"})
    assert r.status_code == 503
    assert r.text.startswith("error: mcp_unavailable: ")
    r = await api.post("/mcp", json={})
    assert r.status_code == 401  # auth still comes first


async def test_get_and_delete_mcp_are_405_for_a_stateless_server(
    server: tuple[Api, LiveServer],
) -> None:
    api, srv = server
    token = await api.sign_in("jane@acme.com")
    for method in ("GET", "DELETE"):
        r = await api.request(method, "/mcp", token, headers={"Accept": "text/event-stream"})
        assert r.status_code == 405, method
        assert r.headers["allow"] == "POST"
        assert r.text.startswith("error: method_not_allowed: ")


@pytest.mark.parametrize("value", [float("nan"), float("inf"), [1, {"x": -(2**64)}]])
def test_bodies_json_cannot_carry_are_tool_errors(value: object) -> None:
    from crmkit.mcp_tool import ToolInputError, check_arguments

    with pytest.raises(ToolInputError, match="NaN|64 bits") as raised:
        check_arguments({"method": "POST", "path": "/contacts", "body": {"custom": {"v": value}}})
    assert raised.value.error.code == "invalid_field" and raised.value.error.hint


def test_the_full_int64_range_passes_the_tool_check() -> None:
    from crmkit.mcp_tool import check_arguments

    for value in (-(2**63), 2**63 - 1):
        body = {"custom": {"v": value}}
        assert check_arguments({"method": "POST", "path": "/contacts", "body": body})[2] == body


@pytest.mark.parametrize("value", [2**63, -(2**63) - 1])
def test_just_past_int64_is_a_tool_error(value: object) -> None:
    from crmkit.mcp_tool import ToolInputError, check_arguments

    with pytest.raises(ToolInputError, match="NaN|64 bits") as raised:
        check_arguments({"method": "POST", "path": "/contacts", "body": {"custom": {"v": value}}})
    assert raised.value.error.code == "invalid_field" and raised.value.error.hint
