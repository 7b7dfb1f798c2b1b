"""Helpers for the tests of `crmkit copy`, `crmkit migrate` and the database URL rules."""

from __future__ import annotations

from pathlib import Path

from crmkit.config import Settings
from crmkit.store.connect import open_database
from crmkit.store.copy import dump


async def sqlite_with_a_user(path: Path, email: str = "zed@zeta.org") -> str:
    """A SQLite database at `path` holding one user, their workspace and a token (what
    `crmkit token --email` makes, without a process of its own); returns the raw token."""
    from crmkit.accounts import signin
    from crmkit.app import build_runtime

    rt = build_runtime(Settings.from_env({"CRMKIT_DATABASE": str(path)}))
    await rt.start()
    try:
        done = await signin.sign_in(rt, email, "cli")
        return done.token.raw
    finally:
        await rt.stop()


async def open_dump(url: str) -> dict[str, tuple[int, str]]:
    """crmkit.store.copy.dump of the database at `url` (opened, then closed again)."""
    db = open_database(url)
    await db.open()
    try:
        return await dump(db)
    finally:
        await db.close()
