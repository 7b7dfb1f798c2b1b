"""Turning a handler (Call -> result object) into a Starlette endpoint.

Handlers parse and authorize, call a service, and return a render result; they never build a
Response or an error body themselves.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from urllib.parse import parse_qsl

from pydantic import BaseModel
from starlette._utils import get_route_path
from starlette.requests import Request
from starlette.responses import Response

from crmkit import spec as S
from crmkit.accounts import scopes, tokens
from crmkit.accounts.scopes import Scope
from crmkit.errors import InvalidField
from crmkit.netaddr import address_group
from crmkit.principal import Principal
from crmkit.render import Result, respond, wants_json
from crmkit.runtime import Runtime
from crmkit.web import retries


@dataclass
class Call:
    request: Request
    rt: Runtime
    as_json: bool
    _who: Principal | None
    query_string: str  # as sent, decoded as latin-1 (as Starlette does)

    @property
    def who(self) -> Principal:
        assert self._who is not None, "handler registered without auth"
        return self._who

    def query(self, name: str) -> str | None:
        return self.request.query_params.get(name)

    def query_items(self) -> list[tuple[str, str]]:
        """Every (name, value) pair in order, repeats kept: `request.query_params`' pairs
        without building its multi-dict."""
        return parse_qsl(self.query_string, keep_blank_values=True)

    @property
    def record_spec(self) -> S.RecordSpec:
        """The record type the path names (/contacts/... -> contact), for routes registered
        per type. The path as routes match it (without a proxy's root path), from the scope:
        `request.url` would build a URL object for it."""
        return S.BY_PLURAL[get_route_path(self.request.scope).split("/")[1]]

    @property
    def client_ip(self) -> str:
        """The caller's address as per-address limits count it (IPv6 by its /64)."""
        return address_group(self.request.client.host) if self.request.client else "unknown"


Handler = Callable[[Call], Awaitable[Result | Response]]


@dataclass(frozen=True)
class Op:
    """One method of one route, as the route table declares it: what runs, what token scope it
    needs, what it takes. The endpoint enforces it; /openapi.json is generated from it."""

    handler: Handler
    scope: Scope | None  # None: public, no token
    summary: str
    params: tuple[str, ...] = ()  # the query parameters it takes (format is always allowed)
    body: type[BaseModel] | None = None  # the JSON body it takes
    # The handler reads its own query: a record list's query language, or an OAuth endpoint
    # (RFC 6749 3.1: an authorization server ignores parameters it does not know).
    own_query: bool = False

    @property
    def writes(self) -> bool:
        return self.scope in ("write", "admin")

    @property
    def accepted(self) -> tuple[str, ...]:
        """Every query parameter the route takes: `format` always, `dry_run` on writes."""
        return (*self.params, "format", "dry_run") if self.writes else (*self.params, "format")


def runtime(request: Request) -> Runtime:
    rt: Runtime = request.app.state.runtime
    return rt


def check_params(query: str, op: Op, method: str, path: str) -> None:
    """400 unknown_parameter for a query parameter the route does not take: a misspelt one
    silently ignored would do something else than asked (a write that ignores ?dry_run)."""
    accepted = op.accepted
    for key, _ in parse_qsl(query, keep_blank_values=True):
        if key not in accepted:
            raise InvalidField(
                f"unknown parameter {key[:60]!r} for {method} {path}",
                f"{method} {path} takes only: {', '.join(accepted)}",
                allowed=accepted,
                code="unknown_parameter",
            )


def endpoint(op: Op, method: str, path: str) -> Callable[[Request], Awaitable[Response]]:
    handler = op.handler
    checked = not op.own_query
    path = re.sub(r":\w+}", "}", path)  # as messages show it: {id}, not {id:handle}

    async def run(request: Request) -> Response:
        # the raw query string: `request.url` would build a whole URL object for it
        query = request.scope["query_string"].decode("latin-1")
        as_json = wants_json(query, request.headers.get("accept", ""))
        rt = runtime(request)
        who = None
        state = request.scope.setdefault("state", {})
        if op.scope is None:
            address = rt.throttle.address_key(request.client.host if request.client else None)
            limit = rt.settings.anon_requests_per_minute
            await rt.throttle.take(rt, address, limit, "this address", state)
        else:
            who = await tokens.authenticate(rt, request.headers.get("authorization"))
            limit = rt.throttle.token_limit(rt, who.plan)
            await rt.throttle.take(rt, "t:" + who.token_id, limit, "this token", state)
            if op.scope not in who.scopes:
                raise scopes.missing(
                    op.scope, who.scopes, method, path, who.workspace_id, who.via_connector
                )
        if checked and query:
            check_params(query, op, method, path)
        call = Call(request, rt, as_json, who, query)
        if op.writes and who is not None:
            dry = "dry_run" in query and retries.dry_run_asked(call.query("dry_run"))
            key = retries.key_of(request.headers.get(retries.HEADER))
            if dry or key is not None:
                return await retries.run(rt, who, request, lambda: handler(call), key=key, dry=dry)
        result = await handler(call)
        if isinstance(result, Response):
            return result
        return respond(result, as_json=as_json)

    run.__name__ = handler.__name__
    run.__doc__ = handler.__doc__
    return run
