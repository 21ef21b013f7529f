"""Settings, preferences, feedback and the portal's data rights (export, erase)."""

from __future__ import annotations

from datetime import timedelta

import attrs

from touchpoints.domain.model import TouchPoint
from touchpoints.domain.portal import Portal
from touchpoints.domain.settings import PortalSettings, UserPreferences
from touchpoints.ports.clock import Clock
from touchpoints.ports.crm import CrmConnector
from touchpoints.ports.storage import Feedback, Storage
from touchpoints.services.context import Actor, load_settings
from touchpoints.services.errors import Forbidden, InvalidInput, RateLimited
from touchpoints.services.installation import Handlers, bind_handlers

FEEDBACK_PER_HOUR = 5


async def update_settings(
    *,
    storage: Storage,
    connector: CrmConnector,
    clock: Clock,
    actor: Actor,
    settings: PortalSettings,
    handlers: Handlers | None,
) -> PortalSettings:
    """Admins only. When the enabled entities change, the CRM card tabs follow."""
    if not actor.viewer.is_admin:
        raise Forbidden("only portal administrators may change the settings")
    async with storage.unit_of_work() as uow:
        previous = await load_settings(uow, actor.portal.id)
        await uow.settings.put(actor.portal.id, settings, now=clock.now())
    if handlers is not None and previous.enabled_entities != settings.enabled_entities:
        await bind_handlers(connector.as_app(actor.portal), handlers, settings.enabled_entities)
    return settings


async def get_preferences(
    *, storage: Storage, actor: Actor
) -> tuple[UserPreferences, PortalSettings]:
    async with storage.unit_of_work() as uow:
        settings = await load_settings(uow, actor.portal.id)
        preferences = await uow.preferences.get(actor.portal.id, actor.viewer.user_id)
    return preferences, settings


async def set_preferences(
    *, storage: Storage, clock: Clock, actor: Actor, digest_enabled: bool
) -> UserPreferences:
    preferences = UserPreferences(user_id=actor.viewer.user_id, digest_enabled=digest_enabled)
    async with storage.unit_of_work() as uow:
        await uow.preferences.put(actor.portal.id, preferences, now=clock.now())
    return preferences


async def send_feedback(
    *, storage: Storage, clock: Clock, actor: Actor, message: str, email: str | None
) -> Feedback:
    """Store a feedback message; at most ``FEEDBACK_PER_HOUR`` per user per hour."""
    text = message.strip()
    if not text:
        raise InvalidInput({"message": "must not be empty"})
    now = clock.now()
    async with storage.unit_of_work() as uow:
        recent = await uow.feedback.count_since(
            actor.portal.id, actor.viewer.user_id, now - timedelta(hours=1)
        )
        if recent >= FEEDBACK_PER_HOUR:
            raise RateLimited("thank you — that is enough feedback for one hour")
        return await uow.feedback.add(
            Feedback(
                portal_id=actor.portal.id,
                user_id=actor.viewer.user_id,
                message=text,
                email=(email or "").strip() or None,
                created_at=now,
            )
        )


@attrs.frozen(kw_only=True)
class PortalExport:
    """All of the portal's app data, as stored; its tokens are not part of it."""

    portal: Portal
    settings: PortalSettings
    preferences: list[UserPreferences]
    touch_points: list[TouchPoint]
    feedback: list[Feedback]


async def export_portal(*, storage: Storage, actor: Actor) -> PortalExport:
    """All of the portal's app data (admins only)."""
    if not actor.viewer.is_admin:
        raise Forbidden("only portal administrators may export the app's data")
    portal = actor.portal
    async with storage.unit_of_work() as uow:
        settings = await load_settings(uow, portal.id)
        preferences = await uow.preferences.list(portal.id)
        touch_points = await uow.touch_points.all(portal.id)
        feedback = await uow.feedback.for_portal(portal.id)
    return PortalExport(
        portal=portal,
        settings=settings,
        preferences=list(preferences),
        touch_points=list(touch_points),
        feedback=list(feedback),
    )


async def erase_portal(*, storage: Storage, actor: Actor) -> None:
    """Delete everything of the portal, as uninstall does. The app must be reinstalled after."""
    if not actor.viewer.is_admin:
        raise Forbidden("only portal administrators may erase the app's data")
    async with storage.unit_of_work() as uow:
        await uow.portals.delete(actor.portal.id)
