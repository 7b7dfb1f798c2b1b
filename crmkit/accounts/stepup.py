"""Step-up: promoting to admin, inviting an admin and deleting a workspace need a fresh code
emailed to the caller, bound to (user, action, target).

The first call answers 403 escalation_required and mails a code; the same request repeated
with `?code=` or `X-Escalation-Code` proceeds. The code's key is
`stepup:<user>:<action>:<target>`, so a code for one action or target never unlocks another;
the shared rules of crmkit/accounts/codes.py apply (10 minutes, single use, 5 wrong tries).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import NoReturn, TypeVar

from crmkit.accounts import audit, codes, ratelimit
from crmkit.errors import CrmError, Forbidden
from crmkit.principal import Principal
from crmkit.runtime import Runtime
from crmkit.store import unit
from crmkit.store.base import Tx

T = TypeVar("T")

MAIL_WINDOW_SECONDS = 15 * 60
MAIL_PER_USER = 5
ACTIONS = ("promote", "demote", "remove_admin", "invite_admin", "delete_workspace")
HEADER = "x-escalation-code"


def key(user_id: str, action: str, target: str) -> str:
    assert action in ACTIONS
    return f"stepup:{user_id}:{action}:{target}"


def invalid_code() -> CrmError:
    return Forbidden(
        "that confirmation code is wrong, expired, used up, or was sent for another action",
        "repeat the request without a code to get a new one emailed; a code works once, for "
        "10 minutes, only for the action and target it was sent for, and dies after 5 wrong tries",
        code="invalid_code",
    )


async def challenge(
    rt: Runtime, who: Principal, action: str, target: str, workspace_id: str, what: str
) -> NoReturn:
    """Email a code for (who, action, target) and answer 403 escalation_required."""

    async def record(tx: Tx) -> None:
        await audit.record(
            tx,
            workspace_id=workspace_id,
            at=rt.clock.now(),
            action="stepup.request",
            target=f"workspace/{workspace_id}",
            detail=f"{action}: {what}",
            actor=who,
        )

    sent = await codes.mail_code(
        rt,
        key=key(who.user_id, action, target),
        limits=[
            ratelimit.Limit(
                f"stepup-mail:{who.user_id}",
                MAIL_PER_USER,
                MAIL_WINDOW_SECONDS,
                "confirmation codes for you",
            )
        ],
        rate_hint="wait for Retry-After seconds; a code already sent stays valid for 10 minutes",
        to=who.email,
        subject=lambda code: f"Your crmkit confirmation code: {code}",
        body=lambda code: _mail(rt, who, code, what),
        what="confirmation",
        record=record,
    )
    mailed = (
        f"a 6-digit code was emailed to {who.email}"
        if sent
        else f"{codes.MAX_LIVE} codes were emailed to {who.email} in the last 10 minutes and"
        " each still works (no new one was sent): use the newest"
    )
    raise Forbidden(
        f"{what} needs confirmation: {mailed}",
        "ask the user for the code, then repeat the SAME request with ?code=<code> or the header "
        "X-Escalation-Code: <code>; it works once, for 10 minutes",
        code="escalation_required",
        extra={"sent_to": who.email, "expires_in_seconds": str(codes.CODE_TTL_SECONDS)},
    )


def _mail(rt: Runtime, who: Principal, code: str, what: str) -> str:
    return (
        f"Your crmkit confirmation code is {code}\n\n"
        f"It confirms: {what}.\n"
        f'Requested with your token "{who.token_name}" (token/{who.token_id}).\n'
        "It works once, for this action only, and expires in 10 minutes.\n\n"
        "If you did not ask for this, someone holding that token may be trying: revoke it with\n"
        f"DELETE {rt.settings.public_url}/tokens/{who.token_id}\n"
    )


async def run(
    rt: Runtime,
    who: Principal,
    *,
    action: str,
    target: str,
    workspace_id: str,
    what: str,
    code: str | None,
    apply: Callable[[Tx], Awaitable[T]],
    heavy: bool = False,
) -> T:
    """Without a code: mail one and raise escalation_required. With one: check it and run
    `apply` in the same transaction. A wrong try is committed (it counts toward the 5) before
    invalid_code is raised; if `apply` fails, nothing commits and the code stays usable.
    `heavy`: `apply` may touch many rows (see Database.write)."""
    work = unit.current()
    if work is not None and work.dry_run:
        # A dry run mails nothing, and must not tell a right code from a wrong one (it would
        # be a way to try codes that uses none of their 5 tries up): it checks none.
        if code is None:
            raise Forbidden(
                f"{what} needs confirmation by a code emailed to you; a dry run mails none",
                "send the same request without dry_run to get the code mailed, then repeat it"
                " with ?code=<code> or X-Escalation-Code",
                code="escalation_required",
            )
        work.notes.append("the confirmation code was not checked (a dry run never checks one)")
        async with rt.db.write(heavy=heavy) as tx:
            return await apply(tx)
    if code is None:
        await challenge(rt, who, action, target, workspace_id, what)
    async with rt.db.write(heavy=heavy) as tx:
        if await codes.check(rt, tx, key(who.user_id, action, target), code.strip()):
            return await apply(tx)
    raise invalid_code()


def code_from(query_code: str | None, header_code: str | None) -> str | None:
    """The step-up code of a request: `?code=` wins over the header; blank means none."""
    for value in (query_code, header_code):
        if value is not None and value.strip():
            return value
    return None
