"""Helpers for the MCP and OAuth tests: a uvicorn server whose CRMKIT_BASE_URL is its own
address (OAuth metadata must point back at it), the official MCP client, and a walk through
the sign-in forms the way a browser without JavaScript would."""

from __future__ import annotations

import re
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from html import unescape
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import httpx2
import uvicorn
from conftest import Inbox, _Server
from mcp.client.session import ClientSession
from mcp.client.streamable_http import streamable_http_client

from crmkit.app import App

FLOW_RE = re.compile(r'name="flow" value="([^"]+)"')
WORKSPACE_RE = re.compile(r'name="workspace" value="([^"]+)"')


class PortServer:
    """uvicorn in a thread on a port chosen before the app was configured."""

    def __init__(self, app: App, port: int) -> None:
        self.port = port
        self.app = app
        config = uvicorn.Config(
            app, host="127.0.0.1", port=port, log_config=None, access_log=False, lifespan="on"
        )
        self.server = _Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        import asyncio

        self.thread.start()
        await asyncio.to_thread(self.server.ready.wait, 30)
        if not self.server.started:
            raise RuntimeError("uvicorn failed to start")

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


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
