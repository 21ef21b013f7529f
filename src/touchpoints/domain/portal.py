"""A portal: one Bitrix24 account that installed the app, with the tokens we hold for it."""

from __future__ import annotations

import enum
from datetime import datetime, timedelta

import attrs

from touchpoints.domain.secrets import Secret

# Refresh a little before expiry so a call does not start with a token about to die.
REFRESH_MARGIN = timedelta(minutes=2)


class PortalStatus(enum.Enum):
    """``needs_reauth``: the auth server refused our refresh token; background work skips it."""

    ACTIVE = "active"
    NEEDS_REAUTH = "needs_reauth"


@attrs.frozen(kw_only=True)
class OAuthTokens:
    """An access/refresh token pair and when the access token expires."""

    access_token: Secret
    refresh_token: Secret
    expires_at: datetime

    def expiring(self, now: datetime) -> bool:
        return now >= self.expires_at - REFRESH_MARGIN


@attrs.frozen(kw_only=True)
class _Installed:
    """What an install tells of a portal: Bitrix24's stable ``member_id``, where and how
    to call it, who installed the app with which scope, and the app's ``app.info`` ID and
    code (``CODE``: the Market code, or a local app's client id; links into the app use it)."""

    member_id: str
    client_endpoint: str
    domain: str
    application_token: Secret
    tokens: OAuthTokens
    installed_by: int | None = None
    scope: str = ""
    # Read with our own tokens: user tokens must show the same (DESIGN §4).
    app_id: str | None = None
    app_code: str | None = None


@attrs.frozen(kw_only=True)
class PortalInstall(_Installed):
    """What a verified install (token endpoint reply) establishes."""


@attrs.frozen(kw_only=True)
class Portal(_Installed):
    """A stored installation. ``id`` is ours; ``member_id`` is Bitrix24's stable portal id."""

    id: int
    status: PortalStatus = PortalStatus.ACTIVE
    created_at: datetime
    updated_at: datetime
    # Kept after a verified rotation until Bitrix24 itself sends the new token (DESIGN §4).
    previous_application_token: Secret | None = None
    # An uninstall event waiting for Bitrix24 to confirm that our tokens are dead.
    uninstall_requested_at: datetime | None = None

    @property
    def is_active(self) -> bool:
        return self.status is PortalStatus.ACTIVE

    def application_token_match(self, presented: str) -> TokenMatch:
        """Which stored application token ``presented`` is (constant-time comparisons)."""
        current = self.application_token.matches(presented)
        previous = (
            self.previous_application_token.matches(presented)
            if self.previous_application_token is not None
            else Secret("x" * 32).matches(presented)
        )
        if current:
            return TokenMatch.CURRENT
        return TokenMatch.PREVIOUS if previous else TokenMatch.NONE


class TokenMatch(enum.Enum):
    """How a request's ``application_token`` compares with what we store."""

    CURRENT = "current"
    PREVIOUS = "previous"
    NONE = "none"
