"""The sign-in pages of the OAuth flow: plain, accessible HTML that works without JavaScript.

Every value is escaped here; the style sheet is inline and allowed by its hash in the
Content-Security-Policy, which also forbids framing, scripts and foreign form targets.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Sequence
from html import escape
from urllib.parse import urlsplit

from starlette.responses import HTMLResponse

from crmkit.oauth.flow import Flow

CSS = (
    "body{font:16px/1.5 system-ui,sans-serif;margin:0;background:#f6f7f9;color:#1b1f24}"
    "main{max-width:28rem;margin:3rem auto;padding:2rem;background:#fff;border-radius:8px;"
    "box-shadow:0 1px 3px rgba(0,0,0,.15)}"
    "h1{font-size:1.4rem;margin-top:0}label{display:block;font-weight:600;margin:.8rem 0 .3rem}"
    "input[type=email],input[type=text]{width:100%;box-sizing:border-box;padding:.5rem;"
    "font-size:1rem;border:1px solid #8a94a0;border-radius:4px}"
    "fieldset{border:0;padding:0;margin:0}legend{font-weight:600}"
    ".choice label{display:inline;font-weight:400}.choice{margin:.4rem 0}"
    "button{margin-top:1rem;padding:.55rem 1.2rem;font-size:1rem;border-radius:4px;"
    "border:1px solid #1f5fbf;background:#1f5fbf;color:#fff;cursor:pointer}"
    "button.secondary{background:#fff;color:#1f5fbf}"
    ".error{color:#a3161b;font-weight:600}.muted{color:#56606b;font-size:.9rem}"
    ":focus{outline:3px solid #f0b400;outline-offset:2px}"
)
CSS_HASH = base64.b64encode(hashlib.sha256(CSS.encode()).digest()).decode()


def security_headers(form_target: str | None = None) -> dict[str, str]:
    """CSP (no scripts, no framing) plus no caching and no referrer (pages carry flow state)."""
    targets = "'self'"
    if form_target:
        parts = urlsplit(form_target)
        # Browsers apply form-action to the redirect after the approve form, so allow it.
        targets += f" {parts.scheme}://{parts.netloc}"
    return {
        "Content-Security-Policy": (
            f"default-src 'none'; style-src 'sha256-{CSS_HASH}'; form-action {targets}; "
            "frame-ancestors 'none'; base-uri 'none'"
        ),
        "X-Frame-Options": "DENY",
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        "Cache-Control": "no-store",
    }


def page(
    title: str, body: str, *, status: int = 200, form_target: str | None = None
) -> HTMLResponse:
    html = (
        '<!doctype html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{escape(title)} - crmkit</title>\n<style>{CSS}</style>\n</head>\n<body>\n"
        f"<main>\n{body}\n</main>\n</body>\n</html>\n"
    )
    return HTMLResponse(html, status_code=status, headers=security_headers(form_target))


def _error(message: str | None) -> str:
    if not message:
        return ""
    return f'<p class="error" role="alert" id="form-error">{escape(message)}</p>\n'


def _form(sealed: str, inner: str) -> str:
    return (
        '<form method="post" action="/oauth/authorize">\n'
        f'<input type="hidden" name="flow" value="{escape(sealed)}">\n{inner}</form>'
    )


def _intro(client_name: str) -> str:
    return (
        f"<p><strong>{escape(client_name)}</strong> wants to connect to your crmkit workspace."
        "</p>\n"
    )


def email_page(client_name: str, sealed: str, error: str | None = None) -> HTMLResponse:
    described = ' aria-describedby="form-error"' if error else ""
    body = (
        "<h1>Sign in to crmkit</h1>\n"
        + _intro(client_name)
        + _error(error)
        + _form(
            sealed,
            '<label for="email">Email address</label>\n'
            '<input id="email" name="email" type="email" autocomplete="email" required'
            f" autofocus{described}>\n"
            '<p class="muted">We will email you a 6-digit code.</p>\n'
            '<button type="submit">Email me a code</button>\n',
        )
    )
    return page("Sign in", body)


def code_page(client_name: str, email: str, sealed: str, error: str | None = None) -> HTMLResponse:
    described = ' aria-describedby="form-error"' if error else ""
    body = (
        "<h1>Enter your code</h1>\n"
        f"<p>We sent a 6-digit code to <strong>{escape(email)}</strong>. "
        "It works once, for 10 minutes.</p>\n"
        + _error(error)
        + _form(
            sealed,
            '<label for="code">6-digit code</label>\n'
            '<input id="code" name="code" type="text" inputmode="numeric" pattern="[0-9]{6}"'
            ' maxlength="6" autocomplete="one-time-code" required autofocus'
            f"{described}>\n"
            '<button type="submit">Continue</button>\n',
        )
    )
    return page("Enter your code", body)


def workspace_page(
    client_name: str,
    workspaces: Sequence[tuple[str, str]],
    sealed: str,
    error: str | None = None,
) -> HTMLResponse:
    choices = []
    for i, (workspace_id, name) in enumerate(workspaces):
        checked = " checked" if i == 0 else ""
        choices.append(
            f'<div class="choice"><input type="radio" id="ws-{i}" name="workspace"'
            f' value="{escape(workspace_id)}"{checked}>'
            f' <label for="ws-{i}">{escape(name)}</label></div>'
        )
    checked_new = "" if workspaces else " checked"
    choices.append(
        '<div class="choice"><input type="radio" id="ws-new" name="workspace" value="new"'
        f'{checked_new}> <label for="ws-new">A new workspace</label></div>'
    )
    body = (
        "<h1>Choose a workspace</h1>\n"
        + _intro(client_name)
        + _error(error)
        + _form(
            sealed,
            "<fieldset>\n<legend>Which workspace may it use?</legend>\n"
            + "\n".join(choices)
            + "\n</fieldset>\n"
            '<label for="workspace_name">Name of the new workspace (if you chose one)</label>\n'
            '<input id="workspace_name" name="workspace_name" type="text" maxlength="100">\n'
            '<button type="submit">Continue</button>\n',
        )
    )
    return page("Choose a workspace", body)


# What each scope lets the application do, in the person's words.
SCOPE_WORDS = {
    "read": "read the contacts, companies, deals, activities and audit log",
    "write": "create, change and delete records and log activities",
    "admin": "manage the workspace: members, invitations and tokens",
}


def consent_page(client_name: str, workspace_name: str, flow: Flow, sealed: str) -> HTMLResponse:
    host = urlsplit(flow.redirect_uri).netloc
    asked = flow.scopes.split()
    items = "".join(f'<li data-scope="{name}">{escape(SCOPE_WORDS[name])}</li>\n' for name in asked)
    read_only = (
        ""
        if asked == ["read"]
        else '<button type="submit" name="decision" value="approve_read" class="secondary">'
        "Allow read-only</button>\n"
    )
    body = (
        "<h1>Allow access?</h1>\n"
        f'<p id="consent"><strong>{escape(client_name)}</strong> wants to use your crmkit '
        f"workspace <strong>{escape(workspace_name)}</strong>. It asks to:</p>\n"
        f'<ul id="scopes">\n{items}</ul>\n'
        "<p>It can never do more than you can. You can revoke its access at any time "
        "(GET /tokens, DELETE /tokens/{id}).</p>\n"
        f'<p class="muted">After you decide you will be sent back to <strong>{escape(host)}'
        "</strong>.</p>\n"
        + _form(
            sealed,
            '<button type="submit" name="decision" value="approve">Allow</button>\n'
            + read_only
            + '<button type="submit" name="decision" value="deny" class="secondary">Deny'
            "</button>\n",
        )
    )
    return page("Allow access?", body, form_target=flow.redirect_uri)


def error_page(message: str, status: int = 400) -> HTMLResponse:
    body = (
        "<h1>This sign-in link does not work</h1>\n"
        f'<p role="alert">{escape(message)}</p>\n'
        "<p>Go back to the application and connect to crmkit again.</p>"
    )
    return page("Sign-in error", body, status=status)
