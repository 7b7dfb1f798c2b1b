"""Workspaces: listing yours, creating, renaming, minting a token for one ("switch") and
deleting one with all its data.

Access rule for /workspaces/{id}/...: a workspace you do not belong to answers 404 exactly as
a missing one (no existence leak), except the switch endpoint, which answers 403 not_a_member
for both; a member on an admin-only action gets 403 admin_required.
"""

from __future__ import annotations

from dataclasses import dataclass

from crmkit import names
from crmkit.accounts import audit, plans, scopes, stepup, tokens, users
from crmkit.errors import Forbidden, InvalidField, NotFound
from crmkit.ids import bare_id
from crmkit.principal import Principal
from crmkit.runtime import Runtime
from crmkit.store import accounts as accounts_store
from crmkit.store import teams as store
from crmkit.store.base import Conn, Tx

NAME_MAX = 100


@dataclass(frozen=True)
class Access:
    workspace_id: str
    name: str
    plan: str
    role: str


def not_found(raw_id: str) -> NotFound:
    return NotFound(
        f"no workspace {raw_id} among yours",
        "GET /workspaces lists the workspaces you belong to",
    )


def admin_required(workspace_id: str) -> Forbidden:
    return Forbidden(
        f"only an admin of workspace/{workspace_id} can do this; you are a member",
        f"ask an admin (GET /workspaces/{workspace_id}/members lists them) to do it or to "
        "promote you",
        code="admin_required",
    )


async def authorize(conn: Conn, who: Principal, raw_id: str, *, admin: bool) -> Access:
    """The caller's access to a workspace, or 404 (not a member) / 403 (not an admin).

    Handlers call it on the reader first; writes call it again inside their transaction so a
    concurrent demotion or removal cannot slip between the check and the change."""
    workspace_id = bare_id(raw_id, "workspace", "w")
    if workspace_id is None:
        raise not_found(raw_id)
    if who.via_connector and workspace_id != who.workspace_id:
        raise tokens.connector_scope(who)
    row = await accounts_store.membership(conn, workspace_id, who.user_id)
    if row is None:
        raise not_found(raw_id)
    access = Access(workspace_id, str(row[1]), str(row[2]), str(row[0]))
    if admin and access.role != "admin":
        raise admin_required(workspace_id)
    return access


def clean_name(name: str) -> str:
    name = name.strip()
    if not name or len(name) > NAME_MAX or not names.is_clean(name):
        raise InvalidField(
            f"name must be 1-{NAME_MAX} printable characters",
            'send e.g. {"name":"Acme sales"}',
        )
    return name


@dataclass(frozen=True)
class Mine:
    workspace_id: str
    name: str
    plan: str
    role: str
    joined_at: int
    created_at: int
    members: int


async def list_mine(rt: Runtime, who: Principal) -> list[Mine]:
    rows = await store.workspaces_of(rt.db, who.user_id)
    if who.via_connector:  # a connector knows only the workspace it was given
        rows = [r for r in rows if r[0] == who.workspace_id]
    return [Mine(r[0], r[1], r[2], r[3], r[4], r[5], r[6]) for r in rows]


async def create(rt: Runtime, who: Principal, raw_name: str) -> Access:
    if who.via_connector:
        raise tokens.connector_scope(who)
    name = clean_name(raw_name)
    async with rt.db.write() as tx:
        workspace_id = await create_owned(rt, tx, users.User(who.user_id, who.email, False), name)
    return Access(workspace_id, name, rt.settings.default_plan, "admin")


async def create_owned(rt: Runtime, tx: Tx, user: users.User, name: str) -> str:
    """A new workspace the user administers, within their plan's workspace cap."""
    await plans.check_workspace_cap(rt, tx, user.id)
    return await users.create_workspace(rt, tx, user, name)


async def rename(rt: Runtime, who: Principal, raw_id: str, raw_name: str) -> Access:
    name = clean_name(raw_name)
    await authorize(rt.db, who, raw_id, admin=True)
    async with rt.db.write() as tx:
        access = await authorize(tx, who, raw_id, admin=True)
        await store.rename_workspace(tx, access.workspace_id, name)
        await audit.record(
            tx,
            workspace_id=access.workspace_id,
            at=rt.clock.now(),
            action="workspace.rename",
            target=f"workspace/{access.workspace_id}",
            detail=f"name: {access.name} -> {name}",
            actor=who,
        )
    return Access(access.workspace_id, name, access.plan, access.role)


def not_a_member(raw_id: str) -> Forbidden:
    return Forbidden(
        f"you are not a member of workspace {raw_id} (or it does not exist)",
        "GET /workspaces lists the workspaces you can mint tokens for; to join another, ask one "
        "of its admins to invite your email",
        code="not_a_member",
    )


async def switch(
    rt: Runtime,
    who: Principal,
    raw_id: str,
    token_name: str | None,
    asked: frozenset[str] | None = None,
    expires_in: int | None = None,
) -> tuple[tokens.Minted, str]:
    """Mint a token acting in a workspace the caller belongs to, with no scope the caller's
    token lacks (`asked` None: the caller's) and expiring no later than the caller's token."""
    if who.via_connector:
        # A token minted here would outlive the connector's grant and reach past the
        # workspace the user approved for it.
        raise tokens.connector_scope(who)
    name = tokens.clean_name(token_name, "name")
    if asked is not None and (refusal := scopes.wider(asked, who.scopes)) is not None:
        raise refusal
    expires_at = None if expires_in is None else rt.clock.now() + expires_in
    if who.token_expires_at is not None:
        expires_at = min(expires_at or who.token_expires_at, who.token_expires_at)
    workspace_id = bare_id(raw_id, "workspace", "w")
    if workspace_id is None:
        raise not_a_member(raw_id)
    async with rt.db.write() as tx:
        row = await accounts_store.membership(tx, workspace_id, who.user_id)
        if row is None:
            raise not_a_member(raw_id)
        minted = await tokens.mint(
            rt,
            tx,
            user_id=who.user_id,
            email=who.email,
            workspace_id=workspace_id,
            name=name,
            actor=who,
            scope=scopes.text(who.scopes if asked is None else asked),
            expires_at=expires_at,
        )
    return minted, str(row[1])


@dataclass(frozen=True)
class Deleted:
    workspace_id: str
    name: str
    rows: int


async def delete(rt: Runtime, who: Principal, raw_id: str, code: str | None) -> Deleted:
    """Delete a workspace and all its rows in one transaction (admin, step-up).
    Its tokens die with their rows; members keep their other workspaces."""
    access = await authorize(rt.db, who, raw_id, admin=True)
    workspace_id = access.workspace_id

    async def apply(tx: Tx) -> int:
        current = await authorize(tx, who, raw_id, admin=True)
        deleted = await store.delete_workspace(tx, workspace_id)
        # The workspace's own audit rows are part of its data and go with it; this row is
        # kept outside any workspace so the operator can still see who deleted what.
        await audit.record(
            tx,
            workspace_id=None,
            at=rt.clock.now(),
            action="workspace.delete",
            target=f"workspace/{workspace_id}",
            detail=f"name: {current.name}; rows deleted: {deleted}",
            actor=who,
        )
        return deleted

    deleted = await stepup.run(
        rt,
        who,
        action="delete_workspace",
        target=workspace_id,
        workspace_id=workspace_id,
        what=f'delete workspace "{access.name}" (workspace/{workspace_id}) and all its data',
        code=code,
        apply=apply,
        heavy=True,  # every row of the workspace: keep the loop serving other requests
    )
    return Deleted(workspace_id, access.name, deleted)
