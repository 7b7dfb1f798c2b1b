"""Sign-in and session endpoints: /auth/request, /auth/verify, /whoami, /tokens."""

from __future__ import annotations

from typing import Any

from crmkit.accounts import codes, plans, scopes, signin, tokens
from crmkit.clock import iso
from crmkit.render import Document, Listing, Message, Record
from crmkit.web.body import Body, parse
from crmkit.web.endpoint import Call, Op
from crmkit.web.routing import route


class CodeRequest(Body):
    email: str


class VerifyRequest(Body):
    email: str
    code: str
    token_name: str | None = None
    scopes: list[str] | str | None = None  # default: read write admin
    expires_in_days: int | None = None  # default: the idle expiry only


async def request_code(call: Call) -> Message:
    body = await parse(call.request, CodeRequest)
    done = await signin.request_code(call.rt, body.email, call.client_ip)
    email = done.email
    verify = (
        f'POST /auth/verify {{"email":"{email}","code":"<6 digits>","token_name":"<who you are>"}}'
    )
    if done.sent:
        said = f"sent: a 6-digit sign-in code to {email}; it works once and expires in 600 seconds"
    else:
        said = (
            f"not sent: {email} was mailed {codes.MAX_LIVE} codes in the last 10 minutes, and"
            " each still works: use the newest"
        )
    return Message(
        [said, f"hint: ask the user for the code, then {verify}"],
        {"email": email, "sent": done.sent, "expires_in_seconds": 600, "next": verify},
    )


async def verify_code(call: Call) -> Record:
    body = await parse(call.request, VerifyRequest)
    # checked before the code is used up, so a bad scope costs the person no code
    scope = scopes.FULL if body.scopes is None else scopes.text(scopes.parse(body.scopes))
    expires_in = scopes.expires_in_days(body.expires_in_days)
    done = await signin.verify(
        call.rt, body.email, body.code, body.token_name, call.client_ip, scope, expires_in
    )
    data = {
        "handle": f"token/{done.token.token_id}",
        "token": done.token.raw,
        "name": done.token.name,
        "workspace": f"workspace/{done.token.workspace_id}",
        "workspace_name": done.workspace_name,
        "user": f"user/{done.user_id}",
        "email": done.email,
        **token_terms(call, done.token),
    }
    joined = [
        f"joined workspace/{j.workspace_id} ({j.name}) as {j.role}, by invitation"
        + (
            ""
            if j.workspace_id == done.token.workspace_id
            else f"; to work there: POST /workspaces/{j.workspace_id}/tokens"
        )
        for j in done.joined
    ]
    return Record(
        data,
        meta=[
            "signed in; the token is shown once: keep it and send Authorization: Bearer <token>",
            *joined,
        ],
        status=201,
    )


def token_terms(call: Call, minted: tokens.Minted) -> dict[str, Any]:
    """A fresh token's scopes and when it expires unless used (or at its hard expiry)."""
    expires = tokens.expires_at(call.rt, call.rt.clock.now(), minted.expires_at)
    return {"scopes": minted.scopes, "expires_at": iso(expires)}


def workspace_view(call: Call) -> dict[str, Any]:
    who = call.who
    return {
        "handle": f"workspace/{who.workspace_id}",
        "name": who.workspace_name,
        "role": who.role,
        "plan": who.plan,
    }


def usage_line(u: plans.Usage) -> dict[str, Any]:
    """Plan usage as a record line, `usage/contacts used=12 limit=1000` (limit -1 = unlimited).

    A record line rather than a `# contacts: 12 / 1000` meta line: usage is data, so it keeps
    DESIGN's grammar (meta lines are commentary that `grep -v '^#'` drops) and the same fields
    reach JSON without a special case."""
    return {
        "handle": f"usage/{u.resource}",
        "used": u.used,
        "limit": u.limit,
        "pending_invites": u.pending_invites,
    }


async def whoami(call: Call) -> Document:
    who = call.who
    usage = await plans.usage(call.rt, who)
    return Document(
        {
            "user": {"handle": f"user/{who.user_id}", "email": who.email, "role": who.role},
            "workspace": workspace_view(call),
            "token": {
                "handle": f"token/{who.token_id}",
                "name": who.token_name,
                "scopes": scopes.text(who.scopes),
                "created_at": iso(who.token_created_at),
                "expires_at": iso(
                    tokens.expires_at(call.rt, who.token_last_used_at, who.token_expires_at)
                ),
            },
            "usage": [usage_line(u) for u in usage],
        },
        trailer=[f"plan {who.plan}: usage lines show used and limit (-1 = unlimited)"],
    )


async def list_tokens(call: Call) -> Listing:
    rows = [
        {
            "handle": f"token/{t.token_id}",
            "name": t.name,
            "workspace": f"workspace/{t.workspace_id}",
            "workspace_name": t.workspace_name,
            "scopes": t.scopes,
            "created_at": iso(t.created_at),
            "last_used_at": iso(t.last_used_at),
            "expires_at": iso(t.expires_at),
            "current": t.current,
        }
        for t in await tokens.list_live(call.rt, call.who)
    ]
    return Listing(rows, total=len(rows))


async def revoke_token(call: Call) -> Message:
    token_id = await tokens.revoke(call.rt, call.who, call.request.path_params["token_id"])
    return Message([f"revoked token/{token_id}"], {"revoked": f"token/{token_id}"})


routes = [
    route(
        "/auth/request",
        {"POST": Op(request_code, None, "Email a 6-digit sign-in code", body=CodeRequest)},
    ),
    route(
        "/auth/verify",
        {"POST": Op(verify_code, None, "Trade the code for a token", body=VerifyRequest)},
    ),
    route("/whoami", {"GET": Op(whoami, "read", "Who you are, your workspace and plan usage")}),
    route("/tokens", {"GET": Op(list_tokens, "read", "Your live tokens")}),
    # `:handle` so the full handle works too (DESIGN 2), as on the record routes.
    route("/tokens/{token_id:handle}", {"DELETE": Op(revoke_token, "admin", "Revoke a token")}),
]
