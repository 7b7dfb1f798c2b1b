"""`?dry_run=true` on every authenticated write route: every check runs (validation, plan caps,
versions, upsert matching, permissions, step-up) and nothing is written: no row in any table, no
audit row, no stored idempotency reply, no mail (crmkit/web/retries.py, crmkit/store/unit.py).

"Nothing is written" is proved with a dump of every row of every table (both backends) taken
before and after, compared for equality, and with the loopback SMTP server's inbox."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from starlette.routing import Route
from teams_util import error, ids, invite, mint, roles

from crmkit.web.routing import ApiRoute

# Routes that read their own query (as tests/test_route_table.py): OAuth and /mcp.
OWN_QUERY_PREFIXES = ("/oauth/", "/.well-known/", "/mcp")
NOT_CHECKED = "the confirmation code was not checked (a dry run never checks one)"
NOTHING = "nothing was written"


@pytest.fixture
def env(request: pytest.FixtureRequest) -> dict[str, str]:
    """Room for a team (the free plan's 3 members would stop the pending invite plus one
    more); a test may pass its own caps with indirect parametrization."""
    plans = getattr(request, "param", {"free": {"members": 10}})
    return {"CRMKIT_PLANS": json.dumps(plans)}


# -- what the database holds ------------------------------------------------------------------


async def dump(db: Any) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, each table's rows sorted: equal dumps mean nothing was
    written. SQLite: the FTS shadow tables too (the contentless FTS tables themselves cannot
    be read) and sqlite_sequence (AUTOINCREMENT counters); PostgreSQL: every base table."""
    names = sorted(await db.dialect.tables(db))
    if db.dialect.name == "sqlite":
        names.append("sqlite_sequence")
    out = {}
    for name in names:
        rows = await db.all(f'SELECT * FROM "{name}"')
        out[name] = sorted((tuple(r) for r in rows), key=repr)
    return out


def meta(r: httpx.Response) -> list[str]:
    """The `# ` lines of a text reply, without the `# `."""
    return [line[2:] for line in r.text.splitlines() if line.startswith("# ")]


def dry_json(body: dict[str, Any]) -> dict[str, Any]:
    """Where a JSON dry-run reply keeps dry_run and changes: beside "data" for a record, in
    "data" for a message (a delete, a revoke)."""
    if "dry_run" in body:
        return body
    data: dict[str, Any] = body["data"]
    return data


def bare(handle: str) -> str:
    return handle.split("/", 1)[1]


def with_query(url: str, query: str) -> str:
    return url + ("&" if "?" in url else "?") + query


# -- a workspace with something of everything ---------------------------------------------------


@dataclass
class World:
    ann: str  # admin of `workspace`
    bob: str  # a member of it
    workspace: str
    ann_id: str
    bob_id: str
    invite_id: str  # cat@acme.com, pending
    spare_token_id: str  # a second token of Ann's, to revoke
    company: str  # acme.com; Jane works there
    contact: str  # Jane, jane@acme.com, one activity; the deal links to her
    deal: str  # linked to Jane and Acme, one activity
    lone_contact: str  # one activity, nothing links to it
    lone_company: str  # one activity, nothing links to it


async def post(api: Any, token: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
    r = await api.json("POST", path, token, json=body)
    assert r.status_code in (200, 201), (path, r.text)
    data: dict[str, Any] = r.json()["data"]
    return data


async def build_world(api: Any) -> World:
    ann = await api.sign_in("ann@acme.com")
    workspace, ann_id = await ids(api, ann)
    r = await invite(api, ann, workspace, "bob@acme.com")
    assert r.status_code == 201, r.text
    bob = await api.sign_in("bob@acme.com")
    bob_id = (await ids(api, bob))[1]
    r = await invite(api, ann, workspace, "cat@acme.com")
    assert r.status_code == 201, r.text
    invite_id = bare(r.json()["data"]["handle"])
    spare = await mint(api, ann, workspace)
    spare_token_id = bare(
        (await api.json("GET", "/whoami", spare)).json()["data"]["token"]["handle"]
    )
    company = await post(api, ann, "/companies", {"name": "Acme", "domain": "acme.com"})
    contact = await post(
        api,
        ann,
        "/contacts",
        {"name": "Jane", "email": "jane@acme.com", "company_id": company["handle"]},
    )
    deal = await post(
        api,
        ann,
        "/deals",
        {"title": "Big", "contact_id": contact["handle"], "company_id": company["handle"]},
    )
    lone_contact = await post(api, ann, "/contacts", {"name": "Lone", "email": "lone@x.org"})
    lone_company = await post(api, ann, "/companies", {"name": "Loneco", "domain": "lone.org"})
    for record in (contact, deal, lone_contact, lone_company):
        plural = {"contact": "contacts", "deal": "deals", "company": "companies"}[
            record["handle"].split("/")[0]
        ]
        await post(
            api,
            ann,
            f"/{plural}/{bare(record['handle'])}/activities",
            {"kind": "call", "body": "spoke"},
        )
    return World(
        ann=ann,
        bob=bob,
        workspace=workspace,
        ann_id=ann_id,
        bob_id=bob_id,
        invite_id=invite_id,
        spare_token_id=spare_token_id,
        company=bare(company["handle"]),
        contact=bare(contact["handle"]),
        deal=bare(deal["handle"]),
        lone_contact=bare(lone_contact["handle"]),
        lone_company=bare(lone_company["handle"]),
    )


@pytest.fixture
async def world(api: Any) -> World:
    return await build_world(api)


# -- the route table ----------------------------------------------------------------------------


def ops(app: Any) -> list[tuple[str, str, Any]]:
    rows = []
    for route in app.starlette.router.routes:
        if isinstance(route, ApiRoute):
            rows.extend((method, route.path, op) for method, op in route.ops.items())
        else:
            assert isinstance(route, Route) and route.path.startswith(OWN_QUERY_PREFIXES), route
    return rows


def write_routes(app: Any) -> set[tuple[str, str]]:
    return {(method, path) for method, path, op in ops(app) if op.scope in ("write", "admin")}


@dataclass
class Case:
    method: str
    url: str
    body: dict[str, Any] | None
    says: list[str]  # `# ` lines the text reply must hold


Builder = Callable[[World], Case]

# One request per write route that would succeed against build_world's data. A write route
# added to the table without a case here fails test_every_write_route_writes_nothing.
# test_the_summary_names_what_would_happen checks what POST /workspaces and DELETE
# /workspaces/{id} say.
CASES: dict[tuple[str, str], Builder] = {
    ("POST", "/contacts"): lambda w: Case(
        "POST", "/contacts", {"name": "New", "email": "new@x.org"}, ["dry run: would create"]
    ),
    ("POST", "/companies"): lambda w: Case(
        "POST", "/companies", {"name": "Newco", "domain": "new.org"}, ["dry run: would create"]
    ),
    ("POST", "/deals"): lambda w: Case(
        "POST", "/deals", {"title": "Small", "amount_cents": 500}, ["dry run: would create"]
    ),
    ("POST", "/contacts/{id:handle}/activities"): lambda w: Case(
        "POST",
        f"/contacts/{w.contact}/activities",
        {"kind": "note", "body": "hello"},
        ["dry run: would create"],
    ),
    ("POST", "/companies/{id:handle}/activities"): lambda w: Case(
        "POST",
        f"/companies/{w.company}/activities",
        {"kind": "email", "body": "hello"},
        ["dry run: would create"],
    ),
    ("POST", "/deals/{id:handle}/activities"): lambda w: Case(
        "POST",
        f"/deals/{w.deal}/activities",
        {"kind": "meeting", "body": "hello"},
        ["dry run: would create"],
    ),
    ("PATCH", "/contacts/{id:handle}"): lambda w: Case(
        "PATCH",
        f"/contacts/{w.contact}",
        {"name": "Janet", "phone": "+1 555 0100"},
        [
            "dry run: would update",
            "change: name: Jane -> Janet",
            "change: phone: null -> +1 555 0100",
        ],
    ),
    ("PATCH", "/companies/{id:handle}"): lambda w: Case(
        "PATCH",
        f"/companies/{w.company}",
        {"notes": "big fish"},
        ["dry run: would update", "change: notes: null -> big fish"],
    ),
    ("PATCH", "/deals/{id:handle}"): lambda w: Case(
        "PATCH",
        f"/deals/{w.deal}",
        {"amount_cents": 100},
        ["dry run: would update", "change: amount_cents: null -> 100"],
    ),
    ("DELETE", "/contacts/{id:handle}"): lambda w: Case(
        "DELETE",
        f"/contacts/{w.lone_contact}",
        None,
        [
            f"dry run: would delete contact/{w.lone_contact}",
            "would go with it: activities removed: 1",
        ],
    ),
    ("DELETE", "/companies/{id:handle}"): lambda w: Case(
        "DELETE",
        f"/companies/{w.lone_company}",
        None,
        [
            f"dry run: would delete company/{w.lone_company}",
            "would go with it: activities removed: 1",
        ],
    ),
    ("DELETE", "/deals/{id:handle}"): lambda w: Case(
        "DELETE",
        f"/deals/{w.deal}",  # nothing links to a deal
        None,
        [f"dry run: would delete deal/{w.deal}", "would go with it: activities removed: 1"],
    ),
    ("DELETE", "/tokens/{token_id:handle}"): lambda w: Case(
        "DELETE",
        f"/tokens/{w.spare_token_id}",
        None,
        [f"dry run: would revoke token/{w.spare_token_id}"],
    ),
    ("POST", "/workspaces"): lambda w: Case(
        "POST", "/workspaces", {"name": "Second"}, ["dry run: would create"]
    ),
    ("POST", "/workspaces/{workspace_id:handle}/members/{user_id:handle}/role"): lambda w: Case(
        "POST",
        f"/workspaces/{w.workspace}/members/{w.bob_id}/role?code=123456",  # step-up
        {"role": "admin"},
        ["change: role: member -> admin", NOT_CHECKED],
    ),
    ("DELETE", "/workspaces/{workspace_id:handle}/members/{user_id:handle}"): lambda w: Case(
        "DELETE",
        f"/workspaces/{w.workspace}/members/{w.bob_id}",
        None,
        [f"dry run: would remove user/{w.bob_id}", "detail: tokens revoked: 1"],
    ),
    ("DELETE", "/workspaces/{workspace_id:handle}/invites/{invite_id:handle}"): lambda w: Case(
        "DELETE",
        f"/workspaces/{w.workspace}/invites/{w.invite_id}",
        None,
        [f"dry run: would withdraw invite/{w.invite_id}", "detail: email: cat@acme.com"],
    ),
    ("POST", "/workspaces/{workspace_id:handle}/invites"): lambda w: Case(
        "POST",
        f"/workspaces/{w.workspace}/invites",
        {"email": "dan@acme.com"},
        ["dry run: would create", "detail: email: dan@acme.com"],
    ),
    ("POST", "/workspaces/{workspace_id:handle}/tokens"): lambda w: Case(
        "POST",
        f"/workspaces/{w.workspace}/tokens",
        {"name": "agent"},
        ["dry run: would create", "detail: name: agent"],
    ),
    ("PATCH", "/workspaces/{workspace_id:handle}"): lambda w: Case(
        "PATCH",
        f"/workspaces/{w.workspace}",
        {"name": "Renamed"},
        ["dry run: would rename", "change: name: ann's workspace -> Renamed"],
    ),
    ("DELETE", "/workspaces/{workspace_id:handle}"): lambda w: Case(
        "DELETE",
        f"/workspaces/{w.workspace}?code=123456",  # step-up
        None,
        [f"dry run: would delete workspace/{w.workspace}", NOT_CHECKED],
    ),
}


async def send(api: Any, token: str, case: Case, *, as_json: bool, **kw: Any) -> httpx.Response:
    url = with_query(case.url, "dry_run=true")
    if case.body is not None:
        kw["json"] = case.body
    if as_json:
        return await api.json(case.method, url, token, **kw)
    return await api.request(case.method, url, token, **kw)


def check_text(case: Case, r: httpx.Response) -> None:
    where = (case.method, case.url, r.text)
    assert r.status_code == 200, where
    assert "etag" not in r.headers, where
    lines = meta(r)
    assert lines[0].startswith("dry run: would "), where
    assert lines[0] != "dry run: would change nothing", where
    assert NOTHING in lines, where
    for said in case.says:
        assert said in lines, (said, where)


def check_json(case: Case, r: httpx.Response) -> None:
    where = (case.method, case.url, r.text)
    assert r.status_code == 200 and "etag" not in r.headers, where
    found = dry_json(r.json())
    assert found["dry_run"] is True and isinstance(found["changes"], list), where


async def test_every_write_route_writes_nothing(api, world: World) -> None:
    table = write_routes(api.app)
    assert len(table) >= 21
    assert set(CASES) == table, (
        "write routes without a dry-run case: %s; cases for no route: %s"
        % (sorted(table - set(CASES)), sorted(set(CASES) - table))
    )
    before = await dump(api.rt.db)
    assert len(before["contacts"]) == 2 and len(before["memberships"]) >= 2
    assert len(before["audit"]) > 10 and "idempotency" in before
    mails = len(api.inbox.messages)
    for key, build in sorted(CASES.items()):
        case = build(world)
        check_text(case, await send(api, world.ann, case, as_json=False))
        assert await dump(api.rt.db) == before, key
        check_json(case, await send(api, world.ann, case, as_json=True))
        # with an Idempotency-Key too: a dry run keeps no reply for it
        headers = {"Idempotency-Key": "dry-%s-%s" % key}
        check_json(case, await send(api, world.ann, case, as_json=True, headers=headers))
        assert await dump(api.rt.db) == before, key
        assert len(api.inbox.messages) == mails, key
    # every record, member, invite and token is still there, as it was
    for path in (f"/contacts/{world.lone_contact}", f"/deals/{world.deal}"):
        assert (await api.get(path, world.ann)).status_code == 200
    assert (await api.get("/whoami", world.bob)).status_code == 200
    assert await roles(api, world.workspace) == {"ann@acme.com": "admin", "bob@acme.com": "member"}


# -- what a dry run says ------------------------------------------------------------------------


async def test_update_create_and_upsert_say_what_would_change(api, world: World) -> None:
    path = f"/contacts/{world.contact}"
    r = await api.get(path, world.ann)
    assert r.headers.get("etag"), "a real reply has an ETag: the dry run's lack of one means it"
    before = await dump(api.rt.db)

    body = {"name": "Janet", "phone": "123", "title": "CTO"}
    r = await api.patch(path + "?dry_run=true", world.ann, json=body)
    assert r.status_code == 200 and "etag" not in r.headers, r.text
    assert meta(r)[:5] == [
        "dry run: would update",
        "change: name: Jane -> Janet",
        "change: phone: null -> 123",
        "change: title: null -> CTO",
        NOTHING,
    ]
    assert "name=Janet" in r.text  # the record as it would be
    r = await api.json("PATCH", path + "?dry_run=1", world.ann, json=body)
    assert r.status_code == 200, r.text
    got = r.json()
    assert got["dry_run"] is True
    assert got["changes"] == ["name: Jane -> Janet", "phone: null -> 123", "title: null -> CTO"]
    assert got["data"]["name"] == "Janet" and got["data"]["version"] == 2

    # a create: 200, not 201, and the record it shows was never stored
    r = await api.json("POST", "/contacts?dry_run=yes", world.ann, json={"name": "Newt"})
    assert r.status_code == 200 and "etag" not in r.headers and "location" not in r.headers
    got = r.json()
    assert got["dry_run"] is True and got["changes"] == [] and got["data"]["name"] == "Newt"
    assert (await api.get("/contacts/" + got["data"]["handle"], world.ann)).status_code == 404
    r = await api.post("/contacts?dry_run=TRUE", world.ann, json={"name": "Newt"})
    assert r.status_code == 200 and meta(r)[:2] == ["dry run: would create", NOTHING], r.text

    # an upsert that matches Jane's email (any case) would update her, not create
    upsert = {"name": "Jane Doe", "email": "JANE@acme.com"}
    r = await api.post("/contacts?dry_run=true", world.ann, json=upsert)
    assert r.status_code == 200, r.text
    assert meta(r)[:3] == ["dry run: would update", "change: name: Jane -> Jane Doe", NOTHING]
    assert r.text.splitlines()[3].startswith(f"contact/{world.contact} ")
    r = await api.json("POST", "/contacts?dry_run=true", world.ann, json=upsert)
    assert r.json()["changes"] == ["name: Jane -> Jane Doe"]
    assert r.json()["data"]["handle"] == f"contact/{world.contact}"

    assert await dump(api.rt.db) == before
    r = await api.json("GET", path, world.ann)
    assert (r.json()["data"]["name"], r.json()["data"]["version"]) == ("Jane", 1)


async def test_a_dry_run_token_does_not_work(api, world: World) -> None:
    r = await api.json("POST", f"/workspaces/{world.workspace}/tokens?dry_run=true", world.ann)
    assert r.status_code == 200, r.text
    raw = r.json()["data"]["token"]
    assert (await api.get("/whoami", raw)).status_code == 401
    tokens = (await api.json("GET", "/tokens", world.ann)).json()["data"]
    assert r.json()["data"]["handle"] not in [t["handle"] for t in tokens]


async def test_a_dry_run_delete_needs_no_confirmation_and_says_what_goes(api, world) -> None:
    path = f"/contacts/{world.lone_contact}"
    r = await api.delete(path, world.ann)
    assert r.status_code == 428, "a real delete asks for confirmation first"
    before = await dump(api.rt.db)
    r = await api.delete(path + "?dry_run=true", world.ann)
    assert r.status_code == 200, r.text
    assert meta(r) == [
        f"dry run: would delete contact/{world.lone_contact}",
        "would go with it: activities removed: 1",
        NOTHING,
    ]
    r = await api.json("DELETE", path + "?dry_run=true", world.ann)
    assert r.status_code == 200, r.text
    assert r.json() == {
        "data": {
            "deleted": f"contact/{world.lone_contact}",
            "activities_removed": 1,
            "unlinked": None,
            "dry_run": True,
            "changes": ["activities removed: 1"],
        }
    }
    # a record nothing goes with says so
    r = await api.post("/deals", world.ann, json={"title": "Bare"})
    bare_deal = bare(next(ln for ln in r.text.splitlines() if ln.startswith("deal/")).split()[0])
    before_bare = await dump(api.rt.db)
    r = await api.delete(f"/deals/{bare_deal}?dry_run=true", world.ann)
    assert meta(r) == [
        f"dry run: would delete deal/{bare_deal}",
        "would go with it: nothing else (no activities, no links)",
        NOTHING,
    ]
    assert await dump(api.rt.db) == before_bare
    assert before_bare != before  # the dump sees a write
    r = await api.json("GET", path + "/activities", world.ann)
    assert r.status_code == 200 and len(r.json()["data"]) == 1


async def test_a_dry_run_delete_of_a_linked_record_changes_nothing(api, world: World) -> None:
    """Jane has an activity and a deal linked to her: the dry run unlinks nothing."""
    path = f"/contacts/{world.contact}"
    before = await dump(api.rt.db)
    r = await api.delete(path + "?dry_run=true", world.ann)
    assert r.status_code == 200, r.text
    assert meta(r)[-1] == NOTHING
    r = await api.json("DELETE", path + "?dry_run=true", world.ann)
    assert r.status_code == 200, r.text
    got = r.json()["data"]
    assert got["deleted"] == f"contact/{world.contact}" and got["dry_run"] is True
    assert await dump(api.rt.db) == before
    r = await api.json("GET", f"/deals/{world.deal}", world.ann)
    assert r.json()["data"]["contact"] == f"contact/{world.contact}"
    assert r.json()["data"]["version"] == 1
    r = await api.json("GET", path + "/activities", world.ann)
    assert len(r.json()["data"]) == 1


@pytest.mark.parametrize(
    "name", ["delete a contact a deal links to", "create a workspace", "delete a workspace"]
)
async def test_the_summary_names_what_would_happen(api, world: World, name: str) -> None:
    if name == "delete a contact a deal links to":
        r = await api.delete(f"/contacts/{world.contact}?dry_run=true", world.ann)
        expected = [
            f"dry run: would delete contact/{world.contact}",
            "would go with it: activities removed: 1",
            "would go with it: unlinked: 1 deal",
        ]
    elif name == "create a workspace":
        r = await api.post("/workspaces?dry_run=true", world.ann, json={"name": "Second"})
        expected = ["dry run: would create"]
    else:
        r = await api.delete(f"/workspaces/{world.workspace}?dry_run=true&code=1", world.ann)
        expected = [f"dry run: would delete workspace/{world.workspace}"]
    assert r.status_code == 200, r.text
    assert meta(r)[: len(expected)] == expected, r.text


# -- refusals still come back, and write nothing ------------------------------------------------


@pytest.mark.parametrize("env", [{"free": {"contacts": 1, "members": 2}}], indirect=True)
async def test_caps_are_still_reported(api) -> None:
    ann = await api.sign_in("ann@acme.com")
    workspace, _ = await ids(api, ann)
    jane = await post(api, ann, "/contacts", {"name": "Jane", "email": "jane@acme.com"})
    r = await invite(api, ann, workspace, "bob@acme.com")
    assert r.status_code == 201
    before = await dump(api.rt.db)
    mails = len(api.inbox.messages)

    r = await api.json("POST", "/contacts?dry_run=true", ann, json={"name": "Two"})
    assert r.status_code == 403, r.text
    assert (error(r)["code"], error(r)["cap"], error(r)["limit"]) == (
        "plan_limit_reached",
        "contacts",
        "1",
    )
    r = await api.post("/contacts?dry_run=true", ann, json={"name": "Two"})
    assert r.status_code == 403 and r.text.startswith("error: plan_limit_reached: ")
    r = await api.json(
        "POST", f"/workspaces/{workspace}/invites?dry_run=true", ann, json={"email": "cat@acme.com"}
    )
    assert r.status_code == 403 and error(r)["cap"] == "members", r.text
    # an upsert that matches counts nothing: it would go through
    r = await api.post("/contacts?dry_run=true", ann, json={"name": "J", "email": "jane@acme.com"})
    assert r.status_code == 200 and meta(r)[0] == "dry run: would update", r.text
    assert await dump(api.rt.db) == before
    assert len(api.inbox.messages) == mails
    assert jane["version"] == 1


async def test_versions_validation_and_permissions_are_still_checked(api, world: World) -> None:
    path = f"/contacts/{world.contact}"
    before = await dump(api.rt.db)
    mails = len(api.inbox.messages)
    refused = [
        # a stale version, by If-Match and by the body
        ("PATCH", path, world.ann, {"name": "X"}, {"If-Match": '"7"'}, 412, "version_conflict"),
        ("PATCH", path, world.ann, {"name": "X", "version": 7}, {}, 412, "version_conflict"),
        (
            "DELETE",
            f"/workspaces/{world.workspace}/invites/{world.invite_id}",
            world.bob,
            None,
            {},
            403,
            "admin_required",
        ),
        ("POST", "/contacts", world.ann, {"email": "not an email"}, {}, 400, "invalid_field"),
        ("PATCH", path, world.ann, {"colour": "red"}, {}, 400, None),
        ("PATCH", f"/contacts/c_{'z' * 12}", world.ann, {"name": "X"}, {}, 404, "not_found"),
        ("PATCH", path, world.ann, {"name": "X"}, {"If-Match": "soon"}, 400, "invalid_field"),
        (
            "POST",
            f"/workspaces/{world.workspace}/invites",
            world.ann,
            {"email": "bob@acme.com"},
            {},
            409,
            "already_member",
        ),
        (
            "POST",
            f"/workspaces/{world.workspace}/members/{world.ann_id}/role",
            world.ann,
            {"role": "member"},
            {},
            409,
            "last_admin",
        ),
    ]
    for method, url, token, body, headers, status, code in refused:
        kw: dict[str, Any] = {"headers": headers}
        if body is not None:
            kw["json"] = body
        r = await api.json(method, with_query(url, "dry_run=true"), token, **kw)
        assert r.status_code == status, (method, url, body, r.text)
        if code is not None:
            assert error(r)["code"] == code, (method, url, r.text)
        assert "etag" not in r.headers
    assert await dump(api.rt.db) == before
    # a read-only token may not even dry-run a write
    r = await api.json(
        "POST", f"/workspaces/{world.workspace}/tokens", world.ann, json={"scopes": ["read"]}
    )
    reader = r.json()["data"]["token"]
    await api.get("/whoami", reader)  # its rate-limit lease, before the dump
    before = await dump(api.rt.db)
    r = await api.json("POST", "/contacts?dry_run=true", reader, json={"name": "X"})
    assert r.status_code == 403 and error(r)["code"] == "insufficient_scope", r.text
    # the right version goes through
    r = await api.json(
        "PATCH", path + "?dry_run=true", world.ann, json={"name": "X"}, headers={"If-Match": '"1"'}
    )
    assert r.status_code == 200 and r.json()["changes"] == ["name: Jane -> X"], r.text
    assert "etag" not in r.headers
    assert await dump(api.rt.db) == before
    assert len(api.inbox.messages) == mails


# -- step-up --------------------------------------------------------------------------------------


def stepup_requests(w: World) -> list[tuple[str, str, dict[str, Any] | None, str]]:
    """(method, path, body, what the refusal names) of the three step-up actions."""
    return [
        (
            "POST",
            f"/workspaces/{w.workspace}/members/{w.bob_id}/role",
            {"role": "admin"},
            "promote bob@acme.com",
        ),
        (
            "POST",
            f"/workspaces/{w.workspace}/invites",
            {"email": "dan@acme.com", "role": "admin"},
            "invite dan@acme.com as admin",
        ),
        ("DELETE", f"/workspaces/{w.workspace}", None, "delete workspace"),
    ]


async def test_stepup_dry_runs_mail_nothing(api, world: World) -> None:
    before = await dump(api.rt.db)
    mails = len(api.inbox.messages)
    for method, path, body, what in stepup_requests(world):
        kw = {} if body is None else {"json": body}
        for _ in range(6):  # more than the step-up mail limit (5 in 15 minutes) would allow
            r = await api.json(method, path + "?dry_run=true", world.ann, **kw)
            assert r.status_code == 403, r.text
            assert error(r)["code"] == "escalation_required"
            assert what in error(r)["message"] and "a dry run mails none" in error(r)["message"]
            assert "sent_to" not in error(r)
        r = await api.request(method, path + "?dry_run=true", world.ann, **kw)
        assert r.status_code == 403 and r.text.startswith("error: escalation_required: ")
        assert "a dry run mails none" in r.text
        # with a code (any: it is not checked) it goes through as a dry run
        for query, headers in (("&code=000000", {}), ("", {"X-Escalation-Code": "999999"})):
            r = await api.json(
                method, path + "?dry_run=true" + query, world.ann, headers=headers, **kw
            )
            assert r.status_code == 200, r.text
            assert dry_json(r.json())["dry_run"] is True
            r = await api.request(
                method, path + "?dry_run=true" + query, world.ann, headers=headers, **kw
            )
            assert r.status_code == 200, r.text
            assert meta(r)[0].startswith("dry run: would ") and NOT_CHECKED in meta(r), r.text
            assert NOTHING in meta(r), r.text
    assert len(api.inbox.messages) == mails
    assert await dump(api.rt.db) == before
    assert await roles(api, world.workspace) == {"ann@acme.com": "admin", "bob@acme.com": "member"}
    # the real request still mails its code: the dry runs used none of the mail limit
    path = f"/workspaces/{world.workspace}/members/{world.bob_id}/role"
    r = await api.json("POST", path, world.ann, json={"role": "admin"})
    assert r.status_code == 403 and error(r)["sent_to"] == "ann@acme.com"
    assert len(api.inbox.messages) == mails + 1


async def test_dry_runs_do_not_use_up_a_codes_tries(api, world: World) -> None:
    path = f"/workspaces/{world.workspace}/members/{world.bob_id}/role"
    r = await api.json("POST", path, world.ann, json={"role": "admin"})
    assert r.status_code == 403 and error(r)["code"] == "escalation_required"
    code = api.inbox.code_for("ann@acme.com")
    wrong = "111111" if code != "111111" else "222222"
    before = await dump(api.rt.db)
    mails = len(api.inbox.messages)
    for _ in range(6):  # a code dies after 5 wrong tries
        r = await api.request(
            "POST", path + f"?dry_run=true&code={wrong}", world.ann, json={"role": "admin"}
        )
        assert r.status_code == 200, r.text
        assert meta(r)[0].startswith("dry run: would ") and NOT_CHECKED in meta(r)
        assert "change: role: member -> admin" in meta(r)
        assert "role=admin" in r.text
    # the right code in a dry run is not spent either
    r = await api.request(
        "POST", path + f"?dry_run=true&code={code}", world.ann, json={"role": "admin"}
    )
    assert r.status_code == 200 and NOT_CHECKED in meta(r), r.text
    assert await dump(api.rt.db) == before
    assert len(api.inbox.messages) == mails
    assert (await roles(api, world.workspace))["bob@acme.com"] == "member"
    r = await api.json("POST", path + f"?code={code}", world.ann, json={"role": "admin"})
    assert r.status_code == 200, r.text
    assert (await roles(api, world.workspace))["bob@acme.com"] == "admin"


# -- what dry_run takes, and where ---------------------------------------------------------------


async def test_dry_run_values(api, world: World) -> None:
    before = await dump(api.rt.db)
    for value in ("maybe", "", "2", "truee", "on"):
        r = await api.json("POST", f"/contacts?dry_run={value}", world.ann, json={"name": "V"})
        assert r.status_code == 400, (value, r.text)
        assert error(r)["code"] == "invalid_query" and "dry_run" in error(r)["message"]
        r = await api.delete(f"/deals/{world.deal}?dry_run={value}", world.ann)
        assert r.status_code == 400 and "invalid_query" in r.text, (value, r.text)
    for value in ("true", "1", "yes", "True", "YES"):
        r = await api.json("POST", f"/contacts?dry_run={value}", world.ann, json={"name": "V"})
        assert r.status_code == 200 and r.json()["dry_run"] is True, (value, r.text)
    assert await dump(api.rt.db) == before
    # false is a real write
    r = await api.json("POST", "/contacts?dry_run=false", world.ann, json={"name": "Real"})
    assert r.status_code == 201 and "dry_run" not in r.json() and r.headers.get("etag"), r.text
    r = await api.json(
        "POST", "/contacts?dry_run=0", world.ann, json={"name": "Real", "email": "r@x.org"}
    )
    assert r.status_code == 201, r.text
    assert await dump(api.rt.db) != before


async def test_a_dry_run_keeps_no_idempotency_reply(api, world: World) -> None:
    key = {"Idempotency-Key": "one-request"}
    body = {"name": "Once"}
    r = await api.json("POST", "/contacts?dry_run=true", world.ann, json=body, headers=key)
    assert r.status_code == 200 and "idempotent-replayed" not in r.headers, r.text
    # the same key on the real request runs it (the dry run kept nothing under that key)
    r = await api.json("POST", "/contacts", world.ann, json=body, headers=key)
    assert r.status_code == 201 and "idempotent-replayed" not in r.headers, r.text
    created = r.json()["data"]["handle"]
    r = await api.json("POST", "/contacts", world.ann, json=body, headers=key)
    assert r.headers.get("idempotent-replayed") == "true"
    assert r.json()["data"]["handle"] == created
    # a dry run with a key already used replays nothing and writes nothing
    before = await dump(api.rt.db)
    r = await api.json("POST", "/contacts?dry_run=true", world.ann, json=body, headers=key)
    assert r.status_code == 200 and r.json()["dry_run"] is True
    assert "idempotent-replayed" not in r.headers
    assert await dump(api.rt.db) == before


async def test_dry_run_is_refused_where_nothing_is_written(api, world: World) -> None:
    before = await dump(api.rt.db)
    mails = len(api.inbox.messages)
    checked = 0
    for method, path, op in ops(api.app):
        if op.scope in ("write", "admin") or path.startswith(OWN_QUERY_PREFIXES):
            continue
        concrete = re.sub(r"\{[^}]*\}", "x_aaaaaaaaaaaa", path)
        body = {"email": "ann@acme.com", "code": "123456"} if method == "POST" else None
        kw = {} if body is None else {"json": body}
        token = world.ann if op.scope else None
        r = await api.json(method, concrete + "?dry_run=true", token, **kw)
        assert r.status_code == 400, (method, path, r.text)
        assert error(r)["code"] == "unknown_parameter", (method, path, r.text)
        assert "dry_run" in error(r)["message"], (method, path, r.text)
        checked += 1
    assert checked >= 20
    for path in ("/auth/request", "/auth/verify"):
        r = await api.post(path + "?dry_run=true", json={"email": "ann@acme.com", "code": "1"})
        assert r.status_code == 400 and r.text.startswith("error: unknown_parameter: "), r.text
    r = await api.get(f"/contacts/{world.contact}?dry_run=true", world.ann)
    assert r.status_code == 400 and "unknown_parameter" in r.text
    assert len(api.inbox.messages) == mails  # no sign-in code went out
    assert await dump(api.rt.db) == before
