"""The outermost ASGI layer: request ids, the 1 MiB body cap, an access log without secrets,
and the last-resort 500 (logged with its request id, never a traceback on the wire)."""

from __future__ import annotations

import logging
import random
import re
import time
from typing import Any
from urllib.parse import quote, unquote_plus

from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from crmkit.errors import CrmError, InternalError, PayloadTooLarge
from crmkit.render import error_body, wants_json_lenient
from crmkit.throttle import Quota

log = logging.getLogger("crmkit.http")
access_log = logging.getLogger("crmkit.access")

MAX_BODY = 1024 * 1024
NO_STORE = (b"cache-control", b"no-store")
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}\Z")
# Query keys whose values are secrets: never written to the access log.
SECRET_QUERY_KEYS = frozenset(
    {"code", "confirm", "token", "access_token", "refresh_token", "state"}
)


def too_large() -> PayloadTooLarge:
    return PayloadTooLarge(
        f"the request body is larger than {MAX_BODY} bytes (1 MiB)",
        "send less per request, e.g. split a bulk import into several calls",
    )


def header(scope: Scope, name: bytes) -> str:
    for key, value in scope.get("headers", ()):
        if key == name:
            return str(value.decode("latin-1"))
    return ""


def log_path(path: str) -> str:
    """The path as the access log prints it: percent-encoded again (the server decoded it), so
    `%22` or `%0A` in a request cannot end the quoted field or start a forged line."""
    return quote(path, safe="/:@!$&'()*+,;=")


def redact_query(query: str) -> str:
    """The query as sent, with the value of every secret key (however encoded) replaced by
    `***`. Pairs split on `&` only, as Starlette's parsing does. A `"` or `\\` (which HTTP
    parsers let through) is percent-encoded: it must not end the log line's quoted field."""
    if not query:
        return ""
    if '"' in query or "\\" in query:
        query = query.replace("\\", "%5C").replace('"', "%22")
    pairs = query.split("&")
    for i, pair in enumerate(pairs):
        key, eq, _ = pair.partition("=")
        if eq and unquote_plus(key) in SECRET_QUERY_KEYS:
            pairs[i] = key + "=***"
    return "&".join(pairs)


def masked_target(path: str, query: str) -> str:
    """A request's path and query as every log line shows them: the path percent-encoded
    again (`log_path`), the query as sent but for the values of secret keys (`redact_query`).
    The one masking function: whatever logs a URL, or the part of one after the host, logs
    this."""
    query = redact_query(query)
    return log_path(path) + ("?" + query if query else "")


def _new_request_id() -> str:
    """16 hex digits to tell requests apart in logs. They guard nothing, so Python's own
    generator serves (seeded afresh in each worker, a new interpreter); the system's is a
    system call that gives up the GIL on every request."""
    return "%016x" % random.getrandbits(64)


class Edge:
    def __init__(self, app: ASGIApp, *, access_log_enabled: bool = True) -> None:
        self.app = app
        self.access_log_enabled = access_log_enabled

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = header(scope, b"x-request-id")
        request_id = incoming if _REQUEST_ID.match(incoming) else _new_request_id()
        scope.setdefault("state", {})["request_id"] = request_id
        rid_header = (b"x-request-id", request_id.encode())
        started = time.perf_counter()
        status_holder: dict[str, Any] = {"status": None}

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                status_holder["status"] = message["status"]
                headers = [*message.get("headers", []), rid_header]
                # Replies carry tokens and workspace data (errors and /mcp included): no cache
                # may keep them unless a route says otherwise.
                if not any(k.lower() == b"cache-control" for k, _ in headers):
                    headers.append(NO_STORE)
                state = scope["state"]
                quota = state["quota"] if "quota" in state else self.quota(scope)
                if quota is not None:
                    headers.extend(quota.headers())
                message["headers"] = headers
            await send(message)

        length = header(scope, b"content-length")
        if length.isascii() and length.isdigit() and int(length) > MAX_BODY:
            await self._send_error(scope, send_with_id, too_large())
        else:
            received = 0

            async def capped_receive() -> Message:
                nonlocal received
                message = await receive()
                if message["type"] == "http.request":
                    received += len(message.get("body", b""))
                    if received > MAX_BODY:
                        raise too_large()
                return message

            try:
                await self.app(scope, capped_receive, send_with_id)
            except ClientDisconnect:
                # The client left before sending its whole body: not our error (load
                # generators do this at the end of every run). Logged as nginx's 499.
                status_holder["status"] = 499
                log.info("client disconnected during request %s", request_id)
            except Exception:
                log.exception("unhandled error in request %s", request_id)
                if status_holder["status"] is None:
                    await self._send_error(scope, send_with_id, internal_error(request_id))
        if self.access_log_enabled:
            access_log.info(
                '%s "%s %s" %s %.1fms id=%s',
                (scope.get("client") or ("-",))[0],
                scope["method"],
                masked_target(scope["path"], scope.get("query_string", b"").decode("latin-1")),
                status_holder["status"],
                (time.perf_counter() - started) * 1000,
                request_id,
            )

    def quota(self, scope: Scope) -> Quota | None:
        """The X-RateLimit-* figures for a reply no endpoint counted (a 404, a 413, /mcp
        before its token is known): none here; the served app knows the limits."""
        return None

    async def _send_error(self, scope: Scope, send: Send, err: CrmError) -> None:
        as_json = wants_json_lenient(
            scope.get("query_string", b"").decode("latin-1"), header(scope, b"accept")
        )
        body, media = error_body(err, as_json=as_json)
        headers = [(b"content-type", media.encode()), (b"content-length", str(len(body)).encode())]
        headers.extend((k.lower().encode(), v.encode()) for k, v in err.headers.items())
        # No `Connection: close` on a 413: closing with the unread body still arriving makes the
        # kernel reset the connection, and the client never sees our answer. uvicorn discards
        # the rest of the body and keeps the connection.
        await send({"type": "http.response.start", "status": err.status, "headers": headers})
        await send({"type": "http.response.body", "body": body})


def internal_error(request_id: str) -> InternalError:
    return InternalError(
        f"something went wrong on our side (request {request_id})",
        "retry once; if it fails again, report the request id to the operator",
        extra={"request_id": request_id},
    )
