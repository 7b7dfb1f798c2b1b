"""Through /mcp: each tool call is counted against the token's bucket, the session's own
messages are not."""

from __future__ import annotations

import json

import mcp_util
import pytest
from conftest import Api, LiveServer
from mcp_util import mcp_session, text_of

port = mcp_util.port
server = mcp_util.server


@pytest.fixture
def env(port: int) -> dict[str, str]:
    plans = {p: {"requests_per_minute": 6} for p in ("free", "team")}
    return {"CRMKIT_BASE_URL": f"http://127.0.0.1:{port}", "CRMKIT_PLANS": json.dumps(plans)}


async def test_tool_calls_count_the_session_does_not(server: tuple[Api, LiveServer]) -> None:
    api, srv = server
    token = await api.sign_in("mcp@acme.com")
    async with mcp_session(srv.url, token) as session:
        replies = []
        for _ in range(7):
            result = await session.call_tool("request", {"method": "GET", "path": "/whoami"})
            replies.append((result.is_error, text_of(result)))
    assert [err for err, _ in replies] == [False] * 6 + [True]
    assert replies[-1][1].startswith("error: rate_limited:")
    r = await api.get("/whoami", token)
    assert r.status_code == 429  # the same bucket as plain HTTP
    assert r.headers["x-ratelimit-remaining"] == "0"
