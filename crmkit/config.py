"""Settings from CRMKIT_* environment variables, validated once at start.

`Settings.from_env(environ)` takes its environment as a parameter so tests inject it.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

# name -> (default shown in --help, description). The CLI prints this table; keep it complete.
ENV_DOCS: dict[str, tuple[str, str]] = {
    "CRMKIT_DATABASE": (
        "./crmkit.db",
        "SQLite file (or sqlite:///path), created on first start; or a PostgreSQL URL,"
        " postgresql://user:password@host:5432/name",
    ),
    "CRMKIT_HOST": ("127.0.0.1", "interface `crmkit serve` binds to"),
    "CRMKIT_PORT": ("8000", "port `crmkit serve` listens on"),
    "CRMKIT_BASE_URL": (
        "http://<host>:<port>",
        "public URL of this server, used in emails and OAuth metadata",
    ),
    "CRMKIT_SECRET_KEY": (
        "(from the key file)",
        "signing/HMAC key, the same on every server of an install; wins over the key file",
    ),
    "CRMKIT_SECRET_KEY_FILE": (
        "<database>.key",
        "file holding the key (owner-only); SQLite creates <database>.key on first start,"
        " PostgreSQL needs this or CRMKIT_SECRET_KEY",
    ),
    "CRMKIT_SMTP_URL": (
        "(unset)",
        "smtp://user:pass@host:port, smtp+starttls://..., smtps://...; "
        "unset = emails (login codes included) are written to the console log",
    ),
    "CRMKIT_MAIL_FROM": ("crmkit@localhost", "From: address of outgoing mail"),
    "CRMKIT_TOKEN_IDLE_DAYS": ("30", "days a token may sit unused before it expires"),
    "CRMKIT_DEFAULT_PLAN": ("free", "plan of new workspaces: free, team or unlimited"),
    "CRMKIT_PLANS": (
        "(built-in)",
        'JSON overriding plan caps, e.g. {"free": {"contacts": 500}}; -1 = unlimited;'
        " requests_per_minute is the API rate limit per token",
    ),
    "CRMKIT_ANON_REQUESTS_PER_MINUTE": (
        "300",
        "rate limit of routes without a token (sign-in, OAuth), per client address (IPv6: per"
        " /64); -1 = none",
    ),
}

SMTP_SCHEMES = ("smtp", "smtp+starttls", "smtps")
PLAN_NAMES = ("free", "team", "unlimited")
CAP_NAMES = ("contacts", "companies", "deals", "members", "workspaces")
# What CRMKIT_PLANS may set per plan: the caps, and the API rate limit per token.
PLAN_KEYS = (*CAP_NAMES, "requests_per_minute")


class ConfigError(ValueError):
    """A CRMKIT_* variable has a value we cannot use; the message names it."""


_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*):")
POSTGRES_SCHEMES = ("postgresql", "postgres")


def database_backend(url: str) -> str:
    """'sqlite' for a plain path or sqlite:///path, 'postgresql' for postgresql://...; any
    other scheme is a ConfigError (a mistyped URL must not become a file path)."""
    match = _SCHEME.match(url)
    if match is None or len(match.group(1)) == 1:  # a path (C:... is a drive letter)
        return "sqlite"
    scheme = match.group(1).lower()
    rest = url[len(scheme) + 1 :]
    if scheme == "sqlite" and rest.startswith("///") and len(rest) > 3:
        return "sqlite"
    if scheme in POSTGRES_SCHEMES and rest.startswith("//"):
        return "postgresql"
    raise ConfigError(
        f"CRMKIT_DATABASE {redact_url(url)!r} names no backend crmkit has: give a SQLite file"
        " path (./crmkit.db or sqlite:///path/to/crmkit.db) or a PostgreSQL URL"
        " (postgresql://user@host:5432/crmkit)"
    )


def _loopback(host: str) -> bool:
    if host in ("localhost", "localhost.localdomain"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def sqlite_path(url: str) -> str:
    """The file a SQLite URL or path names."""
    return url[len("sqlite:///") :] if url.lower().startswith("sqlite:///") else url


_SECRET_IN_URL = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*://[^:/?#@]*):(.*)@")
_SECRET_PARAM = re.compile(r"(?i)([?&](?:password|pass|pwd|sslpassword)=)[^&#]*")


def redact_url(url: str) -> str:
    """The URL with its password (if any) replaced by ***, for logs and errors. Everything
    between the user's colon and the LAST @ goes: a generated password may hold an unescaped
    /, ?, # or @ that a URL parser would take for the end of the address. A password given
    as a query parameter goes too."""
    masked = _SECRET_IN_URL.sub(r"\1:***@", url, count=1)
    return _SECRET_PARAM.sub(r"\1***", masked)


@dataclass(frozen=True)
class Settings:
    database: str = "./crmkit.db"
    host: str = "127.0.0.1"
    port: int = 8000
    base_url: str = ""
    secret_key: str | None = None
    secret_key_file: str | None = None
    smtp_url: str | None = None
    mail_from: str = "crmkit@localhost"
    token_idle_days: int = 30
    default_plan: str = "free"
    plans_json: dict[str, dict[str, int]] = field(default_factory=dict)
    anon_requests_per_minute: int = 300  # -1: no limit

    @property
    def public_url(self) -> str:
        """The base URL without a trailing slash; derived from host:port when unset."""
        if self.base_url:
            return self.base_url.rstrip("/")
        host = "127.0.0.1" if self.host in ("0.0.0.0", "::", "") else self.host
        return f"http://{host}:{self.port}"

    @classmethod
    def from_env(cls, environ: Mapping[str, str], **overrides: object) -> Settings:
        def get(name: str) -> str | None:
            value = environ.get(name)
            return value if value not in (None, "") else None

        def integer(name: str, default: int, low: int, high: int) -> int:
            raw = get(name)
            if raw is None:
                return default
            try:
                value = int(raw)
            except ValueError:
                raise ConfigError(f"{name} must be a whole number, got {raw!r}") from None
            if not low <= value <= high:
                raise ConfigError(f"{name} must be between {low} and {high}, got {value}")
            return value

        values: dict[str, object] = {
            "database": get("CRMKIT_DATABASE") or "./crmkit.db",
            "host": get("CRMKIT_HOST") or "127.0.0.1",
            "port": integer("CRMKIT_PORT", 8000, 1, 65535),
            "base_url": get("CRMKIT_BASE_URL") or "",
            "secret_key": get("CRMKIT_SECRET_KEY"),
            "secret_key_file": get("CRMKIT_SECRET_KEY_FILE"),
            "smtp_url": get("CRMKIT_SMTP_URL"),
            "mail_from": get("CRMKIT_MAIL_FROM") or "crmkit@localhost",
            "token_idle_days": integer("CRMKIT_TOKEN_IDLE_DAYS", 30, 1, 3650),
            "default_plan": get("CRMKIT_DEFAULT_PLAN") or "free",
            "plans_json": _parse_plans(get("CRMKIT_PLANS")),
            "anon_requests_per_minute": integer(
                "CRMKIT_ANON_REQUESTS_PER_MINUTE", 300, -1, 10_000_000
            ),
        }
        values.update(overrides)
        settings = cls(**values)  # type: ignore[arg-type]
        settings.validate()
        return settings

    @property
    def console_mail_exposed(self) -> bool:
        """Mail (sign-in codes included) goes to the console log while the server is meant to
        be reached from other machines: anyone who reads the log can then sign in as anyone."""
        if self.smtp_url is not None:
            return False
        hosts = {urlsplit(self.public_url).hostname or "", self.host}
        return not all(_loopback(h) for h in hosts)

    @property
    def backend(self) -> str:
        return database_backend(self.database)

    def validate(self) -> None:
        database_backend(self.database)
        if self.anon_requests_per_minute == 0:
            raise ConfigError(
                "CRMKIT_ANON_REQUESTS_PER_MINUTE must be 1 or more, or -1 for no limit (0 would"
                " refuse every sign-in)"
            )
        if self.base_url:
            parts = urlsplit(self.base_url)
            if parts.scheme not in ("http", "https") or not parts.netloc:
                raise ConfigError(f"CRMKIT_BASE_URL must be an http(s) URL, got {self.base_url!r}")
        if self.smtp_url:
            scheme = urlsplit(self.smtp_url).scheme
            if scheme not in SMTP_SCHEMES or not urlsplit(self.smtp_url).hostname:
                raise ConfigError(
                    "CRMKIT_SMTP_URL must look like smtp://user:pass@host:port "
                    f"(schemes: {', '.join(SMTP_SCHEMES)})"
                )
        if self.default_plan not in PLAN_NAMES:
            raise ConfigError(
                f"CRMKIT_DEFAULT_PLAN must be one of {', '.join(PLAN_NAMES)}, "
                f"got {self.default_plan!r}"
            )
        if self.secret_key is not None and len(self.secret_key) < 16:
            raise ConfigError("CRMKIT_SECRET_KEY must be at least 16 characters")


def _parse_plans(raw: str | None) -> dict[str, dict[str, int]]:
    if raw is None:
        return {}
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"CRMKIT_PLANS is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError("CRMKIT_PLANS must be a JSON object of plan -> caps")
    plans: dict[str, dict[str, int]] = {}
    for plan, caps in data.items():
        if plan not in PLAN_NAMES:
            raise ConfigError(
                f"CRMKIT_PLANS: unknown plan {plan!r}; plans: {', '.join(PLAN_NAMES)}"
            )
        if not isinstance(caps, dict):
            raise ConfigError(f"CRMKIT_PLANS: caps of {plan!r} must be an object")
        for cap, value in caps.items():
            if cap not in PLAN_KEYS:
                raise ConfigError(
                    f"CRMKIT_PLANS: unknown cap {plan}.{cap}; caps: {', '.join(PLAN_KEYS)}"
                )
            if not isinstance(value, int) or isinstance(value, bool) or value < -1:
                raise ConfigError(
                    f"CRMKIT_PLANS: {plan}.{cap} must be a whole number >= -1 (-1 = unlimited)"
                )
            if cap == "requests_per_minute" and value == 0:
                # a bucket that never fills would refuse every request of the plan's tokens
                raise ConfigError(
                    f"CRMKIT_PLANS: {plan}.requests_per_minute must be 1 or more, or -1 for no"
                    " limit"
                )
        plans[plan] = {str(k): int(v) for k, v in caps.items()}
    return plans
