"""The MCP tool `request`: what tools/list shows (per token: a read-only token sees a
read-only tool), the server's instructions, and the check of a call's arguments before it
runs through the HTTP API in-process (crmkit/mcp.py)."""

from __future__ import annotations

import math
import re
from typing import Any
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit

import mcp_types as types

from crmkit.errors import CrmError, InvalidField
from crmkit.manual import topics
from crmkit.render import error_body
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
confirmation_required, saying what goes with the record, and a confirm token: show the user \
what would be removed and ask; only then repeat with ?confirm=<token>. \
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


# What a token without write or admin scope sees (issue 21, point 11): one tool that can only
# read, annotated so, so a chat app needs not ask the user before each call as it must for a
# tool that can delete.
READ_MANUAL = """\
Read the crmkit HTTP API as the signed-in user (their workspace). This token may only read: \
GET requests. GET /help is the overview; GET /help/<topic> has one topic in detail (e.g. \
/help/queries, /help/records). Returns the reply's plain text; status >= 400 is an error \
with `error:`, `hint:` lines.

Records are one line: `contact/c_x name=... stage=...`; lines starting `# ` are meta \
(`# total: 12`, `# next: <cursor>`). Use a handle (contact/c_x) or bare id (c_x) in paths.

Endpoints: GET /whoami | GET /contacts?<filters>, /companies, /deals | GET /<type>s/{id} | \
GET /<type>s/{id}/activities | GET /activities | GET /reminders?days= | GET /audit | \
GET /workspaces | GET /workspaces/{id}/members | GET /tokens

Query: field=[op:]value (eq ne gt gte lt lte like in is not), e.g. stage=lead, \
amount_cents=gte:100000, created_at=gte:now-7d, tags=vip; search=<text>; sort=-field; \
limit=1..200; cursor=<from # next:>. To change data the user needs a token with the write \
scope (insufficient_scope otherwise)."""

READ_SCHEMA: dict[str, Any] = {
    **INPUT_SCHEMA,
    "properties": {
        "method": {"type": "string", "enum": ["GET"], "description": "HTTP method: GET"},
        "path": INPUT_SCHEMA["properties"]["path"],
    },
}

READ_TOOL = types.Tool(
    name="request",
    title="crmkit API request (read-only)",
    description=READ_MANUAL,
    input_schema=READ_SCHEMA,
    annotations=types.ToolAnnotations(
        title="crmkit API request (read-only)",
        read_only_hint=True,
        destructive_hint=False,
        idempotent_hint=True,
        open_world_hint=False,
    ),
)


def tool_for(scopes: frozenset[str]) -> types.Tool:
    """The tool a token sees: read-only unless it may write or administer."""
    return TOOL if scopes & {"write", "admin"} else READ_TOOL


class ToolInputError(Exception):
    """The model's arguments were not a request we run: an error in the HTTP API's own shape
    (`error: <code>: <message>`, `hint:`), so the model reads one kind of error either way."""

    def __init__(self, message: str, hint: str, code: str = "invalid_field") -> None:
        super().__init__(message)
        self.error = InvalidField(message, hint, code=code)


def tool_error(err: CrmError) -> types.CallToolResult:
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
