"""The whole connector flow with no shortcuts, over a real socket, driven by the MCP SDK's own
OAuthClientProvider: 401 -> discovery -> registration -> the sign-in forms (code from the real
SMTP inbox) -> PKCE code exchange -> MCP calls; then refresh rotation and revocation."""

from __future__ import annotations

from typing import Any

import httpx
import mcp_util
from conftest import Api, LiveServer
from mcp.client.auth import AuthorizationCodeResult, OAuthClientProvider
from mcp.shared.auth import OAuthClientInformationFull, OAuthClientMetadata, OAuthToken
from mcp_util import mcp_session, refresh, text_of, walk_signin

port = mcp_util.port
env = mcp_util.env
server = mcp_util.server

REDIRECT = "http://127.0.0.1:9/callback"  # loopback, never contacted: the test reads the redirect


class Storage:
    """The SDK's TokenStorage protocol, in memory."""

    def __init__(self) -> None:
        self.tokens: OAuthToken | None = None
        self.client: OAuthClientInformationFull | None = None

    async def get_tokens(self) -> OAuthToken | None:
        return self.tokens

    async def set_tokens(self, tokens: OAuthToken) -> None:
        self.tokens = tokens

    async def get_client_info(self) -> OAuthClientInformationFull | None:
        return self.client

    async def set_client_info(self, client_info: OAuthClientInformationFull) -> None:
        self.client = client_info


def provider_for(
    api: Api, srv: LiveServer, browser: httpx.AsyncClient, email: str
) -> tuple[OAuthClientProvider, Storage, dict[str, Any]]:
    storage = Storage()
    seen: dict[str, Any] = {}

    async def redirect_handler(url: str) -> None:
        seen["authorize_url"] = url
        walk = await walk_signin(browser, url, api.inbox, email)
        seen["walk"] = walk

    async def callback_handler() -> AuthorizationCodeResult:
        params = seen["walk"].params
        return AuthorizationCodeResult(code=params["code"], state=params["state"])

    provider = OAuthClientProvider(
        server_url=srv.url + "/mcp",
        client_metadata=OAuthClientMetadata(client_name="Claude", redirect_uris=[REDIRECT]),
        storage=storage,
        redirect_handler=redirect_handler,
        callback_handler=callback_handler,
    )
    return provider, storage, seen


async def whoami_status(api: Api, token: str) -> int:
    return (await api.get("/whoami", token)).status_code


async def test_full_oauth_flow_with_the_sdk(server: tuple[Api, LiveServer]) -> None:
    api, srv = server
    async with httpx.AsyncClient(base_url=srv.url) as browser:
        provider, storage, seen = provider_for(api, srv, browser, "jane@acme.com")
        async with mcp_session(srv.url, auth=provider) as session:
            result = await session.call_tool("request", {"method": "GET", "path": "/whoami"})
            assert result.is_error is False
            assert "email=jane@acme.com" in text_of(result)
            assert "name=Claude" in text_of(result)  # the token is named after the client

            # What the SDK did on the way: discovery from the 401, registration, resource.
            assert seen["authorize_url"].startswith(srv.url + "/oauth/authorize?")
            assert (
                f"resource={srv.url}/mcp".replace(":", "%3A").replace("/", "%2F")
                in seen["authorize_url"]
            )
            assert storage.client is not None and storage.client.client_id.startswith("oc_")
            pages = seen["walk"].pages
            assert "Claude" in pages[0].text  # the sign-in page names the client
            assert "Claude</strong> wants to use your crmkit workspace" in pages[3].text
            assert "127.0.0.1:9" in pages[3].text  # and shows where it will send you back
            assert seen["walk"].location.startswith(REDIRECT + "?code=")

            first = storage.tokens
            assert first is not None and first.access_token.startswith("ck_")
            assert first.refresh_token is not None and first.refresh_token.startswith("ckr_")

            # An ordinary crmkit token: listed in GET /tokens under the client's name.
            listed = await api.get("/tokens", first.access_token)
            assert listed.status_code == 200
            assert "name=Claude" in listed.text

            # Refresh rotation, driven by the SDK once it believes the token expired.
            provider.context.token_expiry_time = 1.0
            result = await session.call_tool("request", {"method": "GET", "path": "/whoami"})
            assert result.is_error is False
            second = storage.tokens
            assert second is not None
            assert second.access_token != first.access_token
            assert second.refresh_token != first.refresh_token
            assert await whoami_status(api, first.access_token) == 401  # old access token retired
            assert await whoami_status(api, second.access_token) == 200

    # The rotated refresh token is dead, and presenting it kills the whole family.
    client_id = storage.client.client_id
    r = await refresh(api.http, client_id, first.refresh_token)
    assert r.status_code == 400
    assert r.json()["error"] == "invalid_grant"
    assert await whoami_status(api, second.access_token) == 401
    r = await refresh(api.http, client_id, second.refresh_token)
    assert r.json()["error"] == "invalid_grant"


async def test_revocation_ends_mcp_access(server: tuple[Api, LiveServer]) -> None:
    api, srv = server
    async with httpx.AsyncClient(base_url=srv.url) as browser:
        provider, storage, _ = provider_for(api, srv, browser, "jane@acme.com")
        async with mcp_session(srv.url, auth=provider) as session:
            assert (await session.list_tools()).tools[0].name == "request"
    assert storage.tokens is not None and storage.client is not None
    token = storage.tokens.access_token
    r = await api.http.post(
        "/oauth/revoke", data={"token": token, "client_id": storage.client.client_id}
    )
    assert r.status_code == 200
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}
    r = await api.post("/mcp", token, json=body, headers={"Accept": "application/json"})
    assert r.status_code == 401
    assert "resource_metadata=" in r.headers["www-authenticate"]
    # Its refresh token died with it.
    r = await refresh(api.http, storage.client.client_id, storage.tokens.refresh_token or "")
    assert r.json()["error"] == "invalid_grant"


async def test_token_revoked_in_tokens_stops_refresh(server: tuple[Api, LiveServer]) -> None:
    api, srv = server
    async with httpx.AsyncClient(base_url=srv.url) as browser:
        provider, storage, _ = provider_for(api, srv, browser, "jane@acme.com")
        async with mcp_session(srv.url, auth=provider) as session:
            await session.list_tools()
    assert storage.tokens is not None and storage.client is not None
    who = await api.json("GET", "/whoami", storage.tokens.access_token)
    token_id = who.json()["data"]["token"]["handle"].removeprefix("token/")
    other = await api.sign_in("jane@acme.com")
    assert (await api.delete(f"/tokens/{token_id}", other)).status_code == 200
    r = await refresh(api.http, storage.client.client_id, storage.tokens.refresh_token or "")
    assert r.status_code == 400
    assert r.json()["error"] == "invalid_grant"
