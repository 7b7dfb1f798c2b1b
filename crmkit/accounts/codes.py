"""One-time 6-digit codes (sign-in and step-up), shared rules in one place.

Stored as HMAC(secret, key:code), valid 10 minutes, single use; a new code replaces the old; the
fifth wrong try burns it. `key` binds a code to its purpose, e.g. `login:<email>` or
`stepup:<user>:<action>:<target>`, so a code for one never unlocks another.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Awaitable, Callable

from crmkit.accounts import ratelimit
from crmkit.errors import EmailUnavailable
from crmkit.mail import MailError
from crmkit.runtime import Runtime
from crmkit.store import accounts as store
from crmkit.store.base import Tx

CODE_TTL_SECONDS = 600
MAX_ATTEMPTS = 5


def new_code() -> str:
    return "%06d" % secrets.randbelow(10**6)


def digest(rt: Runtime, key: str, code: str) -> bytes:
    return rt.hmac(f"{key}:{code}")


async def issue(rt: Runtime, tx: Tx, key: str) -> tuple[str, bytes]:
    """Store a fresh code for `key` (replacing any other) and return it with its digest."""
    now = rt.clock.now()
    code = new_code()
    d = digest(rt, key, code)
    await store.purge_codes(tx, now)
    await store.put_code(tx, key, d, now + CODE_TTL_SECONDS)
    return code, d


async def withdraw(tx: Tx, key: str, d: bytes) -> None:
    """Remove the code we just issued (e.g. its mail could not be sent), not a newer one."""
    await store.delete_code(tx, key, d)


async def mail_code(
    rt: Runtime,
    *,
    key: str,
    limits: list[ratelimit.Limit],
    rate_hint: str,
    to: str,
    subject: Callable[[str], str],
    body: Callable[[str], str],
    what: str,
    record: Callable[[Tx], Awaitable[None]] | None = None,
) -> None:
    """Count the request against `limits`, issue a code for `key` and email it to `to`.

    The rate limit, the code and `record` (e.g. an audit row) commit together before the mail
    goes out, so no transaction is held open across SMTP. If the mail fails, the code is
    withdrawn (a code nobody received must not stay valid) and EmailUnavailable(`what`) raised.
    `subject` and `body` build the mail text from the code.
    """
    async with rt.db.write() as tx:
        await ratelimit.hit(rt, tx, limits, rate_hint)
        code, d = await issue(rt, tx, key)
        if record is not None:
            await record(tx)
    try:
        await rt.mailer.send(to, subject(code), body(code))
    except MailError as exc:
        async with rt.db.write() as tx:
            await withdraw(tx, key, d)
        raise EmailUnavailable(what, refused=exc.refused) from None


async def check(rt: Runtime, tx: Tx, key: str, code: str) -> bool:
    """True once for the right code; a wrong try counts toward the limit. The caller commits."""
    row = await store.get_code(tx, key)
    if row is None:
        return False
    stored, expires_at, attempts = row
    if expires_at < rt.clock.now() or attempts >= MAX_ATTEMPTS:
        await store.delete_code(tx, key)
        return False
    code = "".join(code.split())  # " 123 456 " as copied from a mail is the code
    well_formed = len(code) == 6 and code.isascii() and code.isdigit()
    if well_formed and hmac.compare_digest(stored, digest(rt, key, code)):
        await store.delete_code(tx, key)
        return True
    await store.count_code_attempt(tx, key)
    return False
