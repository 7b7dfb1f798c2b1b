"""Outgoing mail. With CRMKIT_SMTP_URL unset the message is written to the console log, so a
newcomer can sign in with no set-up; with it set, a refused or unreachable server raises
`MailError` and the caller answers 503."""

from __future__ import annotations

import logging
from email.message import EmailMessage
from urllib.parse import unquote, urlsplit

import aiosmtplib

from crmkit.store import unit

log = logging.getLogger("crmkit.mail")

SMTP_TIMEOUT_SECONDS = 10


class MailError(Exception):
    """Mail was not sent. `refused`: the server will not take this address (it will not
    next time either), as opposed to being down or unreachable."""

    def __init__(self, message: str, *, refused: bool = False) -> None:
        super().__init__(message)
        self.refused = refused


class Mailer:
    def __init__(self, smtp_url: str | None, mail_from: str) -> None:
        self.smtp_url = smtp_url
        self.mail_from = mail_from

    @property
    def console(self) -> bool:
        return self.smtp_url is None

    async def send(self, to: str, subject: str, body: str) -> None:
        work = unit.current()
        if work is not None and work.dry_run:
            # a dry run sends nothing (its codes and invites are rolled back too)
            work.notes.append(f"no mail was sent to {to} (a dry run sends none)")
            return
        message = EmailMessage()
        message["From"] = self.mail_from
        message["To"] = to
        message["Subject"] = subject
        message.set_content(body)
        if self.smtp_url is None:
            # Deliberate: console mode exists so a local user can read the code in the log.
            log.warning(
                "no CRMKIT_SMTP_URL set; mail to %s follows\nSubject: %s\n\n%s", to, subject, body
            )
            return
        parts = urlsplit(self.smtp_url)
        implicit_tls = parts.scheme == "smtps"
        starttls = parts.scheme == "smtp+starttls"
        port = parts.port or (465 if implicit_tls else 587 if starttls else 25)
        try:
            await aiosmtplib.send(
                message,
                hostname=parts.hostname,
                port=port,
                username=unquote(parts.username) if parts.username else None,
                password=unquote(parts.password) if parts.password else None,
                use_tls=implicit_tls,
                start_tls=True if starttls else False,
                timeout=SMTP_TIMEOUT_SECONDS,
            )
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            log.error("mail to %s failed: %s", to, type(exc).__name__)
            raise MailError(str(exc), refused=_refused(exc)) from exc


def _refused(exc: Exception) -> bool:
    """A non-ASCII address on a relay without SMTPUTF8, or a recipient refused for good
    (5xx); a 4xx or a connection failure may pass."""
    if isinstance(exc, aiosmtplib.SMTPNotSupported):
        return True
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused):
        return all(r.code >= 500 for r in exc.recipients)
    return isinstance(exc, aiosmtplib.SMTPRecipientRefused) and exc.code >= 500
