"""Exception handlers: every failure leaves in the one error format."""

from __future__ import annotations

import logging

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from crmkit.errors import CrmError, MethodNotAllowed, NotFound, OAuthError
from crmkit.render import error_response, wants_json_lenient
from crmkit.web.edge import internal_error
from crmkit.web.oauth import POST_ONLY, rfc_error

log = logging.getLogger("crmkit.http")


def _as_json(request: Request) -> bool:
    return wants_json_lenient(request.url.query, request.headers.get("accept", ""))


async def crm_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, CrmError)
    return error_response(exc, as_json=_as_json(request))


async def http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    err: CrmError
    if exc.status_code == 404:
        err = NotFound(
            f"no route {request.method} {request.url.path}",
            "see GET /help for every endpoint",
        )
    elif exc.status_code == 405 and request.url.path in POST_ONLY:
        return rfc_error(
            OAuthError(
                f"{request.method} is not allowed on {request.url.path}; it takes POST",
                "",
                status=405,
                headers={"Allow": "POST"},
            )
        )
    elif exc.status_code == 405:
        allow = (exc.headers or {}).get("Allow", "")
        err = MethodNotAllowed(
            f"{request.method} is not allowed on {request.url.path}",
            f"use one of: {allow}" if allow else "see GET /help for every endpoint",
            headers={"Allow": allow} if allow else None,
            extra={"allowed": allow} if allow else None,
        )
    else:
        err = CrmError(exc.detail or "request failed", "see GET /help", status=exc.status_code)
    return error_response(err, as_json=_as_json(request))


async def server_error(request: Request, exc: Exception) -> Response:
    # Starlette re-raises after this; the Edge logs the traceback with the request id.
    request_id = request.scope.get("state", {}).get("request_id", "-")
    return error_response(internal_error(request_id), as_json=_as_json(request))


HANDLERS = {CrmError: crm_error, HTTPException: http_error, Exception: server_error}
