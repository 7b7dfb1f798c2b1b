"""What each operation of /openapi.json answers: the reply headers, crmkit's error replies
(DESIGN 5) and the OAuth endpoints' own (RFC 6749 5.2), the success replies read from a
handler's return annotation (render.Record, Listing, Message, Document), and RAW, the few
handlers that build their own Response, which nothing else describes.
"""

from __future__ import annotations

import typing
from dataclasses import dataclass, field
from typing import Any

from crmkit import spec as S
from crmkit.manual import topics
from crmkit.render import Document, Listing, Message, Record
from crmkit.web.endpoint import Op
from crmkit.web.openapi_schemas import JSON, TEXT, Schema, ref

LINKSET = "application/linkset+json"
HTML = "text/html"
FORM = "application/x-www-form-urlencoded"
STRING: Schema = {"type": "string"}
# Every reply carries them (DESIGN 10), the Edge's own errors included: the fuzz test holds
# the server to it.
RATE_LIMIT_HEADERS_REQUIRED = True


@dataclass(frozen=True)
class Raw:
    """A handler that builds its own Response: what it answers, since no Result type says."""

    replies: dict[str, tuple[str, str, Schema]]  # status -> (description, media type, schema)
    oauth: bool = False  # its errors are OAuth's JSON (RFC 6749 5.2), not crmkit's
    query: tuple[str, ...] = ()  # the query parameters it reads itself
    body: tuple[str, Schema] | None = None  # (media type, schema)
    errors: tuple[int, ...] = ()  # error statuses beyond those every route may answer
    # path parameters that are not ids: name -> (description, schema)
    path: dict[str, tuple[str, Schema]] = field(default_factory=dict)


def _form(*names: str) -> tuple[str, Schema]:
    return FORM, {"type": "object", "properties": {n: STRING for n in names}}


_RFC_JSON: Schema = {"type": "object"}
RAW: dict[str, Raw] = {
    "orientation": Raw({"200": ("What this server is and where to start", TEXT, STRING)}),
    "help_page": Raw({"200": ("The manual (help.txt)", TEXT, STRING)}),
    "help_topic": Raw(
        {"200": ("One topic's page of the manual", TEXT, STRING)},
        path={
            "topic": (
                "a topic of the manual, as GET /help lists them",
                {"type": "string", "enum": list(topics())},
            )
        },
    ),
    "llms_txt": Raw({"200": ("llms.txt", TEXT, STRING)}),
    "openapi_json": Raw({"200": ("This document", JSON, _RFC_JSON)}),
    "api_catalog": Raw({"200": ("The API catalog (RFC 9727)", LINKSET, ref("Linkset"))}),
    "resource_metadata": Raw({"200": ("RFC 9728 metadata", JSON, _RFC_JSON)}),
    "server_metadata": Raw({"200": ("RFC 8414 metadata", JSON, _RFC_JSON)}),
    "authorize_get": Raw(
        {"200": ("The sign-in page", HTML, STRING), "400": ("A bad sign-in link", HTML, STRING)},
        query=(
            "response_type",
            "client_id",
            "redirect_uri",
            "state",
            "code_challenge",
            "code_challenge_method",
            "scope",
            "resource",
        ),
    ),
    "authorize_post": Raw(
        {
            "200": ("The next step's page", HTML, STRING),
            "303": ("Back to the application's redirect URI", HTML, STRING),
            "400": ("A form that cannot be used", HTML, STRING),
        },
        body=_form("flow", "email", "code", "workspace", "workspace_name", "decision"),
    ),
    "register": Raw(
        {"201": ("The registered client (RFC 7591 3.2.1)", JSON, _RFC_JSON)},
        oauth=True,
        body=(JSON, {"type": "object", "description": "RFC 7591 client metadata"}),
    ),
    "token": Raw(
        {"200": ("Tokens (RFC 6749 5.1)", JSON, _RFC_JSON)},
        oauth=True,
        body=_form(
            "grant_type",
            "code",
            "redirect_uri",
            "code_verifier",
            "client_id",
            "refresh_token",
            "resource",
        ),
        errors=(401,),  # invalid_client
    ),
    "revoke": Raw(
        {"200": ("Revoked, or no such token (RFC 7009 2.2)", JSON, _RFC_JSON)},
        oauth=True,
        body=_form("token", "client_id"),
        errors=(401,),
    ),
    "post_only": Raw({}, oauth=True, errors=(405,)),  # every reply is its 405
}

# Error statuses an op may answer, each with its code(s): (name, what it means).
ERRORS: dict[int, tuple[str, str]] = {
    400: ("BadRequest", "bad parameter, body or JSON (unknown_parameter, invalid_field, ...)"),
    401: ("Unauthorized", "auth_required: no token, or an unknown or expired one"),
    403: ("Forbidden", "insufficient_scope, admin_required, escalation_required, plan caps"),
    404: ("NotFound", "not_found: no such record, or not in this workspace"),
    405: ("MethodNotAllowed", "this endpoint takes POST"),
    409: ("Conflict", "conflict: the write clashes with another record or member"),
    422: ("Unprocessable", "idempotency_key_reused: that key was sent with another request"),
    412: ("VersionConflict", "version_conflict: If-Match names an older version"),
    413: ("PayloadTooLarge", "payload_too_large: the body is over 1 MiB"),
    428: ("ConfirmationRequired", "confirmation_required: repeat with ?confirm=<token>"),
    429: ("RateLimited", "rate_limited: wait Retry-After seconds"),
}


def _header(description: str, schema: Schema, required: bool = False) -> Schema:
    return {"description": description, "required": required, "schema": schema}


INT: Schema = {"type": "integer", "minimum": 0}
HEADERS: dict[str, Schema] = {
    "X-Request-Id": _header("this request's id, as the server log shows it", STRING, True),
    "X-RateLimit-Limit": _header(
        "requests allowed in the window", INT, RATE_LIMIT_HEADERS_REQUIRED
    ),
    "X-RateLimit-Remaining": _header("requests left in it", INT, RATE_LIMIT_HEADERS_REQUIRED),
    "X-RateLimit-Reset": _header("seconds until it resets", INT, RATE_LIMIT_HEADERS_REQUIRED),
    "Retry-After": _header("seconds to wait", INT, True),
    "WWW-Authenticate": _header("the Bearer challenge (RFC 6750)", STRING, True),
    "ETag": _header('the record\'s version, W/"<n>": send it back as If-Match', STRING),
    "Idempotent-Replayed": _header("true: a stored reply to an earlier same key", STRING),
    "Location": _header("where to go next", STRING),
}
_EVERY_REPLY = ("X-Request-Id", "X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset")


def _headers(*extra: str) -> dict[str, Schema]:
    return {name: {"$ref": "#/components/headers/" + name} for name in (*_EVERY_REPLY, *extra)}


def reply(description: str, content: dict[str, Schema], *headers: str) -> Schema:
    return {
        "description": description,
        "headers": _headers(*headers),
        "content": {media: {"schema": schema} for media, schema in content.items()},
    }


def error_responses() -> dict[str, Schema]:
    """components/responses: each error status in crmkit's shape, and again (OAuth...) where
    the OAuth endpoints' own shape may come instead (RFC 6749 5.2)."""
    extra = {401: ("WWW-Authenticate",), 409: ("Retry-After",), 429: ("Retry-After",)}
    either = {"anyOf": [ref("ErrorReply"), ref("OAuthErrorReply")]}
    found: dict[str, Schema] = {}
    for status, (name, meaning) in ERRORS.items():
        heads = extra.get(status, ())
        found[name] = reply(meaning, {TEXT: STRING, JSON: ref("ErrorReply")}, *heads)
        found["OAuth" + name] = reply(meaning, {TEXT: STRING, JSON: either}, *heads)
        if status == 409:  # only idempotency_in_progress says when to retry
            for answer in (found[name], found["OAuth" + name]):
                answer["headers"]["Retry-After"] = {**HEADERS["Retry-After"], "required": False}
    other = "any other error in the same shape (e.g. 503 email_unavailable)"
    found["Error"] = reply(other, {TEXT: STRING, JSON: ref("ErrorReply")})
    found["OAuthError"] = reply(other, {TEXT: STRING, JSON: either})
    return found


# --- success ------------------------------------------------------------------------------------


def result_kinds(op: Op) -> tuple[type[Any], ...]:
    """The Result types the handler's return annotation names (Response: none)."""
    returned = typing.get_type_hints(op.handler).get("return")
    kinds = typing.get_args(returned) or (returned,)
    return tuple(k for k in kinds if k in (Record, Listing, Message, Document))


def success(method: str, op: Op, rs: S.RecordSpec | None) -> dict[str, Schema]:
    """The replies a handler's Result types make; on a record route (`rs`), in its type's own
    schemas. A POST's Record is 201 when it made something, 200 when it changed one (an
    upsert, a role) or was a dry run."""
    name = rs.kind.title() if rs else None
    replies: dict[str, Schema] = {}
    for kind in result_kinds(op):
        heads: tuple[str, ...] = ("Idempotent-Replayed",) if op.writes else ()
        if kind is Record:
            schema = ref(name + "Reply" if name else "ItemReply")
            heads += ("ETag",) if name else ()
            statuses = ["201", "200"] if method == "POST" else ["200"]
        elif kind is Listing:
            schema, statuses = ref(name + "List" if name else "ItemList"), ["200"]
        elif kind is Document:
            schema, statuses = ref("DocumentReply"), ["200"]
        else:
            schema, statuses = ref("MessageReply"), ["200"]
        for status in statuses:
            if status in replies:  # a union of Result types: either shape
                earlier = replies[status]["content"][JSON]["schema"]
                schema = {"anyOf": [*earlier.get("anyOf", [earlier]), schema]}
            said = "created" if status == "201" else "OK"
            replies[status] = reply(said, {TEXT: STRING, JSON: schema}, *heads)
    return replies
