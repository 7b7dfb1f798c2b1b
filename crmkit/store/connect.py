"""Which backend a database URL names, and the Database for it.

- a plain path, or `sqlite:///path` (`sqlite:////abs/path`, `sqlite:///:memory:`): SQLite;
- `postgresql://user@host:5432/name` (or `postgres://`): PostgreSQL.
Anything else with a scheme is refused: a mistyped URL must not become a file path.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit, urlunsplit

from crmkit.store.base import Database

_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*):")
POSTGRES_SCHEMES = ("postgresql", "postgres")


class UnknownDatabase(ValueError):
    """The URL names no backend crmkit has; the message says which ones it has."""


def backend(url: str) -> str:
    """'sqlite' or 'postgresql' for a database URL; raises UnknownDatabase otherwise."""
    match = _SCHEME.match(url)
    if match is None or len(match.group(1)) == 1:  # a path (C:... is a drive letter)
        return "sqlite"
    scheme = match.group(1).lower()
    if scheme == "sqlite" and url[len("sqlite:") :].startswith("///"):
        return "sqlite"
    if scheme in POSTGRES_SCHEMES and url.partition(":")[2].startswith("//"):
        return "postgresql"
    raise UnknownDatabase(
        f"the database URL {redact(url)!r} names no backend crmkit has: give a SQLite file"
        " path (./crmkit.db or sqlite:///path/crmkit.db) or a PostgreSQL URL"
        " (postgresql://user@host:5432/crmkit)"
    )


def sqlite_path(url: str) -> str:
    """The file of a SQLite URL or path."""
    return url[len("sqlite:///") :] if url.lower().startswith("sqlite:///") else url


def redact(url: str) -> str:
    """The URL with its password (if any) replaced by ***, for logs and errors."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unreadable URL>"
    if parts.password is None:
        return url
    netloc = parts.netloc.rpartition("@")
    user = (parts.username or "") + ":***"
    return urlunsplit(parts._replace(netloc=user + "@" + netloc[2]))


def open_database(url: str) -> Database:
    """The Database for `url` (not yet opened)."""
    if backend(url) == "postgresql":
        raise UnknownDatabase("PostgreSQL is not supported yet")
    from crmkit.store.sqlite.db import Database as SqliteDatabase

    return SqliteDatabase(sqlite_path(url))
