"""/openapi.json and /.well-known/api-catalog: generated from the route table, valid OpenAPI 3.1,
complete, and true of the live server (schemathesis fuzzes every operation over a socket)."""

from __future__ import annotations

import asyncio
import os
import time
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import requests
import schemathesis
from conftest import Api
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator
from openapi_spec_validator import OpenAPIV31SpecValidator
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
)
from starlette.responses import Response

from crmkit import spec as S
from crmkit.config import Settings
from crmkit.web.endpoint import Call, Op
from crmkit.web.openapi import build, openapi_path, table
from crmkit.web.openapi_replies import RAW
from crmkit.web.routing import route

METHODS = ("get", "post", "put", "patch", "delete")


async def document(api: Api) -> dict[str, Any]:
    r = await api.get("/openapi.json")
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/json"
    doc: dict[str, Any] = r.json()
    return doc


def operations(doc: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {
        (method.upper(), path): op
        for path, item in doc["paths"].items()
        for method, op in item.items()
        if method in METHODS
    }


async def test_the_document_is_valid_openapi_3_1(api) -> None:
    doc = await document(api)
    assert doc["openapi"].startswith("3.1.")
    errors = [e.message for e in OpenAPIV31SpecValidator(doc).iter_errors()]
    assert errors == []


async def test_every_route_and_method_is_in_the_document(api) -> None:
    """The set of (method, path) pairs equals the route table's: a route missing from the
    document, or a document path no route serves, fails here."""
    doc = await document(api)
    rows = table(api.app.starlette.router.routes)
    assert len(rows) > 50
    assert set(operations(doc)) == {(m, openapi_path(p)) for m, p, _ in rows}
    ids = [op["operationId"] for op in operations(doc).values()]
    assert len(ids) == len(set(ids))
    # RAW describes only handlers the table still routes to.
    assert set(RAW) <= {op.handler.__name__ for _, _, op in rows}


async def test_each_operation_says_what_its_op_declares(api) -> None:
    doc = await document(api)
    found = operations(doc)
    for method, path, op in table(api.app.starlette.router.routes):
        described = found[(method, openapi_path(path))]
        where = f"{method} {path}"
        query = {p["name"] for p in described["parameters"] if p["in"] == "query"}
        headers = {p["name"] for p in described["parameters"] if p["in"] == "header"}
        assert {*op.params, "format"} <= query, where
        assert described["summary"] == op.summary
        assert "429" in described["responses"], where
        if op.scope is None:
            assert described["security"] == [], where
        else:
            assert described["security"] == [{"bearer": [op.scope]}, {"oauth2": [op.scope]}]
            assert {"401", "403"} <= set(described["responses"]), where
        # The write conventions come from the scope alone, whatever the route lists.
        assert ("dry_run" in query) is op.writes, where
        assert ("Idempotency-Key" in headers) is op.writes, where
        if op.body is not None:
            schema = described["requestBody"]["content"]["application/json"]["schema"]
            assert schema == {"$ref": "#/components/schemas/" + op.body.__name__}, where
        for status, reply in described["responses"].items():
            if "$ref" not in reply and status != "default":
                assert "X-Request-Id" in reply["headers"], where


async def test_record_lists_document_the_query_language(api) -> None:
    doc = await document(api)
    for rs in S.SPECS.values():
        listing = doc["paths"]["/" + rs.plural]["get"]
        params = {p["name"]: p for p in listing["parameters"]}
        for f in rs.filterable:
            assert params[f.name]["explode"] is True  # repeat a filter to AND it
            assert all(op in params[f.name]["description"] for op in S.OPS_BY_TYPE[f.type])
        assert {"search", "sort", "limit", "cursor", "format"} <= set(params)
        assert "custom.<key>=[op:]value" in listing["description"]
        assert params["limit"]["schema"] == {"type": "integer", "minimum": 1, "maximum": 200}
        assert "-created_at" in params["sort"]["schema"]["enum"]
        reply = listing["responses"]["200"]["content"]["application/json"]["schema"]
        assert reply == {"$ref": f"#/components/schemas/{rs.kind.title()}List"}
        record = doc["components"]["schemas"][rs.kind.title()]["properties"]
        assert set(record) == {"handle", *(f.key for f in rs.fields)}
        body = doc["paths"]["/" + rs.plural]["post"]["requestBody"]["content"]
        body_schema = doc["components"]["schemas"][rs.kind.title() + "Body"]
        assert body["application/json"]["schema"]["$ref"].endswith(rs.kind.title() + "Body")
        assert {f.name for f in rs.writable} <= set(body_schema["properties"])
        assert body_schema["additionalProperties"] is False


async def test_security_schemes_point_at_the_public_url(api) -> None:
    doc = await document(api)
    schemes = doc["components"]["securitySchemes"]
    assert schemes["bearer"] == schemes["bearer"] | {"type": "http", "scheme": "bearer"}
    flow = schemes["oauth2"]["flows"]["authorizationCode"]
    assert flow["authorizationUrl"] == "http://testserver/oauth/authorize"
    assert flow["tokenUrl"] == "http://testserver/oauth/token"
    assert set(flow["scopes"]) == {"read", "write", "admin"}
    assert doc["servers"] == [{"url": "http://testserver"}]


def test_without_a_base_url_the_urls_are_relative(api) -> None:
    doc = build(api.app.starlette.router.routes, Settings())
    flow = doc["components"]["securitySchemes"]["oauth2"]["flows"]["authorizationCode"]
    assert flow["authorizationUrl"] == "/oauth/authorize"
    assert doc["servers"] == [{"url": "/"}]
    assert list(OpenAPIV31SpecValidator(doc).iter_errors()) == []


async def test_the_document_is_built_once(api) -> None:
    first = await api.get("/openapi.json")
    second = await api.get("/openapi.json?format=json")
    assert first.content == second.content
    assert first.content is not None and len(first.content) > 10_000
    assert first.headers["cache-control"].startswith("public")


def test_a_handler_that_answers_in_its_own_way_must_be_described() -> None:
    """A handler returning a Response has no Result type to read its reply from: it needs an
    entry in RAW, or the app does not start."""

    async def undescribed(call: Call) -> Response:
        return Response("?")

    assert "undescribed" not in RAW
    routes = [route("/odd", {"GET": Op(undescribed, None, "An odd one")})]
    with pytest.raises(RuntimeError, match=r"GET /odd \(undescribed\)"):
        build(routes, Settings())


async def test_the_api_catalog(api) -> None:
    r = await api.get("/.well-known/api-catalog")
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == (
        'application/linkset+json; profile="https://www.rfc-editor.org/info/rfc9727"'
    )
    assert r.headers["link"] == '</.well-known/api-catalog>; rel="api-catalog"'
    [api_links] = r.json()["linkset"]
    assert api_links["anchor"] == "http://testserver/"
    assert api_links["service-desc"] == [
        {"href": "http://testserver/openapi.json", "type": "application/json"}
    ]
    docs = {link["href"] for link in api_links["service-doc"]}
    assert docs == {"http://testserver/help", "http://testserver/llms.txt"}
    for links in (api_links["service-desc"], api_links["service-doc"], api_links["status"]):
        for link in links:
            followed = await api.get(link["href"].removeprefix("http://testserver"))
            assert followed.status_code == 200, link
            assert followed.headers["content-type"].startswith(link["type"]), link
    # RFC 9727 2: HEAD answers with the Link too.
    head = await api.request("HEAD", "/.well-known/api-catalog")
    assert head.status_code == 200 and "api-catalog" in head.headers["link"]
    # The catalog validates against the document's own description of it.
    doc = await document(api)
    reply = doc["paths"]["/.well-known/api-catalog"]["get"]["responses"]["200"]
    assert reply["content"] == {
        "application/linkset+json": {"schema": {"$ref": "#/components/schemas/Linkset"}}
    }


# --- real replies against the document ----------------------------------------------------------


def check_reply(doc: dict[str, Any], method: str, path: str, r: httpx.Response) -> None:
    """The reply's status is listed for the operation, its media type is one the document
    gives, its headers are there, and a JSON body validates against the documented schema."""
    where = f"{method} {path} -> {r.status_code}: {r.text[:200]}"
    replies = doc["paths"][path][method.lower()]["responses"]
    described = replies.get(str(r.status_code))
    assert described is not None, where
    if "$ref" in described:
        described = doc["components"]["responses"][described["$ref"].rpartition("/")[2]]
    media = r.headers["content-type"].partition(";")[0]
    assert media in described["content"], where
    for name in ("X-Request-Id", "X-RateLimit-Limit", "X-RateLimit-Remaining"):
        assert name in described["headers"] and name.lower() in r.headers, (name, where)
    if media == "application/json":
        schema = {**described["content"][media]["schema"], "components": doc["components"]}
        errors = [e.message for e in Draft202012Validator(schema).iter_errors(r.json())]
        assert errors == [], where


async def test_real_replies_match_the_document(api) -> None:
    """The happy paths schemathesis rarely reaches with random input: creates, upserts, a
    two-step delete, activities, the account routes; in JSON and text."""
    doc = await document(api)
    token = await api.sign_in("walk@acme.com")
    seen: set[tuple[str, str]] = set()

    async def call(method: str, path: str, concrete: str, **kw: Any) -> httpx.Response:
        r = await api.json(method, concrete, token, **kw)
        check_reply(doc, method, path, r)
        text = await api.request(method, concrete, token, **kw)
        check_reply(doc, method, path, text)
        seen.add((method, path))
        return r

    bodies = {
        "contacts": {"name": "Ada", "email": "ada@acme.com", "tags": ["vip"], "custom": {"x": 1}},
        "companies": {"name": "Acme", "domain": "acme.com"},
        "deals": {"title": "Big", "amount_cents": 500000, "close_date": "2026-12-01"},
    }
    for plural, body in bodies.items():
        one = f"/{plural}/{{id}}"
        r = await call("POST", f"/{plural}", f"/{plural}", json=body)
        handle = r.json()["data"]["handle"]
        item = f"/{plural}/{handle.partition('/')[2]}"
        await call("GET", one, item)
        await call("PATCH", one, item, json={"follow_up_at": "2026-10-01T09:00:00Z"})
        await call(
            "POST", f"{one}/activities", item + "/activities", json={"kind": "note", "body": "hi"}
        )
        await call("GET", f"{one}/activities", item + "/activities")
        await call("GET", f"/{plural}", f"/{plural}?sort=-created_at&limit=2")
        await call("POST", f"/{plural}", f"/{plural}?dry_run=true", json=body)
        confirm = (await api.json("DELETE", item, token)).json()["error"]["confirm"]
        await call("DELETE", one, f"{item}?confirm={confirm}")
    whoami = (await api.json("GET", "/whoami", token)).json()["data"]
    workspace = whoami["workspace"]["handle"].partition("/")[2]
    for path in ("/whoami", "/tokens", "/workspaces", "/activities", "/reminders", "/audit"):
        await call("GET", path, path)
    await call("GET", "/workspaces/{workspace_id}/members", f"/workspaces/{workspace}/members")
    await call(
        "PATCH", "/workspaces/{workspace_id}", f"/workspaces/{workspace}", json={"name": "W"}
    )
    await call(
        "POST",
        "/workspaces/{workspace_id}/invites",
        f"/workspaces/{workspace}/invites",
        json={"email": "bob@acme.com"},
    )
    await call(
        "POST",
        "/workspaces/{workspace_id}/tokens",
        f"/workspaces/{workspace}/tokens",
        json={"name": "second"},
    )
    await call("POST", "/workspaces", "/workspaces", json={"name": "Second"})
    await call("POST", "/auth/verify", "/auth/verify", json={"email": "a@b.co", "code": "000000"})
    for path in (
        "/healthz",
        "/readyz",
        "/help",
        "/llms.txt",
        "/.well-known/oauth-authorization-server",
    ):
        await call("GET", path, path)
    assert len(seen) > 30


# --- schemathesis against a live server --------------------------------------------------------

# Examples per operation and generation mode (positive, negative): ~60 operations, so ~1,500
# requests, about 20 s a backend. CRMKIT_FUZZ_EXAMPLES=200 digs deeper by hand.
EXAMPLES = int(os.environ.get("CRMKIT_FUZZ_EXAMPLES", "12"))


def documented_status(ctx: Any, response: Any, case: Any) -> None:
    """Every status the server answers is listed for the operation: the document's `default`
    would let schemathesis' own status check pass anything."""
    listed = set(case.operation.definition.raw["responses"]) - {"default"}
    assert str(response.status_code) in listed, (
        f"{response.status_code} is not documented for {case.operation.label} ({sorted(listed)})"
    )


def refused_by_uvicorn(response: Any) -> bool:
    """uvicorn's own 400 for a request line past its 64 KiB, before crmkit sees the request
    (no X-Request-Id): the transport's limit, not a reply of the app the document describes."""
    return (
        response.status_code == 400
        and "x-request-id" not in response.headers
        and response.text == "Invalid HTTP request received."
    )


@dataclass
class Fuzz:
    """What every operation's run shares: where, as whom, the seeded ids, what went wrong."""

    url: str
    token: str
    seeds: dict[str, str]  # "contacts" -> a contact's id, ..., "workspace_id" -> the caller's
    session: requests.Session = field(default_factory=requests.Session)
    failures: dict[str, str] = field(default_factory=dict)  # one per operation and failure kind

    def run(self, operation: Any, mode: Any) -> None:
        checks = [
            not_a_server_error,
            response_schema_conformance,
            content_type_conformance,
            response_headers_conformance,
            documented_status,
        ]

        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            database=None,
            derandomize=True,  # the same requests every run: CI must not flake
            phases=[Phase.generate],  # no shrinking: a failure is reported as found
            suppress_health_check=list(HealthCheck),
        )
        @given(
            case=operation.as_strategy(generation_mode=mode),
            real=st.booleans(),
            as_json=st.booleans(),
        )
        def one(case: Any, real: bool, as_json: bool) -> None:
            if real:  # half the time a record, or the caller's workspace, that exists
                plural = case.path.split("/")[1]
                for name in case.path_parameters or {}:
                    seed = self.seeds.get(plural if name == "id" else name)
                    if seed is not None:
                        case.path_parameters[name] = seed
            headers = {"Authorization": f"Bearer {self.token}"}
            if as_json:  # else the default, text: its schema is a string, JSON's says more
                headers["Accept"] = "application/json"
            response = case.call(base_url=self.url, session=self.session, headers=headers)
            if refused_by_uvicorn(response):
                return
            try:
                case.validate_response(response, checks=checks, headers=headers)
            except FailureGroup as group:
                for failure in group.exceptions:
                    key = f"{operation.label}: {failure.title}"
                    self.failures.setdefault(key, f"{key}\n{group.message}")

        one()

    def all(self, doc: dict[str, Any]) -> list[str]:
        schema = schemathesis.openapi.from_dict(doc)
        for result in schema.get_all_operations():
            for mode in schemathesis.GenerationMode:
                self.run(result.ok(), mode)
        return list(self.failures.values())


async def test_schemathesis_finds_no_server_error_and_no_reply_off_the_document(live) -> None:
    """Every operation, valid and invalid input, signed in: no 5xx, and every reply's status,
    media type, headers and JSON body as the document says. Nothing is left out: the ops
    that could cut off the run's own access (DELETE /tokens/{id}, DELETE /workspaces/{id},
    DELETE .../members/{id}) only ever meet a random token or member id, and a workspace
    delete needs an emailed step-up code the run cannot read."""
    api, server = live
    token = await api.sign_in("fuzz@acme.com")
    seeds: dict[str, str] = {}
    for rs in S.SPECS.values():
        r = await api.json("POST", "/" + rs.plural, token, json={rs.title: "Seed " + rs.kind})
        assert r.status_code == 201, r.text
        seeds[rs.plural] = r.json()["data"]["handle"].partition("/")[2]
    whoami = (await api.json("GET", "/whoami", token)).json()["data"]
    seeds["workspace_id"] = whoami["workspace"]["handle"].partition("/")[2]
    doc = await document(api)
    started = time.monotonic()
    failures = await asyncio.to_thread(Fuzz(server.url, token, seeds).all, doc)
    took = time.monotonic() - started
    if failures:
        titles = "\n".join(f.partition("\n")[0] for f in failures)
        pytest.fail(f"{len(failures)} failures:\n{titles}\n\n" + "\n".join(failures))
    assert took < 120 or EXAMPLES > 12, f"the run took {took:.0f} s"
    # The run never cut off its own access.
    assert (await api.get("/whoami", token)).status_code == 200
