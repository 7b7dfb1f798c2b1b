"""The JSON Schemas and parameters /openapi.json is made of, derived from crmkit/spec.py, the
request-body models and the reply shapes crmkit/render writes (DESIGN 4, 5, 6).
crmkit/web/openapi.py puts them together per route.

Each is a function of the specs and models: nothing is typed out per route or per field, so a
new field, filter or body model reaches the document without an edit here.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from crmkit import query
from crmkit import spec as S
from crmkit.records import activities, values
from crmkit.web.record_bodies import body_model

Schema = dict[str, Any]

SCHEMAS = "#/components/schemas/"
TEXT = "text/plain"
JSON = "application/json"


def ref(name: str) -> Schema:
    return {"$ref": SCHEMAS + name}


def or_null(schema: Schema) -> Schema:
    """OpenAPI 3.1 is JSON Schema 2020-12: null is a type of its own (no `nullable`), and an
    enum must list it too."""
    found = {**schema, "type": [schema["type"], "null"]}
    if "enum" in schema:
        found["enum"] = [*schema["enum"], None]
    return found


def obj(required: Iterable[str], properties: dict[str, Schema], **more: Any) -> Schema:
    return {"type": "object", "required": list(required), "properties": properties, **more}


# The handle every record-like object carries (DESIGN 2): `contact/c_7k2m9q4x1z`.
HANDLE: Schema = {"type": "string", "pattern": "^[a-z]+/", "examples": ["contact/c_7k2m9q4x1z"]}
NEXT_CURSOR: Schema = {"type": ["string", "null"], "description": "send as cursor= for more"}


# What a write's reply adds beside its record (DESIGN 10).
WRITE_RESULT: dict[str, Schema] = {
    "result": {"type": "string", "description": "created, updated or unchanged"},
    "dry_run": {"type": "boolean", "description": "true: nothing was written"},
    "changes": {
        "type": "array",
        "items": {"type": "string"},
        "description": "a dry run's changes: `field: old -> new`",
    },
}


def list_reply(item: Schema) -> Schema:
    """A page (render.Listing): `total` counts exactly up to 1,000 and is then a lower bound."""
    return obj(
        ["data", "next_cursor"],
        {
            "data": {"type": "array", "items": item},
            "total": {"type": ["integer", "null"], "minimum": 0},
            "total_is_lower_bound": {"type": "boolean"},
            "next_cursor": NEXT_CURSOR,
        },
    )


def common_schemas() -> dict[str, Schema]:
    return {
        "Error": obj(
            ["code", "message", "hint"],
            {
                "code": {"type": "string", "pattern": "^[a-z0-9_]+$", "examples": ["not_found"]},
                "message": {"type": "string", "description": "what went wrong, naming the thing"},
                "hint": {"type": "string", "description": "what to do next"},
                "allowed": {"type": "string", "description": "the allowed values, comma-joined"},
                "confirm": {"type": "string", "description": "428: the delete's confirm token"},
                "retry_after": {"type": "string", "description": "429: seconds to wait"},
            },
            description="crmkit's one error shape (DESIGN 5); more string details may follow "
            "(did_you_mean, needed_scope, token_scopes, ...).",
        ),
        "ErrorReply": obj(["error"], {"error": ref("Error")}),
        # RFC 6749 5.2 / RFC 7591 3.2.2: what the OAuth endpoints answer with.
        "OAuthErrorReply": obj(
            ["error"], {"error": {"type": "string"}, "error_description": {"type": "string"}}
        ),
        "Item": obj(
            ["handle"],
            {"handle": HANDLE},
            description="A record-like object: its handle, then its fields (the same data as "
            "the text line; a field without a value is null or left out).",
        ),
        "ItemReply": obj(["data"], {"data": ref("Item"), **WRITE_RESULT}),
        "ItemList": list_reply(ref("Item")),
        "MessageReply": obj(
            ["data"],
            {"data": {"type": "object"}},
            description="A reply with no record; a dry run's data adds dry_run and changes.",
        ),
        "DocumentReply": obj(
            ["data"],
            {
                "data": {
                    "type": "object",
                    "additionalProperties": {
                        "anyOf": [ref("Item"), {"type": "array", "items": ref("Item")}]
                    },
                }
            },
            description="Several named records in one reply: each section one or a list.",
        ),
        # RFC 9264 4.2: a linkset; RFC 9727 makes one the API catalog.
        "Linkset": obj(
            ["linkset"],
            {
                "linkset": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {"anchor": {"type": "string"}},
                        "additionalProperties": {
                            "type": "array",
                            "items": obj(["href"], {"href": {"type": "string"}}),
                        },
                    },
                }
            },
        ),
    }


# --- records (crmkit/spec.py) -------------------------------------------------------------------


def record_route(path: str) -> tuple[S.RecordSpec | None, bool]:
    """(the record type, is it one record) for /<type>s and /<type>s/{id}, else (None, _)."""
    parts = path.strip("/").split("/")
    rs = S.BY_PLURAL.get(parts[0])
    if rs is None or len(parts) > 2:
        return None, False
    return rs, len(parts) == 2


_STRING_FORMATS = {S.DATE: "date", S.DATETIME: "date-time", S.EMAIL: "email"}
# What each field type is, in the words of crmkit/spec.py's table.
_MEANING = {
    S.TEXT: "free text",
    S.INT: "an integer",
    S.MONEY: "integer cents >= 0",
    S.ENUM: "one of the listed values",
    S.DATE: "a date, YYYY-MM-DD",
    S.DATETIME: "a time, RFC 3339 in UTC",
    S.TAGS: "a list of short labels",
    S.REF: "another record's handle or bare id",
    S.EMAIL: "an email address",
    S.DOMAIN: "a host name (acme.com); a URL is reduced to one",
    S.CURRENCY: "an ISO 4217 code (USD)",
    S.MEMBER: "a workspace member's email",
    S.JSON: "an object of custom fields",
}


def _value_schema(f: S.Field) -> Schema:
    """A field's value as a reply shows it (crmkit/records/views.py)."""
    if f.type in (S.INT, S.MONEY):
        return {"type": "integer"}
    if f.type == S.TAGS:
        return {"type": "array", "items": {"type": "string"}}
    if f.type == S.JSON:
        return {"type": "object"}
    schema: Schema = {"type": "string"}
    if f.type == S.ENUM:
        schema["enum"] = list(f.choices)
    elif f.type == S.REF:
        schema["pattern"] = f"^{f.ref}/"
    # Only the formats the server writes itself: an email is stored as sent (a format check
    # would judge it by another grammar than crmkit's).
    elif f.type in (S.DATE, S.DATETIME):
        schema["format"] = _STRING_FORMATS[f.type]
    return schema


def record_schema(rs: S.RecordSpec) -> Schema:
    """One record as JSON: a list page carries the listed fields, a single GET every one."""
    properties: dict[str, Schema] = {"handle": {"type": "string", "pattern": f"^{rs.kind}/"}}
    for f in rs.fields:
        prop = or_null(_value_schema(f))
        prop["description"] = _MEANING[f.type] + ("" if f.writable else "; set by crmkit")
        properties[f.key] = prop
    return obj(["handle"], properties, additionalProperties=False)


def record_schemas(rs: S.RecordSpec) -> dict[str, Schema]:
    name = rs.kind.title()
    return {
        name: record_schema(rs),
        name + "Reply": obj(["data"], {"data": ref(name), **WRITE_RESULT}),
        name + "List": list_reply(ref(name)),
    }


# What crmkit/records/values.py accepts beyond a JSON type, as JSON Schema (ECMA 262) patterns.
PRINTABLE = "^[^\\x00-\\x08\\x0b\\x0c\\x0e-\\x1f\\x7f]*$"  # values._CONTROL refused
_BODY_PATTERNS = {
    S.TEXT: PRINTABLE,
    S.EMAIL: "^[^@\\s]+@[^@\\s]+\\.[^@\\s]+$",
    S.MEMBER: "^[^@\\s]+@[^@\\s]+\\.[^@\\s]+$",
    S.CURRENCY: "^[A-Za-z]{3}$",
    S.DATE: "^[0-9]{4}-[0-9]{2}-[0-9]{2}$",
}


def _enrich_record_body(rs: S.RecordSpec, schema: Schema) -> None:
    """body_model's schema says only JSON types: add what the spec and the value checks know
    (lengths, patterns, choices, meaning), so that a client can tell a good body up front."""
    schema["description"] = (
        f"A {rs.kind}'s writable fields; null clears one. A create needs one of: "
        + ", ".join(rs.required_any)
        + (
            f"; POST merges into the {rs.kind} with the same {rs.upsert_key}"
            if rs.upsert_key
            else ""
        )
        + ". `version`: the version you read, as If-Match takes it."
    )
    for name, prop in schema["properties"].items():
        f = rs.field(name)
        if f is None:
            continue
        prop["description"] = _MEANING[f.type]
        for branch in prop.get("anyOf", []):
            kind = branch.get("type")
            if kind == "string":
                branch["maxLength"] = f.max_len
                if f.choices:
                    branch["enum"] = list(f.choices)
                elif f.type in _BODY_PATTERNS:
                    branch["pattern"] = _BODY_PATTERNS[f.type]
            elif kind == "integer" and f.type == S.MONEY:
                branch["minimum"] = 0
            elif kind == "array":
                tag = {"type": "string", "minLength": 1, "maxLength": f.max_len}
                branch |= {"items": tag | {"pattern": PRINTABLE}, "maxItems": values.MAX_TAGS}


def body_schemas(
    models: Iterable[type[BaseModel]],
) -> tuple[dict[type[BaseModel], Schema], dict[str, Schema]]:
    """(model -> its $ref, component schemas) for the request bodies: pydantic's own schemas
    (strict, extra="forbid": additionalProperties false), the record bodies enriched."""
    record_models = {body_model(rs): rs for rs in S.SPECS.values()}
    unique = list(dict.fromkeys([*models, *record_models]))
    refs, top = models_json_schema(
        [(m, "validation") for m in unique], ref_template=SCHEMAS + "{model}"
    )
    defs: dict[str, Schema] = top.get("$defs", {})
    for model, rs in record_models.items():
        _enrich_record_body(rs, defs[model.__name__])
    return {m: refs[(m, "validation")] for m in unique}, defs


# --- query parameters ---------------------------------------------------------------------------

LIMIT: Schema = {"type": "integer", "minimum": 1, "maximum": query.MAX_LIMIT}
# The schemas of the query parameters routes declare by name (Op.params); any other is a string.
_PARAMS: dict[str, tuple[Schema, str]] = {
    "format": ({"type": "string", "enum": ["text", "json"]}, "text (the default) or json"),
    "dry_run": (
        {"type": "boolean"},
        "true: check and show what the write would do (`# dry run: would ...`), change nothing",
    ),
    "limit": (LIMIT, f"rows per page, 1-{query.MAX_LIMIT} (default {query.DEFAULT_LIMIT})"),
    "cursor": ({"type": "string"}, "the `# next:` cursor (JSON next_cursor) of the last page"),
    "days": ({"type": "integer", "minimum": 0, "maximum": 3650}, "look this many days ahead"),
    "kind": ({"type": "string", "enum": list(activities.KINDS)}, "the kind of activity"),
    "confirm": ({"type": "string"}, "the confirm token the first DELETE answered (428)"),
    "code": (
        {"type": "string", "pattern": "^[0-9]{6}$"},
        "the 6-digit step-up code the first request emailed (or X-Escalation-Code)",
    ),
}


def query_param(name: str, description: str = "") -> Schema:
    schema, known = _PARAMS.get(name, ({"type": "string"}, ""))
    param: Schema = {"name": name, "in": "query", "required": False, "schema": schema}
    if description or known:
        param["description"] = description or known
    return param


def record_list_params(rs: S.RecordSpec) -> list[Schema]:
    """The query language of GET /<type>s (crmkit/query.py): one filter per filterable field,
    repeatable (repeats are AND-ed), then search, sort, limit and cursor."""
    params = []
    for f in rs.filterable:
        alias = f" (or `{f.out}=`)" if f.out else ""
        params.append(
            {
                "name": f.name,
                "in": "query",
                "required": False,
                "style": "form",
                "explode": True,
                "schema": {
                    "type": "array",
                    "items": {"type": "string", "maxLength": query.MAX_VALUE_LEN},
                    "maxItems": query.MAX_FILTERS,  # all filters together, in fact
                },
                "description": f"{_MEANING[f.type]}{alias}: `{f.name}=[op:]value`, operators "
                + ", ".join(S.OPS_BY_TYPE[f.type])
                + "; repeat to AND (a range: gte: and lt:)",
            }
        )
    sorts = [p + f.name for f in rs.sortable for p in ("", "-")]
    return [
        *params,
        query_param(
            "search",
            "fuzzy match across " + ", ".join(f.name for f in rs.searchable) + ", best first",
        )
        | {"schema": {"type": "string", "maxLength": query.MAX_SEARCH_LEN}},
        query_param("sort", "sort=field ascending, sort=-field descending; ties go by id")
        | {"schema": {"type": "string", "enum": sorts}},
        query_param("limit"),
        query_param("cursor"),
    ]


def record_list_description(rs: S.RecordSpec) -> str:
    """What the parameters alone cannot say about the query language (DESIGN 6)."""
    return (
        "Filters are `field=[op:]value`, AND-ed, repeatable. `custom.<key>=[op:]value` filters"
        " a custom field (any operator). `like:` matches a part, `*` is a wildcard; `*_at`"
        " fields take RFC 3339, a date, `now`, `now-7d`, `now+2h`; `in:a,b` is any of them,"
        " `is:null` / `not:null` test for a value. `total` is exact up to 1,000, then a lower"
        f" bound; follow `next_cursor` (text: `# next:`) for more {rs.plural}."
    )
