"""What every service needs, built once per app: settings, database, clock, mail, secrets."""

from __future__ import annotations

import hashlib
import hmac
import logging
from dataclasses import dataclass, field

from crmkit import keys
from crmkit.clock import Clock
from crmkit.config import Settings
from crmkit.mail import Mailer
from crmkit.signing import Cipher, Sealer
from crmkit.store.base import Database
from crmkit.throttle import Throttle

log = logging.getLogger("crmkit")
_BAR = "!" * 78
CONSOLE_MAIL_WARNING = "\n".join(
    [
        "",
        _BAR,
        "!! No CRMKIT_SMTP_URL: sign-in codes are written to this log, and this server is meant",
        "!! to be reached at %s. Anyone who can read the log can sign in as anyone.",
        "!! Set CRMKIT_SMTP_URL (smtp://user:pass@host:port), or serve on a loopback address.",
        _BAR,
    ]
)


@dataclass
class Runtime:
    settings: Settings
    db: Database
    clock: Clock
    mailer: Mailer
    secret_key: str = ""
    throttle: Throttle = field(default_factory=Throttle)
    _sealers: dict[str, Sealer] = field(default_factory=dict)
    _ciphers: dict[str, Cipher] = field(default_factory=dict)

    async def start(self) -> None:
        await self.db.open()
        self.secret_key = await keys.load(self.settings, self.db)
        self._sealers.clear()  # none made before now may keep another key
        self._ciphers.clear()
        if self.settings.console_mail_exposed:
            log.warning(CONSOLE_MAIL_WARNING, self.settings.public_url)

    async def stop(self) -> None:
        await self.db.close()

    def hmac(self, message: str) -> bytes:
        return hmac.new(self.secret_key.encode(), message.encode(), hashlib.sha256).digest()

    def cipher(self, salt: str) -> Cipher:
        cipher = self._ciphers.get(salt)
        if cipher is None:
            cipher = self._ciphers[salt] = Cipher(self.secret_key, salt)
        return cipher

    def signer(self, salt: str) -> Sealer:
        sealer = self._sealers.get(salt)
        if sealer is None:
            sealer = self._sealers[salt] = Sealer(self.secret_key, salt)
        return sealer
