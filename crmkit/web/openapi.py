"""/openapi.json (OpenAPI 3.1) and /.well-known/api-catalog (RFC 9727), generated at start-up
from the route table (each ApiRoute's Ops, web/endpoint.py) and the record specs, never typed
out by hand: a route added to the table is in the document by the next start.

What an Op does not say is read from the code it names: the reply shape from the handler's
return annotation (render.Record, Listing, Message, Document), record fields and bodies from
crmkit/spec.py and web/record_bodies.py, the other bodies from Op.body's pydantic model. Only
the few handlers that build their own Response (the manual, OAuth's RFC endpoints and pages,
these documents) are described by hand, in openapi_replies.RAW: one missing there stops the
app from starting. openapi_schemas.py holds the schemas and parameters, openapi_replies.py the
replies; this module puts each operation and the document together.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import orjson
from starlette.routing import BaseRoute

from crmkit import __version__
from crmkit import spec as S
from crmkit.config import Settings
from crmkit.web.endpoint import Op
from crmkit.web.openapi_replies import (
    ERRORS,
    HEADERS,
    LINKSET,
    RAW,
    Raw,
    error_responses,
    reply,
    success,
)
from crmkit.web.openapi_schemas import (
    JSON,
    TEXT,
    Schema,
    body_schemas,
    common_schemas,
    query_param,
    record_list_description,
    record_list_params,
    record_route,
    record_schemas,
)
from crmkit.web.record_bodies import body_model
from crmkit.web.routing import ApiRoute

# RFC 9727 7.3: the profile that marks a linkset as an API catalog.
CATALOG_PROFILE = "https://www.rfc-editor.org/info/rfc9727"
CATALOG_TYPE = f'{LINKSET}; profile="{CATALOG_PROFILE}"'
SCOPES = {
    "read": "every GET",
    "write": "record and activity writes (includes read)",
    "admin": "workspaces, members, invites and tokens (includes read)",
}
_PATH_PARAM = re.compile(r"\{(\w+)(?::\w+)?\}")


# --- one operation ------------------------------------------------------------------------------


@dataclass
class Context:
    """What every operation's description draws on, worked out once per document."""

    bodies: dict[type[Any], Schema]
    ids: dict[tuple[str, str], str]
    error_responses: dict[str, Schema]
    raw_missing: list[str] = field(default_factory=list)


def _parameters(method: str, path: str, op: Op, raw: Raw | None) -> list[Schema]:
    rs, single = record_route(path)
    owner = S.BY_PLURAL.get(path.split("/")[1])  # whose {id} it is, on /contacts/{id}/...
    described = raw.path if raw else {}
    params: list[Schema] = [
        {
            "name": name,
            "in": "path",
            "required": True,
            "schema": {"type": "string", "minLength": 1},
            "description": f"a {kind} id ({kind}/... as a handle works too)",
        }
        if name not in described
        else {
            "name": name,
            "in": "path",
            "required": True,
            "schema": described[name][1],
            "description": described[name][0],
        }
        for name in _PATH_PARAM.findall(path)
        for kind in [owner.kind if owner and name == "id" else name.removesuffix("_id")]
    ]
    if op.own_query and rs is not None and not single:
        params += record_list_params(rs)
    names = [*op.params, *(raw.query if raw else ()), "format"]
    if op.writes:
        names.append("dry_run")
    taken = {p["name"] for p in params}
    params += [query_param(n) for n in dict.fromkeys(names) if n not in taken]
    if raw is not None:  # checked (a bad value is a 400) but this reply has one format only
        params = [
            p | {"description": "text or json, for errors only: this reply has one format"}
            if p["name"] == "format"
            else p
            for p in params
        ]
    if op.writes:
        key = {"type": "string", "pattern": "^[!-~](?:[ -~]{0,253}[!-~])?$", "maxLength": 255}
        params.append(
            {
                "name": "Idempotency-Key",
                "in": "header",
                "required": False,
                "description": "1-255 printable ASCII characters: the same key again replays the"
                " stored reply (Idempotent-Replayed: true) instead of writing twice",
                "schema": key,
            }
        )
    if rs is not None and method in ("POST", "PATCH"):
        params.append(
            {
                "name": "If-Match",
                "in": "header",
                "required": False,
                "description": "the version you read (ETag): 412 if the record changed since",
                "schema": {"type": "string", "pattern": '^(W/)?"?[0-9]{1,18}"?$'},
            }
        )
    if "code" in op.params:
        params.append(
            {
                "name": "X-Escalation-Code",
                "in": "header",
                "required": False,
                "description": "the emailed step-up code (or ?code=)",
                "schema": {"type": "string", "pattern": "^[0-9]{6}$"},
            }
        )
    return params


def _request_body(method: str, path: str, op: Op, raw: Raw | None, ctx: Context) -> Schema | None:
    rs, _ = record_route(path)
    if op.body is not None:
        required = any(f.is_required() for f in op.body.model_fields.values())
        content = {JSON: {"schema": ctx.bodies[op.body]}}
    elif rs is not None and method in ("POST", "PATCH"):
        required, content = True, {JSON: {"schema": ctx.bodies[body_model(rs)]}}
    elif raw is not None and raw.body is not None:
        required, content = True, {raw.body[0]: {"schema": raw.body[1]}}
    else:
        return None
    return {"required": required, "content": content}


def _error_statuses(path: str, op: Op, raw: Raw | None, body: Schema | None) -> list[int]:
    """The errors an op may answer, from what it declares: every op a bad parameter (400) and
    the rate limit (429); the rest as its scope, path, body and parameters allow."""
    statuses = {400, 429, *(raw.errors if raw else ())}
    if op.scope is not None:
        statuses |= {401, 403}
    elif op.body is not None and "code" in op.body.model_fields:
        statuses.add(401)  # invalid_code: a public op that trades an emailed code for a token
    if _PATH_PARAM.search(path):
        statuses.add(404)
    if op.writes:  # a clash, or the same Idempotency-Key still running (409) or reused (422)
        statuses |= {409, 422}
    if body is not None:
        statuses.add(413)
        if record_route(path)[0] is not None:
            statuses.add(412)  # If-Match
    if "confirm" in op.params:
        statuses.add(428)
    return sorted(statuses)


def operation(method: str, path: str, op: Op, ctx: Context) -> Schema:
    name = op.handler.__name__
    raw = RAW.get(name)
    rs, single = record_route(path)
    responses = success(method, op, rs)
    if raw is None and not responses:
        ctx.raw_missing.append(f"{method} {path} ({name})")
    body = _request_body(method, path, op, raw, ctx)
    oauth = "OAuth" if raw is not None and raw.oauth else ""
    for status in _error_statuses(path, op, raw, body):
        responses[str(status)] = {"$ref": f"#/components/responses/{oauth}{ERRORS[status][0]}"}
    responses["default"] = {"$ref": f"#/components/responses/{oauth}Error"}
    for code, (description, media, schema) in (raw.replies if raw else {}).items():
        heads = ("Location",) if code == "303" else ()
        answer = reply(description, {media: schema}, *heads)
        if code in responses:  # a page of its own, or crmkit's error (a bad ?format=)
            shared = ctx.error_responses[responses[code]["$ref"].rpartition("/")[2]]
            answer["content"] = {**shared["content"], **answer["content"]}
            answer["description"] += "; or " + shared["description"]
        responses[code] = answer
    security = [{"bearer": [op.scope]}, {"oauth2": [op.scope]}] if op.scope else []
    found: Schema = {
        "operationId": ctx.ids[(method, path)],
        "summary": op.summary,
        "tags": [path.strip("/").split("/")[0] or "help"],  # GET / is the manual's door
        "security": security,
        "parameters": _parameters(method, path, op, raw),
        "responses": dict(sorted(responses.items())),
    }
    said = [f"Needs a token with the {op.scope} scope."] if op.scope else []
    if op.own_query and rs is not None and not single:
        said.append(record_list_description(rs))
    if said:
        found["description"] = " ".join(said)
    if body is not None:
        found["requestBody"] = body
    return found


# --- the document -------------------------------------------------------------------------------


def table(routes: Iterable[BaseRoute]) -> list[tuple[str, str, Op]]:
    """(method, path as routed, Op) for every method of every ApiRoute, in the table's order."""
    return [
        (method, route.path, op)
        for route in routes
        if isinstance(route, ApiRoute)
        for method, op in route.ops.items()
    ]


def openapi_path(path: str) -> str:
    """`/contacts/{id:handle}` -> `/contacts/{id}`."""
    return _PATH_PARAM.sub(r"{\1}", path)


def operation_ids(rows: list[tuple[str, str, Op]]) -> dict[tuple[str, str], str]:
    """The handler's name, plus the path's words where one handler serves several routes
    (list_records -> list_records_contacts), plus the method where one serves several methods."""
    names = [op.handler.__name__ for _, _, op in rows]
    ids: dict[tuple[str, str], str] = {}
    for (method, path, _), name in zip(rows, names, strict=True):
        if names.count(name) > 1:
            words = re.sub(r"[^a-z0-9]+", "_", _PATH_PARAM.sub("", path).lower()).strip("_")
            name = f"{name}_{words}"
        if name in ids.values():
            name = f"{name}_{method.lower()}"
        ids[(method, path)] = name
    return ids


def build(routes: Iterable[BaseRoute], settings: Settings) -> Schema:
    rows = table(routes)
    bodies, defs = body_schemas(op.body for _, _, op in rows if op.body is not None)
    ctx = Context(bodies, operation_ids(rows), error_responses())
    paths: dict[str, Schema] = {}
    for method, path, op in rows:
        paths.setdefault(openapi_path(path), {})[method.lower()] = operation(method, path, op, ctx)
    if ctx.raw_missing:
        # A handler that returns a Response of its own needs its entry in RAW.
        raise RuntimeError("no reply described for " + "; ".join(ctx.raw_missing))
    schemas = common_schemas()
    for rs in S.SPECS.values():
        schemas |= record_schemas(rs)
    base = settings.base_url.rstrip("/")  # absolute URLs only when the public one is known
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "crmkit",
            "version": __version__,
            "description": DESCRIPTION,
        },
        "servers": [{"url": base or "/"}],
        "tags": [
            {"name": t}
            for t in dict.fromkeys(o["tags"][0] for p in paths.values() for o in p.values())
        ],
        "paths": paths,
        "components": {
            "schemas": {**schemas, **defs},
            "responses": ctx.error_responses,
            "headers": HEADERS,
            "securitySchemes": {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "bearerFormat": "ck_...",
                    "description": "An API token (POST /auth/verify, or `crmkit token`); its "
                    "scopes are " + ", ".join(SCOPES),
                },
                "oauth2": {
                    "type": "oauth2",
                    "description": "OAuth 2.1 with PKCE (S256); clients register at "
                    "/oauth/register (RFC 7591)",
                    "flows": {
                        "authorizationCode": {
                            "authorizationUrl": base + "/oauth/authorize",
                            "tokenUrl": base + "/oauth/token",
                            "refreshUrl": base + "/oauth/token",
                            "scopes": SCOPES,
                        }
                    },
                },
            },
        },
    }


DESCRIPTION = """A headless CRM for AI agents.

Replies are plain text by default (one line per record, meta lines start `# `); JSON with
`Accept: application/json` or `?format=json`: `{"data": ...}`, lists add `total` and
`next_cursor`. Every error is `{"error": {"code", "message", "hint", ...}}` (text:
`error: <code>: <message>` then `hint: ...`). Writes take `?dry_run=true` and an
`Idempotency-Key` header. The manual is GET /help."""


def catalog(settings: Settings) -> Schema:
    """RFC 9727's API catalog: a linkset (RFC 9264) whose one API points to its description
    (RFC 8631 service-desc), its manuals (service-doc) and its status."""
    base = settings.base_url.rstrip("/")
    return {
        "linkset": [
            {
                "anchor": base + "/",
                "service-desc": [{"href": base + "/openapi.json", "type": JSON}],
                "service-doc": [
                    {"href": base + "/help", "type": TEXT, "title": "The manual"},
                    {"href": base + "/llms.txt", "type": TEXT, "title": "llms.txt"},
                ],
                "status": [{"href": base + "/healthz", "type": TEXT}],
            }
        ]
    }


@dataclass(frozen=True)
class Documents:
    """Both documents as served: built once when the app is made, then only sent."""

    openapi: bytes
    catalog: bytes


def documents(routes: Iterable[BaseRoute], settings: Settings) -> Documents:
    return Documents(
        openapi=orjson.dumps(build(routes, settings)),
        catalog=orjson.dumps(catalog(settings)),
    )
