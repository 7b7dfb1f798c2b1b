"""What every service needs, built once per app: settings, database, clock, mail, secrets."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass, field

from crmkit.clock import Clock
from crmkit.config import Settings
from crmkit.mail import Mailer
from crmkit.signing import Sealer
from crmkit.store import accounts as store
from crmkit.store.base import Database


@dataclass
class Runtime:
    settings: Settings
    db: Database
    clock: Clock
    mailer: Mailer
    secret_key: str = ""
    _sealers: dict[str, Sealer] = field(default_factory=dict)

    async def start(self) -> None:
        await self.db.open()
        self.secret_key = self.settings.secret_key or await _stored_secret(self.db)
        self._sealers.clear()  # none made before now may keep another key

    async def stop(self) -> None:
        await self.db.close()

    def hmac(self, message: str) -> bytes:
        return hmac.new(self.secret_key.encode(), message.encode(), hashlib.sha256).digest()

    def signer(self, salt: str) -> Sealer:
        sealer = self._sealers.get(salt)
        if sealer is None:
            sealer = self._sealers[salt] = Sealer(self.secret_key, salt)
        return sealer


async def _stored_secret(db: Database) -> str:
    async with db.write() as tx:
        await store.set_meta_if_absent(tx, "secret_key", secrets.token_urlsafe(48))
        value = await store.get_meta(tx, "secret_key")
    assert value is not None
    return value
