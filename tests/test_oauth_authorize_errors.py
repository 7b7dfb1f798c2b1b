"""GET /oauth/authorize is no open redirector: every refusal before the person has acted on
the sign-in page is crmkit's own error page (400, the sign-in page's headers), never a redirect
(RFC 9700 4.11.2); only what the person decided on the page goes back to the client."""

from __future__ import annotations

from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest
from conftest import Api
from foundation_util import count
from mcp_util import authorize_url, pkce, register, walk_signin

EVIL = "https://evil.example/landing"
SECURITY_HEADERS = (
    "content-security-policy",
    "x-frame-options",
    "x-content-type-options",
    "referrer-policy",
    "cache-control",
)


def authorize(registered: str, **extra: str | None) -> str:
    """An authorize URL for a client registered with EVIL as its one redirect URI; a None
    leaves that parameter out."""
    _, challenge = pkce()
    params: dict[str, str | None] = {
        "response_type": "code",
        "client_id": registered,
        "redirect_uri": EVIL,
        "state": "st-1",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        **extra,
    }
    return "/oauth/authorize?" + urlencode({k: v for k, v in params.items() if v is not None})


async def sign_in_page_headers(api: Api, client_id: str) -> dict[str, str]:
    r = await api.get(authorize(client_id))
    assert r.status_code == 200, r.text
    assert "Sign in to crmkit" in r.text
    return {h: r.headers[h] for h in SECURITY_HEADERS}


def assert_error_page(r: httpx.Response, names: str, headers: dict[str, str]) -> None:
    assert r.status_code == 400, r.text
    assert "location" not in r.headers
    assert r.headers["content-type"].startswith("text/html")
    assert {h: r.headers.get(h) for h in SECURITY_HEADERS} == headers
    assert "<h1>This sign-in link does not work</h1>" in r.text
    assert names in r.text, r.text
    assert "evil.example" not in r.text
    assert "<form" not in r.text  # nothing to go on with
    assert "set-cookie" not in r.headers


async def test_the_probe_gets_a_page_not_a_redirect_to_its_site(api: Api) -> None:
    """The finding as reported: a client registered with evil.example, then
    /oauth/authorize?client_id=<id>&response_type=x answered 303 to evil.example."""
    client_id = await register(api.http, name="Evil", uri=EVIL)
    headers = await sign_in_page_headers(api, client_id)
    r = await api.get(f"/oauth/authorize?client_id={client_id}&response_type=x")
    assert_error_page(r, "response_type", headers)


@pytest.mark.parametrize(
    ("extra", "names"),
    [
        pytest.param({"response_type": "x"}, "response_type=code", id="bad-response-type"),
        pytest.param({"response_type": "token"}, "response_type=code", id="implicit-grant"),
        pytest.param({"response_type": None}, "response_type=code", id="no-response-type"),
        pytest.param({"code_challenge": None}, "code_challenge", id="no-code-challenge"),
        pytest.param({"code_challenge": "short"}, "code_challenge", id="short-code-challenge"),
        pytest.param(
            {"code_challenge": "a" * 42 + "!"}, "code_challenge", id="bad-chars-code-challenge"
        ),
        pytest.param({"code_challenge_method": None}, "code_challenge_method=S256", id="no-method"),
        pytest.param(
            {"code_challenge_method": "plain"}, "code_challenge_method=S256", id="plain-method"
        ),
        pytest.param(
            {"resource": "https://other.example/mcp"},
            "resource must be http://testserver/mcp",
            id="foreign-resource",
        ),
        pytest.param({"state": "s" * 501}, "state is longer than 500", id="state-too-long"),
        pytest.param({"client_id": "oc_unknown"}, "unknown client_id", id="unknown-client"),
        pytest.param({"client_id": None}, "unknown client_id", id="no-client-id"),
        pytest.param(
            {"redirect_uri": "https://evil.example/other"}, "redirect_uri", id="other-redirect"
        ),
        pytest.param({"redirect_uri": EVIL + "/"}, "redirect_uri", id="near-redirect"),
    ],
)
async def test_each_bad_authorize_request_gets_the_error_page(
    api: Api, extra: dict[str, str | None], names: str
) -> None:
    client_id = await register(api.http, name="Evil", uri=EVIL)
    headers = await sign_in_page_headers(api, client_id)
    r = await api.get(authorize(client_id, **extra))
    assert_error_page(r, names, headers)


async def test_several_problems_at_once_still_get_the_page(api: Api) -> None:
    client_id = await register(api.http, name="Evil", uri=EVIL)
    headers = await sign_in_page_headers(api, client_id)
    r = await api.get(
        authorize(
            client_id,
            response_type="token",
            code_challenge=None,
            code_challenge_method="plain",
            resource="https://other.example/mcp",
            state="s" * 600,
        )
    )
    assert_error_page(r, "This sign-in link does not work", headers)


async def test_a_missing_redirect_uri_with_several_registered_gets_the_page(api: Api) -> None:
    r = await api.post(
        "/oauth/register",
        json={"client_name": "Two", "redirect_uris": [EVIL, "https://evil.example/two"]},
    )
    client_id = r.json()["client_id"]
    headers = await sign_in_page_headers(api, client_id)
    r = await api.get(authorize(client_id, redirect_uri=None))
    assert_error_page(r, "no redirect_uri", headers)


async def test_a_repeated_parameter_gets_the_page(api: Api) -> None:
    client_id = await register(api.http, name="Evil", uri=EVIL)
    headers = await sign_in_page_headers(api, client_id)
    r = await api.get(authorize(client_id) + "&response_type=code")
    assert_error_page(r, "repeats a parameter", headers)


async def test_state_may_be_left_out_and_scope_is_ignored(api: Api) -> None:
    """Neither is an error: state is the client's own business with PKCE, and crmkit's
    tokens have no scopes."""
    client_id = await register(api.http, name="Evil", uri=EVIL)
    for extra in ({"state": None}, {"scope": "read write"}, {"scope": "\u00e9\x00"}):
        r = await api.get(authorize(client_id, **extra))
        assert r.status_code == 200, r.text
        assert "Sign in to crmkit" in r.text


async def test_denying_consent_still_goes_back_with_access_denied_and_state(api: Api) -> None:
    client_id = await register(api.http, name="Evil", uri=EVIL)
    walk = await walk_signin(
        api.http, authorize(client_id, state="keep-me"), api.inbox, "jane@acme.com", decision="deny"
    )
    final = walk.pages[-1]
    assert final.status_code == 303
    assert walk.location.startswith(EVIL + "?")
    assert parse_qs(urlsplit(walk.location).query) == {
        "error": ["access_denied"],
        "error_description": ["the user denied access"],
        "state": ["keep-me"],
    }
    assert await count(api.rt.db, "oauth_codes") == 0


async def test_approving_still_goes_back_with_the_code(api: Api) -> None:
    client_id = await register(api.http)
    _, challenge = pkce()
    walk = await walk_signin(
        api.http, authorize_url(client_id, challenge, state="s9"), api.inbox, "j@acme.com"
    )
    assert walk.params["state"] == "s9" and walk.params["code"]
