"""Signed payloads (cursors, delete confirmations, OAuth state): round trip and every way a
changed one must be refused."""

from __future__ import annotations

import hashlib

import pytest
from itsdangerous import BadData, Signer

from crmkit.signing import Sealer

KEY = "k" * 48


def test_a_payload_comes_back_as_sent_and_url_safe() -> None:
    payload = ["0123456789abcdef", 1_763_942_400, "c_abcdefghijkl", None, {"é": "x/y+z"}]
    sealed = Sealer(KEY, "crmkit.cursor").dumps(payload)
    assert all(ch.isalnum() or ch in "-_." for ch in sealed)
    assert Sealer(KEY, "crmkit.cursor").loads(sealed) == payload


@pytest.mark.parametrize(
    "change",
    [
        lambda s: s[:-1],  # cut
        lambda s: s[:10] + ("A" if s[10] != "A" else "B") + s[11:],  # a payload byte changed
        lambda s: s + "A",
        lambda s: s.replace(".", ""),
        lambda s: "",
    ],
)
def test_a_changed_payload_is_refused(change: object) -> None:
    sealed = Sealer(KEY, "crmkit.cursor").dumps(["a", 1])
    with pytest.raises(BadData):
        Sealer(KEY, "crmkit.cursor").loads(change(sealed))  # type: ignore[operator]


def test_another_salt_or_key_is_refused() -> None:
    sealed = Sealer(KEY, "crmkit.cursor").dumps(["a", 1])
    with pytest.raises(BadData):
        Sealer(KEY, "crmkit.confirm").loads(sealed)
    with pytest.raises(BadData):
        Sealer("other" * 10, "crmkit.cursor").loads(sealed)


@pytest.mark.parametrize("body", [b"!!not-base64!!", b"bm90IGpzb24"])  # "not json"
def test_a_signed_body_that_does_not_decode_is_bad_data_not_a_crash(body: bytes) -> None:
    signed = Signer(KEY, salt="crmkit.cursor", digest_method=hashlib.sha256).sign(body).decode()
    with pytest.raises(BadData):
        Sealer(KEY, "crmkit.cursor").loads(signed)
