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
class PortalInstall:
    """What a verified install (token endpoint reply) establishes."""

    member_id: str
    client_endpoint: str
    domain: str
    application_token: Secret
    tokens: OAuthTokens
    installed_by: int | None = None
    scope: str = ""


@attrs.frozen(kw_only=True)
class Portal:
    """A stored installation. ``id`` is ours; ``member_id`` is Bitrix24's stable portal id."""

    id: int
    member_id: str
    client_endpoint: str
    domain: str
    application_token: Secret
    tokens: OAuthTokens
    status: PortalStatus = PortalStatus.ACTIVE
    installed_by: int | None = None
    scope: str = ""
    created_at: datetime
    updated_at: datetime

    @property
    def is_active(self) -> bool:
        return self.status is PortalStatus.ACTIVE
