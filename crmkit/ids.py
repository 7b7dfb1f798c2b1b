"""Record ids and handles: `<kind>/<prefix>_<random base32>`, never sequential."""

from __future__ import annotations

import base64
import secrets

_ALPHABET = "abcdefghijklmnopqrstuvwxyz234567"
ID_LENGTH = 12  # 60 bits of randomness: collisions are not a practical concern per workspace


def new_id(prefix: str) -> str:
    # One read of the system's randomness (base32's alphabet is ours, upper-cased), not one
    # per letter: each read is a system call that lets go of the GIL, 38 -> 6 us an id.
    raw = base64.b32encode(secrets.token_bytes(8)).decode()
    return prefix + "_" + raw[:ID_LENGTH].lower()


def handle(kind: str, id_: str) -> str:
    return f"{kind}/{id_}"


def bare_id(value: str, kind: str, prefix: str) -> str | None:
    """Accept `c_x` or `contact/c_x`; return the bare id, or None when it cannot be one of `kind`.

    None lets callers answer 404 exactly as for a well-formed id that does not exist.
    """
    if "/" in value:
        given_kind, _, value = value.partition("/")
        if given_kind != kind:
            return None
    if not value.startswith(prefix + "_"):
        return None
    body = value[len(prefix) + 1 :]
    if not body or len(body) > 64 or any(c not in _ALPHABET for c in body):
        return None
    return value


# Every kind of handle crmkit writes, by kind: its ids' prefix. No prefix starts another
# one's `<prefix>_`, so a bare id names its kind.
PREFIXES = {
    "contact": "c",
    "company": "co",
    "deal": "d",
    "activity": "a",
    "workspace": "w",
    "user": "u",
    "token": "t",
    "invite": "i",
}


def any_handle(value: str, kinds: tuple[str, ...]) -> str | None:
    """`contact/c_x` or the bare `c_x` -> the handle `contact/c_x`, for ids of any of `kinds`
    (keys of PREFIXES); None when the value is neither of one of them."""
    kind = value.partition("/")[0] if "/" in value else None
    if kind is None:
        by_prefix = {PREFIXES[k]: k for k in kinds}
        kind = by_prefix.get(value.partition("_")[0])
    if kind not in kinds:
        return None
    found = bare_id(value, kind, PREFIXES[kind])
    return None if found is None else handle(kind, found)
