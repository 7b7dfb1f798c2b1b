"""Settings.from_env: defaults, parsing, and a ConfigError naming the variable for bad values."""

from __future__ import annotations

import pytest

from crmkit.config import ENV_DOCS, ConfigError, Settings


def test_defaults() -> None:
    s = Settings.from_env({})
    assert s.database == "./crmkit.db"
    assert (s.host, s.port) == ("127.0.0.1", 8000)
    assert s.smtp_url is None and s.secret_key is None
    assert s.token_idle_days == 30
    assert s.default_plan == "free"
    assert s.plans_json == {}
    assert s.public_url == "http://127.0.0.1:8000"


def test_values_are_read() -> None:
    s = Settings.from_env(
        {
            "CRMKIT_DATABASE": "/data/x.db",
            "CRMKIT_HOST": "0.0.0.0",
            "CRMKIT_PORT": "9000",
            "CRMKIT_BASE_URL": "https://crm.example.com/",
            "CRMKIT_SECRET_KEY": "s" * 32,
            "CRMKIT_SMTP_URL": "smtp+starttls://u:p%40ss@mail.example.com:587",
            "CRMKIT_MAIL_FROM": "crm@example.com",
            "CRMKIT_TOKEN_IDLE_DAYS": "7",
            "CRMKIT_DEFAULT_PLAN": "team",
            "CRMKIT_PLANS": '{"free": {"contacts": 500, "deals": -1}}',
        }
    )
    assert s.database == "/data/x.db" and s.port == 9000
    assert s.public_url == "https://crm.example.com"
    assert s.token_idle_days == 7 and s.default_plan == "team"
    assert s.plans_json == {"free": {"contacts": 500, "deals": -1}}
    assert Settings.from_env({"CRMKIT_HOST": "0.0.0.0"}).public_url == "http://127.0.0.1:8000"
    # Empty values count as unset.
    assert Settings.from_env({"CRMKIT_SMTP_URL": "", "CRMKIT_PORT": ""}).port == 8000


def test_overrides_win_over_the_environment() -> None:
    s = Settings.from_env({"CRMKIT_PORT": "9000"}, port=9100, database="y.db")
    assert s.port == 9100 and s.database == "y.db"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("CRMKIT_PORT", "http"),
        ("CRMKIT_PORT", "0"),
        ("CRMKIT_PORT", "65536"),
        ("CRMKIT_PORT", "80.5"),
        ("CRMKIT_TOKEN_IDLE_DAYS", "-1"),
        ("CRMKIT_TOKEN_IDLE_DAYS", "thirty"),
        ("CRMKIT_SMTP_URL", "http://mail.example.com"),
        ("CRMKIT_SMTP_URL", "mail.example.com:25"),
        ("CRMKIT_SMTP_URL", "smtp://"),
        ("CRMKIT_BASE_URL", "crm.example.com"),
        ("CRMKIT_BASE_URL", "ftp://crm.example.com"),
        ("CRMKIT_DEFAULT_PLAN", "gold"),
        ("CRMKIT_DEFAULT_PLAN", "Free"),
        ("CRMKIT_PLANS", "{not json"),
        ("CRMKIT_PLANS", "[1, 2]"),
        ("CRMKIT_PLANS", '{"gold": {"contacts": 1}}'),
        ("CRMKIT_PLANS", '{"free": 5}'),
        ("CRMKIT_PLANS", '{"free": {"contacts": "many"}}'),
        ("CRMKIT_PLANS", '{"free": {"contacts": -2}}'),
        ("CRMKIT_PLANS", '{"free": {"contacts": true}}'),
        ("CRMKIT_PLANS", '{"free": {"contacts": 1.5}}'),
        # a rate limit of 0 would refuse everything (and divided by zero: a 500 on every call)
        ("CRMKIT_PLANS", '{"free": {"requests_per_minute": 0}}'),
        ("CRMKIT_ANON_REQUESTS_PER_MINUTE", "0"),
        ("CRMKIT_ANON_REQUESTS_PER_MINUTE", "-2"),
        ("CRMKIT_SECRET_KEY", "short"),
    ],
)
def test_bad_values_raise_config_error_naming_the_variable(name: str, value: str) -> None:
    with pytest.raises(ConfigError) as caught:
        Settings.from_env({name: value})
    assert name in str(caught.value)


def test_every_setting_is_documented() -> None:
    documented = set(ENV_DOCS)
    settings_fields = {
        "CRMKIT_DATABASE": "database",
        "CRMKIT_HOST": "host",
        "CRMKIT_PORT": "port",
        "CRMKIT_BASE_URL": "base_url",
        "CRMKIT_SECRET_KEY": "secret_key",
        "CRMKIT_SMTP_URL": "smtp_url",
        "CRMKIT_MAIL_FROM": "mail_from",
        "CRMKIT_TOKEN_IDLE_DAYS": "token_idle_days",
        "CRMKIT_DEFAULT_PLAN": "default_plan",
        "CRMKIT_PLANS": "plans_json",
    }
    assert set(settings_fields) <= documented
    for name, (default, text) in ENV_DOCS.items():
        assert default and len(text) > 10, name
