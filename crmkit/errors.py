"""Every error crmkit answers with, in one place.

An error carries a stable snake_case `code`, an HTTP status, a message that names the thing and
a hint that says what to do next. Extra `key: value` details (allowed fields, a confirm token,
retry_after) ride along in `extra`. The renderer turns them into text or JSON; nothing else
builds an error reply.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

SIGN_IN_HINT = (
    'sign in again: POST /auth/request {"email":...} then POST /auth/verify '
    '{"email":...,"code":...}, and send the new token as Authorization: Bearer <token>'
)


class CrmError(Exception):
    status: int = 400
    code: str = "bad_request"

    def __init__(
        self,
        message: str,
        hint: str,
        *,
        code: str | None = None,
        status: int | None = None,
        extra: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status
        self.extra: dict[str, str] = dict(extra or {})
        self.headers: dict[str, str] = dict(headers or {})
        if self.status == 401:
            # DESIGN 5: every 401 (invalid_code included) carries the challenge.
            self.headers.setdefault("WWW-Authenticate", "Bearer")


# 400 family -----------------------------------------------------------------------------------


class BadRequest(CrmError):
    status = 400
    code = "bad_request"


class InvalidJSON(BadRequest):
    code = "invalid_json"


class InvalidField(BadRequest):
    """A body or query names a field we do not accept, or gives it a bad value."""

    code = "invalid_field"

    def __init__(
        self, message: str, hint: str, *, allowed: Iterable[str] = (), code: str | None = None
    ) -> None:
        allowed_list = sorted(allowed)
        extra = {"allowed": ", ".join(allowed_list)} if allowed_list else {}
        super().__init__(message, hint, code=code, extra=extra)


class InvalidQuery(InvalidField):
    code = "invalid_query"


class InvalidConfirmation(BadRequest):
    code = "invalid_confirmation"


# 401 / 403 -----------------------------------------------------------------------------------


class Unauthorized(CrmError):
    status = 401
    code = "auth_required"

    def __init__(self, message: str, hint: str = SIGN_IN_HINT, *, code: str | None = None) -> None:
        super().__init__(message, hint, code=code, headers={"WWW-Authenticate": "Bearer"})


class InvalidCode(CrmError):
    status = 401
    code = "invalid_code"


class Forbidden(CrmError):
    status = 403
    code = "forbidden"


# 404 / 405 / 409 / 412 / 413 / 428 / 429 / 5xx --------------------------------------------------


class NotFound(CrmError):
    status = 404
    code = "not_found"


class MethodNotAllowed(CrmError):
    status = 405
    code = "method_not_allowed"


class Conflict(CrmError):
    status = 409
    code = "conflict"


class Unprocessable(CrmError):
    status = 422
    code = "unprocessable"


class VersionConflict(CrmError):
    status = 412
    code = "version_conflict"


class PayloadTooLarge(CrmError):
    status = 413
    code = "payload_too_large"


class MisdirectedRequest(CrmError):
    """A request for another host name than this server answers as (DNS rebinding defence)."""

    status = 421
    code = "misdirected_request"


class ConfirmationRequired(CrmError):
    status = 428
    code = "confirmation_required"


class RateLimited(CrmError):
    status = 429
    code = "rate_limited"

    def __init__(self, message: str, hint: str, *, retry_after: int) -> None:
        retry_after = max(1, retry_after)
        super().__init__(
            message,
            hint,
            extra={"retry_after": str(retry_after)},
            headers={"Retry-After": str(retry_after)},
        )


class ServiceUnavailable(CrmError):
    status = 503
    code = "unavailable"


class EmailUnavailable(ServiceUnavailable):
    """An emailed code (sign-in, step-up) could not be sent; the code was withdrawn."""

    code = "email_unavailable"

    def __init__(self, what: str, *, refused: bool = False) -> None:
        if refused:
            super().__init__(
                f"the {what} email could not be sent: the mail server will not deliver to this"
                " address",
                "check the address for typos, or use another one (an address with accents"
                " before the @ needs a mail server that supports them)",
                code="email_refused",
                status=400,  # the address, not the server, is the problem: retrying won't help
            )
            return
        super().__init__(
            f"the {what} email could not be sent (the mail server refused or is unreachable)",
            "try again in a minute; if it keeps failing, the operator should check CRMKIT_SMTP_URL",
        )


class InternalError(CrmError):
    status = 500
    code = "internal_error"


# OAuth (RFC 6749 / 7591 / 7009 endpoints answer with their own JSON body) --------------------


class OAuthError(CrmError):
    """An error of the OAuth endpoints: `code` is the RFC error code (invalid_grant, ...),
    rendered as {"error": code, "error_description": message} by crmkit/web/oauth.py."""

    status = 400
    code = "invalid_request"
