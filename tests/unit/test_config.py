"""Configuration parsing: fails fast naming the variable, never prints secrets."""

from __future__ import annotations

import pytest

from touchpoints.entrypoints.config import ConfigError, load_config

SECRET = "k" * 40


def serving_env(**overrides: str) -> dict[str, str]:
    env = {
        "TOUCHPOINTS_PUBLIC_URL": "https://tp.example.com",
        "TOUCHPOINTS_SECRET_KEY": SECRET,
        "TOUCHPOINTS_B24_CLIENT_ID": "app.123",
        "TOUCHPOINTS_B24_CLIENT_SECRET": "client-secret-value",
    }
    env.update(overrides)
    return env


def test_empty_environment_uses_the_documented_defaults() -> None:
    config = load_config({})
    assert config.database_url is None
    assert str(config.data_dir) == ".touchpoints"
    assert config.log_level == "INFO"
    assert config.b24 is None


def test_serving_config_is_complete_when_every_required_variable_is_set() -> None:
    serving = load_config(serving_env()).require_serving()
    assert serving.public_url == "https://tp.example.com"
    assert serving.b24.oauth_url == "https://oauth.bitrix.info/oauth/token/"
    assert serving.b24.client_secret.reveal() == "client-secret-value"


@pytest.mark.parametrize(
    "missing",
    ["TOUCHPOINTS_PUBLIC_URL", "TOUCHPOINTS_SECRET_KEY", "TOUCHPOINTS_B24_CLIENT_ID"],
)
def test_serve_names_the_missing_variable(missing: str) -> None:
    env = serving_env()
    del env[missing]
    if missing == "TOUCHPOINTS_B24_CLIENT_ID":
        del env["TOUCHPOINTS_B24_CLIENT_SECRET"]
    with pytest.raises(ConfigError, match=missing):
        load_config(env).require_serving()


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("TOUCHPOINTS_PUBLIC_URL", "http://tp.example.com"),
        ("TOUCHPOINTS_PUBLIC_URL", "not a url"),
        ("TOUCHPOINTS_SECRET_KEY", "short"),
        ("TOUCHPOINTS_DATABASE_URL", "mysql://x"),
        ("TOUCHPOINTS_B24_ALLOW_HTTP", "maybe"),
        ("TOUCHPOINTS_LOG_LEVEL", "LOUD"),
        ("TOUCHPOINTS_B24_OAUTH_URL", "ftp://oauth.example.com"),
    ],
)
def test_a_malformed_variable_stops_start_up_with_its_name(name: str, value: str) -> None:
    with pytest.raises(ConfigError, match=name):
        load_config(serving_env(**{name: value}))


def test_allow_http_accepts_http_endpoints_for_local_testing() -> None:
    config = load_config(
        serving_env(
            TOUCHPOINTS_B24_ALLOW_HTTP="1",
            TOUCHPOINTS_PUBLIC_URL="http://127.0.0.1:8080",
            TOUCHPOINTS_B24_OAUTH_URL="http://127.0.0.1:9000/oauth/token/",
        )
    )
    assert config.b24 is not None
    assert config.b24.allow_http
    assert config.b24.oauth_url == "http://127.0.0.1:9000/oauth/token/"


def test_secrets_never_show_in_reprs() -> None:
    config = load_config(serving_env(TOUCHPOINTS_DATABASE_URL="postgresql://u:dbpass@h/db"))
    text = repr(config) + str(config)
    assert SECRET not in text
    assert "client-secret-value" not in text
    assert "dbpass" not in text
    assert "<secret>" in text


def test_previous_secret_keys_are_read_for_token_rotation() -> None:
    config = load_config(serving_env(TOUCHPOINTS_PREVIOUS_SECRET_KEYS=f"{'a' * 32}, {'b' * 40}"))
    assert [key.reveal() for key in config.previous_secret_keys] == ["a" * 32, "b" * 40]
    assert "a" * 32 not in repr(config)
    with pytest.raises(ConfigError, match="TOUCHPOINTS_PREVIOUS_SECRET_KEYS"):
        load_config(serving_env(TOUCHPOINTS_PREVIOUS_SECRET_KEYS="short"))


def test_the_statement_cache_is_on_unless_turned_off_for_a_transaction_pooler() -> None:
    assert load_config(serving_env()).db_statement_cache
    assert not load_config(serving_env(TOUCHPOINTS_DB_STATEMENT_CACHE="0")).db_statement_cache
    assert load_config(serving_env(TOUCHPOINTS_DB_STATEMENT_CACHE="1")).db_statement_cache
    with pytest.raises(ConfigError, match="TOUCHPOINTS_DB_STATEMENT_CACHE must be 0 or 1"):
        load_config(serving_env(TOUCHPOINTS_DB_STATEMENT_CACHE="off-ish"))
