"""What every service needs, built once per app: settings, database, clock, mail, secrets."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

from itsdangerous import URLSafeTimedSerializer

from crmkit.clock import Clock
from crmkit.config import Settings
from crmkit.mail import Mailer
from crmkit.store import accounts as store
from crmkit.store.db import Database


@dataclass
class Runtime:
    settings: Settings
    db: Database
    clock: Clock
    mailer: Mailer
    secret_key: str = ""

    async def start(self) -> None:
        await self.db.open()
        self.secret_key = self.settings.secret_key or await _stored_secret(self.db)

    async def stop(self) -> None:
        await self.db.close()

    def hmac(self, message: str) -> bytes:
        return hmac.new(self.secret_key.encode(), message.encode(), hashlib.sha256).digest()

    def signer(self, salt: str) -> URLSafeTimedSerializer:
        return URLSafeTimedSerializer(self.secret_key, salt=salt)


async def _stored_secret(db: Database) -> str:
    async with db.write() as tx:
        await store.set_meta_if_absent(tx, "secret_key", secrets.token_urlsafe(48))
        value = await store.get_meta(tx, "secret_key")
    assert value is not None
    return value
