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
        description="Run the crmkit API on uvicorn with an embedded SQLite database.",
        epilog=_env_help(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    serve.add_argument("--host", help="interface to bind (default $CRMKIT_HOST or 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port (default $CRMKIT_PORT or 8000)")
    serve.add_argument("--db", help="SQLite file (default $CRMKIT_DATABASE or ./crmkit.db)")
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
    token.add_argument("--db", help="SQLite file (default $CRMKIT_DATABASE or ./crmkit.db)")

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
    plan.add_argument("--db", help="SQLite file (default $CRMKIT_DATABASE or ./crmkit.db)")
    backup = sub.add_parser(
        "backup",
        help="write a consistent copy of the database (safe while the server runs)",
        description="Copy the database with VACUUM INTO a temporary file, check it, then "
        "rename it to TARGET. Safe while `crmkit serve` keeps writing.",
    )
    backup.add_argument("target", help="file to write the backup to (replaced if it exists)")
    backup.add_argument("--db", help="SQLite file (default $CRMKIT_DATABASE or ./crmkit.db)")
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
        return asyncio.run(mint_token(settings, args.email, args.name or "cli"))
    if args.command == "plan":
        return asyncio.run(set_plan(settings, args.workspace_id, args.plan))
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


async def mint_token(settings: Settings, email: str, name: str) -> int:
    from crmkit.accounts import signin, tokens, users
    from crmkit.app import build_runtime
    from crmkit.errors import CrmError

    rt = build_runtime(settings)
    await rt.start()
    try:
        try:
            address = users.normalize_email(email)
            done = await signin.sign_in(rt, address, tokens.clean_name(name, "--name"))
        except CrmError as exc:
            print(f"crmkit: {exc.message}", file=sys.stderr)
            return 2
        print(done.token.raw)
        print(
            f"# token/{done.token.token_id} for {done.email} in workspace/{done.token.workspace_id}"
            f" ({done.workspace_name}); shown once",
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
    await rt.start()
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


def run_backup(settings: Settings, target: str) -> int:
    from crmkit.store.sqlite.backup import backup

    try:
        size = backup(settings.database, target)
    except (OSError, RuntimeError, ValueError) as exc:
        print(f"crmkit: backup failed: {exc}", file=sys.stderr)
        return 1
    print(f"# backed up {settings.database} to {target} ({size} bytes)", file=sys.stderr)
    return 0
