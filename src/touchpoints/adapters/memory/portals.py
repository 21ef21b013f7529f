"""Portals in memory: one per ``member_id``, deleting one cascades to all of its rows."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import attrs

from touchpoints.adapters.memory.checks import (
    check_install,
    checked_now,
    text,
    utc_or_none,
    utc_tokens,
)
from touchpoints.adapters.memory.transaction import (
    PORTALS,
    SETTINGS,
    TOUCH_POINTS,
    MemoryRepository,
)
from touchpoints.domain.portal import OAuthTokens, Portal, PortalInstall, PortalStatus
from touchpoints.domain.secrets import Secret
from touchpoints.domain.settings import PortalSettings
from touchpoints.ports.storage import InvalidReference, PortalExists


def _installed(install: PortalInstall) -> dict[str, Any]:
    """The portal fields an install sets: all of its own, the tokens' expiry in UTC."""
    return {**attrs.asdict(install, recurse=False), "tokens": utc_tokens(install.tokens)}


class MemoryPortals(MemoryRepository):
    async def get(self, portal_id: int) -> Portal | None:
        portal: Portal | None = self._tx.get(PORTALS, portal_id)
        return portal

    async def get_by_member_id(self, member_id: str) -> Portal | None:
        return next(
            (p for p in self._tx.values(PORTALS) if p.member_id == member_id),
            None,
        )

    async def get_with_settings(
        self, portal_id: int
    ) -> tuple[Portal, PortalSettings | None] | None:
        portal = await self.get(portal_id)
        if portal is None:
            return None
        settings: PortalSettings | None = self._tx.get(SETTINGS, portal_id)
        return portal, settings

    async def get_for_event(self, member_id: str, activity_id: int) -> tuple[Portal, bool] | None:
        portal = await self.get_by_member_id(member_id)
        if portal is None:
            return None
        tracked = any(
            tp.activity_id == activity_id for tp in self._tx.values(TOUCH_POINTS, portal.id)
        )
        return portal, tracked

    async def _require_unique_member(self, member_id: str, portal_id: int | None) -> None:
        await self._tx.lock(("member", member_id))
        existing = await self.get_by_member_id(member_id)
        if existing is not None and existing.id != portal_id:
            raise PortalExists("a portal with this member_id is already stored")

    async def create(self, install: PortalInstall, *, now: datetime) -> Portal:
        check_install(install)
        now = checked_now(now)
        await self._require_unique_member(install.member_id, None)
        portal = Portal(
            id=next(self._tx.committed.portal_ids),
            **_installed(install),
            created_at=now,
            updated_at=now,
        )
        self._tx.put(PORTALS, portal.id, portal)
        return portal

    async def replace_install(
        self, portal_id: int, install: PortalInstall, *, now: datetime
    ) -> Portal:
        check_install(install)
        now = checked_now(now)
        current = await self.lock(portal_id)
        if current is None:
            raise InvalidReference(f"no portal {portal_id}")
        if install.member_id != current.member_id:
            await self._require_unique_member(install.member_id, portal_id)
        portal = attrs.evolve(
            current,
            **_installed(install),
            status=PortalStatus.ACTIVE,
            previous_application_token=None,
            uninstall_requested_at=None,
            updated_at=now,
        )
        self._tx.put(PORTALS, portal_id, portal)
        return portal

    async def lock(self, portal_id: int) -> Portal | None:
        await self._tx.lock(("portal", portal_id))
        return await self.get(portal_id)

    async def _change(self, portal_id: int, now: datetime, **changes: Any) -> None:
        now = checked_now(now)
        current = await self.lock(portal_id)
        if current is not None:
            self._tx.put(PORTALS, portal_id, attrs.evolve(current, updated_at=now, **changes))

    async def update_tokens(self, portal_id: int, tokens: OAuthTokens, *, now: datetime) -> None:
        await self._change(portal_id, now, tokens=utc_tokens(tokens))

    async def set_application_token(self, portal_id: int, token: Secret, *, now: datetime) -> None:
        await self._change(portal_id, now, application_token=token)

    async def set_status(self, portal_id: int, status: PortalStatus, *, now: datetime) -> None:
        await self._change(portal_id, now, status=status)

    async def rotate_application_token(
        self, portal_id: int, token: Secret, *, now: datetime
    ) -> None:
        current = await self.get(portal_id)
        if current is not None:
            await self._change(
                portal_id,
                now,
                application_token=token,
                previous_application_token=current.application_token,
            )

    async def forget_previous_application_token(self, portal_id: int, *, now: datetime) -> None:
        current = await self.get(portal_id)
        if current is not None and current.previous_application_token is not None:
            await self._change(portal_id, now, previous_application_token=None)

    async def set_app_id(
        self, portal_id: int, app_id: str, *, app_code: str | None = None, now: datetime
    ) -> None:
        text("app_id", app_id, minimum=1, maximum=255)
        changes = {"app_id": app_id}
        if app_code is not None:  # kept as it was when not read (Postgres: coalesce)
            text("app_code", app_code, minimum=1, maximum=255)
            changes["app_code"] = app_code
        await self._change(portal_id, now, **changes)

    async def set_uninstall_requested(
        self, portal_id: int, at: datetime | None, *, now: datetime
    ) -> None:
        await self._change(portal_id, now, uninstall_requested_at=utc_or_none("at", at))

    async def uninstall_requested(self) -> list[int]:
        waiting = [p for p in self._tx.values(PORTALS) if p.uninstall_requested_at is not None]
        return [p.id for p in sorted(waiting, key=lambda p: (p.uninstall_requested_at, p.id))]

    async def delete(self, portal_id: int) -> bool:
        current = await self.lock(portal_id)
        if current is None:
            return False
        await self._tx.lock(("member", current.member_id))
        self._tx.delete(PORTALS, portal_id)
        return True

    async def list_ids(self, *, active_only: bool = True) -> list[int]:
        return sorted(p.id for p in self._tx.values(PORTALS) if p.is_active or not active_only)
