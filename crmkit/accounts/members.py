"""Members and invites: who belongs to a workspace, inviting by email, roles, leaving.

Invites are by email and need no action from the invitee beyond signing in: `accept_pending`
runs inside every sign-in. Pending invites count toward the members cap. The last admin can be
neither demoted nor removed.
"""

from __future__ import annotations

from dataclasses import dataclass

from crmkit.accounts import audit, plans, ratelimit, stepup, users
from crmkit.accounts.workspaces import Access, authorize
from crmkit.errors import Conflict, CrmError, InvalidField, NotFound
from crmkit.ids import bare_id, new_id
from crmkit.mail import MailError
from crmkit.principal import Principal
from crmkit.runtime import Runtime
from crmkit.store import teams as store
from crmkit.store.base import Row, Tx

ROLES = ("admin", "member")
INVITE_WINDOW_SECONDS = 60 * 60
INVITES_PER_ADMIN = 20  # invitation mails one person may send per hour
INVITES_PER_ADDRESS = 3  # mails one address may receive from one workspace per hour


def check_role(role: str) -> str:
    if role not in ROLES:
        raise InvalidField(
            f"role {role[:40]!r} is not a role",
            'send "role":"member" or "role":"admin"',
            allowed=ROLES,
        )
    return role


@dataclass(frozen=True)
class Member:
    user_id: str
    email: str
    role: str
    joined_at: int


@dataclass(frozen=True)
class Invite:
    invite_id: str
    workspace_id: str
    email: str
    role: str
    invited_by: str | None
    invited_at: int
    updated_at: int


def _member(row: Row) -> Member:
    return Member(str(row[0]), str(row[1]), str(row[2]), int(row[3]))


def _invite(row: Row) -> Invite:
    return Invite(row[0], row[1], row[2], row[3], row[4], int(row[5]), int(row[6]))


async def roster(rt: Runtime, who: Principal, raw_id: str) -> tuple[list[Member], list[Invite]]:
    access = await authorize(rt.db, who, raw_id, admin=False)
    members = [_member(r) for r in await store.members(rt.db, access.workspace_id)]
    invites = [_invite(r) for r in await store.invites(rt.db, access.workspace_id)]
    return members, invites


def _no_member(raw: str, workspace_id: str) -> NotFound:
    return NotFound(
        f"no member {raw} in this workspace",
        f"GET /workspaces/{workspace_id}/members lists members (user/u_...) and invites"
        " (invite/i_...)",
    )


def _already_member(email: str, workspace_id: str) -> CrmError:
    return Conflict(
        f"{email} is already a member of workspace/{workspace_id}",
        f"nothing to invite; to change their role use POST /workspaces/{workspace_id}/members/"
        f'<user id>/role {{"role":...}} (GET /workspaces/{workspace_id}/members shows the user'
        " id)",
        code="already_member",
    )


@dataclass(frozen=True)
class Invited:
    invite: Invite
    created: bool
    mailed: bool


async def invite(
    rt: Runtime, who: Principal, raw_id: str, raw_email: str, role: str, code: str | None
) -> Invited:
    """Invite (or re-invite, updating the role) an email; inviting an admin needs step-up."""
    access = await authorize(rt.db, who, raw_id, admin=True)
    email = users.normalize_email(raw_email)
    check_role(role)
    workspace_id = access.workspace_id
    if await store.member_by_email(rt.db, workspace_id, email) is not None:
        raise _already_member(email, workspace_id)

    async def apply(tx: Tx) -> tuple[Invite, bool]:
        await authorize(tx, who, raw_id, admin=True)
        if await store.member_by_email(tx, workspace_id, email) is not None:
            raise _already_member(email, workspace_id)
        await ratelimit.hit(
            rt,
            tx,
            [
                ratelimit.Limit(
                    f"invite-by:{who.user_id}",
                    INVITES_PER_ADMIN,
                    INVITE_WINDOW_SECONDS,
                    "invitations sent by you",
                ),
                ratelimit.Limit(
                    f"invite-to:{workspace_id}:{email}",
                    INVITES_PER_ADDRESS,
                    INVITE_WINDOW_SECONDS,
                    f"invitations to {email}",
                ),
            ],
            "wait for Retry-After seconds; invites already sent stay valid",
        )
        now = rt.clock.now()
        existing = await store.invite_by_email(tx, workspace_id, email)
        if existing is not None:
            invite_id = str(existing[0])
            await store.update_invite(tx, invite_id, role, who.user_id, now)
            action, detail = "invite.update", f"role: {existing[3]} -> {role}"
        else:
            await plans.check_cap(rt, tx, workspace_id, "members")
            invite_id = new_id("i")
            await store.insert_invite(tx, invite_id, workspace_id, email, role, who.user_id, now)
            action, detail = "invite.create", f"email: {email}; role: {role}"
        await audit.record(
            tx,
            workspace_id=workspace_id,
            at=now,
            action=action,
            target=f"invite/{invite_id}",
            detail=detail,
            actor=who,
        )
        row = await store.invite(tx, workspace_id, invite_id)
        assert row is not None
        return _invite(row), existing is None

    if role == "admin":
        if await store.invite_by_email(rt.db, workspace_id, email) is None:
            # Before the emailed code: a code for an invite that cannot fit the plan would be
            # fetched (and count against the mail limit) only to learn of the cap.
            await plans.check_cap(rt, rt.db, workspace_id, "members")
        found, created = await stepup.run(
            rt,
            who,
            action="invite_admin",
            target=f"{workspace_id}/{email}",
            workspace_id=workspace_id,
            what=f'invite {email} as admin of "{access.name}" (workspace/{workspace_id})',
            code=code,
            apply=apply,
        )
    else:
        async with rt.db.write() as tx:
            found, created = await apply(tx)
    mailed = await _mail_invite(rt, who, access, found)
    return Invited(found, created, mailed)


async def _mail_invite(rt: Runtime, who: Principal, access: Access, inv: Invite) -> bool:
    """Send the invitation. The invite stands even if the mail fails (joining only needs a
    sign-in with that address), so a failure is reported, not raised."""
    url = rt.settings.public_url
    body = (
        f'{who.email} invited you to the workspace "{access.name}" on crmkit, as {inv.role}.\n\n'
        f"To join, sign in with this address ({inv.email}); you join automatically:\n"
        f'  1. POST {url}/auth/request {{"email":"{inv.email}"}}   (a sign-in code is emailed)\n'
        f'  2. POST {url}/auth/verify {{"email":"{inv.email}","code":"<the code>"}}\n'
        f"The reply holds your API token. GET {url}/help explains the rest.\n\n"
        "If you did not expect this, ignore this mail.\n"
    )
    try:
        await rt.mailer.send(inv.email, f'You are invited to "{access.name}" on crmkit', body)
    except MailError:
        return False
    return True


async def withdraw(rt: Runtime, who: Principal, raw_id: str, raw_invite: str) -> Invite:
    access = await authorize(rt.db, who, raw_id, admin=True)
    invite_id = bare_id(raw_invite, "invite", "i")
    missing = NotFound(
        f"no pending invite {raw_invite} in this workspace",
        f"GET /workspaces/{access.workspace_id}/members lists pending invites (invite/i_...)",
    )
    if invite_id is None:
        raise missing
    async with rt.db.write() as tx:
        await authorize(tx, who, raw_id, admin=True)
        row = await store.invite(tx, access.workspace_id, invite_id)
        if row is None:
            raise missing
        await store.delete_invite(tx, invite_id)
        await audit.record(
            tx,
            workspace_id=access.workspace_id,
            at=rt.clock.now(),
            action="invite.withdraw",
            target=f"invite/{invite_id}",
            detail=f"email: {row[2]}; role: {row[3]}",
            actor=who,
        )
    return _invite(row)


def _last_admin(workspace_id: str, leaving: bool) -> CrmError:
    return Conflict(
        f"that is the last admin of workspace/{workspace_id}; a workspace needs one",
        f"promote another member first (POST /workspaces/{workspace_id}/members/<user id>/role "
        '{"role":"admin"})'
        + (f", or delete the workspace (DELETE /workspaces/{workspace_id})" if leaving else ""),
        code="last_admin",
    )


@dataclass(frozen=True)
class RoleChange:
    member: Member
    old_role: str


async def set_role(
    rt: Runtime, who: Principal, raw_id: str, raw_user: str, role: str, code: str | None
) -> RoleChange:
    """Change a member's role (admin). Promoting anyone, and demoting another admin, need
    step-up: a stolen admin token alone must not take over a workspace or strip its admins."""
    access = await authorize(rt.db, who, raw_id, admin=True)
    check_role(role)
    workspace_id = access.workspace_id
    user_id = bare_id(raw_user, "user", "u")
    row = None if user_id is None else await store.member(rt.db, workspace_id, user_id)
    if user_id is None or row is None:
        raise _no_member(raw_user, workspace_id)
    target = _member(row)
    if target.role == role:
        return RoleChange(target, role)

    async def apply(tx: Tx) -> RoleChange:
        await authorize(tx, who, raw_id, admin=True)
        current = await store.member(tx, workspace_id, target.user_id)
        if current is None:
            raise _no_member(raw_user, workspace_id)
        old = str(current[2])
        if old == role:
            return RoleChange(_member(current), old)
        if old == "admin" and await store.count_admins(tx, workspace_id) <= 1:
            raise _last_admin(workspace_id, leaving=False)
        await store.set_role(tx, workspace_id, target.user_id, role)
        await audit.record(
            tx,
            workspace_id=workspace_id,
            at=rt.clock.now(),
            action="member.role",
            target=f"user/{target.user_id}",
            detail=f"email: {target.email}; role: {old} -> {role}",
            actor=who,
        )
        return RoleChange(Member(target.user_id, target.email, role, target.joined_at), old)

    if role == "admin":
        return await stepup.run(
            rt,
            who,
            action="promote",
            target=f"{workspace_id}/{target.user_id}",
            workspace_id=workspace_id,
            what=f'promote {target.email} to admin of "{access.name}" (workspace/{workspace_id})',
            code=code,
            apply=apply,
        )
    if target.role == "admin" and target.user_id != who.user_id:
        return await stepup.run(
            rt,
            who,
            action="demote",
            target=f"{workspace_id}/{target.user_id}",
            workspace_id=workspace_id,
            what=f'demote {target.email} from admin of "{access.name}" (workspace/{workspace_id})',
            code=code,
            apply=apply,
        )
    async with rt.db.write() as tx:
        return await apply(tx)


@dataclass(frozen=True)
class Removed:
    workspace_id: str
    member: Member
    tokens_revoked: int
    left: bool  # the caller removed themselves


async def remove(
    rt: Runtime, who: Principal, raw_id: str, raw_user: str, code: str | None = None
) -> Removed:
    """Remove a member (admin), or leave (anyone, themselves). Their tokens for this workspace
    stop working at once; the last admin can do neither. Removing another admin needs
    step-up, as demoting one does."""
    user_id = bare_id(raw_user, "user", "u")
    leaving = user_id == who.user_id
    access = await authorize(rt.db, who, raw_id, admin=not leaving)
    workspace_id = access.workspace_id
    row = None if user_id is None else await store.member(rt.db, workspace_id, user_id)
    if user_id is None or row is None:
        raise _no_member(raw_user, workspace_id)
    first = _member(row)
    confirmed = first.role == "admin" and not leaving  # by step-up, below

    async def apply(tx: Tx) -> Removed:
        await authorize(tx, who, raw_id, admin=not leaving)
        row = await store.member(tx, workspace_id, first.user_id)
        if row is None:
            raise _no_member(raw_user, workspace_id)
        target = _member(row)
        if target.role == "admin" and not leaving and not confirmed:
            raise Conflict(
                f"{target.email} became an admin meanwhile: removing an admin needs a code",
                "repeat the request; crmkit will email you a confirmation code",
                code="changed",
            )
        if target.role == "admin" and await store.count_admins(tx, workspace_id) <= 1:
            raise _last_admin(workspace_id, leaving=leaving)
        now = rt.clock.now()
        revoked = await store.remove_member(tx, workspace_id, target.user_id, now)
        await audit.record(
            tx,
            workspace_id=workspace_id,
            at=now,
            action="member.leave" if leaving else "member.remove",
            target=f"user/{target.user_id}",
            detail=f"email: {target.email}; role: {target.role}; tokens revoked: {revoked}",
            actor=who,
        )
        return Removed(workspace_id, target, revoked, leaving)

    if confirmed:
        return await stepup.run(
            rt,
            who,
            action="remove_admin",
            target=f"{workspace_id}/{first.user_id}",
            workspace_id=workspace_id,
            what=f'remove the admin {first.email} from "{access.name}" (workspace/{workspace_id})',
            code=code,
            apply=apply,
        )
    async with rt.db.write() as tx:
        return await apply(tx)


@dataclass(frozen=True)
class Joined:
    workspace_id: str
    name: str
    role: str


async def accept_pending(rt: Runtime, tx: Tx, user_id: str, email: str) -> list[Joined]:
    """Turn every pending invite for `email` into a membership (called inside sign-in)."""
    joined = []
    now = rt.clock.now()
    for invite_id, workspace_id, name, role in await store.pending_for_email(tx, email):
        added = await store.join(tx, workspace_id, user_id, role, now)
        await store.delete_invite(tx, invite_id)
        if added:
            await audit.record(
                tx,
                workspace_id=workspace_id,
                at=now,
                action="member.join",
                target=f"user/{user_id}",
                detail=f"email: {email}; role: {role}; accepted invite/{invite_id}",
                actor_email=email,
            )
            joined.append(Joined(str(workspace_id), str(name), str(role)))
    return joined
