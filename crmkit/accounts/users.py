"""People: email normalisation, and finding or creating a user with a workspace to land in."""

from __future__ import annotations

import re
from dataclasses import dataclass

from crmkit import names
from crmkit.accounts import audit
from crmkit.errors import InvalidField
from crmkit.ids import new_id
from crmkit.runtime import Runtime
from crmkit.store import accounts as store
from crmkit.store.base import Tx

# The part before the @: anything but spaces, quotes, brackets and separators, in dot-separated
# words (no dot first, last or twice: mail servers refuse those). The domain: ASCII labels
# (an international one in its xn-- form) under a top-level name that is not a number, so
# a@127.0.0.1 is no address.
_LOCAL = r"[^@\s\"<>(),;:\\\[\].]+(?:\.[^@\s\"<>(),;:\\\[\].]+)*"
_LABEL = r"[a-z0-9](?:[a-z0-9-]*[a-z0-9])?"
_EMAIL = re.compile(r"^%s@(?:%s\.)+[a-z](?:[a-z0-9-]*[a-z0-9])?\Z" % (_LOCAL, _LABEL))
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def normalize_email(raw: str, field: str = "email") -> str:
    email = raw.strip().lower()
    if (
        not email
        or len(email) > 254
        or _CONTROL.search(email)
        or not names.is_clean(email)  # a zero-width space cannot be seen in an address
        or not _EMAIL.match(email)
        or len(email.partition("@")[0]) > 64
    ):
        raise InvalidField(
            f"{field} {raw.strip()[:80]!r} is not a valid email address",
            "send an address like jane@example.com",
            code="invalid_email",
        )
    return email


@dataclass(frozen=True)
class User:
    id: str
    email: str
    created: bool


async def ensure_user(rt: Runtime, tx: Tx, email: str) -> User:
    row = await store.user_by_email(tx, email)
    if row is not None:
        return User(str(row[0]), email, False)
    user = User(new_id("u"), email, True)
    await store.insert_user(tx, user.id, email, rt.clock.now())
    await audit.record(
        tx,
        workspace_id=None,
        at=rt.clock.now(),
        action="user.create",
        target=f"user/{user.id}",
        actor_email=email,
    )
    return user


def default_workspace_name(email: str) -> str:
    return f"{email.partition('@')[0]}'s workspace"


async def create_workspace(rt: Runtime, tx: Tx, user: User, name: str) -> str:
    now = rt.clock.now()
    workspace_id = new_id("w")
    await store.insert_workspace(tx, workspace_id, name, rt.settings.default_plan, user.id, now)
    await store.insert_membership(tx, workspace_id, user.id, "admin", now)
    await audit.record(
        tx,
        workspace_id=workspace_id,
        at=now,
        action="workspace.create",
        target=f"workspace/{workspace_id}",
        actor_email=user.email,
        detail=f"name: {name}",
    )
    return workspace_id


async def landing_workspace(rt: Runtime, tx: Tx, user: User) -> str:
    """The workspace a sign-in lands in; a user with none gets a fresh one they administer."""
    workspace_id = await store.landing_workspace(tx, user.id)
    if workspace_id is None:
        workspace_id = await create_workspace(rt, tx, user, default_workspace_name(user.email))
    return workspace_id
