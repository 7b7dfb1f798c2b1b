"""One error shape across every endpoint family (Datasette's test_error_shape idea).

Each row is a failing request; in text it must read `error: <code>: <message>` then
`hint: <hint>` then optional `key: value` lines, and in JSON `{"error": {"code", "message",
"hint", ...}}` with the same code, message, hint and details.
"""

from __future__ import annotations

from typing import Any

import pytest
from foundation_util import JSON, parse_error_text

# (method, path, needs a valid token, body (json, or bytes), status, code)
CASES: list[tuple[str, str, bool, Any, int, str]] = [
    # system
    ("GET", "/healthz?format=xml", False, None, 400, "invalid_format"),
    ("GET", "/readyz?format=yaml", False, None, 400, "invalid_format"),
    ("POST", "/healthz", False, None, 405, "method_not_allowed"),
    ("GET", "/help?format=csv", False, None, 400, "invalid_format"),
    ("DELETE", "/llms.txt", False, None, 405, "method_not_allowed"),
    # routing
    ("GET", "/nope", False, None, 404, "not_found"),
    ("GET", "/contacts/c_aaaaaaaaaaaa", True, None, 404, "not_found"),
    # sign-in
    ("POST", "/auth/request", False, b"{", 400, "invalid_json"),
    ("POST", "/auth/request", False, b"[]", 400, "invalid_json"),
    ("POST", "/auth/request", False, {}, 400, "missing_field"),
    ("POST", "/auth/request", False, {"email": "x", "y": 1}, 400, "unknown_field"),
    ("POST", "/auth/request", False, {"email": 1}, 400, "invalid_field"),
    ("POST", "/auth/request", False, {"email": "not-an-email"}, 400, "invalid_email"),
    ("POST", "/auth/request", False, b" " * (1024 * 1024 + 1), 413, "payload_too_large"),
    ("POST", "/auth/verify", False, {"email": "a@b.co", "code": "000000"}, 401, "invalid_code"),
    ("POST", "/auth/verify", False, {"email": "a@b.co"}, 400, "missing_field"),
    ("GET", "/auth/verify", False, None, 405, "method_not_allowed"),
    # session
    ("GET", "/whoami", False, None, 401, "auth_required"),
    ("GET", "/tokens", False, None, 401, "auth_required"),
    ("DELETE", "/tokens/t_aaaaaaaaaaaa", False, None, 401, "auth_required"),
    ("DELETE", "/tokens/t_aaaaaaaaaaaa", True, None, 404, "not_found"),
    ("DELETE", "/tokens/nonsense", True, None, 404, "not_found"),
    ("PATCH", "/tokens/t_aaaaaaaaaaaa", True, None, 405, "method_not_allowed"),
    ("POST", "/whoami", True, None, 405, "method_not_allowed"),
]


@pytest.mark.parametrize(("method", "path", "auth", "body", "status", "code"), CASES)
async def test_error_shape(
    api: Any, method: str, path: str, auth: bool, body: Any, status: int, code: str
) -> None:
    token = await api.sign_in("shape@acme.com") if auth else None
    kw: dict[str, Any] = {}
    if isinstance(body, bytes):
        kw["content"] = body
    elif body is not None:
        kw["json"] = body
    text = await api.request(method, path, token, **kw)
    js = await api.request(method, path, token, headers=JSON, **kw)
    for r in (text, js):
        assert r.status_code == status, (r.status_code, r.text)
        assert r.headers["x-request-id"]
        if status == 401:
            assert r.headers["www-authenticate"] == "Bearer"
            assert "/auth/request" in r.text
    assert text.headers["content-type"] == "text/plain; charset=utf-8"
    assert text.text.endswith("\n")
    parsed = parse_error_text(text.text)
    assert js.headers["content-type"] == "application/json"
    err = js.json()
    assert set(err) == {"error"}
    payload = err["error"]
    for key in ("code", "message", "hint"):
        assert isinstance(payload[key], str) and payload[key].strip()
    assert payload["code"] == code
    # Same error either way: the text lines are the JSON fields.
    assert parsed == {k: str(v) for k, v in payload.items()}


async def test_control_characters_echoed_in_an_error_are_escaped(api: Any) -> None:
    """A path is echoed in the not-found message: a terminal escape or a NUL in it must not
    reach the reader raw (DESIGN section 3); JSON carries the value, escaped by JSON itself."""
    token = await api.sign_in("controls@acme.com")
    path = "/contacts/c_%00%1b%5b31mabc%09x%7f%E2%80%AE"  # ... and a bidi override (U+202E)
    text = await api.request("GET", path, token)
    assert text.status_code == 404
    assert text.text.isascii() and all(ch == "\n" or ch.isprintable() for ch in text.text)
    assert "c_\\u0000\\u001b[31mabc\\tx\\u007f\\u202e" in text.text.splitlines()[0]
    js = await api.request("GET", path, token, headers=JSON)
    assert "c_\x00\x1b[31mabc\tx\x7f\u202e" in js.json()["error"]["message"]
    # A backslash is escaped too: a literal "\x1b" cannot pass for an escaped ESC.
    text = await api.request("GET", "/contacts/c_%5Cx1b", token)
    assert "c_\\\\x1b" in text.text.splitlines()[0], text.text
