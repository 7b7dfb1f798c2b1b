"""The wire contract: text vs JSON, request ids, routing errors, body parsing and limits."""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from foundation_util import JSON, as_text, assert_error, assert_same_record, counts, records
from starlette.requests import Request
from starlette.routing import Route

from crmkit.app import App

MIB = 1024 * 1024


def assert_message_same(text: str, data: dict[str, Any]) -> None:
    """A reply without records: every JSON value is in the text (booleans by their key)."""
    lines = text.splitlines()
    assert lines and all(line.startswith("# ") for line in lines), text
    for key, value in data.items():
        needle = key if isinstance(value, bool) else as_text(value)
        assert needle in text, (key, value, text)


async def both(api: Any, method: str, path: str, token: str | None = None, **kw: Any) -> Any:
    """The same request as text and as JSON (by Accept and by ?format=json)."""
    text = await api.request(method, path, token, **kw)
    by_accept = await api.json(method, path, token, **kw)
    sep = "&" if "?" in path else "?"
    by_query = await api.request(method, f"{path}{sep}format=json", token, **kw)
    assert text.headers["content-type"] == "text/plain; charset=utf-8"
    for r in (by_accept, by_query):
        assert r.headers["content-type"] == "application/json"
        assert r.status_code == text.status_code
    return text, by_accept, by_query


async def test_text_and_json_carry_the_same_data(api: Any) -> None:
    for path in ("/healthz", "/readyz"):
        text, a, b = await both(api, "GET", path)
        assert text.status_code == 200
        assert a.json() == b.json()
        assert_message_same(text.text, a.json()["data"])

    # /auth/request: three requests for the same email (limit is five).
    text, a, b = await both(api, "POST", "/auth/request", json={"email": "jane@acme.com"})
    assert a.json() == b.json()
    assert a.json()["data"]["expires_in_seconds"] == 600
    assert_message_same(text.text, a.json()["data"])

    # /auth/verify: each format mints its own token, so compare the shape and the fixed fields.
    tokens = []
    for headers in ({}, JSON):
        await api.post("/auth/request", json={"email": "bob@acme.com"})
        code = api.inbox.code_for("bob@acme.com")
        body = {"email": "bob@acme.com", "code": code, "token_name": "two words"}
        r = await api.post("/auth/verify", json=body, headers=headers)
        assert r.status_code == 201, r.text
        tokens.append(r)
    (text_rec,) = records(tokens[0].text)
    json_rec = tokens[1].json()["data"]
    assert set(text_rec) == set(json_rec)
    for key in ("name", "workspace", "workspace_name", "user", "email"):
        assert text_rec[key] == json_rec[key], key
    assert text_rec["name"] == "two words"
    token = json_rec["token"]

    text, a, b = await both(api, "GET", "/whoami", token)
    assert a.json() == b.json()
    sections = a.json()["data"]
    assert set(sections) == {"user", "workspace", "token", "usage"}
    text_recs = records(text.text)
    json_recs = [sections["user"], sections["workspace"], sections["token"], *sections["usage"]]
    assert len(text_recs) == len(json_recs) == 3 + 5  # one usage line per plan cap
    for text_rec, json_sec in zip(text_recs, json_recs, strict=True):
        assert_same_record(text_rec, json_sec)

    text, a, b = await both(api, "GET", "/tokens", token)
    body = a.json()
    assert body == b.json()
    assert body["total"] == 2 and body["next_cursor"] is None
    assert text.text.splitlines()[0] == "# total: 2"
    for text_rec, json_rec in zip(records(text.text), body["data"], strict=True):
        assert_same_record(text_rec, json_rec)

    (other,) = [t["handle"] for t in body["data"] if not t["current"]]
    (mine,) = [t["handle"] for t in body["data"] if t["current"]]
    r = await api.delete(f"/tokens/{other}", token)
    assert r.status_code == 200
    j = await api.json("DELETE", f"/tokens/{mine}", token)
    assert j.status_code == 200
    assert_message_same(r.text, {"revoked": other})
    assert j.json()["data"] == {"revoked": mine}


async def test_format_text_overrides_accept_and_unknown_format_is_400(api: Any) -> None:
    r = await api.get("/healthz?format=text", headers=JSON)
    assert r.headers["content-type"] == "text/plain; charset=utf-8"
    assert r.text.startswith("# ok")
    r = await api.get("/healthz", headers={"Accept": "application/json, text/plain;q=0.5"})
    assert r.json()["data"]["status"] == "ok"
    for fmt in ("xml", "", "JSON"):
        r = await api.get(f"/healthz?format={fmt}")
        err = assert_error(r, 400, "invalid_format")
        assert err["allowed"] == "json, text"
    r = await api.get("/healthz?format=xml", headers=JSON)
    assert r.json()["error"]["code"] == "invalid_format"
    # The format check comes before auth; either way the caller learns what to fix.
    assert_error(await api.get("/whoami?format=xml"), 400, "invalid_format")
    r = await api.post("/auth/request?format=xml", json={"email": "jane@acme.com"})
    assert_error(r, 400, "invalid_format")
    assert api.inbox.messages == []


async def test_unknown_route_and_wrong_method(api: Any) -> None:
    for headers in ({}, JSON):
        r = await api.get("/nope", headers=headers)
        err = assert_error(r, 404, "not_found")
        assert "/nope" in err["message"] and "GET /help" in err["hint"]
        r = await api.post("/whoami", headers=headers)
        err = assert_error(r, 405, "method_not_allowed")
        assert "POST" in err["message"] and "/whoami" in err["message"]
        assert "GET" in r.headers["allow"] and "GET" in err["allowed"]
    r = await api.delete("/auth/request")
    assert_error(r, 405, "method_not_allowed")
    assert r.headers["allow"] == "POST"
    r = await api.get("/tokens/t_aaaaaaaaaaaa")
    assert_error(r, 405, "method_not_allowed")


async def test_request_ids(api: Any) -> None:
    seen = set()
    for method, path in (("GET", "/healthz"), ("GET", "/nope"), ("PUT", "/healthz")):
        r = await api.request(method, path)
        rid = r.headers["x-request-id"]
        assert re.fullmatch(r"[0-9a-f]{16}", rid)
        seen.add(rid)
    assert len(seen) == 3
    sane = "req-42_abc.def:7"
    r = await api.get("/whoami", headers={"X-Request-Id": sane})
    assert r.status_code == 401 and r.headers["x-request-id"] == sane
    for insane in ("has space", "x" * 65, "<script>", "a\u00e9b", ""):
        r = await api.get("/healthz", headers={"X-Request-Id": insane.encode("utf-8")})
        assert re.fullmatch(r"[0-9a-f]{16}", r.headers["x-request-id"]), insane
    r = await api.post("/auth/request", content=b"x" * (MIB + 1))
    assert_error(r, 413, "payload_too_large")


async def test_malformed_bodies(api: Any) -> None:
    before = await counts(api.app)
    bad_json = [
        b"{",
        b"{'email': 'x'}",
        b'{"email": "jane@acme.com",}',
        b"\xff\xfe",
        b"nul",
        b"[" * 100_000 + b"]" * 100_000,
        b'{"email": "jane@acme.com"} trailing',
    ]
    for raw in bad_json:
        for headers in ({}, JSON):
            r = await api.post("/auth/request", content=raw, headers=headers)
            err = assert_error(r, 400, "invalid_json")
            assert "not valid JSON" in err["message"]
    for raw in (b"[]", b'"jane@acme.com"', b"1", b"null", b'[{"email":"jane@acme.com"}]'):
        r = await api.post("/auth/request", content=raw)
        err = assert_error(r, 400, "invalid_json")
        assert "JSON object" in err["message"] and "email" in err["hint"]
    assert api.inbox.messages == []
    assert await counts(api.app) == before


async def test_unknown_field_names_it_and_lists_the_allowed(api: Any) -> None:
    body = {"email": "jane@acme.com", "code": "123456", "role": "admin"}
    r = await api.post("/auth/verify", json=body)
    err = assert_error(r, 400, "unknown_field")
    assert "'role'" in err["message"]
    assert err["allowed"] == "code, email, expires_in_days, scopes, token_name"
    r = await api.json("POST", "/auth/request", json={"email": "jane@acme.com", "emial": "x"})
    err = r.json()["error"]
    assert err["code"] == "unknown_field" and "'emial'" in err["message"]
    assert err["allowed"] == "email" and "email" in err["hint"]
    assert api.inbox.messages == []


async def test_wrong_types_are_400(api: Any) -> None:
    for value in (5, 5.5, True, None, ["jane@acme.com"], {"a": 1}):
        r = await api.post("/auth/request", json={"email": value})
        err = assert_error(r, 400, "invalid_field")
        assert err["message"].startswith("email: ")
    r = await api.post("/auth/verify", json={"email": "j@acme.com", "code": "1", "token_name": 3})
    err = assert_error(r, 400, "invalid_field")
    assert "token_name" in err["message"]
    assert api.inbox.messages == []


async def test_nul_bytes_and_huge_integers_are_400(api: Any) -> None:
    # Each case with the code it must get and what its message must name.
    cases = [
        (b'{"email": "jane\\u0000@acme.com"}', "invalid_field", "email contains a NUL"),
        (b'{"email": "jane@acme.com", "e\\u0000": 1}', "invalid_field", "contains a NUL"),
        (b'{"email": 9223372036854775808}', "invalid_field", "email is out of range"),
        (b'{"email": -9223372036854775809}', "invalid_field", "email"),
        (b'{"email": 18446744073709551616}', "invalid_field", "email"),
        (b'{"email": 1' + b"0" * 400 + b"}", "invalid_json", "not valid JSON"),
        (
            b'{"email": "jane@acme.com", "x": [1, {"y": 9223372036854775808}]}',
            "invalid_field",
            "x[1].y is out of range",
        ),
    ]
    for raw, code, named in cases:
        r = await api.post("/auth/request", content=raw)
        assert r.status_code == 400, (raw, r.text)
        assert named in assert_error(r, 400, code)["message"], (raw, r.text)
    # Deep nesting that orjson accepts (< 1024 levels) must not reach Python's recursion limit.
    for depth in (33, 1000):
        raw = b'{"email": ' + b'{"a":' * depth + b"1" + b"}" * depth + b"}"
        err = assert_error(await api.post("/auth/request", content=raw), 400, "invalid_field")
        assert "nested" in err["message"]
        raw = b'{"email": ' + b"[" * depth + b"]" * depth + b"}"
        assert_error(await api.post("/auth/request", content=raw), 400, "invalid_field")
    r = await api.post("/auth/request", content=b'{"email": "jane\\u0000@acme.com"}')
    assert "NUL" in assert_error(r, 400, "invalid_field")["message"]
    r = await api.post("/auth/request", content=b'{"email": 9223372036854775808}')
    assert "range" in assert_error(r, 400, "invalid_field")["message"]
    r = await api.post(
        "/auth/verify", json={"email": "jane@acme.com", "code": "123456", "token_name": "a\x00b"}
    )
    assert_error(r, 400, "invalid_field")
    for name in ("", "  ", "x" * 101, "a\nb", "a\x7fb"):
        body = {"email": "jane@acme.com", "code": "123456", "token_name": name}
        assert_error(await api.post("/auth/verify", json=body), 400, "invalid_field")
    assert api.inbox.messages == []


async def chunks(total: int, size: int = 64 * 1024) -> AsyncIterator[bytes]:
    sent = 0
    while sent < total:
        piece = min(size, total - sent)
        sent += piece
        yield b" " * piece


async def test_body_over_one_mib_is_413(api: Any) -> None:
    for headers in ({}, JSON):
        r = await api.post("/auth/request", content=b" " * (MIB + 1), headers=headers)
        assert "content-length" in r.request.headers
        err = assert_error(r, 413, "payload_too_large")
        assert "1 MiB" in err["message"]
        r = await api.post("/auth/request", content=chunks(MIB + 1), headers=headers)
        assert "content-length" not in r.request.headers
        assert r.request.headers["transfer-encoding"] == "chunked"
        assert_error(r, 413, "payload_too_large")
    # Exactly 1 MiB is read (and found to be empty JSON): the cap is "over 1 MiB".
    r = await api.post("/auth/request", content=b" " * MIB)
    assert_error(r, 400, "missing_field")
    r = await api.post("/auth/request", content=chunks(MIB))
    assert_error(r, 400, "missing_field")
    # A declared length over the cap is refused even on routes that never read the body.
    r = await api.get("/healthz", headers={"Content-Length": str(MIB + 1)})
    assert_error(r, 413, "payload_too_large")


async def test_body_over_one_mib_is_413_over_a_socket(live: Any) -> None:
    api, _ = live
    r = await api.post("/auth/request", content=chunks(MIB + 1))
    assert_error(r, 413, "payload_too_large")
    r = await api.post("/auth/request", content=b" " * (MIB + 1))
    assert_error(r, 413, "payload_too_large")
    r = await api.get("/healthz")
    assert r.status_code == 200


@pytest.fixture
def failing_app(app: App) -> App:
    async def boom(request: Request) -> Any:
        raise RuntimeError("secret internals: /etc/passwd line 3")

    app.starlette.router.routes.append(Route("/boom", boom, methods=["GET"]))
    return app


async def test_500_never_leaks_a_traceback(
    failing_app: App, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    transport = httpx.ASGITransport(app=failing_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        text = await http.get("/boom", headers={"X-Request-Id": "rid-500-text"})
        js = await http.get("/boom", headers={**JSON, "X-Request-Id": "rid-500-json"})
        after = await http.get("/healthz")
    err = assert_error(text, 500, "internal_error")
    assert "rid-500-text" in err["message"]
    assert text.headers["x-request-id"] == "rid-500-text"
    err = assert_error(js, 500, "internal_error")
    assert err["request_id"] == "rid-500-json"
    for r in (text, js):
        assert "Traceback" not in r.text and "secret internals" not in r.text
        assert "RuntimeError" not in r.text
    assert after.status_code == 200
    logged = [rec for rec in caplog.records if rec.exc_info and "rid-500-text" in rec.getMessage()]
    assert logged, "the traceback is logged with the request id"
    assert "secret internals" in caplog.text


async def test_a_client_leaving_mid_body_is_not_an_error(
    api: Any, caplog: pytest.LogCaptureFixture
) -> None:
    token = await api.sign_in("leaver@example.com")
    scope = {
        "type": "http",
        "http_version": "1.1",
        "method": "POST",
        "path": "/contacts",
        "raw_path": b"/contacts",
        "query_string": b"",
        "headers": [
            (b"host", b"testserver"),
            (b"authorization", f"Bearer {token}".encode()),
            (b"content-type", b"application/json"),
            (b"content-length", b"100"),
            (b"x-request-id", b"rid-gone"),
        ],
        "client": ("127.0.0.1", 1),
        "server": ("testserver", 80),
        "scheme": "http",
        "root_path": "",
    }
    messages = [
        {"type": "http.request", "body": b'{"name": "Half', "more_body": True},
        {"type": "http.disconnect"},
    ]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return messages.pop(0)

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    caplog.set_level(logging.DEBUG)
    await api.app(scope, receive, send)
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], caplog.text
    assert "client disconnected during request rid-gone" in caplog.text
    listed = await api.json("GET", "/contacts", token)
    assert listed.json()["data"] == []  # and nothing was written


async def test_help_and_llms_txt_are_served_without_auth(api: Any) -> None:
    root = Path(__file__).resolve().parents[1]
    for path, name in (("/help", "help.txt"), ("/llms.txt", "llms.txt")):
        r = await api.get(path)
        assert r.status_code == 200
        assert r.headers["content-type"] == "text/plain; charset=utf-8"
        assert r.headers["x-request-id"]
        assert r.text == (root / name).read_text(encoding="utf-8")


async def test_api_replies_are_never_cached(api):
    await api.post("/auth/request", json={"email": "c@acme.com"})
    code = api.inbox.code_for("c@acme.com")
    r = await api.post("/auth/verify", json={"email": "c@acme.com", "code": code})
    assert r.headers["cache-control"] == "no-store"  # it carries the token
    token = r.text.split("token=")[1].split(" ")[0]
    assert (await api.get("/whoami", token)).headers["cache-control"] == "no-store"


async def test_errors_and_mcp_replies_are_never_cached_but_the_manual_may_be(api):
    r = await api.get("/contacts/c_nosuchcontact1")
    assert r.status_code == 401 and r.headers["cache-control"] == "no-store"
    token = await api.sign_in("nc@acme.com")
    r = await api.get("/contacts/c_nosuchcontact1", token)
    assert r.status_code == 404 and r.headers["cache-control"] == "no-store"
    r = await api.post("/mcp", token, json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"})
    assert r.headers["cache-control"] == "no-store"
    assert (await api.get("/help")).headers["cache-control"] == "public, max-age=300"


def test_record_ids_are_twelve_uniform_base32_letters() -> None:
    from crmkit.ids import bare_id, new_id

    ids = [new_id("c") for _ in range(2000)]
    assert all(re.fullmatch(r"c_[a-z2-7]{12}", i) for i in ids)
    assert all(bare_id(i, "contact", "c") == i for i in ids)
    assert len(set(ids)) == len(ids)
    # every letter of the alphabet turns up in every position: no bits are lost or fixed
    for pos in range(2, 14):
        assert len({i[pos] for i in ids}) == 32


@pytest.mark.parametrize(
    ("accept", "as_json"),
    [
        ("application/json", True),
        ("application/json, text/plain", True),
        ("text/plain, application/json", True),
        ("application/json;q=0.1, text/plain", False),
        ("text/plain;q=0.5, application/json;q=0.9", True),
        ("application/json; q=0", False),
        ("application/json;Q=0, text/plain", False),
        ("APPLICATION/JSON", True),
        ("application/json;q=0.5, */*;q=0.1", True),
        ("application/json;q=0.5, text/*", False),
        ("application/json;q=oops", False),
        ("text/html, */*", False),
        ("", False),
    ],
)
def test_accept_quality_values_choose_between_text_and_json(accept: str, as_json: bool) -> None:
    from crmkit.render import wants_json

    assert wants_json("", accept) is as_json
