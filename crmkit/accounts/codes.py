"""One-time 6-digit codes (sign-in and step-up), shared rules in one place.

Stored as HMAC(secret, key:code), valid 10 minutes, single use. A key keeps up to MAX_LIVE
codes at once: a new request never voids a code still valid (a stranger asking for someone's
code must not kill the one they are typing), and a request while MAX_LIVE are live mails
nothing, so nobody can make crmkit mail an address more than MAX_LIVE codes per 10 minutes.
Wrong tries count against the key: the fifth burns every live code. `key` binds a code to its
purpose, e.g. `login:<email>` or `stepup:<user>:<action>:<target>`, so a code for one never
unlocks another.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Awaitable, Callable, Sequence

from crmkit.accounts import ratelimit
from crmkit.errors import EmailUnavailable
from crmkit.mail import MailError
from crmkit.runtime import Runtime
from crmkit.store import accounts as store
from crmkit.store.base import Tx

CODE_TTL_SECONDS = 600
MAX_ATTEMPTS = 5
MAX_LIVE = 3


def new_code() -> str:
    return "%06d" % secrets.randbelow(10**6)


def digest(rt: Runtime, key: str, code: str) -> bytes:
    return rt.hmac(f"{key}:{code}")


async def issue(rt: Runtime, tx: Tx, key: str) -> tuple[str, bytes] | None:
    """Store one more code for `key` and return it with its digest; None (nothing stored)
    when MAX_LIVE codes of the key are live already."""
    now = rt.clock.now()
    await store.purge_codes(tx, now)
    if len(await store.live_codes(tx, key, now)) >= MAX_LIVE:
        return None
    code = new_code()
    d = digest(rt, key, code)
    await store.add_code(tx, key, d, now + CODE_TTL_SECONDS)
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
    mail_limits: Sequence[ratelimit.Limit] = (),
) -> bool:
    """Count the request against `limits`, issue a code for `key` and email it to `to`;
    False (nothing mailed) when MAX_LIVE codes of the key are live already. `mail_limits`
    count only codes actually mailed.

    The rate limit, the code and `record` (e.g. an audit row) commit together before the mail
    goes out, so no transaction is held open across SMTP. If the mail fails, the code is
    withdrawn (a code nobody received must not stay valid) and EmailUnavailable(`what`) raised.
    `subject` and `body` build the mail text from the code.
    """
    async with rt.db.write() as tx:
        await ratelimit.hit(rt, tx, limits, rate_hint)
        issued = await issue(rt, tx, key)
        if issued is None:
            return False
        await ratelimit.hit(rt, tx, list(mail_limits), rate_hint)
        code, d = issued
        if record is not None:
            await record(tx)
    try:
        await rt.mailer.send(to, subject(code), body(code))
    except MailError as exc:
        async with rt.db.write() as tx:
            await withdraw(tx, key, d)
        raise EmailUnavailable(what, refused=exc.refused) from None
    return True


async def check(rt: Runtime, tx: Tx, key: str, code: str) -> bool:
    """True once for a right code (the key's other codes go with it: it did its job); a
    wrong try counts against the key's live codes. The caller commits."""
    live = await store.live_codes(tx, key, rt.clock.now())
    if not live:
        return False
    code = "".join(code.split())  # " 123 456 " as copied from a mail is the code
    well_formed = len(code) == 6 and code.isascii() and code.isdigit()
    sent = digest(rt, key, code) if well_formed else b""
    # every live code compared, in constant time each, whichever matches
    matched = [hmac.compare_digest(bytes(stored), sent) for stored, _ in live]
    if well_formed and any(matched):
        await store.delete_code(tx, key)
        return True
    await store.count_code_attempt(tx, key, MAX_ATTEMPTS)
    return False
