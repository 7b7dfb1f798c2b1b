"""The rules of the sign-in page's later steps: who signed in, which workspaces they may
grant, and the approval that issues an authorization code."""

from __future__ import annotations

from crmkit.accounts import audit, plans, signin, users
from crmkit.accounts import workspaces as workspaces_service
from crmkit.errors import Forbidden
from crmkit.oauth import grants
from crmkit.oauth.clients import Client
from crmkit.oauth.flow import Flow
from crmkit.runtime import Runtime
from crmkit.store import accounts as accounts_store
from crmkit.store import oauth as store


async def signed_in(rt: Runtime, email: str) -> str:
    """After a good code: the user (created on first sign-in, with a first workspace)."""
    async with rt.db.write() as tx:
        user = (await signin.admit(rt, tx, email)).user
        await users.landing_workspace(rt, tx, user)
    return user.id


async def workspaces(rt: Runtime, user_id: str) -> list[tuple[str, str]]:
    """(id, label) to choose from. A workspace someone else created says who: an invitation
    could otherwise bring in a workspace named exactly like the user's own."""
    email = await store.user_email(rt.db, user_id)
    choices = []
    for workspace_id, name, _, creator in await store.workspaces_of(rt.db, user_id):
        label = str(name) if creator in (None, email) else f"{name} (created by {creator})"
        choices.append((str(workspace_id), label))
    return choices


async def new_workspace_refusal(rt: Runtime, user_id: str) -> str | None:
    """Why the person may not create another workspace (their plan's cap), in words for the
    page; None when they may. Asked at the workspace step, so the refusal does not wait
    until after they approved."""
    owned, limit, plan = await plans.workspace_allowance(rt, rt.db, user_id)
    if limit == plans.UNLIMITED or owned < limit:
        return None
    return (
        f"You already own {owned} workspaces, the most the {plan} plan allows. Choose one of"
        " your workspaces, or delete one you no longer need and start again."
    )


async def approve(rt: Runtime, client: Client, flow: Flow, granted: str) -> str:
    """Create the chosen new workspace if any, then issue the authorization code for the
    scopes the person granted (`granted`: flow.scopes, or read alone)."""
    async with rt.db.write() as tx:
        workspace_id = flow.workspace_id
        if flow.new_workspace:
            user = users.User(flow.user_id, flow.email, False)
            workspace_id = await workspaces_service.create_owned(rt, tx, user, flow.new_workspace)
        elif await accounts_store.membership(tx, workspace_id, flow.user_id) is None:
            raise Forbidden(
                "you are not a member of that workspace", "choose one of your workspaces"
            )
        code = await grants.issue_code(
            rt,
            tx,
            client=client,
            redirect_uri=flow.redirect_uri,
            code_challenge=flow.challenge,
            user_id=flow.user_id,
            workspace_id=workspace_id,
            scopes=granted,
        )
        await audit.record(
            tx,
            workspace_id=workspace_id,
            at=rt.clock.now(),
            action="oauth.approve",
            target=f"workspace/{workspace_id}",
            detail=f"client: {client.name} ({client.id}); scopes: {granted}",
            actor_email=flow.email,
        )
    return code
