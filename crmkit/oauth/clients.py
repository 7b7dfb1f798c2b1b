"""Dynamic client registration (RFC 7591) for public clients, and looking clients up.

Only public clients (token_endpoint_auth_method "none", PKCE instead of a secret). Redirect URIs
are https, or http on a loopback host for native apps; `javascript:`, `data:`, fragments and
anything else are refused.

Each registration is a row anybody can create, so two things bound them. Registrations are
limited per address (call.client_ip: an IPv4 address, or an IPv6 /64), and only per address:
an overall cap let registrations from 51 addresses fill it and lock every real connector out
for an hour. And a client never used within 24 hours of registering is deleted: "used" means an
authorization code was issued to it (a person signed in and approved; a grant only ever comes
from a code), recorded once in oauth_clients.used_at by grants.issue_code. The deleting needs
no scheduler: each registration first deletes up to PURGE_BATCH such clients, oldest first, so
the work per request is bounded and the purge outpaces registration.
"""

from __future__ import annotations

import ipaddress
import json
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from crmkit import names
from crmkit.accounts import ratelimit
from crmkit.errors import OAuthError
from crmkit.ids import new_id
from crmkit.runtime import Runtime
from crmkit.store import oauth as store

MAX_REDIRECT_URIS = 10
MAX_URI_LENGTH = 2000
NAME_MAX = 100
DEFAULT_NAME = "MCP client"
PER_ADDRESS_PER_HOUR = 20
UNUSED_CLIENT_SECONDS = 24 * 3600  # a client not used this long after registering is deleted
PURGE_BATCH = 100  # unused clients deleted, at most, by each registration
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "[::1]", "::1")


@dataclass(frozen=True)
class Client:
    id: str
    name: str
    redirect_uris: tuple[str, ...]


def _bad_metadata(message: str) -> OAuthError:
    return OAuthError(message, "fix the client metadata", code="invalid_client_metadata")


def _bad_redirect(message: str) -> OAuthError:
    return OAuthError(
        message,
        "redirect URIs must be https, or http on localhost/127.0.0.1",
        code="invalid_redirect_uri",
    )


def is_loopback(host: str | None) -> bool:
    if not host:
        return False
    if host in LOOPBACK_HOSTS:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_redirect_uri(uri: Any) -> str:
    if not isinstance(uri, str) or not uri or len(uri) > MAX_URI_LENGTH or _CONTROL.search(uri):
        raise _bad_redirect("each redirect URI must be a string of 1-2000 printable characters")
    try:
        parts = urlsplit(uri)
        parts.port  # noqa: B018 -- raises ValueError for a port out of range
    except ValueError:
        raise _bad_redirect(f"redirect URI {uri!r} is not a valid URL") from None
    if "#" in uri:
        raise _bad_redirect(f"redirect URI {uri!r} must not contain a fragment")
    if parts.scheme == "https" and parts.hostname:
        pass
    elif parts.scheme == "http" and is_loopback(parts.hostname):
        pass
    else:
        raise _bad_redirect(f"redirect URI {uri!r} is neither https nor loopback http")
    if parts.username is not None or parts.password is not None:
        raise _bad_redirect(f"redirect URI {uri!r} must not carry credentials")
    return uri


def check_metadata(data: Any) -> tuple[str, list[str]]:
    """(client name, redirect URIs) from a registration body, or invalid_client_metadata."""
    if not isinstance(data, dict):
        raise _bad_metadata("the registration body must be a JSON object")
    uris = data.get("redirect_uris")
    if not isinstance(uris, list) or not uris or len(uris) > MAX_REDIRECT_URIS:
        raise _bad_redirect(f"redirect_uris must be a list of 1-{MAX_REDIRECT_URIS} URIs")
    checked = [check_redirect_uri(u) for u in uris]
    # RFC 7591 lets the server replace requested values: every client is registered public
    # ("none" + PKCE) with our two grants, whatever it asked for, as long as it wants codes.
    method = data.get("token_endpoint_auth_method", "none")
    if not isinstance(method, str):
        raise _bad_metadata("token_endpoint_auth_method must be a string")
    grants = data.get("grant_types", ["authorization_code"])
    if not isinstance(grants, list) or "authorization_code" not in grants:
        raise _bad_metadata("grant_types must include authorization_code")
    types = data.get("response_types", ["code"])
    if not isinstance(types, list) or "code" not in types:
        raise _bad_metadata('response_types must include "code"')
    name = data.get("client_name", DEFAULT_NAME)
    if name is None:
        name = DEFAULT_NAME
    if not isinstance(name, str) or not name.strip() or len(name) > NAME_MAX:
        raise _bad_metadata(f"client_name must be 1-{NAME_MAX} characters")
    if not names.is_clean(name):
        # Format characters (bidi overrides, zero-width) could make the consent page show one
        # name while meaning another.
        raise _bad_metadata("client_name must not contain control or formatting characters")
    return name.strip(), checked


async def register(rt: Runtime, data: Any, client_ip: str) -> dict[str, Any]:
    name, uris = check_metadata(data)
    client_id = new_id("oc")
    now = rt.clock.now()
    async with rt.db.write() as tx:
        await ratelimit.hit(
            rt,
            tx,
            [
                ratelimit.Limit(
                    f"oauth-register-ip:{client_ip}",
                    PER_ADDRESS_PER_HOUR,
                    3600,
                    "client registrations from this address",
                ),
            ],
            "wait for Retry-After seconds, or reuse a client you registered before",
        )
        await store.purge_unused_clients(tx, now - UNUSED_CLIENT_SECONDS, PURGE_BATCH)
        await store.insert_client(tx, client_id, name, json.dumps(uris), now)
    return {
        "client_id": client_id,
        "client_id_issued_at": now,
        "client_name": name,
        "redirect_uris": uris,
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
        "token_endpoint_auth_method": "none",
    }


async def find(rt: Runtime, client_id: str | None) -> Client | None:
    if not client_id or len(client_id) > 64:
        return None
    row = await store.client(rt.db, client_id)
    if row is None:
        return None
    return Client(str(row[0]), str(row[1]), tuple(json.loads(row[2])))
