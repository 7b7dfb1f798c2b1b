"""Helpers for the MCP and OAuth tests: a uvicorn server whose CRMKIT_BASE_URL is its own
address (OAuth metadata must point back at it), the official MCP client, and a walk through
the sign-in forms the way a browser without JavaScript would."""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from html import unescape
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import httpx2
import pytest
from conftest import Api, Inbox, LiveServer, Smtp, free_port, serve
from mcp.client.session import ClientSession
from mcp.client.streamable_http import streamable_http_client

from crmkit.app import create_app
from crmkit.clock import FixedClock
from crmkit.config import Settings

FLOW_RE = re.compile(r'name="flow" value="([^"]+)"')
WORKSPACE_RE = re.compile(r'name="workspace" value="([^"]+)"')


@asynccontextmanager
async def mcp_session(
    url: str, token: str | None = None, auth: httpx2.Auth | None = None
) -> AsyncIterator[ClientSession]:
    """The official MCP client over streamable HTTP, initialized."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with (
        httpx2.AsyncClient(headers=headers, auth=auth, timeout=30) as http,
        streamable_http_client(url + "/mcp", http_client=http) as (read, write),
        ClientSession(read, write) as session,
    ):
        await session.initialize()
        yield session


def text_of(result: Any) -> str:
    assert len(result.content) == 1
    return str(result.content[0].text)


def flow_of(html: str) -> str:
    match = FLOW_RE.search(html)
    assert match, f"no flow state in the page:\n{html[:500]}"
    return unescape(match.group(1))


@dataclass
class Walk:
    """Every page of one walk through the sign-in, for assertions."""

    pages: list[httpx.Response]
    location: str

    @property
    def params(self) -> dict[str, str]:
        return {k: v[0] for k, v in parse_qs(urlsplit(self.location).query).items()}


async def to_workspace_choice(
    http: httpx.AsyncClient, authorize_url: str, inbox: Inbox, email: str
) -> httpx.Response:
    """The sign-in page walked as far as the workspace choice (email, then the mailed code)."""
    r = await http.get(authorize_url)
    r = await http.post("/oauth/authorize", data={"flow": flow_of(r.text), "email": email})
    r = await http.post(
        "/oauth/authorize", data={"flow": flow_of(r.text), "code": inbox.code_for(email)}
    )
    assert r.status_code == 200 and "Choose a workspace" in r.text, r.text
    return r


async def walk_signin(
    http: httpx.AsyncClient,
    authorize_url: str,
    inbox: Inbox,
    email: str,
    *,
    workspace: str | None = None,
    new_workspace: str | None = None,
    decision: str = "approve",
) -> Walk:
    """GET the authorize URL, then post the email, the mailed code, the workspace choice and
    the decision. Returns the final redirect."""
    pages: list[httpx.Response] = []
    r = await http.get(authorize_url)
    assert r.status_code == 200, r.text
    pages.append(r)
    r = await http.post("/oauth/authorize", data={"flow": flow_of(r.text), "email": email})
    assert r.status_code == 200, r.text
    pages.append(r)
    code = inbox.code_for(email)
    r = await http.post("/oauth/authorize", data={"flow": flow_of(r.text), "code": code})
    assert r.status_code == 200 and "Choose a workspace" in r.text, r.text
    pages.append(r)
    if new_workspace is not None:
        choice = {"workspace": "new", "workspace_name": new_workspace}
    else:
        found = WORKSPACE_RE.findall(r.text)
        choice = {"workspace": workspace or found[0]}
    r = await http.post("/oauth/authorize", data={"flow": flow_of(r.text), **choice})
    assert r.status_code == 200 and "Allow access?" in r.text, r.text
    pages.append(r)
    r = await http.post("/oauth/authorize", data={"flow": flow_of(r.text), "decision": decision})
    assert r.status_code == 303, r.text
    pages.append(r)
    return Walk(pages, r.headers["location"])


# --- fixtures shared by the MCP test modules (assign them in a module to use them) ------------


@pytest.fixture
def port() -> int:
    return free_port()


@pytest.fixture
def env(port: int) -> dict[str, str]:
    """CRMKIT_BASE_URL is the live server's own address, so OAuth metadata points back to it."""
    return {"CRMKIT_BASE_URL": f"http://127.0.0.1:{port}"}


@pytest.fixture
async def server(
    settings: Settings, clock: FixedClock, smtp: Smtp, port: int
) -> AsyncIterator[tuple[Api, LiveServer]]:
    async with serve(create_app(settings, clock=clock, access_log=False), smtp, port) as pair:
        yield pair


# --- OAuth helpers ----------------------------------------------------------------------------


def pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


async def register(
    http: httpx.AsyncClient,
    name: str = "Claude",
    uri: str = "https://claude.ai/api/mcp/auth_callback",
) -> str:
    r = await http.post("/oauth/register", json={"client_name": name, "redirect_uris": [uri]})
    assert r.status_code == 201, r.text
    return str(r.json()["client_id"])


def authorize_url(client_id: str, challenge: str, **extra: str) -> str:
    params = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": "https://claude.ai/api/mcp/auth_callback",
        "state": "st-" + secrets.token_hex(8),
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        **extra,
    }
    return "/oauth/authorize?" + urlencode({k: v for k, v in params.items() if v != ""})


async def redeem(
    http: httpx.AsyncClient,
    client_id: str,
    code: str,
    verifier: str,
    uri: str | None = "https://claude.ai/api/mcp/auth_callback",
) -> httpx.Response:
    data = {
        "grant_type": "authorization_code",
        "code": code,
        "client_id": client_id,
        "code_verifier": verifier,
    }
    if uri is not None:
        data["redirect_uri"] = uri
    return await http.post("/oauth/token", data=data)


async def refresh(http: httpx.AsyncClient, client_id: str, refresh_token: str) -> httpx.Response:
    return await http.post(
        "/oauth/token",
        data={
            "grant_type": "refresh_token",
            "refresh_token": refresh_token,
            "client_id": client_id,
        },
    )
