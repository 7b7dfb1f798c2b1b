"""The authorization server's rules and refusals, in-process (real SQLite, real SMTP)."""

from __future__ import annotations

import base64
import logging

import httpx
import pytest
from conftest import Api, Smtp
from foundation_util import count
from mcp_util import authorize_url, flow_of, pkce, redeem, refresh, register, walk_signin

from crmkit.app import create_app
from crmkit.clock import FixedClock
from crmkit.config import Settings

BASE = "http://testserver"
CALLBACK = "https://claude.ai/api/mcp/auth_callback"


async def code_for(api: Api, email: str = "jane@acme.com", **extra: str) -> tuple[str, str, str]:
    """(client_id, code, verifier) after a complete walk through the sign-in."""
    client_id = await register(api.http)
    verifier, challenge = pkce()
    url = authorize_url(client_id, challenge, **extra)
    walk = await walk_signin(api.http, url, api.inbox, email)
    assert walk.location.startswith(CALLBACK + "?")
    return client_id, walk.params["code"], verifier


# --- discovery --------------------------------------------------------------------------------


async def test_metadata_documents(api: Api) -> None:
    for path in (
        "/.well-known/oauth-protected-resource",
        "/.well-known/oauth-protected-resource/mcp",
    ):
        r = await api.get(path)
        assert r.status_code == 200
        assert r.json()["resource"] == BASE + "/mcp"
        assert r.json()["authorization_servers"] == [BASE]
    meta = (await api.get("/.well-known/oauth-authorization-server")).json()
    assert meta["issuer"] == BASE  # exactly, no trailing slash
    assert meta["authorization_endpoint"] == BASE + "/oauth/authorize"
    assert meta["token_endpoint"] == BASE + "/oauth/token"
    assert meta["registration_endpoint"] == BASE + "/oauth/register"
    assert meta["revocation_endpoint"] == BASE + "/oauth/revoke"
    assert meta["response_types_supported"] == ["code"]
    assert meta["grant_types_supported"] == ["authorization_code", "refresh_token"]
    assert meta["code_challenge_methods_supported"] == ["S256"]
    assert meta["token_endpoint_auth_methods_supported"] == ["none"]


# --- registration -----------------------------------------------------------------------------


async def test_register_public_client(api: Api) -> None:
    r = await api.post(
        "/oauth/register",
        json={
            "client_name": "ChatGPT",
            "redirect_uris": ["https://chatgpt.com/connector_platform_oauth_redirect"],
            "token_endpoint_auth_method": "none",
            "grant_types": ["authorization_code", "refresh_token"],
            "response_types": ["code"],
        },
    )
    assert r.status_code == 201
    body = r.json()
    assert body["client_id"].startswith("oc_")
    assert body["token_endpoint_auth_method"] == "none"
    assert "client_secret" not in body
    assert r.headers["cache-control"] == "no-store"
    loopback = await api.post(
        "/oauth/register", json={"redirect_uris": ["http://localhost:33418/callback"]}
    )
    assert loopback.status_code == 201
    assert loopback.json()["client_name"] == "MCP client"


@pytest.mark.parametrize(
    "uris",
    [
        ["javascript:alert(1)"],
        ["data:text/html,hi"],
        ["https://claude.ai/cb#frag"],
        ["http://claude.ai/cb"],
        ["ftp://claude.ai/cb"],
        ["https://user:pw@claude.ai/cb"],
        ["/relative"],
        ["https://[::1/cb"],  # urlsplit raises on this one
        ["https://claude.ai:99999/cb"],
        [],
        "https://claude.ai/cb",
    ],
)
async def test_register_refuses_bad_redirect_uris(api: Api, uris: object) -> None:
    before = await count(api.rt.db, "oauth_clients")
    r = await api.post("/oauth/register", json={"client_name": "x", "redirect_uris": uris})
    assert r.status_code == 400
    assert r.json()["error"] == "invalid_redirect_uri"
    assert r.json()["error_description"]
    assert await count(api.rt.db, "oauth_clients") == before


async def test_register_refuses_bad_metadata(api: Api) -> None:
    before = await count(api.rt.db, "oauth_clients")
    for body in (
        b"not json",
        b"[1]",
        b'{"redirect_uris":["https://a.example/cb"],"client_name":""}',
        '{"redirect_uris":["https://a.example/cb"],"client_name":"Claude\u202eevil"}'.encode(),
        '{"redirect_uris":["https://a.example/cb"],"client_name":"Cla\u200bude"}'.encode(),
        b'{"redirect_uris":["https://a.example/cb"],"response_types":["token"]}',
    ):
        r = await api.post("/oauth/register", content=body)
        assert r.status_code == 400, body
        assert r.json()["error"] in ("invalid_client_metadata", "invalid_redirect_uri")
    assert await count(api.rt.db, "oauth_clients") == before


async def test_registrations_are_rate_limited(api: Api) -> None:
    for _ in range(20):
        await register(api.http)
    before = await count(api.rt.db, "oauth_clients")
    r = await api.post("/oauth/register", json={"redirect_uris": [CALLBACK]})
    assert r.status_code == 429
    assert r.json()["error"] == "rate_limited"
    assert int(r.headers["retry-after"]) > 0
    assert await count(api.rt.db, "oauth_clients") == before


async def test_a_shorter_limit_elsewhere_does_not_empty_the_hourly_count(
    api: Api, clock: FixedClock
) -> None:
    """Every flow shares the rate table: a sign-in (15-minute window) purged hits older than
    its own window, so 16 minutes later the hourly registration count was empty again."""
    for _ in range(20):
        await register(api.http)
    clock.advance(16 * 60)
    r = await api.post("/auth/request", json={"email": "someone@acme.com"})
    assert r.status_code == 200, r.text
    r = await api.post("/oauth/register", json={"redirect_uris": [CALLBACK]})
    assert r.status_code == 429, r.text
    assert int(r.headers["retry-after"]) == 44 * 60


# --- authorize --------------------------------------------------------------------------------


async def test_sign_in_page_is_accessible_and_locked_down(api: Api) -> None:
    client_id = await register(api.http)
    _, challenge = pkce()
    r = await api.get(authorize_url(client_id, challenge))
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/html")
    csp = r.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in csp and "default-src 'none'" in csp
    assert "script-src" not in csp  # no scripts at all (default-src 'none')
    assert r.headers["x-frame-options"] == "DENY"
    assert r.headers["cache-control"] == "no-store"
    html = r.text
    assert '<html lang="en">' in html
    assert "<h1>Sign in to crmkit</h1>" in html
    assert '<label for="email">' in html and 'id="email"' in html
    assert "<script" not in html
    cookie = r.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=lax" in cookie


async def test_bad_client_or_redirect_uri_gets_a_page_never_a_redirect(api: Api) -> None:
    client_id = await register(api.http)
    _, challenge = pkce()
    for url in (
        authorize_url("oc_unknown", challenge),
        authorize_url(client_id, challenge, redirect_uri="https://evil.example/cb"),
        authorize_url(client_id, challenge, redirect_uri=CALLBACK + "/x"),
    ):
        r = await api.get(url)
        assert r.status_code == 400
        assert "location" not in r.headers
        assert "This sign-in link does not work" in r.text
        assert "evil.example" not in r.text


@pytest.mark.parametrize(
    ("extra", "names"),
    [
        ({"code_challenge_method": "plain"}, "code_challenge_method=S256"),
        ({"code_challenge_method": ""}, "code_challenge_method=S256"),
        ({"code_challenge": ""}, "code_challenge"),
        ({"code_challenge": "short"}, "code_challenge"),
        ({"response_type": "token"}, "response_type=code"),
        ({"resource": "https://other.example/mcp"}, "resource must be"),
    ],
)
async def test_bad_authorize_parameters_get_a_page_never_a_redirect(
    api: Api, extra: dict[str, str], names: str
) -> None:
    """Before the person has acted, nothing goes to the redirect URI (RFC 9700 4.11.2): the
    error page names the problem instead (tests/test_oauth_authorize_errors.py has them all)."""
    client_id = await register(api.http)
    _, challenge = pkce()
    r = await api.get(authorize_url(client_id, challenge, state="s1", **extra))
    assert r.status_code == 400
    assert "location" not in r.headers
    assert "This sign-in link does not work" in r.text
    assert names in r.text


async def test_state_is_optional_with_pkce(api: Api) -> None:
    """OAuth 2.1 leaves state to the client when PKCE guards the code: a client that sends
    none still signs in, and nothing is made up for it on the way back."""
    client_id = await register(api.http)
    verifier, challenge = pkce()
    walk = await walk_signin(
        api.http, authorize_url(client_id, challenge, state=""), api.inbox, "s@acme.com"
    )
    assert "state" not in walk.params
    r = await redeem(api.http, client_id, walk.params["code"], verifier)
    assert r.status_code == 200, r.text
    r = await api.get(authorize_url(client_id, challenge, state="x" * 501))
    assert r.status_code == 400 and "location" not in r.headers
    assert "state is longer than 500" in r.text


async def test_matching_resource_is_accepted(api: Api) -> None:
    client_id, code, verifier = await code_for(api, resource=BASE + "/mcp")
    r = await redeem(api.http, client_id, code, verifier)
    assert r.status_code == 200, r.text


async def test_deny_goes_back_with_access_denied(api: Api) -> None:
    client_id = await register(api.http)
    _, challenge = pkce()
    url = authorize_url(client_id, challenge, state="s2")
    walk = await walk_signin(api.http, url, api.inbox, "jane@acme.com", decision="deny")
    assert walk.params == {
        "error": "access_denied",
        "error_description": "the user denied access",
        "state": "s2",
    }
    assert await count(api.rt.db, "oauth_codes") == 0


async def test_new_workspace_from_the_consent_page(api: Api) -> None:
    await api.sign_in("jane@acme.com")  # jane already has a workspace
    client_id = await register(api.http)
    verifier, challenge = pkce()
    walk = await walk_signin(
        api.http,
        authorize_url(client_id, challenge),
        api.inbox,
        "jane@acme.com",
        new_workspace="Claude's CRM",
    )
    assert "wants to use your crmkit workspace <strong>Claude&#x27;s CRM</strong>" in (
        walk.pages[3].text
    )
    r = await redeem(api.http, client_id, walk.params["code"], verifier)
    token = r.json()["access_token"]
    who = await api.json("GET", "/whoami", token)
    assert who.json()["data"]["workspace"]["name"] == "Claude's CRM"
    assert who.json()["data"]["workspace"]["role"] == "admin"


async def test_wrong_code_on_the_page_can_be_retried(api: Api) -> None:
    client_id = await register(api.http)
    _, challenge = pkce()
    r = await api.get(authorize_url(client_id, challenge))
    r = await api.post("/oauth/authorize", data={"flow": flow_of(r.text), "email": "j@acme.com"})
    good = api.inbox.code_for("j@acme.com")
    wrong = "000000" if good != "000000" else "111111"
    r = await api.post("/oauth/authorize", data={"flow": flow_of(r.text), "code": wrong})
    assert r.status_code == 200
    assert 'role="alert"' in r.text and "That code is wrong" in r.text
    r = await api.post("/oauth/authorize", data={"flow": flow_of(r.text), "code": good})
    assert "Choose a workspace" in r.text


async def test_forged_replayed_and_cross_site_forms_are_refused(api: Api) -> None:
    client_id = await register(api.http)
    _, challenge = pkce()
    r = await api.get(authorize_url(client_id, challenge))
    flow = flow_of(r.text)
    mails = len(api.inbox.messages)

    forged = flow[:-3] + ("AAA" if not flow.endswith("AAA") else "BBB")
    r = await api.post("/oauth/authorize", data={"flow": forged, "email": "j@acme.com"})
    assert r.status_code == 400 and "altered" in r.text

    cookies = dict(api.http.cookies)
    api.http.cookies.clear()  # another site posting the form: no CSRF cookie
    r = await api.post("/oauth/authorize", data={"flow": flow, "email": "j@acme.com"})
    assert r.status_code == 400 and "not sent from the sign-in page" in r.text
    api.http.cookies.update(cookies)
    assert len(api.inbox.messages) == mails  # nothing was mailed

    r = await api.post("/oauth/authorize", data={"flow": flow, "email": "j@acme.com"})
    assert r.status_code == 200 and "Enter your code" in r.text
    r = await api.post("/oauth/authorize", data={"flow": flow, "email": "j@acme.com"})
    assert r.status_code == 400 and "already sent once" in r.text
    assert len(api.inbox.messages) == mails + 1  # the replay sent no second code


async def test_flow_state_expires(api: Api, clock: FixedClock) -> None:
    client_id = await register(api.http)
    _, challenge = pkce()
    r = await api.get(authorize_url(client_id, challenge))
    clock.advance(31 * 60)
    r = await api.post("/oauth/authorize", data={"flow": flow_of(r.text), "email": "j@acme.com"})
    assert r.status_code == 400 and "expired" in r.text


# --- token ------------------------------------------------------------------------------------


async def test_code_exchange_gives_an_ordinary_token(api: Api) -> None:
    client_id, code, verifier = await code_for(api)
    r = await redeem(api.http, client_id, code, verifier)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["token_type"] == "Bearer"
    assert body["access_token"].startswith("ck_")
    assert body["refresh_token"].startswith("ckr_")
    assert body["expires_in"] == 30 * 86400
    assert r.headers["cache-control"] == "no-store"
    tokens = await api.json("GET", "/tokens", body["access_token"])
    assert [t["name"] for t in tokens.json()["data"]] == ["Claude"]


async def test_wrong_verifier_burns_the_code(api: Api) -> None:
    client_id, code, verifier = await code_for(api)
    tokens_before = await count(api.rt.db, "tokens")
    other, _ = pkce()
    r = await redeem(api.http, client_id, code, other)
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant"
    r = await redeem(api.http, client_id, code, verifier)
    assert r.json()["error"] == "invalid_grant"
    # said as what happened: not "already used", which sends one looking for a replay
    assert r.json()["error_description"].startswith("this authorization code was voided")
    assert await count(api.rt.db, "tokens") == tokens_before


@pytest.mark.parametrize("verifier", ["", "short", "x" * 129, "a" * 42 + "!"])
async def test_malformed_verifier_is_invalid_request(api: Api, verifier: str) -> None:
    client_id, code, _ = await code_for(api)
    r = await redeem(api.http, client_id, code, verifier)
    assert r.status_code == 400 and r.json()["error"] == "invalid_request"


async def test_reused_code_fails_and_revokes_what_it_issued(api: Api) -> None:
    client_id, code, verifier = await code_for(api)
    first = await redeem(api.http, client_id, code, verifier)
    token = first.json()["access_token"]
    assert (await api.get("/whoami", token)).status_code == 200
    again = await redeem(api.http, client_id, code, verifier)
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"
    assert (await api.get("/whoami", token)).status_code == 401
    row = await api.rt.db.one("SELECT detail FROM audit WHERE action = 'oauth.revoke'")
    assert row == ("authorization code replayed",)
    r = await refresh(api.http, client_id, first.json()["refresh_token"])
    assert r.json()["error"] == "invalid_grant"


async def test_code_bound_to_redirect_uri_and_client(api: Api) -> None:
    client_id, code, verifier = await code_for(api)
    tokens_before = await count(api.rt.db, "tokens")
    r = await redeem(api.http, client_id, code, verifier, uri="https://claude.com/cb")
    assert r.json()["error"] == "invalid_grant"
    client_id2, code2, verifier2 = await code_for(api)
    other_client = await register(api.http)
    r = await redeem(api.http, other_client, code2, verifier2)
    assert r.json()["error"] == "invalid_grant"
    assert await count(api.rt.db, "tokens") == tokens_before + 0


async def test_unknown_client_is_invalid_client(api: Api) -> None:
    _, code, verifier = await code_for(api)
    r = await redeem(api.http, "oc_nosuchclient", code, verifier)
    assert r.status_code == 401
    assert r.json()["error"] == "invalid_client"
    r = await api.post("/oauth/revoke", data={"token": "x", "client_id": "oc_nosuchclient"})
    assert r.status_code == 401


async def test_code_expires_after_ten_minutes(api: Api, clock: FixedClock) -> None:
    client_id, code, verifier = await code_for(api)
    clock.advance(601)
    r = await redeem(api.http, client_id, code, verifier)
    assert r.json()["error"] == "invalid_grant"
    assert "expired" in r.json()["error_description"]


async def test_refresh_rotates(api: Api) -> None:
    client_id, code, verifier = await code_for(api)
    first = (await redeem(api.http, client_id, code, verifier)).json()
    r = await refresh(api.http, client_id, first["refresh_token"])
    assert r.status_code == 200, r.text
    second = r.json()
    assert (await api.get("/whoami", second["access_token"])).status_code == 200
    assert (await api.get("/whoami", first["access_token"])).status_code == 401
    # Only one live token for the connector in GET /tokens.
    tokens = await api.json("GET", "/tokens", second["access_token"])
    assert [t["name"] for t in tokens.json()["data"]] == ["Claude"]
    # The old refresh token is dead; presenting it kills the family.
    r = await refresh(api.http, client_id, first["refresh_token"])
    assert r.json()["error"] == "invalid_grant"
    assert (await api.get("/whoami", second["access_token"])).status_code == 401
    r = await refresh(api.http, client_id, second["refresh_token"])
    assert r.json()["error"] == "invalid_grant"


async def test_refresh_by_another_client_is_refused(api: Api) -> None:
    client_id, code, verifier = await code_for(api)
    first = (await redeem(api.http, client_id, code, verifier)).json()
    other = await register(api.http, name="Other")
    r = await refresh(api.http, other, first["refresh_token"])
    assert r.json()["error"] == "invalid_grant"


async def test_token_endpoint_refuses_other_grants_and_junk(api: Api) -> None:
    client_id = await register(api.http)
    r = await api.post(
        "/oauth/token", data={"grant_type": "client_credentials", "client_id": client_id}
    )
    assert r.json()["error"] == "unsupported_grant_type"
    r = await api.post(
        "/oauth/token",
        data={"grant_type": "authorization_code", "client_id": client_id, "code": "nope"},
    )
    assert r.json()["error"] == "invalid_request"  # no verifier
    r = await api.post(
        "/oauth/token",
        content=b"grant_type=refresh_token&grant_type=authorization_code&client_id=x",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert r.status_code == 400


@pytest.mark.parametrize("path", ["/oauth/token", "/oauth/revoke"])
async def test_what_is_wrong_with_a_token_request_is_named_not_blamed_on_the_client(
    api: Api, path: str
) -> None:
    """A JSON body, or no client_id, was "401 invalid_client: unknown client_id", and a
    connector that gets invalid_client registers again."""
    client_id = await register(api.http)
    fields = {"grant_type": "refresh_token", "refresh_token": "x", "token": "x"}
    r = await api.post(path, json={**fields, "client_id": client_id})
    assert (r.status_code, r.json()["error"]) == (400, "invalid_request")
    assert "application/x-www-form-urlencoded" in r.json()["error_description"]
    r = await api.post(path, data=fields)
    assert (r.status_code, r.json()["error"]) == (400, "invalid_request")
    assert r.json()["error_description"].startswith("client_id is required")
    r = await api.get(path)
    assert (r.status_code, r.json()["error"], r.headers["allow"]) == (
        405,
        "invalid_request",
        "POST",
    )
    r = await api.request("PUT", path)
    assert (r.status_code, r.headers["allow"]) == (405, "POST")
    assert r.json()["error"] == "invalid_request"  # the OAuth shape for every method


async def test_revoke_is_quiet_about_unknown_tokens(api: Api) -> None:
    client_id = await register(api.http)
    r = await api.post("/oauth/revoke", data={"token": "ck_whatever", "client_id": client_id})
    assert r.status_code == 200
    # A client cannot revoke a token it was not given.
    jane = await api.sign_in("jane@acme.com")
    r = await api.post("/oauth/revoke", data={"token": jane, "client_id": client_id})
    assert r.status_code == 200
    assert (await api.get("/whoami", jane)).status_code == 200


async def test_repeated_authorize_parameters_are_refused(api: Api) -> None:
    client_id = await register(api.http)
    _, challenge = pkce()
    url = authorize_url(client_id, challenge) + "&redirect_uri=https%3A%2F%2Fevil.example%2Fcb"
    r = await api.get(url)
    assert r.status_code == 400
    assert "location" not in r.headers
    assert "repeats a parameter" in r.text


async def test_sign_in_page_shares_the_code_rate_limit(api: Api) -> None:
    for _ in range(5):
        r = await api.post("/auth/request", json={"email": "j@acme.com"})
        assert r.status_code == 200
    mails = len(api.inbox.messages)
    client_id = await register(api.http)
    _, challenge = pkce()
    r = await api.get(authorize_url(client_id, challenge))
    r = await api.post("/oauth/authorize", data={"flow": flow_of(r.text), "email": "j@acme.com"})
    assert r.status_code == 200
    assert 'role="alert"' in r.text and "too many code requests for this email" in r.text
    assert "Try again in 15 minutes." in r.text
    assert "<h1>Sign in to crmkit</h1>" in r.text  # still on step 1, with a fresh form
    assert len(api.inbox.messages) == mails


async def test_logs_never_show_codes_or_tokens(
    settings: Settings, clock: FixedClock, smtp: Smtp, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    application = create_app(settings, clock=clock, access_log=True)
    await application.runtime.start()
    try:
        transport = httpx.ASGITransport(app=application, client=("10.9.8.7", 1234))
        async with httpx.AsyncClient(transport=transport, base_url=BASE) as http:
            api = Api(http, smtp.inbox, application)
            client_id, code, verifier = await code_for(api)
            mail_code = smtp.inbox.code_for("jane@acme.com")
            first = (await redeem(http, client_id, code, verifier)).json()
            r = await refresh(http, client_id, first["refresh_token"])
            second = r.json()
            await http.post(
                "/oauth/revoke", data={"token": second["access_token"], "client_id": client_id}
            )
    finally:
        await application.runtime.stop()
    # Everything the server side logged: not the test's SMTP server ("mail.log") nor its client.
    logged = "\n".join(
        r.getMessage() for r in caplog.records if r.name not in ("mail.log", "httpx")
    )
    assert "/oauth/token" in logged  # the access log did run
    issued = [{k: v for k, v in t.items() if k != "scope"} for t in (first, second)]
    secrets_issued = [code, verifier, mail_code, *issued[0].values(), *issued[1].values()]
    for secret in secrets_issued:
        if isinstance(secret, str) and len(secret) >= 6:
            assert secret not in logged


async def test_token_endpoint_accepts_client_id_in_basic_auth(api: Api) -> None:
    client_id, code, verifier = await code_for(api)
    basic = base64.b64encode(f"{client_id}:".encode()).decode()
    r = await api.post(
        "/oauth/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": CALLBACK,
            "code_verifier": verifier,
        },
        headers={"Authorization": f"Basic {basic}"},
    )
    assert r.status_code == 200, r.text
    assert r.json()["access_token"].startswith("ck_")


async def test_redirect_uri_may_be_left_out_when_the_client_has_only_one(api: Api) -> None:
    """authorize may omit redirect_uri for a client with one registered URI (RFC 6749 4.1.3),
    so the exchange may omit it too."""
    await api.sign_in("jane@acme.com")
    client_id = await register(api.http)
    verifier, challenge = pkce()
    walk = await walk_signin(
        api.http,
        authorize_url(client_id, challenge, redirect_uri=""),  # "" drops the parameter
        api.inbox,
        "jane@acme.com",
    )
    r = await redeem(api.http, client_id, walk.params["code"], verifier, uri=None)
    assert r.status_code == 200, r.text
    assert r.json()["access_token"].startswith("ck_")


@pytest.mark.parametrize("path", ["/oauth/token", "/oauth/register"])
async def test_oversized_oauth_bodies_are_413(api: Api, path: str) -> None:
    async def chunks():  # no Content-Length: the cap is enforced while reading
        for _ in range(17):
            yield b"a" * 65536

    kind = "application/x-www-form-urlencoded" if path == "/oauth/token" else "application/json"
    r = await api.http.post(path, content=chunks(), headers={"Content-Type": kind})
    assert r.status_code == 413, r.text
