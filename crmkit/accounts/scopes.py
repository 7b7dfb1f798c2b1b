"""Token scopes: what a token may do, on top of what its holder's role allows.

- read: every GET;
- write: record, activity and bulk writes;
- admin: workspace, member, invite, token and webhook administration.

A token asked for write or admin can read too: a token that may change a record but not look
at it helps nobody, and agents would trip over it. Scopes are stored and shown as one
space-separated string in this order ("read write admin"), as OAuth writes them.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

from crmkit.errors import Forbidden, InvalidField

Scope = Literal["read", "write", "admin"]
ALL: tuple[Scope, ...] = ("read", "write", "admin")
FULL = "read write admin"
EXPIRES_MAX_DAYS = 3650


def parse(value: object, field: str = "scopes") -> frozenset[str]:
    """A JSON list of scope names, or one string of them separated by spaces or commas."""
    if isinstance(value, str):
        names = value.replace(",", " ").split()
    elif isinstance(value, list) and all(isinstance(v, str) for v in value):
        names = [v.strip() for v in value]
    else:
        raise InvalidField(
            f"{field} must be a list of scope names",
            f'e.g. "{field}":["read"] or "{field}":["read","write"]',
            allowed=ALL,
        )
    unknown = [n for n in names if n not in ALL]
    if unknown or not names:
        raise InvalidField(
            f"{field} has an unknown scope {unknown[0][:40]!r}" if unknown else f"{field} is empty",
            f'scopes are read, write and admin; e.g. "{field}":["read"]',
            allowed=ALL,
        )
    return frozenset(["read", *names])


def text(scopes: Iterable[str]) -> str:
    have = set(scopes)
    return " ".join(s for s in ALL if s in have)


def of_text(stored: str) -> frozenset[str]:
    return frozenset(stored.split())


def expires_in_days(value: int | None) -> int | None:
    """Seconds until a hard expiry, from `expires_in_days` (None: none asked)."""
    if value is None:
        return None
    if not 1 <= value <= EXPIRES_MAX_DAYS:
        raise InvalidField(
            f"expires_in_days must be 1-{EXPIRES_MAX_DAYS}",
            'e.g. "expires_in_days":30; leave it out for a token that expires only when idle',
        )
    return value * 86400


def wider(asked: frozenset[str], own: frozenset[str]) -> Forbidden | None:
    """Refusal of a token asked with a scope the asking token lacks (None: none lacking)."""
    missing = [s for s in ALL if s in asked and s not in own]
    if not missing:
        return None
    return Forbidden(
        f"this token has the scopes {text(own)}: it cannot give a token {', '.join(missing)}",
        "ask for no more than your token has; for more, sign in again (a sign-in gives read,"
        " write and admin) and mint from that token",
        code="insufficient_scope",
    )


def missing(
    needed: str, own: frozenset[str], method: str, path: str, workspace_id: str, connector: bool
) -> Forbidden:
    """403 for a route whose scope the token lacks, saying how to get a token that has it."""
    if connector:
        how = (
            "this app was granted less access: disconnect it and connect it again, and approve"
            " full access on the sign-in page"
        )
    else:
        how = (
            f'mint a token that has it: POST /workspaces/{workspace_id}/tokens {{"scopes":'
            f'["read","{needed}"]}} with a token that has {needed}, or sign in again (a sign-in'
            " gives read, write and admin)"
        )
    return Forbidden(
        f"{method} {path} needs a token with the {needed} scope; this one has {text(own)}",
        how,
        code="insufficient_scope",
        extra={"needed_scope": needed, "token_scopes": text(own)},
        # RFC 6750 3.1: the challenge names the scope the request needs
        headers={"WWW-Authenticate": f'Bearer error="insufficient_scope", scope="{needed}"'},
    )
