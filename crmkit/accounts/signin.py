"""Email-code sign-in: request a code, verify it, receive a token.

`request_code` answers the same whether or not the email is known: every address gets a code,
and the first successful verify creates the user.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from crmkit.accounts import audit, codes, members, ratelimit, scopes, tokens, users
from crmkit.errors import InvalidCode
from crmkit.runtime import Runtime
from crmkit.store import accounts as store
from crmkit.store.base import Tx

# Who may make crmkit mail a code to an address. Counted per (email, address) and per address
# (IPv6 by its /64), never per email alone: a stranger's requests must not use up the owner's
# own. What bounds the mail an address can receive is codes.MAX_LIVE (a request while 3 codes
# are live mails nothing: at most 18 an hour) and, far above what a person needs, a daily
# ceiling per email counting only mails sent.
WINDOW_SECONDS = 15 * 60
DAY_SECONDS = 24 * 3600
PER_EMAIL = 5  # per (email, address) per 15 minutes
PER_EMAIL_DAY = 20  # per (email, address) per day
PER_IP = 30  # per address, any emails, per 15 minutes
MAILS_PER_EMAIL_DAY = 100
# Wrong codes one address may try, across every email, per hour: one address cannot spread
# guesses over many accounts (5 a code would otherwise allow ~14,400 a day).
GUESSES_PER_IP_HOUR = 100
RATE_HINT = "wait for Retry-After seconds; the code already sent stays valid for 10 minutes"


def login_key(email: str) -> str:
    return f"login:{email}"


@dataclass(frozen=True)
class Requested:
    email: str
    sent: bool  # False: MAX_LIVE codes are live already, and nothing more was mailed


async def request_code(rt: Runtime, raw_email: str, client_ip: str) -> Requested:
    email = users.normalize_email(raw_email)
    sent = await codes.mail_code(
        rt,
        key=login_key(email),
        limits=[
            ratelimit.Limit(
                f"login-ip:{client_ip}", PER_IP, WINDOW_SECONDS, "code requests from this address"
            ),
            ratelimit.Limit(
                f"login-email:{email}:{client_ip}",
                PER_EMAIL,
                WINDOW_SECONDS,
                "code requests for this email from this address",
            ),
            ratelimit.Limit(
                f"login-email-day:{email}:{client_ip}",
                PER_EMAIL_DAY,
                DAY_SECONDS,
                "code requests for this email from this address",
            ),
        ],
        mail_limits=[
            ratelimit.Limit(
                f"login-mail-day:{email}",
                MAILS_PER_EMAIL_DAY,
                DAY_SECONDS,
                "codes mailed to this email",
            )
        ],
        rate_hint=RATE_HINT,
        to=email,
        subject=lambda code: f"Your crmkit sign-in code: {code}",
        body=lambda code: _login_mail(rt, email, code),
        what="sign-in",
    )
    return Requested(email, sent)


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


def _guesses(client_ip: str) -> list[ratelimit.Limit]:
    return [
        ratelimit.Limit(
            f"login-guess:{client_ip}", GUESSES_PER_IP_HOUR, 3600, "wrong codes from this address"
        )
    ]


async def verify_code(rt: Runtime, email: str, code: str, client_ip: str) -> bool:
    """Check a login code in its own transaction (a wrong try must be counted even on failure);
    an address past its ceiling of wrong codes gets 429 before its code is looked at."""
    async with rt.db.write() as tx:
        await ratelimit.check(rt, tx, _guesses(client_ip), GUESS_HINT)
        right = await codes.check(rt, tx, login_key(email), code)
        if not right:
            await ratelimit.count(rt, tx, _guesses(client_ip))
        return right


GUESS_HINT = (
    "wait for Retry-After seconds, then type the code from the newest mail exactly; request a"
    ' new one with POST /auth/request {"email":...} if it expired'
)


async def verify(
    rt: Runtime,
    raw_email: str,
    code: str,
    token_name: str | None,
    client_ip: str,
    scope: str = scopes.FULL,
    expires_in: int | None = None,
) -> SignedIn:
    """`scope`, `expires_in`: what the token may do and for how long (checked by the caller
    before the code is used up)."""
    email = users.normalize_email(raw_email)
    name = tokens.clean_name(token_name)
    if not await verify_code(rt, email, code, client_ip):
        raise InvalidCode(
            "that code is wrong, expired or already used",
            'request a new one with POST /auth/request {"email":...}; a code works once, '
            "for 10 minutes, and dies after 5 wrong tries",
        )
    return await sign_in(rt, email, name, scope=scope, expires_in=expires_in)


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
    rt: Runtime,
    email: str,
    token_name: str,
    workspace_id: str | None = None,
    *,
    scope: str = scopes.FULL,
    expires_in: int | None = None,
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
            rt,
            tx,
            user_id=user.id,
            email=email,
            workspace_id=workspace_id,
            name=token_name,
            scope=scope,
            expires_at=None if expires_in is None else rt.clock.now() + expires_in,
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
