"""The unhappy paths of every /workspaces route, as a matrix over the route table:
no or bad token -> 401, a member on admin routes -> 403, someone else's workspace -> 404 (403
not_a_member on the switch route), unknown body fields and role values -> 400. Each proves that
nothing changed by counting every table's rows before and after."""

from __future__ import annotations

import pytest
from starlette.routing import Route
from teams_util import error, ids, invite, snapshot

from crmkit.web import workspaces as web


@pytest.fixture
async def world(api):
    """Ann administers a workspace with member Bob and a pending invite; Eve has her own."""
    ann = await api.sign_in("ann@acme.com")
    workspace, ann_id = await ids(api, ann)
    r = await invite(api, ann, workspace, "bob@acme.com")
    bob = await api.sign_in("bob@acme.com")
    r = await invite(api, ann, workspace, "cat@acme.com")
    eve = await api.sign_in("eve@evil.test")
    eve_workspace, eve_id = await ids(api, eve)
    return {
        "w": workspace,
        "ann": ann,
        "ann_id": ann_id,
        "bob": bob,
        "bob_id": (await ids(api, bob))[1],
        "invite": r.json()["data"]["handle"].split("/")[1],
        "eve": eve,
        "eve_w": eve_workspace,
    }


# (method, path, body, admin only). Paths use {w} (workspace), {u} (Ann, an admin) and {i}.
ROUTES = [
    ("GET", "/workspaces", None, False),
    ("POST", "/workspaces", {"name": "New"}, False),
    ("PATCH", "/workspaces/{w}", {"name": "Renamed"}, True),
    ("DELETE", "/workspaces/{w}", None, True),
    ("POST", "/workspaces/{w}/tokens", {}, False),
    ("GET", "/workspaces/{w}/members", None, False),
    ("POST", "/workspaces/{w}/invites", {"email": "dan@acme.com"}, True),
    ("DELETE", "/workspaces/{w}/invites/{i}", None, True),
    ("POST", "/workspaces/{w}/members/{u}/role", {"role": "member"}, True),
    ("DELETE", "/workspaces/{w}/members/{u}", None, True),
]


def fill(path: str, world: dict[str, str], workspace: str | None = None) -> str:
    return path.format(w=workspace or world["w"], u=world["ann_id"], i=world["invite"])


def test_the_matrix_covers_every_route():
    served = {
        (method, route.path.replace("{workspace_id:handle}", "{w}"))
        for route in web.routes
        if isinstance(route, Route)
        for method in (route.methods or set()) - {"HEAD"}
    }
    listed = {
        (m, p.replace("{u}", "{user_id:handle}").replace("{i}", "{invite_id:handle}"))
        for m, p, _, _ in ROUTES
    }
    assert served == listed


async def test_wrong_methods_are_405_naming_the_allowed_ones(api, world):
    r = await api.json("GET", f"/workspaces/{world['w']}", world["ann"])
    assert r.status_code == 405
    assert set(error(r)["allowed"].split(", ")) == {"PATCH", "DELETE"}
    r = await api.json("PUT", "/workspaces", world["ann"])
    assert r.status_code == 405
    assert set(error(r)["allowed"].split(", ")) == {"GET", "HEAD", "POST"}


async def test_no_token_or_a_bad_token_is_401(api, world):
    before = await snapshot(api)
    for method, path, body, _ in ROUTES:
        for token in (None, "ck_not-a-real-token"):
            r = await api.json(method, fill(path, world), token, json=body)
            assert r.status_code == 401, (method, path, r.text)
            assert r.headers["WWW-Authenticate"].startswith("Bearer")
            assert error(r)["code"] in ("auth_required", "invalid_token")
            assert error(r)["hint"]
    assert await snapshot(api) == before


async def test_a_member_on_admin_routes_is_403(api, world):
    before = await snapshot(api)
    for method, path, body, admin in ROUTES:
        if not admin:
            continue
        for fmt in ("json", "text"):
            if fmt == "json":
                r = await api.json(method, fill(path, world), world["bob"], json=body)
                assert r.status_code == 403, (method, path, r.text)
                assert error(r)["code"] == "admin_required"
                assert "ask an admin" in error(r)["hint"]
            else:
                r = await api.request(method, fill(path, world), world["bob"], json=body)
                assert r.status_code == 403
                assert r.text.startswith("error: admin_required: ")
                assert "\nhint: " in r.text
    assert await snapshot(api) == before
    assert [m for m in api.inbox.messages if m["Subject"].startswith("Your crmkit confirm")] == []


async def test_someone_elses_workspace_is_404_like_a_missing_one(api, world):
    """Eve (an admin of her own workspace) probes Ann's: every route answers as for an id that
    does not exist, and the switch route says not_a_member for both."""
    before = await snapshot(api)
    for method, path, body, _ in ROUTES:
        if "{w}" not in path:
            continue
        real = await api.json(method, fill(path, world), world["eve"], json=body)
        fake = await api.json(method, fill(path, world, "w_aaaaaaaaaaaa"), world["eve"], json=body)
        expected = (403, "not_a_member") if path.endswith("/tokens") else (404, "not_found")
        for r in (real, fake):
            assert (r.status_code, error(r)["code"]) == expected, (method, path, r.text)
        assert error(real)["message"] == error(fake)["message"].replace(
            "w_aaaaaaaaaaaa", world["w"]
        )
        assert error(real)["hint"] == error(fake)["hint"]
    assert await snapshot(api) == before


async def test_ids_of_other_kinds_or_workspaces_are_404(api, world):
    before = await snapshot(api)
    w = world["w"]
    ann = world["ann"]
    cases = [
        ("POST", f"/workspaces/{w}/members/u_aaaaaaaaaaaa/role", {"role": "member"}),
        ("POST", f"/workspaces/{w}/members/invite/{world['invite']}/role", {"role": "member"}),
        ("DELETE", f"/workspaces/{w}/members/u_aaaaaaaaaaaa", None),
        ("DELETE", f"/workspaces/{w}/invites/i_aaaaaaaaaaaa", None),
        ("DELETE", f"/workspaces/{w}/invites/user/{world['bob_id']}", None),
        ("PATCH", "/workspaces/user/" + world["ann_id"], {"name": "x"}),
        ("GET", f"/workspaces/{w}x/members", None),
    ]
    for method, path, body in cases:
        r = await api.json(method, path, ann, json=body)
        assert r.status_code == 404, (method, path, r.text)
        assert error(r)["code"] == "not_found"
    # A member of Eve's workspace is not a member of Ann's: Eve's user id is 404 there.
    eve_id = (await ids(api, world["eve"]))[1]
    r = await api.json("DELETE", f"/workspaces/{w}/members/{eve_id}", ann)
    assert r.status_code == 404
    assert await snapshot(api) == before


async def test_unknown_fields_and_role_values_are_400(api, world):
    before = await snapshot(api)
    w, ann = world["w"], world["ann"]
    cases = [
        ("POST", "/workspaces", {"name": "x", "plan": "unlimited"}, "unknown_field", "name"),
        ("PATCH", f"/workspaces/{w}", {"name": "x", "id": "w_1"}, "unknown_field", "name"),
        (
            "POST",
            f"/workspaces/{w}/tokens",
            {"token": "x"},
            "unknown_field",
            "expires_in_days, name, scopes",
        ),
        (
            "POST",
            f"/workspaces/{w}/invites",
            {"email": "d@acme.com", "workspace_id": w},
            "unknown_field",
            "email, role",
        ),
        (
            "POST",
            f"/workspaces/{w}/invites",
            {"email": "d@acme.com", "role": "owner"},
            "invalid_field",
            "admin, member",
        ),
        (
            "POST",
            f"/workspaces/{w}/members/{world['bob_id']}/role",
            {"role": "superuser"},
            "invalid_field",
            "admin, member",
        ),
        (
            "POST",
            f"/workspaces/{w}/members/{world['bob_id']}/role",
            {"role": "admin", "user_id": "x"},
            "unknown_field",
            "role",
        ),
    ]
    for method, path, body, code, allowed in cases:
        r = await api.json(method, path, ann, json=body)
        assert r.status_code == 400, (method, path, r.text)
        assert (error(r)["code"], error(r)["allowed"]) == (code, allowed), r.text
    r = await api.post(f"/workspaces/{w}/invites", ann, json={"email": "not an email"})
    assert r.status_code == 400 and "error: invalid_email" in r.text
    r = await api.post(f"/workspaces/{w}/invites", ann, content=b"{nope")
    assert r.status_code == 400 and "error: invalid_json" in r.text
    assert await snapshot(api) == before
