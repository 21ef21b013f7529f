"""What Postgres refuses, checked the same way in memory: naive instants, NULs, CHECK limits."""

from __future__ import annotations

from datetime import UTC, datetime

import attrs

from touchpoints.domain.checks import require_aware
from touchpoints.domain.errors import InvalidValue
from touchpoints.domain.portal import OAuthTokens, PortalInstall

# The limits the Postgres schema enforces with CHECK constraints (migrations/0001).
MEMBER_ID_MAX = 255
CLIENT_ENDPOINT_MAX = 2048
DOMAIN_MAX = 255
SCOPE_MAX = 4096
FEEDBACK_MESSAGE_MAX = 5000
LANGUAGE_MAX = 16
EMAIL_MIN, EMAIL_MAX = 3, 320


def utc(field: str, value: datetime) -> datetime:
    """Postgres' timestamptz keeps the instant only; a naive datetime is refused."""
    require_aware(field, value)
    return value.astimezone(UTC)


def utc_or_none(field: str, value: datetime | None) -> datetime | None:
    return None if value is None else utc(field, value)


def checked_now(value: datetime) -> datetime:
    """``now`` in UTC, refused when naive."""
    return utc("now", value)


def text(field: str, value: str | None, *, minimum: int = 0, maximum: int | None = None) -> None:
    """What Postgres refuses in a text column: NUL characters, and our length CHECKs."""
    if value is None:
        return
    if "\x00" in value:
        raise InvalidValue({field: "must not contain NUL characters"})
    if len(value) < minimum or (maximum is not None and len(value) > maximum):
        raise InvalidValue({field: "is out of the allowed range"})


def positive(field: str, value: int | None) -> None:
    if value is not None and value <= 0:
        raise InvalidValue({field: "must be a positive id"})


def check_install(install: PortalInstall) -> None:
    text("member_id", install.member_id, minimum=1, maximum=MEMBER_ID_MAX)
    text("client_endpoint", install.client_endpoint, minimum=1, maximum=CLIENT_ENDPOINT_MAX)
    text("domain", install.domain, maximum=DOMAIN_MAX)
    text("scope", install.scope, maximum=SCOPE_MAX)
    positive("installed_by", install.installed_by)
    utc("expires_at", install.tokens.expires_at)


def utc_tokens(tokens: OAuthTokens) -> OAuthTokens:
    return attrs.evolve(tokens, expires_at=utc("expires_at", tokens.expires_at))
