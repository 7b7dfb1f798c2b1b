"""CRMKIT_DATABASE / --db: which backend a value names, and what happens with anything else.

A plain path or sqlite:///path is SQLite; postgresql:// or postgres:// is PostgreSQL; any other
scheme is refused at start with a configuration error naming the backends, before anything
is created on disk (a mistyped URL must never become a folder named `postgresql:`). A password
in the URL never appears in what crmkit prints.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from conftest import PostgresServer
from copy_util import sqlite_with_a_user
from foundation_util import clean_env, crmkit_command, run_cli

from crmkit.config import ConfigError, Settings, redact_url, sqlite_path

SECRET_KEY = "url-test-secret-" + "k" * 32
REFUSED = [
    "mysql://x",
    "mysql://u:secret@db.example:3306/crm",
    "http://x",
    "https://db.example/crm",
    "sqlite:/x",  # one slash: neither a path nor sqlite:///path
    "sqlite://x",  # a host, not a path
    "sqlite:///",  # no path at all
    "postgresql:/x",
    "postgresql:x",
    "postgresql+asyncpg://u@h/x",
    "file:crm.db",
    "MYSQL://U:secret@H/X",
]


def run_in(cwd: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """`crmkit <args>` run in the folder `cwd`, with a clean environment plus `env`."""
    return subprocess.run(
        [*crmkit_command(), *args],
        env=clean_env(**env),
        cwd=str(cwd),
        capture_output=True,
        text=True,
        timeout=60,
    )


def assert_names_the_backends(message: str) -> None:
    assert "names no backend crmkit has" in message
    assert "SQLite" in message and "PostgreSQL" in message
    assert "sqlite:///" in message and "postgresql://" in message


# --- Settings.from_env ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "value, path",
    [
        ("crmkit.db", "crmkit.db"),
        ("./data/crm.db", "./data/crm.db"),
        ("/var/lib/crmkit/crm.db", "/var/lib/crmkit/crm.db"),
        ("sqlite:////var/lib/crmkit/crm.db", "/var/lib/crmkit/crm.db"),
        ("SQLite:////srv/crm.db", "/srv/crm.db"),
        ("./odd:name.db", "./odd:name.db"),  # a colon later in a path is still a path
    ],
)
def test_paths_and_sqlite_urls_are_sqlite(value: str, path: str) -> None:
    settings = Settings.from_env({"CRMKIT_DATABASE": value})
    assert settings.backend == "sqlite"
    assert sqlite_path(settings.database) == path


def test_the_default_is_the_sqlite_file_in_the_working_folder() -> None:
    settings = Settings.from_env({})
    assert (settings.database, settings.backend) == ("./crmkit.db", "sqlite")
    assert Settings.from_env({"CRMKIT_DATABASE": ""}).database == "./crmkit.db"


@pytest.mark.parametrize(
    "value",
    [
        "postgresql://postgres@127.0.0.1:5432/crm",
        "postgres://u:pw@db.example/crm",
        "postgresql:///crm?host=/var/run/postgresql",
        "PostgreSQL://db.example/crm",
    ],
)
def test_postgresql_urls_are_postgresql(value: str) -> None:
    settings = Settings.from_env({"CRMKIT_DATABASE": value})
    assert settings.backend == "postgresql"
    assert settings.database == value


@pytest.mark.parametrize("value", REFUSED)
def test_any_other_scheme_is_a_configuration_error(value: str) -> None:
    with pytest.raises(ConfigError) as raised:
        Settings.from_env({"CRMKIT_DATABASE": value})
    message = str(raised.value)
    assert message.startswith("CRMKIT_DATABASE ")
    assert_names_the_backends(message)
    assert "secret" not in message


@pytest.mark.parametrize("value", ["mysql://x", "sqlite:/x"])
def test_the_command_line_override_is_checked_too(value: str) -> None:
    """--db reaches Settings as an override of a good CRMKIT_DATABASE: refused all the same."""
    with pytest.raises(ConfigError):
        Settings.from_env({"CRMKIT_DATABASE": "./fine.db"}, database=value)


@pytest.mark.parametrize(
    "url",
    [
        "mysql://u:secret@db.example/crm",
        "mysql://u:secret@db.example:3306/crm?sslmode=require",
        "mysql://:secret@db.example/crm",
        "mysql://u:se%40cret@db.example/crm",
        "mysql://u:se@cret@db.example/crm",  # an unescaped @ in the password
        "mysql://u:se#cret@db.example/crm",  # an unescaped # (a generated password)
        "mysql://u:se/cret@db.example/crm",  # an unescaped /
        "mysql://u:se?cret@db.example/crm",  # an unescaped ?
        "mysql://u@db.example/crm?password=secret",  # libpq's password parameter
    ],
)
def test_a_password_never_appears_in_the_error(url: str) -> None:
    with pytest.raises(ConfigError) as raised:
        Settings.from_env({"CRMKIT_DATABASE": url})
    message = str(raised.value)
    assert "cret" not in message, message
    assert "db.example" in message or "<unreadable URL>" in message


def test_redact_url_hides_only_the_password() -> None:
    assert redact_url("postgresql://u:secret@h:5432/crm") == "postgresql://u:***@h:5432/crm"
    assert redact_url("postgres://u:p%2Fw@[::1]/crm") == "postgres://u:***@[::1]/crm"
    assert redact_url("postgresql://u@h/crm") == "postgresql://u@h/crm"
    assert redact_url("./crmkit.db") == "./crmkit.db"


# --- the commands ---------------------------------------------------------------------------

COMMANDS = [
    ["serve", "--port", "1"],
    ["token", "--email", "ops@acme.com"],
    ["plan", "w_abc", "team"],
    ["backup", "out.db"],
    ["migrate"],
    ["migrate", "--check"],
]


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c))
@pytest.mark.parametrize("how", ["--db", "environment"])
def test_every_command_refuses_an_unknown_scheme_and_creates_nothing(
    command: list[str], how: str, tmp_path: Path
) -> None:
    url = "mysql://crm:secret@db.example:3306/crm"
    if how == "--db":
        done = run_in(tmp_path, *command, "--db", url)
    else:
        done = run_in(tmp_path, *command, CRMKIT_DATABASE=url)
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert done.stdout == ""
    assert done.stderr.startswith(
        "crmkit: configuration error: CRMKIT_DATABASE 'mysql://crm:***@db.example:3306/crm'"
    ), done.stderr
    assert_names_the_backends(done.stderr)
    assert "secret" not in done.stderr
    assert "Traceback" not in done.stderr
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("url", ["sqlite:/crm.db", "postgresql:crm", "http://x/crm.db"])
def test_serve_with_a_near_miss_makes_no_file_or_folder(url: str, tmp_path: Path) -> None:
    done = run_in(tmp_path, "serve", "--port", "1", "--db", url)
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert "configuration error" in done.stderr
    assert list(tmp_path.iterdir()) == []


def test_a_postgresql_url_is_no_folder(tmp_path: Path, postgres: PostgresServer) -> None:
    """The bug this rule replaced: `postgresql://...` was taken for a path, and made a folder
    named `postgresql:` holding a SQLite file. Now it reaches the server, and only it."""
    url = postgres.create(migrated=False)
    try:
        done = run_in(
            tmp_path,
            "token",
            "--email",
            "ops@acme.com",
            "--db",
            url,
            CRMKIT_SECRET_KEY=SECRET_KEY,
        )
        assert done.returncode == 0, done.stderr
        assert done.stdout.startswith("ck_")
        assert list(tmp_path.iterdir()) == []
        check = run_cli("migrate", "--check", "--db", url)
        assert (check.returncode, check.stdout) == (0, "# 0 pending migrations\n")
    finally:
        postgres.drop(url)


UNREACHABLE = "postgresql://crm:secret@127.0.0.1:1/crm"


@pytest.mark.parametrize(
    "command",
    [
        ["token", "--email", "ops@acme.com", "--db", UNREACHABLE],
        ["plan", "w_abc", "team", "--db", UNREACHABLE],
        ["migrate", "--db", UNREACHABLE],
        ["copy", "--from", "source.db", "--to", UNREACHABLE],
    ],
    ids=lambda c: c[0],
)
def test_an_unreachable_postgresql_server_leaks_no_password_and_makes_no_folder(
    command: list[str], tmp_path: Path
) -> None:
    done = run_in(tmp_path, *command, CRMKIT_SECRET_KEY=SECRET_KEY)
    assert done.returncode != 0
    assert done.stdout == ""
    assert "secret" not in done.stderr
    assert not (tmp_path / "postgresql:").exists()
    # Nothing but the copy's source (created by the copy: see test_copy.py) may appear.
    assert {p.name for p in tmp_path.iterdir()} <= {"source.db", "source.db-wal", "source.db-shm"}
    if command[0] != "copy":
        assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "command",
    [
        ["token", "--email", "ops@acme.com", "--db", UNREACHABLE],
        ["plan", "w_abc", "team", "--db", UNREACHABLE],
        ["migrate", "--check", "--db", UNREACHABLE],
    ],
    ids=lambda c: c[0],
)
def test_an_unreachable_postgresql_server_is_one_clear_line(
    command: list[str], tmp_path: Path
) -> None:
    """An operator's command says what failed in a line, as `crmkit migrate` does
    (`crmkit: ConnectionRefusedError: ...`), not in a traceback."""
    done = run_in(tmp_path, *command, CRMKIT_SECRET_KEY=SECRET_KEY)
    assert done.returncode != 0
    assert "Traceback" not in done.stderr, done.stderr
    assert done.stderr.startswith("crmkit: ") and len(done.stderr.splitlines()) == 1, done.stderr


async def test_the_copy_summary_hides_the_password(
    tmp_path: Path, postgres: PostgresServer
) -> None:
    """The local server trusts loopback: a password in the URL is accepted and ignored, so the
    copy succeeds and its summary must print the URL without it."""
    source = tmp_path / "source.db"
    await sqlite_with_a_user(source)
    url = postgres.create(migrated=True)
    user, _, rest = url.partition("://")[2].partition("@")
    with_password = f"postgresql://{user}:hunter2secret@{rest}"
    try:
        done = run_cli("copy", "--from", str(source), "--to", with_password)
        assert done.returncode == 0, done.stderr
        assert "hunter2secret" not in done.stdout + done.stderr
        assert f"to postgresql://{user}:***@{rest};" in done.stdout.splitlines()[0]
    finally:
        postgres.drop(url)
