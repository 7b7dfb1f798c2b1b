"""The OAuth sign-in page follows the same account rules as POST /auth/verify: pending invites
are joined, and creating a workspace there respects the plan's cap on owned workspaces."""

from __future__ import annotations

import httpx
import pytest
from conftest import Api
from mcp_util import (
    authorize_url,
    flow_of,
    pkce,
    redeem,
    register,
    to_workspace_choice,
    walk_signin,
)
from teams_util import create_workspace, invite


@pytest.fixture
def env() -> dict[str, str]:
    return {"CRMKIT_PLANS": '{"free": {"workspaces": 2}}'}


async def test_invitee_signing_in_on_the_page_joins_and_can_pick_the_workspace(api: Api) -> None:
    admin = await api.sign_in("ann@acme.com")
    acme = await create_workspace(api, admin, "Acme sales")
    assert (await invite(api, admin, acme, "bob@acme.com")).status_code == 201

    client_id = await register(api.http)
    verifier, challenge = pkce()
    walk = await walk_signin(
        api.http, authorize_url(client_id, challenge), api.inbox, "bob@acme.com", workspace=acme
    )
    token = (await redeem(api.http, client_id, walk.params["code"], verifier)).json()
    who = await api.json("GET", "/whoami", token["access_token"])
    assert who.json()["data"]["workspace"]["handle"] == f"workspace/{acme}"
    assert who.json()["data"]["workspace"]["role"] == "member"
    members = await api.get(f"/workspaces/{acme}/members", admin)
    assert "invite/" not in members.text  # the invite became a membership
    assert "email=bob@acme.com role=member" in members.text


async def choose_a_new_workspace(api: Api, email: str) -> httpx.Response:
    """Through the sign-in page to its workspace step, choosing "A new workspace"."""
    client_id = await register(api.http)
    _, challenge = pkce()
    r = await to_workspace_choice(api.http, authorize_url(client_id, challenge), api.inbox, email)
    choice = {"workspace": "new", "workspace_name": "Third"}
    return await api.post("/oauth/authorize", data={"flow": flow_of(r.text), **choice})


async def test_new_workspace_on_the_page_respects_the_cap(api: Api) -> None:
    token = await api.sign_in("jane@acme.com")  # owns 1 of 2
    await create_workspace(api, token, "Second")  # owns 2 of 2
    before = await api.rt.db.one("SELECT count(*) FROM workspaces")
    # Told at the workspace step, in words for a person, with the choice still open.
    r = await choose_a_new_workspace(api, "jane@acme.com")
    assert r.status_code == 200 and "Allow access?" not in r.text
    assert "You already own 2 workspaces, the most the free plan allows" in r.text, r.text
    assert 'value="new"' in r.text  # the same choices again
    assert await api.rt.db.one("SELECT count(*) FROM workspaces") == before


async def test_a_refusal_after_approval_goes_back_to_the_application(api: Api) -> None:
    """The cap is reached between the workspace step and the approval (another tab): the
    application hears access_denied at its redirect URI, not a dead page."""
    token = await api.sign_in("jane@acme.com")  # owns 1 of 2
    r = await choose_a_new_workspace(api, "jane@acme.com")
    assert "Allow access?" in r.text
    await create_workspace(api, token, "Second")  # owns 2 of 2 meanwhile
    before = await api.rt.db.one("SELECT count(*) FROM workspaces")
    r = await api.post("/oauth/authorize", data={"flow": flow_of(r.text), "decision": "approve"})
    assert r.status_code == 303, r.text
    location = r.headers["location"]
    assert "error=access_denied" in location and "state=" in location
    assert "lets+you+own+2+workspaces" in location or "lets%20you%20own" in location, location
    assert await api.rt.db.one("SELECT count(*) FROM workspaces") == before
    assert await api.rt.db.one("SELECT count(*) FROM oauth_codes") == (0,)


async def test_a_connector_token_stays_in_the_workspace_the_user_approved(api: Api) -> None:
    token = await api.sign_in("jane@acme.com")
    home = (await api.json("GET", "/whoami", token)).json()["data"]["workspace"]["handle"]
    home_id = home.partition("/")[2]
    other = await create_workspace(api, token, "Private")

    client_id = await register(api.http)
    verifier, challenge = pkce()
    walk = await walk_signin(
        api.http,
        authorize_url(client_id, challenge),
        api.inbox,
        "jane@acme.com",
        workspace=home_id,
    )
    granted = (await redeem(api.http, client_id, walk.params["code"], verifier)).json()
    connector = granted["access_token"]
    tokens_before = await api.rt.db.one("SELECT count(*) FROM tokens")

    for method, path in [
        ("POST", f"/workspaces/{other}/tokens"),  # switching would outlive the grant
        ("POST", f"/workspaces/{home_id}/tokens"),
        ("GET", f"/workspaces/{other}/members"),
        ("PATCH", f"/workspaces/{other}"),
    ]:
        r = await api.json(method, path, connector, json={"name": "x"})
        assert r.status_code == 403, (method, path, r.text)
        assert r.json()["error"]["code"] == "connector_scope"
        assert "connect it again" in r.json()["error"]["hint"]
    assert await api.rt.db.one("SELECT count(*) FROM tokens") == tokens_before

    r = await api.json("POST", "/workspaces", connector, json={"name": "Spawned"})
    assert r.status_code == 403 and r.json()["error"]["code"] == "connector_scope"

    # It sees only its own session and workspace, and cannot revoke the user's other tokens.
    r = await api.json("GET", "/tokens", connector)
    assert [t["current"] for t in r.json()["data"]] == [True]
    r = await api.json("GET", "/workspaces", connector)
    assert [w["handle"] for w in r.json()["data"]] == [home]
    users_token = (await api.json("GET", "/whoami", token)).json()["data"]["token"]["handle"]
    r = await api.json("DELETE", f"/tokens/{users_token}", connector)
    assert r.status_code == 404
    assert (await api.get("/whoami", token)).status_code == 200
    assert await api.rt.db.one("SELECT count(*) FROM tokens") == tokens_before

    # Its own workspace still works, and the user's ordinary token is not confined.
    r = await api.get(f"/workspaces/{home_id}/members", connector)
    assert r.status_code == 200 and "email=jane@acme.com" in r.text
    assert (await api.post(f"/workspaces/{other}/tokens", token, json={})).status_code == 201
    assert len((await api.json("GET", "/tokens", token)).json()["data"]) >= 3


async def test_the_picker_says_who_created_a_workspace_you_were_invited_to(api: Api) -> None:
    await api.sign_in("vic@corp.com")
    mallory = await api.sign_in("mallory@evil.com")
    trap = await create_workspace(api, mallory, "vic's workspace")
    assert (await invite(api, mallory, trap, "vic@corp.com")).status_code == 201
    client_id = await register(api.http)
    _, challenge = pkce()
    url = authorize_url(client_id, challenge)
    r = await to_workspace_choice(api.http, url, api.inbox, "vic@corp.com")
    assert "vic&#x27;s workspace (created by mallory@evil.com)" in r.text
    assert r.text.count("created by") == 1  # vic's own workspace needs no label
