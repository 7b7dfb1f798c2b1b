"""Workspace and team endpoints: /workspaces, switching tokens, members, invites, roles.

Handlers parse and hand over to crmkit/accounts/{workspaces,members}.py, which authorize:
a workspace you are not in answers 404 (403 not_a_member on the switch endpoint), a member on
an admin route 403 admin_required. Step-up codes come from `?code=` or X-Escalation-Code.
"""

from __future__ import annotations

from typing import Any

from crmkit.accounts import members, scopes, stepup, workspaces
from crmkit.clock import iso
from crmkit.render import Listing, Message, Record
from crmkit.web.auth import token_terms
from crmkit.web.body import Body, parse
from crmkit.web.endpoint import Call, Op
from crmkit.web.routing import route


class WorkspaceBody(Body):
    name: str


class TokenBody(Body):
    name: str | None = None
    scopes: list[str] | str | None = None  # default: the minting token's
    expires_in_days: int | None = None


class InviteBody(Body):
    email: str
    role: str = "member"


class RoleBody(Body):
    role: str


def _path(call: Call, name: str) -> str:
    return str(call.request.path_params[name])


def _code(call: Call) -> str | None:
    return stepup.code_from(call.query("code"), call.request.headers.get(stepup.HEADER))


def workspace_line(access: workspaces.Access, current: bool) -> dict[str, Any]:
    return {
        "handle": f"workspace/{access.workspace_id}",
        "name": access.name,
        "role": access.role,
        "plan": access.plan,
        "current": current,
    }


def member_line(m: members.Member) -> dict[str, Any]:
    return {
        "handle": f"user/{m.user_id}",
        "email": m.email,
        "role": m.role,
        "joined_at": iso(m.joined_at),
    }


def invite_line(i: members.Invite) -> dict[str, Any]:
    return {
        "handle": f"invite/{i.invite_id}",
        "email": i.email,
        "role": i.role,
        "invited_by": i.invited_by,
        "invited_at": iso(i.invited_at),
        "updated_at": iso(i.updated_at),
    }


async def list_workspaces(call: Call) -> Listing:
    rows = [
        {
            "handle": f"workspace/{w.workspace_id}",
            "name": w.name,
            "role": w.role,
            "plan": w.plan,
            "members": w.members,
            "current": w.workspace_id == call.who.workspace_id,
            "joined_at": iso(w.joined_at),
            "created_at": iso(w.created_at),
        }
        for w in await workspaces.list_mine(call.rt, call.who)
    ]
    return Listing(
        rows,
        total=len(rows),
        meta=[
            "hint: this connector acts in one workspace; to use another, connect the app again"
            " and pick it on the sign-in page"
            if call.who.via_connector
            else "hint: to act in another workspace, mint a token: POST /workspaces/{id}/tokens"
        ],
    )


async def create_workspace(call: Call) -> Record:
    body = await parse(call.request, WorkspaceBody)
    access = await workspaces.create(call.rt, call.who, body.name)
    return Record(
        workspace_line(access, current=False),
        meta=[
            "created",
            f"hint: your token still acts in workspace/{call.who.workspace_id}; to work in the "
            f"new one, mint a token: POST /workspaces/{access.workspace_id}/tokens",
        ],
        status=201,
    )


async def rename_workspace(call: Call) -> Record:
    body = await parse(call.request, WorkspaceBody)
    access = await workspaces.rename(call.rt, call.who, _path(call, "workspace_id"), body.name)
    current = access.workspace_id == call.who.workspace_id
    return Record(workspace_line(access, current), meta=["updated"])


async def mint_token(call: Call) -> Record:
    body = await parse(call.request, TokenBody)
    asked = None if body.scopes is None else scopes.parse(body.scopes)
    expires_in = scopes.expires_in_days(body.expires_in_days)
    minted, name = await workspaces.switch(
        call.rt, call.who, _path(call, "workspace_id"), body.name, asked, expires_in
    )
    data = {
        "handle": f"token/{minted.token_id}",
        "token": minted.raw,
        "name": minted.name,
        "workspace": f"workspace/{minted.workspace_id}",
        "workspace_name": name,
        **token_terms(call, minted),
    }
    return Record(
        data,
        meta=[
            f"minted a token for workspace/{minted.workspace_id}; it is shown once: send it as "
            "Authorization: Bearer <token> to act in that workspace"
        ],
        status=201,
    )


async def delete_workspace(call: Call) -> Message:
    gone = await workspaces.delete(call.rt, call.who, _path(call, "workspace_id"), _code(call))
    handle, name, rows = f"workspace/{gone.workspace_id}", gone.name, gone.rows
    return Message(
        [
            f"deleted {handle} ({name}) and its data: {rows} rows",
            "hint: tokens for it no longer work; GET /workspaces (with a token for another "
            "workspace) lists the rest, or sign in again",
        ],
        {"deleted": handle, "name": name, "rows_deleted": rows},
    )


async def list_members(call: Call) -> Listing:
    people, invites = await members.roster(call.rt, call.who, _path(call, "workspace_id"))
    rows = [member_line(m) for m in people] + [invite_line(i) for i in invites]
    return Listing(
        rows,
        total=len(rows),
        meta=[f"members: {len(people)}, pending invites: {len(invites)}"],
    )


async def invite(call: Call) -> Record:
    body = await parse(call.request, InviteBody)
    done = await members.invite(
        call.rt, call.who, _path(call, "workspace_id"), body.email, body.role, _code(call)
    )
    data = {**invite_line(done.invite), "mailed": done.mailed}
    meta = ["created" if done.created else "updated"]
    meta.append(
        f"invited {done.invite.email} as {done.invite.role}; they join when they next sign in"
        if done.mailed
        else f"the invitation mail to {done.invite.email} could not be sent; the invite stands: "
        "tell them to sign in with that address (POST /auth/request) to join"
    )
    return Record(data, meta=meta, status=201 if done.created else 200)


async def withdraw_invite(call: Call) -> Message:
    gone = await members.withdraw(
        call.rt, call.who, _path(call, "workspace_id"), _path(call, "invite_id")
    )
    handle = f"invite/{gone.invite_id}"
    return Message(
        [f"withdrawn {handle} ({gone.email})"],
        {"withdrawn": handle, "email": gone.email},
    )


async def set_role(call: Call) -> Record:
    body = await parse(call.request, RoleBody)
    change = await members.set_role(
        call.rt,
        call.who,
        _path(call, "workspace_id"),
        _path(call, "user_id"),
        body.role,
        _code(call),
    )
    new = change.member.role
    meta = (
        f"unchanged: already {new}"
        if change.old_role == new
        else f"updated: role {change.old_role} -> {new}"
    )
    return Record(member_line(change.member), meta=[meta])


async def remove_member(call: Call) -> Message:
    gone = await members.remove(
        call.rt, call.who, _path(call, "workspace_id"), _path(call, "user_id"), _code(call)
    )
    handle = f"user/{gone.member.user_id}"
    verb = "left" if gone.left else "removed"
    line = (
        f"left workspace/{gone.workspace_id}"
        if gone.left
        else f"removed {handle} ({gone.member.email})"
    )
    return Message(
        [f"{line}; tokens revoked: {gone.tokens_revoked}"],
        {verb: handle, "email": gone.member.email, "tokens_revoked": gone.tokens_revoked},
    )


# Ids in the path may be bare (w_...) or handles (workspace/w_...): the `handle` convertor
# (web/routing.py), which takes one id, so `/workspaces/{id}` cannot swallow the longer paths.
W = "/workspaces/{workspace_id:handle}"
CODE = ("code",)  # the step-up code, or the X-Escalation-Code header
routes = [
    route(
        "/workspaces",
        {
            "GET": Op(list_workspaces, "read", "The workspaces you belong to"),
            "POST": Op(create_workspace, "admin", "Create a workspace", body=WorkspaceBody),
        },
    ),
    route(
        W + "/members/{user_id:handle}/role",
        {"POST": Op(set_role, "admin", "Change a member's role", params=CODE, body=RoleBody)},
    ),
    route(
        W + "/members/{user_id:handle}",
        {"DELETE": Op(remove_member, "admin", "Remove a member, or leave", params=CODE)},
    ),
    route(W + "/members", {"GET": Op(list_members, "read", "Members and pending invites")}),
    route(
        W + "/invites/{invite_id:handle}",
        {"DELETE": Op(withdraw_invite, "admin", "Withdraw a pending invite")},
    ),
    route(
        W + "/invites",
        {"POST": Op(invite, "admin", "Invite someone by email", params=CODE, body=InviteBody)},
    ),
    route(
        W + "/tokens",
        {"POST": Op(mint_token, "admin", "Mint a token for that workspace", body=TokenBody)},
    ),
    route(
        W,
        {
            "PATCH": Op(rename_workspace, "admin", "Rename a workspace", body=WorkspaceBody),
            "DELETE": Op(delete_workspace, "admin", "Delete a workspace", params=CODE),
        },
    ),
]
