"""OAuth discovery (RFC 9728, RFC 8414), registration (RFC 7591), token and revocation
(RFC 6749, 7009) endpoints. They answer in the RFCs' JSON, not crmkit's text format, because
their callers are OAuth client libraries."""

from __future__ import annotations

import base64
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import unquote

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from crmkit.accounts import scopes
from crmkit.errors import CrmError, OAuthError, PayloadTooLarge
from crmkit.oauth import clients, grants
from crmkit.runtime import Runtime
from crmkit.web.body import read_json
from crmkit.web.endpoint import Call, Handler, Op
from crmkit.web.oauth_pages import authorize_get, authorize_post
from crmkit.web.routing import route

NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
MAX_FIELD = 4096


def protected_resource(rt: Runtime) -> dict[str, Any]:
    base = rt.settings.public_url
    return {
        "resource": base + "/mcp",
        "authorization_servers": [base],
        "bearer_methods_supported": ["header"],
        "scopes_supported": list(scopes.ALL),
        "resource_name": "crmkit",
        "resource_documentation": base + "/help",
    }


def authorization_server(rt: Runtime) -> dict[str, Any]:
    base = rt.settings.public_url
    return {
        "issuer": base,
        "authorization_endpoint": base + "/oauth/authorize",
        "token_endpoint": base + "/oauth/token",
        "registration_endpoint": base + "/oauth/register",
        "revocation_endpoint": base + "/oauth/revoke",
        "response_types_supported": ["code"],
        "grant_types_supported": ["authorization_code", "refresh_token"],
        "code_challenge_methods_supported": ["S256"],
        "scopes_supported": list(scopes.ALL),
        "token_endpoint_auth_methods_supported": ["none"],
        "revocation_endpoint_auth_methods_supported": ["none"],
        "service_documentation": base + "/help",
    }


async def resource_metadata(call: Call) -> Response:
    return JSONResponse(protected_resource(call.rt))


async def server_metadata(call: Call) -> Response:
    return JSONResponse(authorization_server(call.rt))


def oauth_json(
    handler: Callable[[Call], Awaitable[dict[str, Any]]], status: int = 200
) -> Callable[[Call], Awaitable[Response]]:
    """Run an OAuth endpoint: success and every failure as RFC-style JSON, never cached."""

    async def run(call: Call) -> Response:
        try:
            data = await handler(call)
        except OAuthError as exc:
            return rfc_error(exc)
        except CrmError as exc:  # e.g. rate_limited: same shape, our code
            return rfc_error(exc)
        return JSONResponse(data, status_code=status, headers=NO_STORE)

    run.__name__ = handler.__name__
    return run


def rfc_error(exc: CrmError) -> Response:
    body = {"error": exc.code, "error_description": exc.message}
    headers = {**NO_STORE, **exc.headers}
    if exc.status == 401:
        headers["WWW-Authenticate"] = 'Bearer error="invalid_client"'
    return JSONResponse(body, status_code=exc.status, headers=headers)


async def register(call: Call) -> dict[str, Any]:
    try:
        data = await read_json(call.request)
    except PayloadTooLarge:
        raise
    except CrmError as exc:
        raise OAuthError(exc.message, exc.hint, code="invalid_client_metadata") from None
    return await clients.register(call.rt, data, call.client_ip)


_FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


async def form(request: Request) -> dict[str, str]:
    """The url-encoded body; every field at most once and of sane length."""
    media = request.headers.get("content-type", "").partition(";")[0].strip().lower()
    if media not in _FORM_TYPES:
        # Parsed as a form, a JSON body is empty, and "unknown client_id" would follow.
        raise OAuthError(
            f"the body must be application/x-www-form-urlencoded, not {media or 'untyped'}",
            "",
        )
    try:
        parsed = await request.form()
    except PayloadTooLarge:
        raise  # the Edge's 1 MiB cap: a 413, not a malformed form
    except Exception:
        raise OAuthError("the body must be application/x-www-form-urlencoded", "") from None
    values: dict[str, str] = {}
    for key, value in parsed.multi_items():
        if not isinstance(value, str) or len(value) > MAX_FIELD:
            raise OAuthError(f"{key} is not a short text value", "")
        if key in values:
            raise OAuthError(f"{key} is given more than once", "")
        values[key] = value
    return values


def basic_client_id(authorization: str | None) -> str | None:
    """Some public clients send `Authorization: Basic base64(client_id:)` instead of a field."""
    scheme, _, value = (authorization or "").partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode()
    except (ValueError, UnicodeDecodeError):
        return None
    return unquote(decoded.partition(":")[0]) or None


async def client_of(call: Call, fields: dict[str, str]) -> clients.Client:
    client_id = fields.get("client_id") or basic_client_id(
        call.request.headers.get("authorization")
    )
    if not client_id:
        raise OAuthError("client_id is required (a form field, or HTTP Basic)", "")
    client = await clients.find(call.rt, client_id)
    if client is None:
        raise grants.invalid_client()
    return client


# The endpoints whose every reply, a wrong method's 405 included (web/errors.py), is in the
# OAuth JSON shape (help: these endpoints' errors are OAuth's).
POST_ONLY = ("/oauth/register", "/oauth/token", "/oauth/revoke")


async def post_only(call: Call) -> dict[str, Any]:
    """A GET of the token or revoke endpoint: 405 in the OAuth shape, naming POST."""
    raise OAuthError(
        f"{call.request.url.path} takes POST with a form body",
        "",
        status=405,
        headers={"Allow": "POST"},
    )


async def token(call: Call) -> dict[str, Any]:
    fields = await form(call.request)
    grant_type = fields.get("grant_type")
    client = await client_of(call, fields)
    if grant_type == "authorization_code":
        code = fields.get("code")
        if not code:
            raise OAuthError("code is required", "")
        return await grants.exchange_code(
            call.rt,
            client,
            code,
            fields.get("redirect_uri"),
            fields.get("code_verifier"),
            fields.get("resource"),
        )
    if grant_type == "refresh_token":
        raw = fields.get("refresh_token")
        if not raw:
            raise OAuthError("refresh_token is required", "")
        return await grants.refresh(
            call.rt, client, raw, fields.get("resource"), fields.get("scope")
        )
    raise OAuthError(
        f"grant_type {grant_type!r} is not supported (authorization_code, refresh_token)",
        "",
        code="unsupported_grant_type",
    )


async def revoke(call: Call) -> dict[str, Any]:
    fields = await form(call.request)
    client = await client_of(call, fields)
    raw = fields.get("token")
    if not raw:
        raise OAuthError("token is required", "")
    await grants.revoke(call.rt, client, raw)
    return {}


def _public(handler: Handler, summary: str) -> Op:
    # RFC 6749 3.1: an authorization server ignores request parameters it does not know.
    return Op(handler, None, summary, own_query=True)


routes = [
    route(
        "/.well-known/oauth-protected-resource",
        {"GET": _public(resource_metadata, "OAuth protected-resource metadata (RFC 9728)")},
    ),
    route(
        "/.well-known/oauth-protected-resource/mcp",
        {"GET": _public(resource_metadata, "OAuth protected-resource metadata of /mcp")},
    ),
    route(
        "/.well-known/oauth-authorization-server",
        {"GET": _public(server_metadata, "OAuth authorization-server metadata (RFC 8414)")},
    ),
    route(
        "/oauth/register",
        {"POST": _public(oauth_json(register, 201), "Register an OAuth client (RFC 7591)")},
    ),
    route(
        "/oauth/authorize",
        {
            "GET": _public(authorize_get, "The sign-in and consent page"),
            "POST": _public(authorize_post, "The sign-in page's forms"),
        },
    ),
    route(
        "/oauth/token",
        {
            "POST": _public(oauth_json(token), "OAuth token endpoint"),
            "GET": _public(oauth_json(post_only), "405: the token endpoint takes POST"),
        },
    ),
    route(
        "/oauth/revoke",
        {
            "POST": _public(oauth_json(revoke), "OAuth token revocation (RFC 7009)"),
            "GET": _public(oauth_json(post_only), "405: revocation takes POST"),
        },
    ),
]
