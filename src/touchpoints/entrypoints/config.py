"""Configuration from environment variables (DESIGN.md §3.2), parsed by a pure function."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlsplit

import attrs

from touchpoints.domain.secrets import Secret

DEFAULT_OAUTH_URL = "https://oauth.bitrix.info/oauth/token/"
MIN_SECRET_KEY_LENGTH = 32


class ConfigError(Exception):
    """A required variable is missing or malformed; the message names it."""


@attrs.frozen(kw_only=True)
class B24Config:
    client_id: str
    client_secret: Secret
    oauth_url: str = DEFAULT_OAUTH_URL
    allow_http: bool = False


@attrs.frozen(kw_only=True)
class PrivacyConfig:
    operator_name: str = "the operator of this Touch-points installation"
    contact_email: str = "privacy@example.invalid"
    data_region: str = "the region of the operator's hosting provider"
    subprocessors: str = "the database host, the application host, Bitrix24"


@attrs.frozen(kw_only=True)
class Config:
    """Everything the process needs; secrets are wrapped so they never print."""

    database_url: Secret | None
    data_dir: Path
    public_url: str | None
    secret_key: Secret | None
    b24: B24Config | None
    log_level: str = "INFO"
    privacy: PrivacyConfig = PrivacyConfig()
    # Older server secrets, still accepted to read stored tokens after a key rotation.
    previous_secret_keys: tuple[Secret, ...] = ()
    # asyncpg's prepared-statement cache; off behind a transaction-mode pooler (PgBouncer,
    # Supabase's port 6543), which cannot keep a prepared statement between transactions.
    db_statement_cache: bool = True

    def require_serving(self) -> ServingConfig:
        """The values ``serve`` cannot run without.

        Raises:
            ConfigError: naming the first missing variable.
        """
        if self.public_url is None:
            raise ConfigError("TOUCHPOINTS_PUBLIC_URL is required for serve")
        if self.secret_key is None:
            raise ConfigError("TOUCHPOINTS_SECRET_KEY is required for serve")
        if self.b24 is None:
            raise ConfigError(
                "TOUCHPOINTS_B24_CLIENT_ID and TOUCHPOINTS_B24_CLIENT_SECRET are required for serve"
            )
        return ServingConfig(public_url=self.public_url, secret_key=self.secret_key, b24=self.b24)


@attrs.frozen(kw_only=True)
class ServingConfig:
    public_url: str
    secret_key: Secret
    b24: B24Config


def _url(name: str, value: str, *, https_only: bool) -> str:
    parts = urlsplit(value)
    allowed = ("https",) if https_only else ("https", "http")
    if parts.scheme not in allowed or not parts.hostname:
        expected = "an https URL" if https_only else "an http(s) URL"
        raise ConfigError(f"{name} must be {expected}")
    return value.rstrip("/")


def _flag(name: str, value: str) -> bool:
    if value in ("1", "true", "yes"):
        return True
    if value in ("", "0", "false", "no"):
        return False
    raise ConfigError(f"{name} must be 0 or 1")


def load_config(environ: Mapping[str, str]) -> Config:
    """Read ``TOUCHPOINTS_*`` variables; requiredness per command is checked later.

    Raises:
        ConfigError: a variable is present but malformed.
    """

    def get(name: str) -> str | None:
        value = environ.get(name, "").strip()
        return value or None

    allow_http = _flag("TOUCHPOINTS_B24_ALLOW_HTTP", get("TOUCHPOINTS_B24_ALLOW_HTTP") or "0")

    database_url = get("TOUCHPOINTS_DATABASE_URL")
    if database_url is not None and urlsplit(database_url).scheme not in ("postgres", "postgresql"):
        raise ConfigError("TOUCHPOINTS_DATABASE_URL must be a postgresql:// DSN")

    public_url = get("TOUCHPOINTS_PUBLIC_URL")
    if public_url is not None:
        public_url = _url("TOUCHPOINTS_PUBLIC_URL", public_url, https_only=not allow_http)

    secret_key = get("TOUCHPOINTS_SECRET_KEY")
    if secret_key is not None and len(secret_key) < MIN_SECRET_KEY_LENGTH:
        raise ConfigError(
            f"TOUCHPOINTS_SECRET_KEY must be at least {MIN_SECRET_KEY_LENGTH} characters"
        )

    previous: list[Secret] = []
    for part in (get("TOUCHPOINTS_PREVIOUS_SECRET_KEYS") or "").split(","):
        if not part.strip():
            continue
        if len(part.strip()) < MIN_SECRET_KEY_LENGTH:
            raise ConfigError(
                f"TOUCHPOINTS_PREVIOUS_SECRET_KEYS must be comma-separated keys of at least "
                f"{MIN_SECRET_KEY_LENGTH} characters"
            )
        previous.append(Secret(part.strip()))

    client_id = get("TOUCHPOINTS_B24_CLIENT_ID")
    client_secret = get("TOUCHPOINTS_B24_CLIENT_SECRET")
    if (client_id is None) != (client_secret is None):
        missing = (
            "TOUCHPOINTS_B24_CLIENT_SECRET"
            if client_secret is None
            else "TOUCHPOINTS_B24_CLIENT_ID"
        )
        raise ConfigError(f"{missing} is required together with its pair")
    oauth_url = _url(
        "TOUCHPOINTS_B24_OAUTH_URL",
        get("TOUCHPOINTS_B24_OAUTH_URL") or DEFAULT_OAUTH_URL,
        https_only=not allow_http,
    )
    b24 = None
    if client_id is not None and client_secret is not None:
        b24 = B24Config(
            client_id=client_id,
            client_secret=Secret(client_secret),
            oauth_url=oauth_url + "/" if not oauth_url.endswith("/") else oauth_url,
            allow_http=allow_http,
        )

    log_level = (get("TOUCHPOINTS_LOG_LEVEL") or "INFO").upper()
    if log_level not in logging.getLevelNamesMapping():
        raise ConfigError("TOUCHPOINTS_LOG_LEVEL must be DEBUG, INFO, WARNING or ERROR")

    defaults = PrivacyConfig()
    privacy = PrivacyConfig(
        operator_name=get("TOUCHPOINTS_OPERATOR_NAME") or defaults.operator_name,
        contact_email=get("TOUCHPOINTS_CONTACT_EMAIL") or defaults.contact_email,
        data_region=get("TOUCHPOINTS_DATA_REGION") or defaults.data_region,
        subprocessors=get("TOUCHPOINTS_SUBPROCESSORS") or defaults.subprocessors,
    )

    db_statement_cache = _flag(
        "TOUCHPOINTS_DB_STATEMENT_CACHE", get("TOUCHPOINTS_DB_STATEMENT_CACHE") or "1"
    )

    return Config(
        database_url=Secret(database_url) if database_url else None,
        data_dir=Path(get("TOUCHPOINTS_DATA_DIR") or "./.touchpoints"),
        public_url=public_url,
        secret_key=Secret(secret_key) if secret_key else None,
        b24=b24,
        log_level=log_level,
        privacy=privacy,
        previous_secret_keys=tuple(previous),
        db_statement_cache=db_statement_cache,
    )
