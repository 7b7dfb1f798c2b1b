"""The sign-in flow behind GET/POST /oauth/authorize: its validated request and signed state.

Every form carries the whole flow state signed (rt.signer) with a fresh nonce; a POST is
accepted once per nonce (a used nonce is recorded), within 30 minutes, and only together with
the browser's CSRF cookie whose hash the state holds. So a forged, replayed, expired or
cross-site form changes nothing.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import asdict, dataclass, replace
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

from itsdangerous import BadData

from crmkit.accounts import scopes
from crmkit.errors import OAuthError
from crmkit.oauth import clients, grants
from crmkit.oauth.clients import Client
from crmkit.runtime import Runtime
from crmkit.store import oauth as store

FLOW_TTL_SECONDS = 30 * 60
SALT = "oauth-flow"
MAX_STATE = 500
STEPS = ("email", "code", "workspace", "consent")


class PageError(Exception):
    """The authorize request is refused before the person has done anything: show crmkit's
    error page, never redirect (RFC 9700 4.11.2; see `start`)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class Flow:
    client_id: str
    redirect_uri: str
    challenge: str
    state: str
    csrf: str  # SHA-256 (hex) of the browser's CSRF cookie
    step: str = "email"
    email: str = ""
    user_id: str = ""
    workspace_id: str = ""
    new_workspace: str = ""
    nonce: str = ""
    expires_at: int = 0
    scopes: str = scopes.FULL  # what the application asked for


def csrf_hash(cookie: str) -> str:
    return hashlib.sha256(cookie.encode()).hexdigest()


def back_to_client(flow: Flow, params: dict[str, str]) -> str:
    """The redirect URI with `params`, and the client's state when it sent one."""
    return redirect_to(flow.redirect_uri, {**params, "state": flow.state} if flow.state else params)


def redirect_to(uri: str, params: dict[str, str]) -> str:
    parts = urlsplit(uri)
    query = parts.query + ("&" if parts.query else "") + urlencode(params)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, ""))


async def start(rt: Runtime, query: dict[str, str], csrf_cookie: str) -> tuple[Client, Flow]:
    """Validate GET /oauth/authorize. Every refusal is a PageError, shown as crmkit's own
    error page: nothing goes to the redirect URI before the person has acted on the sign-in
    page. A redirect carrying error= from here would make this server an open redirector
    (RFC 9700 4.11.2): anyone may register any https redirect URI, and a link with a bad
    parameter would send the browser straight there with no page shown. Only decisions taken
    on the page (deny, or a failed approval) go back to the client, by back_to_client."""
    client = await clients.find(rt, query.get("client_id"))
    if client is None:
        raise PageError(
            "This application is not registered with this crmkit server (unknown client_id)."
        )
    redirect_uri = query.get("redirect_uri")
    if redirect_uri is None:
        if len(client.redirect_uris) != 1:
            raise PageError(
                "The sign-in link has no redirect_uri, and this application registered more"
                " than one return address."
            )
        redirect_uri = client.redirect_uris[0]
    if redirect_uri not in client.redirect_uris:
        raise PageError(
            "The return address (redirect_uri) this application asked for is not one it registered."
        )
    # state is optional: with PKCE, OAuth 2.1 leaves it to the client. Sent, it comes back as is.
    state = query.get("state", "")
    if len(state) > MAX_STATE:
        raise PageError(f"The sign-in link's state is longer than {MAX_STATE} characters.")
    if query.get("response_type") != "code":
        raise PageError(
            "The sign-in link asks for an unsupported response_type: crmkit supports only"
            " response_type=code."
        )
    if query.get("code_challenge_method") != "S256":
        raise PageError(
            "The sign-in link must use PKCE with code_challenge_method=S256 (plain or none is"
            " not accepted)."
        )
    challenge = query.get("code_challenge", "")
    if not grants.valid_challenge(challenge):
        raise PageError(
            "The sign-in link's code_challenge is missing or malformed: it must be the 43"
            " base64url characters of an S256 hash."
        )
    try:
        grants.check_resource(rt, query.get("resource"))
    except OAuthError:
        raise PageError(
            f"The sign-in link asks for another resource: resource must be"
            f" {rt.settings.public_url}/mcp, this server's MCP endpoint."
        ) from None
    return client, Flow(
        client.id,
        redirect_uri,
        challenge,
        state,
        csrf_hash(csrf_cookie),
        scopes=asked_scopes(query.get("scope")),
    )


def asked_scopes(scope: str | None) -> str:
    """The crmkit scopes in an authorize request's `scope`. Names crmkit doesn't know are
    ignored (RFC 6749 3.3 lets the server decide; a connector may send its own); with none
    known, or no scope at all (ChatGPT's reconnects), the person is offered full access and
    may still pick read-only on the consent page."""
    known = {name for name in (scope or "").split() if name in scopes.ALL}
    return scopes.text(known | {"read"}) if known else scopes.FULL


def seal(rt: Runtime, flow: Flow) -> str:
    """The signed form value for the next step: a fresh nonce and a fresh deadline."""
    fresh = replace(
        flow, nonce=secrets.token_urlsafe(16), expires_at=rt.clock.now() + FLOW_TTL_SECONDS
    )
    return str(rt.signer(SALT).dumps(asdict(fresh)))


class FlowRefused(Exception):
    """A forged, replayed, expired or cross-site form."""


async def open_sealed(rt: Runtime, sealed: str, csrf_cookie: str | None) -> Flow:
    """Check a posted flow state and use up its nonce (once only)."""
    try:
        data: Any = rt.signer(SALT).loads(sealed)
        flow = Flow(**data)
    except (BadData, TypeError, ValueError):
        raise FlowRefused("this form was altered or is not from this server") from None
    now = rt.clock.now()
    if flow.expires_at < now:
        raise FlowRefused("this sign-in page expired (pages last 30 minutes)")
    if not csrf_cookie or not hmac.compare_digest(csrf_hash(csrf_cookie), flow.csrf):
        raise FlowRefused("this form was not sent from the sign-in page in this browser")
    if flow.step not in STEPS:
        raise FlowRefused("unknown step")
    async with rt.db.write() as tx:
        fresh = await store.use_nonce(tx, flow.nonce, flow.expires_at, now)
    if not fresh:
        raise FlowRefused("this form was already sent once")
    return flow
