"""Online backups: VACUUM INTO a temporary file beside the target, then rename it into place.

VACUUM INTO reads one consistent snapshot (a live server may keep writing) and writes a
compact, self-contained database; copying the .db file alone would miss what is still in the
-wal file. The rename makes the backup appear whole or not at all.
"""

from __future__ import annotations

import os
import sqlite3
import tempfile
from pathlib import Path


def backup(database: str, target: str) -> int:
    """Write a consistent copy of `database` to `target`; returns its size in bytes."""
    source = Path(database).resolve()
    if not source.is_file():
        raise FileNotFoundError(f"no database at {database}")
    destination = Path(target).resolve()
    live = {source, Path(f"{source}-wal"), Path(f"{source}-shm"), Path(f"{source}-journal")}
    if destination in live:
        # Renaming over the live file would leave the server writing to an unlinked inode.
        raise ValueError(f"{target} is the live database (or its journal); choose another path")
    if any(Path(f"{destination}{suffix}").exists() for suffix in ("-wal", "-shm")):
        # Another SQLite connection (a second server?) has it open: renaming over it would
        # leave that process writing to an unlinked file, or corrupt what it writes next.
        raise ValueError(
            f"{target} looks in use (it has a -wal or -shm file): stop what uses it, or"
            " choose another path"
        )
    if destination.is_dir():
        raise ValueError(f"{target} is a directory; give a file path, e.g. {target}/crmkit.db")
    destination.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".crmkit-backup-", dir=destination.parent)
    os.close(fd)
    os.unlink(tmp)  # VACUUM INTO refuses to overwrite an existing file
    conn = sqlite3.connect(database)
    try:
        conn.execute("PRAGMA busy_timeout=5000")
        conn.execute("VACUUM INTO ?", (tmp,))
        check = sqlite3.connect(tmp)
        try:
            ok = check.execute("PRAGMA integrity_check").fetchone()[0]
        finally:
            check.close()
        if ok != "ok":
            raise RuntimeError(f"the backup failed its integrity check: {ok}")
        # The copy holds everything (token hashes included): owner-only, like a fresh database
        # should be, whatever the umask.
        os.chmod(tmp, 0o600)
        os.replace(tmp, destination)
    finally:
        conn.close()
        if os.path.exists(tmp):
            os.unlink(tmp)
    return destination.stat().st_size
