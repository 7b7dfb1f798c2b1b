"""The secret key: where it comes from, and moving it out of the database.

Every HMAC and signature crmkit makes (one-time codes, delete confirmations, list cursors,
the OAuth sign-in page's state) uses it, so whoever holds it can forge them. It is never kept
in the database, which backups and support copies spread further than the key should go:

1. CRMKIT_SECRET_KEY, if set (the same value on every server of an install);
2. else the key file: CRMKIT_SECRET_KEY_FILE, or, for SQLite, `<database>.key` beside the
   database, created on first start (0600, owner only);
3. a database from before this rule keeps its key in `meta`: it is moved to the key file once
   (and overwritten in the database file, not just unlinked from it), and the log says so.

PostgreSQL has no "beside the database": it needs 1 or 2, the same on every replica.

API tokens and OAuth refresh tokens are stored as SHA-256 hashes, not with the key, so a new
key (`crmkit rotate-key`) leaves them working; what it invalidates is short-lived: pending
codes, delete confirmations, cursors, sign-in pages in progress.
"""

from __future__ import annotations

import logging
import os
import secrets
import stat
import tempfile

from crmkit.config import ConfigError, Settings, sqlite_path
from crmkit.store import accounts as store
from crmkit.store.base import Database

log = logging.getLogger("crmkit.keys")
META_KEY = "secret_key"  # where databases from before this rule kept it
MIN_LENGTH = 16


def key_file(settings: Settings) -> str | None:
    """The key file to use, or None (PostgreSQL without CRMKIT_SECRET_KEY_FILE, or an
    in-memory SQLite database)."""
    if settings.secret_key_file:
        return settings.secret_key_file
    if settings.backend != "sqlite":
        return None
    path = sqlite_path(settings.database)
    return None if path == ":memory:" else path + ".key"


def new_key() -> str:
    return secrets.token_urlsafe(48)


def read_key_file(path: str) -> str:
    """The key in `path`, after making the file owner-only if it was not."""
    mode = stat.S_IMODE(os.stat(path).st_mode)
    if mode & 0o077:
        os.chmod(path, mode & 0o700)
        log.warning("the key file %s was readable by others (%o): made it owner-only", path, mode)
    with open(path, encoding="utf-8") as f:
        key = f.read().strip()
    if len(key) < MIN_LENGTH:
        raise ConfigError(f"the key file {path} holds no key of {MIN_LENGTH}+ characters")
    return key


def write_key_file(path: str, key: str, *, replace: bool = False) -> bool:
    """Write `key` to `path`, owner-only, whole or not at all. Without `replace`, a file that
    appeared meanwhile (another worker starting) wins: returns False and writes nothing."""
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".crmkit-key-", dir=folder)  # created 0600
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(key + "\n")
            f.flush()
            os.fsync(f.fileno())
        if replace:
            os.replace(tmp, path)
            return True
        try:
            os.link(tmp, path)  # fails if it exists: never overwrites another process's key
        except FileExistsError:
            return False
        return True
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


async def load(settings: Settings, db: Database) -> str:
    """The key for this install, making or moving it where needed (see the module's doc)."""
    if settings.secret_key:
        await _forget_stored(db, settings)
        return settings.secret_key
    path = key_file(settings)
    if path is None:
        raise ConfigError(
            "PostgreSQL needs the secret key from CRMKIT_SECRET_KEY or CRMKIT_SECRET_KEY_FILE,"
            " the same on every server (e.g. python -c 'import secrets;"
            " print(secrets.token_urlsafe(48))')"
        )
    if os.path.exists(path):
        key = read_key_file(path)
        await _forget_stored(db, settings)
        return key
    stored = await store.get_meta(db, META_KEY)
    if not write_key_file(path, stored or new_key()):
        return read_key_file(path)  # another process made it first
    if stored is None:
        log.info("created the secret key in %s (owner-only)", path)
        return read_key_file(path)
    await _forget_stored(db, settings)
    log.warning(
        "moved the secret key from the database to %s (owner-only); if the database file was"
        " ever readable by others, run `crmkit rotate-key`",
        path,
    )
    return stored


async def _forget_stored(db: Database, settings: Settings) -> None:
    """Take a key kept by an older version out of the database, overwriting it first."""
    if await store.get_meta(db, META_KEY) is None:
        return
    async with db.write() as tx:
        await store.scrub_meta(tx, META_KEY)
    await db.scrub()
