"""The ``OAuthServer`` port over the in-memory Bitrix24 world: refresh-token rotation."""

from __future__ import annotations

from typing import TYPE_CHECKING

from touchpoints.adapters.memory.world import MemoryCrm
from touchpoints.domain.portal import OAuthTokens
from touchpoints.domain.secrets import Secret
from touchpoints.ports.crm import OAuthServer, PortalGone, TokenGrant


class MemoryOAuthServer:
    """``OAuthServer``: redeems refresh tokens with rotation (the old one dies at once)."""

    def __init__(self, world: MemoryCrm) -> None:
        self._world = world

    async def refresh(self, refresh_token: Secret) -> TokenGrant:
        world = self._world
        world.enter("refresh")
        record = world.refresh_record(refresh_token)
        if record is None:
            raise PortalGone("the refresh token is not valid", code="invalid_grant")
        portal = world.live_portal(record.member_id)
        if portal.payment_required:
            raise PortalGone("the portal must pay for the app", code="PAYMENT_REQUIRED")
        world.spend_refresh_token(refresh_token)
        access, refresh, expires_at = world.issue(record.member_id, record.user_id)
        return TokenGrant(
            member_id=portal.member_id,
            client_endpoint=portal.client_endpoint,
            domain=portal.domain,
            tokens=OAuthTokens(
                access_token=Secret(access), refresh_token=Secret(refresh), expires_at=expires_at
            ),
            scope=portal.scope,
            user_id=record.user_id,
        )


if TYPE_CHECKING:  # mypy checks that the fake conforms to the port

    def _conforms(world: MemoryCrm) -> OAuthServer:
        return MemoryOAuthServer(world)
