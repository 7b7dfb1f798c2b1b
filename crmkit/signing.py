"""Sealed, URL-safe payloads: signed (delete confirmations, the OAuth sign-in state) or
encrypted (list cursors).

`base64url(orjson(payload)) + "." + HMAC-SHA256`, signed by itsdangerous' `Signer` (salted
key derivation, constant-time comparison). Why not its `URLSafeTimedSerializer`: that one
also tries zlib on every payload and stamps a time, and cost 0.07 ms per cursor against
0.01 here, on every list page that has a next one. Nothing here expires by itself: each
payload that must expire carries its own deadline and its reader checks it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from typing import Any

import orjson
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from itsdangerous import BadData, BadPayload, Signer


class Sealer:
    def __init__(self, secret_key: str, salt: str) -> None:
        self._signer = Signer(secret_key, salt=salt, digest_method=hashlib.sha256)

    def dumps(self, payload: Any) -> str:
        body = base64.urlsafe_b64encode(orjson.dumps(payload)).rstrip(b"=")
        return self._signer.sign(body).decode()

    def loads(self, sealed: str) -> Any:
        """The payload; raises itsdangerous.BadData when `sealed` is not one we signed."""
        body = self._signer.unsign(sealed)  # BadSignature (a BadData) if changed or cut
        try:
            return orjson.loads(base64.urlsafe_b64decode(body + b"=" * (-len(body) % 4)))
        except (binascii.Error, orjson.JSONDecodeError, ValueError) as exc:
            raise BadPayload("the signed payload does not decode") from exc


class Cipher:
    """Encrypted and authenticated (AES-256-GCM): for payloads whose content is nobody's
    business, such as list cursors, whose positions (a search's newest row number, the audit
    log's sequence) would otherwise tell a reader how busy the whole server is.
    `base64url(nonce + ciphertext + tag)`; keys are derived from the secret key and the salt,
    and the salt is bound in as associated data. The nonce is an HMAC of the payload (a
    synthetic IV): the same payload seals to the same string (a text and a JSON reply give
    one cursor), and two payloads share a nonce only if they are the same payload."""

    def __init__(self, secret_key: str, salt: str) -> None:
        def derive(purpose: bytes) -> bytes:
            material = b"crmkit.cipher|" + purpose + b"|" + salt.encode() + b"|"
            return hashlib.sha256(material + secret_key.encode()).digest()

        self._aead = AESGCM(derive(b"key"))
        self._nonce_key = derive(b"nonce")
        self._salt = salt.encode()

    def dumps(self, payload: Any) -> str:
        plain = orjson.dumps(payload)
        nonce = hmac.new(self._nonce_key, plain, hashlib.sha256).digest()[:12]
        sealed = nonce + self._aead.encrypt(nonce, plain, self._salt)
        return base64.urlsafe_b64encode(sealed).rstrip(b"=").decode()

    def loads(self, sealed: str) -> Any:
        """The payload; raises itsdangerous.BadData when `sealed` is not one we made."""
        try:
            raw = base64.urlsafe_b64decode(sealed + "=" * (-len(sealed) % 4))
            return orjson.loads(self._aead.decrypt(raw[:12], raw[12:], self._salt))
        except (binascii.Error, InvalidTag, orjson.JSONDecodeError, ValueError) as exc:
            raise BadData("not a payload crmkit sealed") from exc
