"""The sign-in page in a real headless Chromium (Debian's, driven by Playwright), with
JavaScript switched off: fill the email, fill the mailed code, approve, land on the client's
redirect URI with code and state; then the code buys a working token."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import mcp_util
import pytest
from conftest import Api, LiveServer
from mcp_util import authorize_url, pkce, redeem, register
from playwright.async_api import async_playwright, expect

port = mcp_util.port
env = mcp_util.env
server = mcp_util.server

CHROMIUM = "/usr/bin/chromium"
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


class Callback(BaseHTTPRequestHandler):
    """The client's redirect URI: a separate loopback origin that records what it was sent."""

    seen: list[str] = []

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        type(self).seen.append(self.path)
        body = b"<!doctype html><title>done</title><p>connected</p>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def callback() -> Iterator[str]:
    Callback.seen = []
    httpd = HTTPServer(("127.0.0.1", 0), Callback)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/callback"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=10)


@pytest.mark.parametrize(
    "button,granted", [("Allow", "read write admin"), ("Allow read-only", "read")]
)
async def test_sign_in_in_headless_chromium(
    server: tuple[Api, LiveServer], callback: str, tmp_path: Path, button: str, granted: str
) -> None:
    api, srv = server
    client_id = await register(api.http, name="Claude", uri=callback)
    verifier, challenge = pkce()
    url = srv.url + authorize_url(
        client_id, challenge, redirect_uri=callback, state="browser-state-1"
    )
    email = "jane@acme.com"
    async with async_playwright() as pw:
        context = await pw.chromium.launch_persistent_context(
            str(tmp_path / "chromium-profile"),
            executable_path=CHROMIUM,
            headless=True,
            args=FLAGS,
            java_script_enabled=False,  # the page must work without JavaScript
        )
        try:
            page = await context.new_page()
            await page.goto(url)
            await expect(page.get_by_role("heading", name="Sign in to crmkit")).to_be_visible()
            await page.get_by_label("Email address").fill(email)
            await page.get_by_role("button", name="Email me a code").click()

            await expect(page.get_by_role("heading", name="Enter your code")).to_be_visible()
            await page.get_by_label("6-digit code").fill(api.inbox.code_for(email))
            await page.get_by_role("button", name="Continue").click()

            await expect(page.get_by_role("heading", name="Choose a workspace")).to_be_visible()
            await expect(page.get_by_label("jane's workspace")).to_be_checked()
            await page.get_by_role("button", name="Continue").click()

            await expect(page.get_by_role("heading", name="Allow access?")).to_be_visible()
            consent = await page.locator("#consent").inner_text()
            assert consent == (
                "Claude wants to use your crmkit workspace jane's workspace. It asks to:"
            )
            # no scope in the link: the page offers everything, and read-only beside it
            items = await page.locator("#scopes li").all()
            asked = [await li.get_attribute("data-scope") for li in items]
            assert asked == ["read", "write", "admin"]
            await page.get_by_role("button", name=button, exact=True).click()

            await page.wait_for_url(callback + "?*")
            await expect(page.get_by_text("connected")).to_be_visible()
            landed = page.url
        finally:
            await context.close()

    params = {k: v[0] for k, v in parse_qs(urlsplit(landed).query).items()}
    assert params["state"] == "browser-state-1"
    visits = [p for p in Callback.seen if p.startswith("/callback")]
    assert visits == [f"/callback?code={params['code']}&state=browser-state-1"]
    r = await redeem(api.http, client_id, params["code"], verifier, uri=callback)
    assert r.status_code == 200, r.text
    assert r.json()["scope"] == granted
    access = r.json()["access_token"]
    who = await api.get("/whoami", access)
    assert who.status_code == 200 and "email=jane@acme.com" in who.text
    assert f'scopes="{granted}"' in who.text or f"scopes={granted}" in who.text, who.text
    r = await api.json("POST", "/contacts", access, json={"name": "Ada"})
    if granted == "read":
        assert r.status_code == 403 and r.json()["error"]["code"] == "insufficient_scope"
        assert (
            "reconnect" in r.json()["error"]["hint"]
            or "connect it again" in (r.json()["error"]["hint"])
        )
    else:
        assert r.status_code == 201, r.text
