"""Email-code sign-in: request a code, verify it, receive a token.

`request_code` answers the same whether or not the email is known: every address gets a code,
and the first successful verify creates the user.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from crmkit.accounts import audit, codes, members, ratelimit, tokens, users
from crmkit.errors import InvalidCode
from crmkit.runtime import Runtime
from crmkit.store import accounts as store
from crmkit.store.base import Tx

WINDOW_SECONDS = 15 * 60
PER_EMAIL = 5
PER_IP = 30
# Guesses at one account: 5 wrong tries per code, so at most 100 a day (NIST SP 800-63B
# 5.2.2 caps consecutive failures per account at 100). Without a daily cap the 15-minute
# one allowed 2,400 a day, one in ~400 of a code's million values.
PER_EMAIL_DAY = 20
DAY_SECONDS = 24 * 3600
RATE_HINT = "wait for Retry-After seconds; the code already sent stays valid for 10 minutes"


def login_key(email: str) -> str:
    return f"login:{email}"


async def request_code(rt: Runtime, raw_email: str, client_ip: str) -> str:
    email = users.normalize_email(raw_email)
    await codes.mail_code(
        rt,
        key=login_key(email),
        limits=[
            ratelimit.Limit(
                f"login-ip:{client_ip}", PER_IP, WINDOW_SECONDS, "code requests from this address"
            ),
            ratelimit.Limit(
                f"login-email:{email}", PER_EMAIL, WINDOW_SECONDS, "code requests for this email"
            ),
            ratelimit.Limit(
                f"login-email-day:{email}",
                PER_EMAIL_DAY,
                DAY_SECONDS,
                "code requests for this email",
            ),
        ],
        rate_hint=RATE_HINT,
        to=email,
        subject=lambda code: f"Your crmkit sign-in code: {code}",
        body=lambda code: _login_mail(rt, email, code),
        what="sign-in",
    )
    return email


def _login_mail(rt: Runtime, email: str, code: str) -> str:
    return (
        f"Your crmkit sign-in code is {code}\n\n"
        "It works once and expires in 10 minutes. If you did not ask for it, ignore this mail.\n\n"
        f"Server: {rt.settings.public_url}\n"
        f'Agents: POST /auth/verify {{"email":"{email}","code":"{code}"}}\n'
    )


@dataclass(frozen=True)
class SignedIn:
    user_id: str
    email: str
    token: tokens.Minted
    workspace_name: str
    new_user: bool
    joined: list[members.Joined] = field(default_factory=list)  # invites accepted just now


async def verify_code(rt: Runtime, email: str, code: str) -> bool:
    """Check a login code in its own transaction (a wrong try must be counted even on failure)."""
    async with rt.db.write() as tx:
        return await codes.check(rt, tx, login_key(email), code)


async def verify(rt: Runtime, raw_email: str, code: str, token_name: str | None) -> SignedIn:
    email = users.normalize_email(raw_email)
    name = tokens.clean_name(token_name)
    if not await verify_code(rt, email, code):
        raise InvalidCode(
            "that code is wrong, expired or already used",
            'request a new one with POST /auth/request {"email":...}; a code works once, '
            "for 10 minutes, and dies after 5 wrong tries",
        )
    return await sign_in(rt, email, name)


@dataclass(frozen=True)
class Admitted:
    user: users.User
    joined: list[members.Joined]
    home: str | None  # where they worked before this sign-in, if anywhere


async def admit(rt: Runtime, tx: Tx, email: str) -> Admitted:
    """Every sign-in path (API, OAuth page, CLI) starts here: create the user if new and join
    the workspaces they were invited to."""
    user = await users.ensure_user(rt, tx, email)
    home = await store.landing_workspace(tx, user.id)
    joined = await members.accept_pending(rt, tx, user.id, email)
    return Admitted(user, joined, home)


async def sign_in(
    rt: Runtime, email: str, token_name: str, workspace_id: str | None = None
) -> SignedIn:
    """Create the user if new, join the workspaces they are invited to, pick their workspace
    and mint a token, in one transaction.

    Where the token lands: someone who already worked somewhere lands there again, so an
    invitation they never asked for cannot redirect their agent's writes into a stranger's
    workspace (they join it, and the reply says how to switch). Someone with no workspace yet
    lands in the newest invited one and gets no personal workspace.
    """
    async with rt.db.write() as tx:
        admitted = await admit(rt, tx, email)
        user, joined = admitted.user, admitted.joined
        if workspace_id is None:
            workspace_id = admitted.home or (joined[-1].workspace_id if joined else None)
        if workspace_id is None:
            workspace_id = await users.landing_workspace(rt, tx, user)
        minted = await tokens.mint(
            rt, tx, user_id=user.id, email=email, workspace_id=workspace_id, name=token_name
        )
        await audit.record(
            tx,
            workspace_id=workspace_id,
            at=rt.clock.now(),
            action="auth.sign_in",
            target=f"user/{user.id}",
            actor_email=email,
            actor_token=f"token/{minted.token_id}",
        )
        member = await store.membership(tx, workspace_id, user.id)
    assert member is not None
    return SignedIn(user.id, email, minted, str(member[1]), user.created, joined)
