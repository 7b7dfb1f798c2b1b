"""GET/POST /oauth/authorize: the sign-in page, one form per step, no JavaScript.

Step 1 email -> step 2 the emailed code (the same code rules and rate limits as /auth) ->
step 3 choose a workspace -> step 4 approve or deny. The signed flow state rides in each form;
a CSRF cookie ties it to the browser that started it.

A bad authorize request (unknown client, unregistered redirect URI, bad response_type, PKCE,
state or resource) is answered with crmkit's own error page (400, the sign-in page's headers),
never a redirect: only what the person decided on the page (deny, or an approval that failed)
is sent back to the client's redirect URI with error=.
"""

from __future__ import annotations

import secrets
from dataclasses import replace

from starlette.responses import RedirectResponse, Response

from crmkit.accounts import signin, users, workspaces
from crmkit.errors import CrmError, RateLimited
from crmkit.oauth import clients, consent, pages
from crmkit.oauth.flow import (
    Flow,
    FlowRefused,
    PageError,
    back_to_client,
    open_sealed,
    seal,
    start,
)
from crmkit.web.endpoint import Call

COOKIE = "crmkit_oauth_csrf"


def _redirect(location: str) -> Response:
    return RedirectResponse(location, status_code=303, headers=pages.security_headers())


async def authorize_get(call: Call) -> Response:
    cookie = call.request.cookies.get(COOKIE) or secrets.token_urlsafe(24)
    pairs = call.request.query_params.multi_items()
    query = dict(pairs)
    if len(query) != len(pairs):  # RFC 6749 3.1: parameters must not repeat
        return pages.error_page("The sign-in link repeats a parameter; it may have been altered.")
    try:
        client, flow = await start(call.rt, query, cookie)
    except PageError as exc:
        # Before the person acted, every refusal is this page, never a redirect (flow.start).
        return pages.error_page(exc.message)
    response = pages.email_page(client.name, seal(call.rt, flow))
    response.set_cookie(
        COOKIE,
        cookie,
        max_age=3600,
        path="/oauth/authorize",
        secure=call.rt.settings.public_url.startswith("https://"),
        httponly=True,
        samesite="lax",
    )
    return response


async def authorize_post(call: Call) -> Response:
    form = await call.request.form()
    sealed = form.get("flow")
    try:
        if not isinstance(sealed, str):
            raise FlowRefused("the form is missing its flow state")
        flow = await open_sealed(call.rt, sealed, call.request.cookies.get(COOKIE))
    except FlowRefused as exc:
        return pages.error_page(f"This form cannot be used: {exc}.", status=400)
    client = await clients.find(call.rt, flow.client_id)
    if client is None:
        return pages.error_page("This application is no longer registered.")

    def text(name: str) -> str:
        value = form.get(name)
        return value.strip() if isinstance(value, str) else ""

    if flow.step == "email":
        try:
            email = users.normalize_email(text("email"))
            await signin.request_code(call.rt, email, call.client_ip)
        except RateLimited as exc:
            minutes = -(-int(exc.extra["retry_after"]) // 60)  # rounded up
            message = f"{exc.message}. Try again in {minutes} minutes."
            return pages.email_page(client.name, seal(call.rt, flow), message)
        except CrmError as exc:
            return pages.email_page(client.name, seal(call.rt, flow), f"{exc.message}. {exc.hint}")
        nxt = replace(flow, step="code", email=email)
        return pages.code_page(client.name, email, seal(call.rt, nxt))

    if flow.step == "code":
        if not await signin.verify_code(call.rt, flow.email, text("code"), call.client_ip):
            return pages.code_page(
                client.name,
                flow.email,
                seal(call.rt, flow),
                "That code is wrong, expired or already used. A code works once, for 10 "
                "minutes, and dies after 5 wrong tries; start again to get a new one.",
            )
        user_id = await consent.signed_in(call.rt, flow.email)
        nxt = replace(flow, step="workspace", user_id=user_id)
        choices = await consent.workspaces(call.rt, user_id)
        return pages.workspace_page(client.name, choices, seal(call.rt, nxt))

    choices = await consent.workspaces(call.rt, flow.user_id)
    if flow.step == "workspace":
        chosen = text("workspace")
        if chosen == "new":
            refusal = await consent.new_workspace_refusal(call.rt, flow.user_id)
            if refusal is not None:
                return pages.workspace_page(client.name, choices, seal(call.rt, flow), refusal)
        return _chosen(call, client, flow, choices, chosen, text("workspace_name"))

    # Step 4: the decision.
    decision = text("decision")
    if decision not in ("approve", "approve_read"):
        params = {"error": "access_denied", "error_description": "the user denied access"}
        return _redirect(back_to_client(flow, params))
    granted = "read" if decision == "approve_read" else flow.scopes
    try:
        code = await consent.approve(call.rt, client, flow, granted)
    except CrmError as exc:
        # The redirect URI is known good by now: the application hears of the failure (RFC
        # 6749 4.1.2.1) instead of waiting on a page only the person sees.
        error = "temporarily_unavailable" if exc.status >= 500 else "access_denied"
        params = {"error": error, "error_description": exc.message}
        return _redirect(back_to_client(flow, params))
    return _redirect(back_to_client(flow, {"code": code}))


def _chosen(
    call: Call,
    client: clients.Client,
    flow: Flow,
    choices: list[tuple[str, str]],
    chosen: str,
    new_name: str,
) -> Response:
    if chosen == "new":
        try:
            name = workspaces.clean_name(new_name)
        except CrmError as exc:
            return pages.workspace_page(client.name, choices, seal(call.rt, flow), exc.message)
        nxt = replace(flow, step="consent", new_workspace=name, workspace_id="")
        return pages.consent_page(client.name, name, nxt, seal(call.rt, nxt))
    names = dict(choices)
    if chosen not in names:
        return pages.workspace_page(
            client.name, choices, seal(call.rt, flow), "Choose one of the workspaces listed."
        )
    nxt = replace(flow, step="consent", workspace_id=chosen, new_workspace="")
    return pages.consent_page(client.name, names[chosen], nxt, seal(call.rt, nxt))
