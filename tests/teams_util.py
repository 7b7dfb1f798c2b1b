"""Helpers for the teams tests: ids from whoami, step-up round trips, row counts."""

from __future__ import annotations

from typing import Any

import httpx
from conftest import Api


async def whoami(api: Api, token: str) -> dict[str, Any]:
    r = await api.json("GET", "/whoami", token)
    assert r.status_code == 200, r.text
    data: dict[str, Any] = r.json()["data"]
    return data


async def ids(api: Api, token: str) -> tuple[str, str]:
    """(workspace id, user id) behind a token."""
    data = await whoami(api, token)
    return data["workspace"]["handle"].split("/")[1], data["user"]["handle"].split("/")[1]


def error(r: httpx.Response) -> dict[str, Any]:
    """The error object of a JSON reply."""
    body: dict[str, Any] = r.json()["error"]
    return body


async def stepped_up(
    api: Api, method: str, path: str, token: str, email: str, *, header: bool = False, **kw: Any
) -> httpx.Response:
    """Call, expect escalation_required, read the emailed code, repeat with it."""
    first = await api.json(method, path, token, **kw)
    assert first.status_code == 403, first.text
    assert error(first)["code"] == "escalation_required"
    code = api.inbox.code_for(email)
    if header:
        headers = {"X-Escalation-Code": code}
        return await api.json(method, path, token, headers=headers, **kw)
    sep = "&" if "?" in path else "?"
    return await api.json(method, f"{path}{sep}code={code}", token, **kw)


async def create_workspace(api: Api, token: str, name: str) -> str:
    r = await api.json("POST", "/workspaces", token, json={"name": name})
    assert r.status_code == 201, r.text
    return str(r.json()["data"]["handle"].split("/")[1])


async def mint(api: Api, token: str, workspace_id: str) -> str:
    r = await api.json("POST", f"/workspaces/{workspace_id}/tokens", token, json={})
    assert r.status_code == 201, r.text
    return str(r.json()["data"]["token"])


async def invite(api: Api, token: str, workspace_id: str, email: str) -> httpx.Response:
    return await api.json(
        "POST", f"/workspaces/{workspace_id}/invites", token, json={"email": email}
    )


async def workspace_tables(api: Api) -> list[str]:
    tables = await api.rt.db.dialect.tables(api.rt.db)
    return sorted(name for name, columns in tables.items() if "workspace_id" in columns)


async def workspace_rows(api: Api, workspace_id: str) -> dict[str, int]:
    """Rows of every table with a workspace_id column, plus the workspaces row itself."""
    counts = {}
    for table in await workspace_tables(api):
        row = await api.rt.db.one(
            f'SELECT COUNT(*) FROM "{table}" WHERE workspace_id = ?', (workspace_id,)
        )
        counts[table] = int(row[0])
    row = await api.rt.db.one("SELECT COUNT(*) FROM workspaces WHERE id = ?", (workspace_id,))
    counts["workspaces"] = int(row[0])
    return counts


async def snapshot(api: Api) -> dict[str, int]:
    """Row counts of every table (to prove an unhappy path changed nothing), but for the
    rate limiter's buckets: every request counts there, refused or not."""
    counts = {}
    for name in await api.rt.db.dialect.tables(api.rt.db):
        if name == "rate_buckets":
            continue
        row = await api.rt.db.one(f'SELECT COUNT(*) FROM "{name}"')
        counts[str(name)] = int(row[0])
    return counts


async def roles(api: Api, workspace_id: str) -> dict[str, str]:
    rows = await api.rt.db.all(
        "SELECT u.email, m.role FROM memberships m JOIN users u ON u.id = m.user_id"
        " WHERE m.workspace_id = ?",
        (workspace_id,),
    )
    return {str(r[0]): str(r[1]) for r in rows}


async def audit_actions(api: Api, workspace_id: str | None) -> list[str]:
    if workspace_id is None:
        rows = await api.rt.db.all(
            "SELECT action FROM audit WHERE workspace_id IS NULL ORDER BY seq"
        )
    else:
        rows = await api.rt.db.all(
            "SELECT action FROM audit WHERE workspace_id = ? ORDER BY seq", (workspace_id,)
        )
    return [str(r[0]) for r in rows]
