"""The MCP server at /mcp: one `request` tool that runs an HTTP request through this same app.

The tool never goes over the network: it builds an ASGI request carrying the caller's own
`Authorization` and `X-Request-Id` and hands it to the app object `create_app` returned (via
httpx.ASGITransport), so the tool and the HTTP API share one router, one set of rules and one
error format. Stateless streamable HTTP with JSON replies, so any worker can answer any call.
"""

from __future__ import annotations

import math
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit

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
    InvalidField,
    MethodNotAllowed,
    MisdirectedRequest,
    NotFound,
    ServiceUnavailable,
    Unauthorized,
)
from crmkit.manual import topics
from crmkit.oauth.clients import is_loopback
from crmkit.render import error_body, error_response, wants_json_lenient
from crmkit.runtime import Runtime
from crmkit.web import retries

METHODS = ("GET", "POST", "PATCH", "DELETE")
# Sign-in, OAuth and MCP itself are for people and connectors, never for the model.
REFUSED_PREFIXES = ("/auth/", "/oauth/", "/.well-known/")
REFUSED_EXACT = ("/auth", "/oauth", "/mcp", "/.well-known")
MAX_PATH = 2048
_BAD_PATH = re.compile(r"[\x00-\x20\x7f\\#]")

INSTRUCTIONS = (
    "crmkit is a CRM (contacts, companies, deals, activities, follow-ups) driven over plain-text "
    "HTTP. Use the `request` tool for every operation; its description covers the common calls. "
    "For the rest, read what the task needs: GET /help is the overview (every endpoint and the "
    "conventions, in brief) and GET /help/<topic> has one topic in full detail, with examples "
    f"(topics: {', '.join(topics())}). Replies are plain text: one record per "
    "line (`<handle> key=value ...`), meta lines start with `# `. Errors carry a hint that says "
    "what to do next; follow it. Deletes are two-step: confirm with the user before repeating "
    "the request with ?confirm=<token>."
)

MANUAL = """\
Call the crmkit HTTP API as the signed-in user (their workspace). GET /help is the overview \
(every endpoint, in brief); GET /help/<topic> has one topic in detail (e.g. /help/queries, \
/help/records, /help/errors): read only what the task needs. Returns the reply's plain text \
(format=json does not apply here); status >= 400 is an error with `error:`, `hint:` lines.

Conventions: bodies are JSON objects. Records are one line: `contact/c_x name=... stage=...`; \
lines starting `# ` are meta (`# created`, `# total: 12`, `# next: <cursor>`). Use a record's \
handle (contact/c_x) or bare id (c_x) in paths and *_id fields. PATCH is partial (null clears); \
send "version":N in its body where HTTP clients send If-Match. \
POST /contacts upserts by email, POST /companies by domain. Money: amount_cents + currency. \
Times RFC 3339 UTC (bodies also take now+3d). DELETE is two-step: the first call answers \
confirmation_required with a confirm token; ask the user, then repeat with ?confirm=<token>. \
Some admin actions answer escalation_required and email a code: ask the user for it, repeat \
with ?code=<code>.
Retries: give a write you may have to repeat (a timeout, no reply) an idempotency_key, a \
fresh string per intended action; repeating it with the same key returns the first reply \
instead of acting twice (same key, other request: idempotency_key_reused). ?dry_run=true on \
any write checks everything and says what would change, writing nothing. rate_limited: wait \
Retry-After seconds. insufficient_scope: this token may not do that; tell the user.

Endpoints:
GET /help, GET /help/<topic> | GET /whoami (identity, workspace, plan usage) | GET /tokens, \
DELETE /tokens/{id}
GET /contacts?<filters> | POST /contacts | GET|PATCH|DELETE /contacts/{id}
GET /companies?<filters> | POST /companies | GET|PATCH|DELETE /companies/{id}
GET /deals?<filters> | POST /deals | GET|PATCH|DELETE /deals/{id}
GET|POST /{contacts|companies|deals}/{id}/activities  {"kind":"call|email|meeting|note|task",\
"body":"..."}
GET /activities?contact=&company=&deal=&kind=&limit=&cursor=
GET /reminders?days=&limit=&cursor=  (due follow-ups; set follow_up_at/follow_up_note via PATCH)
GET /audit?by=&target=&action=&limit=&cursor=
GET /workspaces | POST /workspaces {"name"} | PATCH /workspaces/{id}
POST /workspaces/{id}/tokens (not for connector tokens) | DELETE /workspaces/{id}
GET /workspaces/{id}/members | POST /workspaces/{id}/invites {"email","role"}
POST /workspaces/{id}/members/{user_id}/role {"role"} | DELETE /workspaces/{id}/members/{user_id}

Fields: contact name email phone title company_id stage tags owner custom{}; company name \
domain tags notes; deal title amount_cents currency stage status(open|won|lost) contact_id \
company_id close_date; all: follow_up_at follow_up_note.

Query (list routes): field=[op:]value, params AND-ed. ops eq ne gt gte lt lte like in is not. \
Examples: stage=lead, amount_cents=gte:100000, stage=in:lead,qualified, follow_up_at=is:null, \
name=like:acme*, created_at=gte:now-7d, custom.region=emea, tags=vip,renewal. search=<text> \
(fuzzy), sort=field or sort=-field, limit=1..200 (default 50), cursor=<from # next:> with the \
same filters. Unknown field or op -> 400 listing what is allowed.

Not available here: /auth/*, /oauth/*, /mcp, /.well-known/*."""

INPUT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "method": {"type": "string", "enum": list(METHODS), "description": "HTTP method"},
        "path": {
            "type": "string",
            "description": "path and query, e.g. /contacts?stage=lead&sort=-created_at",
        },
        "body": {
            "type": "object",
            "description": 'JSON body for POST and PATCH, e.g. {"name":"Jane"}',
        },
        "idempotency_key": {
            "type": "string",
            "minLength": 1,
            "maxLength": 255,
            "description": "for a POST, PATCH or DELETE you may retry: the same key on a retry"
            " returns the first reply instead of doing it twice",
        },
    },
    "required": ["method", "path"],
    "additionalProperties": False,
}

TOOL = types.Tool(
    name="request",
    title="crmkit API request",
    description=MANUAL,
    input_schema=INPUT_SCHEMA,
    annotations=types.ToolAnnotations(
        title="crmkit API request",
        read_only_hint=False,
        # It can PATCH over values and DELETE (after the two-step confirmation): not only
        # additive, which is what false would tell the client.
        destructive_hint=True,
        idempotent_hint=False,
        open_world_hint=False,
    ),
)


class ToolInputError(Exception):
    """The model's arguments were not a request we run: an error in the HTTP API's own shape
    (`error: <code>: <message>`, `hint:`), so the model reads one kind of error either way."""

    def __init__(self, message: str, hint: str, code: str = "invalid_field") -> None:
        super().__init__(message)
        self.error = InvalidField(message, hint, code=code)


def _tool_error(err: CrmError) -> types.CallToolResult:
    text = error_body(err, as_json=False)[0].decode()
    return types.CallToolResult(content=[types.TextContent(text=text)], is_error=True)


def check_arguments(args: dict[str, Any] | None) -> tuple[str, str, Any, str | None]:
    """(method, path with query, body or None, idempotency key or None), or ToolInputError
    naming what is allowed."""
    args = args or {}
    unknown = sorted(set(args) - {"method", "path", "body", "idempotency_key"})
    if unknown:
        raise ToolInputError(
            f"unknown argument(s) {', '.join(unknown)}",
            "send only method, path, (for POST/PATCH) body and (to retry safely) idempotency_key",
            code="unknown_field",
        )
    key = args.get("idempotency_key")
    if key is not None:
        try:
            retries.key_of(key if isinstance(key, str) else "")
        except CrmError:
            raise ToolInputError(
                "idempotency_key must be 1-255 printable ASCII characters",
                'e.g. "idempotency_key":"add-jane-2026-12-07"; reuse it only to retry',
            ) from None
    method = args.get("method")
    if not isinstance(method, str) or method.upper() not in METHODS:
        raise ToolInputError(
            f"method must be one of {', '.join(METHODS)}, got {method!r}",
            'e.g. {"method":"GET","path":"/contacts?stage=lead"}',
        )
    method = method.upper()
    path = args.get("path")
    if path is None:
        raise ToolInputError("path is required", 'e.g. {"method":"GET","path":"/contacts"}')
    if not isinstance(path, str) or not path.startswith("/") or path.startswith("//"):
        raise ToolInputError(
            f"path must start with a single / (got {path!r})",
            "give a path on this server, e.g. /contacts?search=acme, never a full URL",
        )
    if len(path) > MAX_PATH or _BAD_PATH.search(path):
        raise ToolInputError(
            "path has spaces, control characters, a backslash or a fragment, or is "
            f"longer than {MAX_PATH} characters",
            "percent-encode query values, e.g. /contacts?search=jane%20doe",
        )
    route = unquote(urlsplit(path).path)
    if "/../" in route + "/" or "/./" in route + "/" or "//" in route:
        raise ToolInputError("path must not contain . or .. segments", "see GET /help")
    lowered = route.lower().rstrip("/") or "/"
    if lowered in REFUSED_EXACT or lowered.startswith(REFUSED_PREFIXES):
        raise ToolInputError(
            f"{route} is not available through this tool",
            "sign-in, OAuth and MCP endpoints are for people and connectors; you are "
            "already signed in, so call the CRM endpoints directly (GET /help lists them)",
            code="not_found",
        )
    body = args.get("body")
    if body is not None and method not in ("POST", "PATCH"):
        raise ToolInputError(f"{method} takes no body", "put filters in the path's query string")
    if body is not None and not isinstance(body, dict):
        raise ToolInputError(
            "body must be a JSON object", 'e.g. {"name":"Jane Doe"}', code="invalid_json"
        )
    if body is not None:
        _check_encodable(body)
    return method, path, body, key


def _check_encodable(value: Any) -> None:
    """What the HTTP API would refuse as JSON, refused here as a tool error (not a protocol
    error): integers past 64 bits and NaN/Infinity, which JSON cannot carry."""
    if isinstance(value, float) and not math.isfinite(value):
        raise ToolInputError("the body holds NaN or Infinity", "send finite numbers")
    if isinstance(value, int) and not isinstance(value, bool) and not -(2**63) <= value < 2**63:
        raise ToolInputError(
            "the body holds an integer past 64 bits",
            "integers must fit in 64 bits; send very large numbers as strings",
        )
    if isinstance(value, dict):
        for item in value.values():
            _check_encodable(item)
    elif isinstance(value, list):
        for item in value:
            _check_encodable(item)


def text_only(path: str) -> str:
    """Drop any ?format= so the reply is always the plain text the model reads best."""
    parts = urlsplit(path)
    if "format=" not in parts.query:
        return path
    query = urlencode([(k, v) for k, v in parse_qsl(parts.query, True) if k != "format"])
    return parts.path + ("?" + query if query else "")


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
        return types.ListToolsResult(tools=[TOOL])

    async def call_tool(
        self, ctx: ServerRequestContext[Any], params: types.CallToolRequestParams
    ) -> types.CallToolResult:
        if params.name != "request":
            return _tool_error(
                NotFound(f"unknown tool {params.name!r}", "the only tool is request")
            )
        try:
            method, path, body, key = check_arguments(params.arguments)
        except ToolInputError as exc:
            return _tool_error(exc.error)
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
