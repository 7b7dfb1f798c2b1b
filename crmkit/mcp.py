"""The MCP server at /mcp: one `request` tool that runs an HTTP request through this same app.

The tool never goes over the network: it builds an ASGI request carrying the caller's own
`Authorization` and `X-Request-Id` and hands it to the app object `create_app` returned (via
httpx.ASGITransport), so the tool and the HTTP API share one router, one set of rules and one
error format. Stateless streamable HTTP with JSON replies, so any worker can answer any call.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import urlsplit

import httpx
import mcp_types as types
import orjson
from mcp.server.context import ServerRequestContext
from mcp.server.lowlevel import Server
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from mcp.server.transport_security import TransportSecuritySettings
from starlette.requests import Request
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from crmkit import __version__
from crmkit.accounts import plans, tokens
from crmkit.errors import (
    CrmError,
    Forbidden,
    MethodNotAllowed,
    MisdirectedRequest,
    NotFound,
    ServiceUnavailable,
    Unauthorized,
)
from crmkit.mcp_tool import (
    INSTRUCTIONS,
    TOOL,
    ToolInputError,
    check_arguments,
    text_only,
    tool_error,
    tool_for,
)
from crmkit.oauth.clients import is_loopback
from crmkit.render import error_response, wants_json_lenient
from crmkit.runtime import Runtime


class McpEndpoint:
    """The ASGI app mounted at exactly /mcp: Origin check, bearer auth, then the SDK."""

    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        self.target: ASGIApp | None = None  # the whole app; set by create_app after building it
        base = urlsplit(rt.settings.public_url)
        self.base_origin = f"{base.scheme}://{base.netloc}"
        self.resource_metadata = (
            rt.settings.public_url + "/.well-known/oauth-protected-resource/mcp"
        )
        loopback = ["localhost", "127.0.0.1", "[::1]"]
        self.allowed_hosts = [
            base.netloc,
            base.hostname or base.netloc,  # https://h:443 arrives as Host: h
            *loopback,
            *(h + ":*" for h in loopback),
        ]
        security = TransportSecuritySettings(
            allowed_hosts=self.allowed_hosts,
            allowed_origins=[
                self.base_origin,
                *(f"{scheme}://{h}" for h in loopback for scheme in ("http", "https")),
                *(f"{scheme}://{h}:*" for h in loopback for scheme in ("http", "https")),
            ],
        )
        self.server: Server[Any] = Server(
            "crmkit",
            version=__version__,
            instructions=INSTRUCTIONS,
            on_list_tools=self.list_tools,
            on_call_tool=self.call_tool,
        )
        self.running = False  # only inside the app's lifespan (the SDK needs its task group)
        self.manager = StreamableHTTPSessionManager(
            app=self.server, stateless=True, json_response=True, security_settings=security
        )

    def route(self) -> Route:
        # Exactly /mcp: a Mount would redirect /mcp to /mcp/, which connectors follow badly.
        # Every method reaches the endpoint, which answers all but POST with its own 405
        # (Allow: POST): Starlette's would list GET and DELETE, which are 405s themselves.
        return Route("/mcp", self)

    @asynccontextmanager
    async def run(self) -> AsyncIterator[None]:
        async with self.manager.run():
            self.running = True
            try:
                yield
            finally:
                self.running = False

    def host_allowed(self, host: str) -> bool:
        """As the SDK judges it (an exact name, or a loopback name with any port): checked
        first here so that a refusal is a crmkit error with a hint, not the SDK's bare 421."""
        host = host.lower()  # host names are case-insensitive
        return host in self.allowed_hosts or any(
            allowed.endswith(":*") and host.startswith(allowed[:-1])
            for allowed in self.allowed_hosts
        )

    def origin_allowed(self, origin: str) -> bool:
        if origin == self.base_origin:
            return True
        parts = urlsplit(origin)
        return parts.scheme in ("http", "https") and is_loopback(parts.hostname)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        as_json = wants_json_lenient(request.url.query, request.headers.get("accept", ""))
        try:
            origin = request.headers.get("origin")
            if origin and not self.origin_allowed(origin):
                raise Forbidden(
                    f"requests from origin {origin} are not allowed",
                    f"connect from {self.base_origin} or from a server-side MCP client",
                    code="origin_not_allowed",
                )
            who = await tokens.authenticate(self.rt, request.headers.get("authorization"))
            scope.setdefault("state", {})["principal"] = who  # tools/list answers per token
            # The tool's calls are each counted as they run; the session's own messages
            # show the token's quota without spending it.
            limit = plans.requests_per_minute(self.rt.settings, who.plan)
            scope.setdefault("state", {})["quota"] = self.rt.throttle.peek(
                self.rt, "t:" + who.token_id, limit
            )
            if not self.running:
                raise ServiceUnavailable(
                    "the MCP server is not running in this process",
                    "start the app with its lifespan (crmkit serve, or uvicorn with lifespan on)",
                    code="mcp_unavailable",
                )
            if request.method != "POST":
                # Stateless: no server-initiated stream to GET, no session to DELETE. The spec's
                # answer is 405 (the SDK would hold a GET open forever with nothing to send).
                raise MethodNotAllowed(
                    f"{request.method} /mcp is not offered: this server is stateless",
                    "send each JSON-RPC message as POST /mcp",
                    headers={"Allow": "POST"},
                    extra={"allowed": "POST"},
                )
            host = request.headers.get("host", "")
            if not self.host_allowed(host):
                raise MisdirectedRequest(
                    f"this server answers /mcp as {self.allowed_hosts[0]}, not {host[:100]!r}",
                    "set CRMKIT_BASE_URL to the URL clients use"
                    f" (now {self.rt.settings.public_url}), or have the proxy pass the Host"
                    " header through",
                )
        except Unauthorized as exc:
            err = Unauthorized(
                exc.message,
                "authorize through OAuth (discovery: "
                f"{self.resource_metadata}) or send Authorization: Bearer <crmkit token>",
                code=exc.code,
            )
            challenge = f'Bearer resource_metadata="{self.resource_metadata}"'
            if request.headers.get("authorization"):
                challenge += ', error="invalid_token"'
            err.headers["WWW-Authenticate"] = challenge
            await error_response(err, as_json=as_json)(scope, receive, send)
            return
        except CrmError as exc:
            await error_response(exc, as_json=as_json)(scope, receive, send)
            return
        # The SDK compares the Host header case-sensitively; it passed ours in any case.
        headers = [(k, v.lower() if k == b"host" else v) for k, v in scope["headers"]]
        await self.manager.handle_request({**scope, "headers": headers}, receive, send)

    async def list_tools(
        self, ctx: ServerRequestContext[Any], params: types.PaginatedRequestParams | None
    ) -> types.ListToolsResult:
        caller = ctx.request
        assert isinstance(caller, Request), "the streamable HTTP transport attaches the request"
        who = caller.scope.get("state", {}).get("principal")
        return types.ListToolsResult(tools=[TOOL if who is None else tool_for(who.scopes)])

    async def call_tool(
        self, ctx: ServerRequestContext[Any], params: types.CallToolRequestParams
    ) -> types.CallToolResult:
        if params.name != "request":
            return tool_error(NotFound(f"unknown tool {params.name!r}", "the only tool is request"))
        try:
            method, path, body, key = check_arguments(params.arguments)
        except ToolInputError as exc:
            return tool_error(exc.error)
        caller = ctx.request
        assert isinstance(caller, Request), "the streamable HTTP transport attaches the request"
        status, text = await self.forward(caller, method, text_only(path), body, key)
        return types.CallToolResult(content=[types.TextContent(text=text)], is_error=status >= 400)

    async def forward(
        self, caller: Request, method: str, path: str, body: Any, key: str | None = None
    ) -> tuple[int, str]:
        """Run the request through the same app, as the caller, and return (status, text)."""
        assert self.target is not None, "create_app binds the app before serving"
        headers = {"Accept": "text/plain"}
        if key is not None:
            headers["Idempotency-Key"] = key  # the app checks it as it checks any header
        for name in ("authorization", "x-request-id"):
            if caller.headers.get(name):
                headers[name] = caller.headers[name]
        request_id = caller.scope.get("state", {}).get("request_id")
        if request_id:
            headers["x-request-id"] = request_id
        content = orjson.dumps(body) if body is not None else None
        if content is not None:
            headers["Content-Type"] = "application/json"
        client_ip = caller.client.host if caller.client else "127.0.0.1"
        transport = httpx.ASGITransport(app=self.target, client=(client_ip, 0))
        async with httpx.AsyncClient(
            transport=transport, base_url=self.rt.settings.public_url
        ) as http:
            request = http.build_request(method, path, headers=headers, content=content)
            # Straight to the transport, not through http.send(): send() logs every URL it
            # calls on httpx's INFO logger, query and all (`?code=654321`, `?confirm=...`),
            # past the access log's masking. The app's own access log records this request,
            # masked (web/edge.py). Nothing send() adds is wanted here: no redirect is
            # followed, no cookie or auth kept between calls.
            reply = await transport.handle_async_request(request)
            try:
                await reply.aread()
            finally:
                await reply.aclose()
        return reply.status_code, reply.text
