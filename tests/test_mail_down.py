"""CRMKIT_SMTP_URL pointing at a port nobody listens on: 503 email_unavailable, no code left."""

from __future__ import annotations

from typing import Any

import pytest
from conftest import free_port
from foundation_util import JSON, assert_error, count


@pytest.fixture
def env() -> dict[str, str]:
    return {"CRMKIT_SMTP_URL": f"smtp://127.0.0.1:{free_port()}"}


async def test_smtp_down_is_503_and_leaves_no_code(api: Any) -> None:
    for headers in ({}, JSON):
        r = await api.post("/auth/request", json={"email": "jane@acme.com"}, headers=headers)
        err = assert_error(r, 503, "email_unavailable")
        assert "try again" in err["hint"]
    assert await count(api.rt.db, "codes") == 0
    assert await count(api.rt.db, "users") == 0
    r = await api.post("/auth/verify", json={"email": "jane@acme.com", "code": "123456"})
    assert_error(r, 401, "invalid_code")
