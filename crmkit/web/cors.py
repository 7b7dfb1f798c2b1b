"""CORS for the endpoints browser-based clients call directly: discovery, registration,
token, revocation, /mcp, and /openapi.json (API explorers load it from their own origin).
Bearer tokens travel in headers (never cookies), so `*` is safe; /mcp still checks Origin
itself against CRMKIT_BASE_URL."""

from __future__ import annotations

from starlette._utils import get_route_path
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from crmkit.web.edge import header

CORS_EXACT = frozenset(
    {"/mcp", "/oauth/register", "/oauth/token", "/oauth/revoke", "/openapi.json"}
)
CORS_PREFIX = "/.well-known/"
ALLOW_HEADERS = (
    "Authorization, Content-Type, Accept, Mcp-Session-Id, Mcp-Protocol-Version, X-Request-Id, "
    "Last-Event-ID"
)
EXPOSE_HEADERS = (
    "Mcp-Session-Id, WWW-Authenticate, X-Request-Id, Retry-After, X-RateLimit-Limit,"
    " X-RateLimit-Remaining, X-RateLimit-Reset"
)


def wants_cors(path: str) -> bool:
    return path in CORS_EXACT or path.startswith(CORS_PREFIX)


class Cors:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or not wants_cors(get_route_path(scope))  # without a proxy's root path
            or not header(scope, b"origin")
        ):
            await self.app(scope, receive, send)
            return
        if scope["method"] == "OPTIONS" and header(scope, b"access-control-request-method"):
            headers = [
                (b"access-control-allow-origin", b"*"),
                (b"access-control-allow-methods", b"GET, POST, DELETE, OPTIONS"),
                (b"access-control-allow-headers", ALLOW_HEADERS.encode()),
                (b"access-control-max-age", b"600"),
                (b"content-length", b"0"),
            ]
            await send({"type": "http.response.start", "status": 204, "headers": headers})
            await send({"type": "http.response.body", "body": b""})
            return

        async def send_with_cors(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [
                    *message.get("headers", []),
                    (b"access-control-allow-origin", b"*"),
                    (b"access-control-expose-headers", EXPOSE_HEADERS.encode()),
                ]
            await send(message)

        await self.app(scope, receive, send_with_cors)
