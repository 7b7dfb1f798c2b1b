"""`crmkit serve | token | plan` (argparse; the work happens in the services)."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Sequence
from typing import Any

from crmkit import __version__
from crmkit.config import ENV_DOCS, ConfigError, Settings

DB_HELP = "SQLite file or PostgreSQL URL (default $CRMKIT_DATABASE or ./crmkit.db)"


def _env_help() -> str:
    width = max(len(k) for k in ENV_DOCS)
    lines = ["environment variables (each optional):"]
    for name, (default, text) in ENV_DOCS.items():
        lines.append(f"  {name:<{width}}  {text} (default: {default})")
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="crmkit",
        description="crmkit: a headless CRM that AI agents operate over plain-text HTTP and MCP.",
        epilog=_env_help(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"crmkit {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser(
        "serve",
        help="run the HTTP API (and /mcp) on uvicorn",
        description="Run the crmkit API on uvicorn, on an embedded SQLite database (a file) or"
        " on PostgreSQL (a postgresql:// URL).",
        epilog=_env_help(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    serve.add_argument("--host", help="interface to bind (default $CRMKIT_HOST or 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port (default $CRMKIT_PORT or 8000)")
    serve.add_argument("--db", help=DB_HELP)
    serve.add_argument(
        "--no-access-log", action="store_true", help="do not log one line per request"
    )
    serve.add_argument(
        "--workers",
        type=int,
        default=1,
        choices=range(1, 65),
        metavar="N",
        help="worker processes sharing the port and the database (default 1; one per core "
        "serves about N times the requests)",
    )

    token = sub.add_parser(
        "token",
        help="mint a token on the server host, without email",
        description="Mint an API token for EMAIL (creating the user and a workspace if needed) "
        "and print it once. For operators and scripts on the server host.",
        epilog=_env_help(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    token.add_argument("--email", required=True)
    token.add_argument("--name", default=None, help="label shown in GET /tokens (default: cli)")
    token.add_argument(
        "--scope",
        action="append",
        metavar="SCOPE",
        help="read, write or admin; repeat or comma-separate for several (default: all three;"
        " write and admin include read)",
    )
    token.add_argument(
        "--expires-in-days",
        type=int,
        metavar="N",
        help="a hard expiry N days from now, on top of the idle expiry",
    )
    token.add_argument("--db", help=DB_HELP)

    plan = sub.add_parser(
        "plan",
        help="set a workspace's plan (free, team, unlimited)",
        description="Move WORKSPACE_ID (w_... or workspace/w_...) to PLAN, changing its caps "
        "at once. For operators on the server host; audited as workspace.plan.",
        epilog=_env_help(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    plan.add_argument("workspace_id", metavar="WORKSPACE_ID")
    plan.add_argument("plan", metavar="PLAN", help="free, team or unlimited")
    plan.add_argument("--db", help=DB_HELP)
    backup = sub.add_parser(
        "backup",
        help="write a consistent copy of the database (safe while the server runs)",
        description="Copy the database with VACUUM INTO a temporary file, check it, then "
        "rename it to TARGET. Safe while `crmkit serve` keeps writing.",
    )
    backup.add_argument("target", help="file to write the backup to (replaced if it exists)")
    backup.add_argument("--db", help=DB_HELP)

    migrate = sub.add_parser(
        "migrate",
        help="apply the database's pending schema migrations (or list them with --check)",
        description="Apply the pending schema migrations, as `crmkit serve` does at start-up,"
        " for deploys that migrate in a step of their own. With --check, only list them:"
        " exit status 1 when some are pending, 0 when none are.",
    )
    migrate.add_argument("--check", action="store_true", help="list, apply nothing")
    migrate.add_argument("--db", help=DB_HELP)

    rotate = sub.add_parser(
        "rotate-key",
        help="replace the secret key (restart the servers afterwards)",
        description="Write a new secret key to the key file (CRMKIT_SECRET_KEY_FILE, or"
        " <database>.key beside a SQLite database). API tokens and OAuth refresh tokens keep"
        " working (they are stored as SHA-256 hashes, not with the key); what the old key"
        " signed stops working: pending sign-in and step-up codes, delete confirmations,"
        " list cursors, OAuth sign-in pages in progress. Servers keep the old key until they"
        " restart. A key given in CRMKIT_SECRET_KEY is changed there instead.",
    )
    rotate.add_argument("--db", help=DB_HELP)

    copy = sub.add_parser(
        "copy",
        help="copy everything from one database into another, empty one",
        description="Copy users, workspaces, tokens (they keep working), records, activities,"
        " the audit log and OAuth clients and grants from one database to another, empty one"
        " (SQLite to PostgreSQL or back), then verify each table's row count and checksum."
        " It reads one snapshot of the source, so the source may stay in use; writes made"
        " after the copy starts are not in it.",
    )
    copy.add_argument("--from", dest="source", required=True, metavar="DB", help="the source")
    copy.add_argument("--to", dest="target", required=True, metavar="DB", help="the target")
    return parser


def settings_from(args: argparse.Namespace) -> Settings:
    overrides: dict[str, object] = {}
    if getattr(args, "db", None):
        overrides["database"] = args.db
    if getattr(args, "host", None):
        overrides["host"] = args.host
    if getattr(args, "port", None):
        overrides["port"] = args.port
    return Settings.from_env(os.environ, **overrides)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = settings_from(args)
    except ConfigError as exc:
        print(f"crmkit: configuration error: {exc}", file=sys.stderr)
        return 2
    if args.command == "serve":
        return serve(settings, access_log=not args.no_access_log, workers=args.workers)
    if args.command == "backup":
        return run_backup(settings, args.target)
    if args.command == "token":
        return asyncio.run(
            mint_token(settings, args.email, args.name or "cli", args.scope, args.expires_in_days)
        )
    if args.command == "plan":
        return asyncio.run(set_plan(settings, args.workspace_id, args.plan))
    if args.command == "migrate":
        return asyncio.run(run_migrate(settings, check=args.check))
    if args.command == "rotate-key":
        return asyncio.run(rotate_key(settings))
    if args.command == "copy":
        return asyncio.run(run_copy(args.source, args.target))
    return 2


def serve(settings: Settings, *, access_log: bool, workers: int = 1) -> int:
    import uvicorn

    from crmkit.app import configure_logging, create_app, prepare_database

    configure_logging()
    options: dict[str, Any] = {
        "host": settings.host,
        "port": settings.port,
        "access_log": False,  # ours redacts secrets in query strings; uvicorn's would not
        "proxy_headers": True,
        "server_header": False,
        "log_config": None,
    }
    if workers == 1:
        uvicorn.run(create_app(settings, access_log=access_log), **options)
        return 0
    # Each worker is a fresh interpreter that builds the app from the environment: hand it
    # the settings given on the command line, and migrate (and make the secret key) once here
    # so the workers start on a ready database.
    asyncio.run(prepare_database(settings))
    os.environ.update(
        CRMKIT_DATABASE=settings.database,
        CRMKIT_HOST=settings.host,
        CRMKIT_PORT=str(settings.port),
        CRMKIT_ACCESS_LOG="1" if access_log else "0",
    )
    uvicorn.run("crmkit.app:app_from_environment", factory=True, workers=workers, **options)
    return 0


async def mint_token(
    settings: Settings,
    email: str,
    name: str,
    scope: list[str] | None = None,
    expires_in_days: int | None = None,
) -> int:
    from crmkit.accounts import scopes, signin, tokens, users
    from crmkit.app import build_runtime
    from crmkit.errors import CrmError

    rt = build_runtime(settings)
    if not await _started(rt):
        return 1
    try:
        try:
            address = users.normalize_email(email)
            granted = scopes.FULL if scope is None else scopes.text(scopes.parse(",".join(scope)))
            done = await signin.sign_in(
                rt,
                address,
                tokens.clean_name(name, "--name"),
                scope=granted,
                expires_in=scopes.expires_in_days(expires_in_days),
            )
        except CrmError as exc:
            print(f"crmkit: {exc.message}", file=sys.stderr)
            return 2
        print(done.token.raw)
        print(
            f"# token/{done.token.token_id} for {done.email} in workspace/{done.token.workspace_id}"
            f" ({done.workspace_name}), scopes {granted}; shown once",
            file=sys.stderr,
        )
        return 0
    finally:
        await rt.stop()


async def set_plan(settings: Settings, workspace_id: str, plan: str) -> int:
    from crmkit.accounts import plans
    from crmkit.app import build_runtime
    from crmkit.errors import CrmError

    rt = build_runtime(settings)
    if not await _started(rt):
        return 1
    try:
        try:
            found, old, new = await plans.set_plan(rt, workspace_id, plan)
        except CrmError as exc:
            allowed = exc.extra.get("allowed")
            print(
                f"crmkit: {exc.message}" + (f" (allowed: {allowed})" if allowed else ""),
                file=sys.stderr,
            )
            return 2
        print(f"workspace/{found} plan: {old} -> {new}")
        return 0
    finally:
        await rt.stop()


async def _started(rt: Any) -> bool:
    """Start the runtime, or say in one line why the database cannot be used."""
    from crmkit.store.connect import describe, failures

    try:
        await rt.start()
    except failures() as exc:
        print(f"crmkit: {describe(rt.settings.database, exc)}", file=sys.stderr)
        await rt.stop()
        return False
    return True


def run_backup(settings: Settings, target: str) -> int:
    from crmkit.store.sqlite.backup import backup

    if settings.backend != "sqlite":
        print(
            "crmkit: backup copies a SQLite file; back up PostgreSQL with its own tools"
            " (pg_dump, or the server's base backups and WAL archive)",
            file=sys.stderr,
        )
        return 2
    try:
        size = backup(settings.database, target)
    except (OSError, RuntimeError, ValueError) as exc:
        print(f"crmkit: backup failed: {exc}", file=sys.stderr)
        return 1
    print(f"# backed up {settings.database} to {target} ({size} bytes)", file=sys.stderr)
    return 0


async def run_migrate(settings: Settings, *, check: bool) -> int:
    from crmkit.store.connect import describe, failures, migrations

    try:
        pending, applied = await migrations(settings.database, apply=not check)
    except failures() as exc:
        print(f"crmkit: {describe(settings.database, exc)}", file=sys.stderr)
        return 1
    for name in applied:
        print(f"# applied {name}")
    if check:
        for name in pending:
            print(f"pending {name}")
        print(f"# {len(pending)} pending migration{'s' if len(pending) != 1 else ''}")
        return 1 if pending else 0
    if not applied:
        print("# the schema is up to date")
    return 0


class _Bar:
    """A progress bar per table on stderr: redrawn in place on a terminal, else a line at
    every tenth."""

    def __init__(self) -> None:
        self.tty = sys.stderr.isatty()
        self.shown: tuple[str, int] | None = None

    def __call__(self, table: str, done: int, total: int) -> None:
        tenth = 10 if total == 0 else done * 10 // total
        if not self.tty and self.shown == (table, tenth):
            return
        self.shown = (table, tenth)
        filled = 30 if total == 0 else done * 30 // total
        line = "%-22s [%-30s] %3d%% %d/%d" % (
            table,
            "#" * filled,
            100 if total == 0 else done * 100 // total,
            done,
            total,
        )
        end = "\n" if not self.tty or done >= total else ""
        print(("\r" if self.tty else "") + line, end=end, file=sys.stderr, flush=True)


async def run_copy(source_url: str, target_url: str) -> int:
    from crmkit.config import ConfigError, database_backend, redact_url, sqlite_path
    from crmkit.store.connect import describe, failures, open_database
    from crmkit.store.copy import CopyError, copy

    try:
        database_backend(source_url)
        database_backend(target_url)
    except ConfigError as exc:
        print(f"crmkit: {exc}".replace("CRMKIT_DATABASE", "the URL"), file=sys.stderr)
        return 2
    if database_backend(source_url) == "sqlite" and not os.path.exists(sqlite_path(source_url)):
        print(f"crmkit: copy refused: there is no database at {source_url}", file=sys.stderr)
        return 1
    source, target = open_database(source_url), open_database(target_url)
    try:
        for url, db in ((source_url, source), (target_url, target)):
            try:
                await db.open()
            except failures() as exc:
                print(f"crmkit: copy failed: {describe(url, exc)}", file=sys.stderr)
                return 1
        verified = await copy(source, target, _Bar())
    except CopyError as exc:
        print(f"crmkit: copy refused or failed: {exc}", file=sys.stderr)
        return 1
    finally:
        await source.close()
        await target.close()
    rows = sum(v.rows for v in verified)
    print(
        f"# copied {rows} rows in {len(verified)} tables from {redact_url(source_url)} to"
        f" {redact_url(target_url)}; every table verified (rows and sha256)"
    )
    for v in verified:
        print(f"table/{v.table} rows={v.rows} sha256={v.checksum}")
    return 0


async def rotate_key(settings: Settings) -> int:
    from crmkit import keys
    from crmkit.store import accounts
    from crmkit.store.connect import open_database

    if settings.secret_key:
        print(
            "crmkit: the key comes from CRMKIT_SECRET_KEY: set a new value there (e.g."
            " python -c 'import secrets; print(secrets.token_urlsafe(48))') on every server"
            " and restart them",
            file=sys.stderr,
        )
        return 2
    path = keys.key_file(settings)
    if path is None:
        print(
            "crmkit: no key file: set CRMKIT_SECRET_KEY_FILE (or CRMKIT_SECRET_KEY)",
            file=sys.stderr,
        )
        return 2
    db = open_database(settings.database)
    await db.open()
    try:
        await keys.load(settings, db)  # an older database's stored key moves out first
        keys.write_key_file(path, keys.new_key(), replace=True)
        async with db.write() as tx:
            dropped = await accounts.drop_codes(tx)
    finally:
        await db.close()
    print(
        f"# wrote a new secret key to {path}; {dropped} pending code{'s' if dropped != 1 else ''}"
        " dropped; restart every server to use it (tokens keep working; codes, delete"
        " confirmations, cursors and OAuth sign-ins in progress signed with the old key do not)"
    )
    return 0
