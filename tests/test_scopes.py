"""Scoped, expiring tokens: every route in the table allowed or refused as its scope says,
over HTTP and through the MCP tool; no widening by minting or by refresh; hard expiry."""

from __future__ import annotations

import re
from typing import Any

import mcp_util
import pytest
from conftest import Api, LiveServer
from mcp_util import authorize_url, flow_of, mcp_session, pkce, redeem, register, text_of

from crmkit.web.routing import ApiRoute

port = mcp_util.port
env = mcp_util.env
server = mcp_util.server

SETS = {
    "read": "read",
    "read write": "read write",
    "read admin": "read admin",
    "all": "read write admin",
}


def table(app: Any) -> list[tuple[str, str, str]]:
    """(method, path with dummy ids, scope) of every authenticated route."""
    rows = []
    for route in app.starlette.router.routes:
        if isinstance(route, ApiRoute):
            for method, op in route.ops.items():
                if op.scope is not None:
                    path = re.sub(r"\{[^}]*\}", "x_aaaaaaaaaaaa", route.path)
                    rows.append((method, path, op.scope))
    return rows


async def mint(api: Api, token: str, scopes: str, **extra: Any) -> dict[str, Any]:
    who = (await api.json("GET", "/whoami", token)).json()["data"]
    workspace = who["workspace"]["handle"].split("/")[1]
    body = {"name": scopes, "scopes": scopes.split(), **extra}
    r = await api.json("POST", f"/workspaces/{workspace}/tokens", token, json=body)
    assert r.status_code == 201, r.text
    data: dict[str, Any] = r.json()["data"]
    return data


def refused(status: int, code: str | None) -> bool:
    return status == 403 and code == "insufficient_scope"


async def test_every_route_is_allowed_or_refused_as_its_scope_says(api: Api) -> None:
    full = await api.sign_in("scopes@acme.com")
    tokens = {name: (await mint(api, full, s))["token"] for name, s in SETS.items()}
    rows = table(api.app)
    assert len(rows) > 30
    for name, token in tokens.items():
        have = SETS[name].split()
        for method, path, scope in rows:
            r = await api.json(method, path, token, json={})
            code = r.json().get("error", {}).get("code") if r.content else None
            if scope in have:
                assert not refused(r.status_code, code), (name, method, path, r.text)
            else:
                assert refused(r.status_code, code), (name, method, path, r.text)
                error = r.json()["error"]
                assert f"needs a token with the {scope} scope" in error["message"]
                assert error["needed_scope"] == scope and "POST /workspaces/" in error["hint"]
                assert f'scope="{scope}"' in r.headers["www-authenticate"]
    # nothing a refused call could have done happened: the read token made no contact
    listed = await api.json("GET", "/contacts", full)
    assert listed.json()["data"] == []


async def test_the_mcp_tool_is_held_to_the_tokens_scopes(server: tuple[Api, LiveServer]) -> None:
    api, srv = server
    full = await api.sign_in("mcp-scopes@acme.com")
    read = (await mint(api, full, "read"))["token"]
    rows = table(api.app)
    async with mcp_session(srv.url, read) as session:
        for method, path, scope in rows:
            args: dict[str, Any] = {"method": method, "path": path}
            if method in ("POST", "PATCH"):
                args["body"] = {}
            result = await session.call_tool("request", args)
            text = text_of(result)
            if scope == "read":
                assert "insufficient_scope" not in text, (method, path, text)
            else:
                assert result.is_error and "error: insufficient_scope:" in text, (path, text)
    assert (await api.json("GET", "/contacts", full)).json()["data"] == []


async def test_a_token_cannot_mint_a_wider_one(api: Api) -> None:
    full = await api.sign_in("mint@acme.com")
    admin_only = await mint(api, full, "admin")
    assert admin_only["scopes"] == "read admin"  # admin (and write) include read
    who = (await api.json("GET", "/whoami", full)).json()["data"]
    workspace = who["workspace"]["handle"].split("/")[1]
    path = f"/workspaces/{workspace}/tokens"
    r = await api.json("POST", path, admin_only["token"], json={"scopes": ["write"]})
    assert r.status_code == 403 and r.json()["error"]["code"] == "insufficient_scope", r.text
    assert "cannot give a token write" in r.json()["error"]["message"]
    # without "scopes", a minted token gets the minting token's
    r = await api.json("POST", path, admin_only["token"], json={"name": "child"})
    assert r.status_code == 201 and r.json()["data"]["scopes"] == "read admin"
    for bad in (["delete"], [], "read sudo"):
        r = await api.json("POST", path, full, json={"scopes": bad})
        assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_field", (bad, r.text)
        assert r.json()["error"]["allowed"] == "admin, read, write"
    r = await api.json("POST", path, full, json={"scopes": 3})
    assert r.status_code == 400 and "scopes" in r.json()["error"]["message"], r.text


async def test_sign_in_asks_for_scopes_and_an_expiry(api: Api, clock: Any) -> None:
    email = "narrow@acme.com"
    await api.post("/auth/request", json={"email": email})
    code = api.inbox.code_for(email)
    # a bad scope is refused before the code is used up
    body = {"email": email, "code": code, "scopes": ["root"]}
    r = await api.json("POST", "/auth/verify", json=body)
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_field"
    body = {"email": email, "code": code, "scopes": "read", "expires_in_days": 2}
    r = await api.json("POST", "/auth/verify", json=body)
    assert r.status_code == 201, r.text
    data = r.json()["data"]
    assert data["scopes"] == "read"
    token = data["token"]
    who = (await api.json("GET", "/whoami", token)).json()["data"]["token"]
    assert who["scopes"] == "read" and who["expires_at"] == data["expires_at"]
    listed = (await api.json("GET", "/tokens", token)).json()["data"]
    assert [t["scopes"] for t in listed] == ["read"]
    text = (await api.get("/whoami", token)).text
    assert "scopes=read" in text
    r = await api.json("POST", "/contacts", token, json={"name": "Ada"})
    assert r.status_code == 403 and r.json()["error"]["code"] == "insufficient_scope"
    clock.advance(2 * 86400 - 1)
    assert (await api.get("/whoami", token)).status_code == 200
    clock.advance(1)
    r = await api.json("GET", "/whoami", token)
    assert r.status_code == 401 and r.json()["error"]["code"] == "token_expired"
    assert "expiry it was minted with" in r.json()["error"]["message"]
    for days in (0, -1, 3651, "x"):
        r = await api.json(
            "POST", "/auth/verify", json={"email": email, "code": "1", **{"expires_in_days": days}}
        )
        assert r.status_code == 400, (days, r.text)


async def test_a_minted_token_never_outlives_the_one_that_minted_it(api: Api, clock: Any) -> None:
    full = await api.sign_in("outlive@acme.com")
    parent = await mint(api, full, "read admin", expires_in_days=1)
    child = await mint(api, parent["token"], "read", expires_in_days=30)
    assert child["expires_at"] == parent["expires_at"]
    clock.advance(86400)
    assert (await api.get("/whoami", child["token"])).status_code == 401


async def test_oauth_scope_is_honoured_and_refresh_never_widens(
    server: tuple[Api, LiveServer],
) -> None:
    api, srv = server
    meta = (await api.get("/.well-known/oauth-authorization-server")).json()
    assert meta["scopes_supported"] == ["read", "write", "admin"]
    meta = (await api.get("/.well-known/oauth-protected-resource/mcp")).json()
    assert meta["scopes_supported"] == ["read", "write", "admin"]

    client_id = await register(api.http)
    verifier, challenge = pkce()
    email = "oauth-read@acme.com"
    url = authorize_url(client_id, challenge, scope="read other:thing")
    r = await api.http.get(url)
    r = await api.http.post("/oauth/authorize", data={"flow": flow_of(r.text), "email": email})
    r = await api.http.post(
        "/oauth/authorize", data={"flow": flow_of(r.text), "code": api.inbox.code_for(email)}
    )
    workspace = re.findall(r'name="workspace" value="([^"]+)"', r.text)[0]
    r = await api.http.post(
        "/oauth/authorize", data={"flow": flow_of(r.text), "workspace": workspace}
    )
    assert 'data-scope="read"' in r.text and 'data-scope="write"' not in r.text
    assert "Allow read-only" not in r.text  # it asked for read only already
    r = await api.http.post(
        "/oauth/authorize", data={"flow": flow_of(r.text), "decision": "approve"}
    )
    code = dict(p.split("=", 1) for p in r.headers["location"].split("?", 1)[1].split("&"))
    r = await redeem(api.http, client_id, code["code"], verifier)
    assert r.status_code == 200 and r.json()["scope"] == "read", r.text
    refresh_token = r.json()["refresh_token"]

    wider = {
        "grant_type": "refresh_token",
        "refresh_token": refresh_token,
        "client_id": client_id,
        "scope": "read write",
    }
    r = await api.http.post("/oauth/token", data=wider)
    assert r.status_code == 400 and r.json()["error"] == "invalid_scope", r.text
    # the refused refresh used nothing up: the same refresh token still works, as read
    r = await mcp_util.refresh(api.http, client_id, refresh_token)
    assert r.status_code == 200 and r.json()["scope"] == "read", r.text
    access = r.json()["access_token"]
    r = await api.json("POST", "/contacts", access, json={"name": "Ada"})
    assert r.status_code == 403 and r.json()["error"]["code"] == "insufficient_scope"
    assert "connect it again" in r.json()["error"]["hint"]
    async with mcp_session(srv.url, access) as session:
        result = await session.call_tool(
            "request", {"method": "POST", "path": "/contacts", "body": {"name": "Ada"}}
        )
        assert result.is_error and "insufficient_scope" in text_of(result)


@pytest.mark.parametrize("scope", ["", "openid", "read write admin"])
async def test_no_known_scope_offers_full_access(
    server: tuple[Api, LiveServer], scope: str
) -> None:
    api, _ = server
    client_id = await register(api.http)
    _, challenge = pkce()
    walk = await mcp_util.walk_signin(
        api.http,
        authorize_url(client_id, challenge, scope=scope),
        api.inbox,
        f"full{len(scope)}@acme.com",
    )
    consent = walk.pages[3].text
    for name in ("read", "write", "admin"):
        assert f'data-scope="{name}"' in consent
    assert "Allow read-only" in consent
