"""The `request` tool reaching the records routes (needs the records branch: POST /contacts).

Written against issue 3's wire contract; it fails until that branch is merged."""

from __future__ import annotations

import mcp_util
from conftest import Api, LiveServer
from mcp_util import mcp_session, text_of

port = mcp_util.port
env = mcp_util.env
server = mcp_util.server


async def test_post_contacts_through_the_tool(server: tuple[Api, LiveServer]) -> None:
    api, srv = server
    token = await api.sign_in("jane@acme.com")
    before = await api.rt.db.one("SELECT COUNT(*) FROM contacts")
    async with mcp_session(srv.url, token) as session:
        created = await session.call_tool(
            "request",
            {
                "method": "POST",
                "path": "/contacts",
                "body": {"name": "Ada Lovelace", "email": "ada@example.com", "stage": "lead"},
            },
        )
        assert created.is_error is False
        text = text_of(created)
        assert "# created" in text
        line = next(ln for ln in text.splitlines() if ln.startswith("contact/"))
        handle = line.split(" ", 1)[0]
        assert "email=ada@example.com" in line

        fetched = await session.call_tool(
            "request", {"method": "GET", "path": f"/contacts/{handle}"}
        )
        assert fetched.is_error is False
        assert text_of(fetched) == (await api.get(f"/contacts/{handle}", token)).text

        bad = await session.call_tool(
            "request", {"method": "POST", "path": "/contacts", "body": {"nope": 1}}
        )
        assert bad.is_error is True
        assert "hint:" in text_of(bad)
    after = await api.rt.db.one("SELECT COUNT(*) FROM contacts")
    assert after[0] == before[0] + 1
