"""Settings, preferences, feedback and the portal's data rights (export, erase)."""

from __future__ import annotations

from datetime import timedelta

import attrs

from touchpoints.domain.crm import SmartProcessInfo
from touchpoints.domain.model import SmartProcess, TouchPoint
from touchpoints.domain.portal import Portal
from touchpoints.domain.settings import PortalSettings, UserPreferences
from touchpoints.ports.storage import Feedback
from touchpoints.services.context import UseCase
from touchpoints.services.errors import Forbidden, InvalidInput, RateLimited
from touchpoints.services.installation import Handlers, bind_handlers

FEEDBACK_PER_HOUR = 5


async def update_settings(
    ctx: UseCase, *, settings: PortalSettings, handlers: Handlers | None
) -> PortalSettings:
    """Admins only. When the enabled entities change (from those the request started
    with), the CRM card tabs follow."""
    actor = ctx.actor
    if not actor.viewer.is_admin:
        raise Forbidden("only portal administrators may change the settings")
    await _check_smart_processes(ctx, settings)
    async with ctx.storage.unit_of_work() as uow:
        await uow.settings.put(actor.portal.id, settings, now=ctx.clock.now())
    before = ctx.settings.enabled_entities
    if handlers is not None and before != settings.enabled_entities:
        await bind_handlers(
            ctx.connector.as_app(actor.portal),
            handlers,
            settings.enabled_entities,
            previous=before,
        )
    return settings


async def smart_processes(ctx: UseCase) -> list[SmartProcessInfo]:
    """The portal's smart-process types as the caller's CRM names them."""
    return await ctx.crm.smart_processes()


async def _check_smart_processes(ctx: UseCase, settings: PortalSettings) -> None:
    """A smart process newly enabled must exist on the portal (read live, as the admin);
    one enabled before stays allowed even if its type has gone since."""
    added = {
        kind
        for kind in settings.enabled_entities - ctx.settings.enabled_entities
        if isinstance(kind, SmartProcess)
    }
    if not added:
        return
    known = {info.type for info in await ctx.crm.smart_processes()}
    unknown = sorted(kind.value for kind in added - known)
    if unknown:
        raise InvalidInput(
            {"enabled_entities": f"no such smart process on this portal: {', '.join(unknown)}"}
        )


async def get_preferences(ctx: UseCase) -> tuple[UserPreferences, PortalSettings]:
    """The caller's preferences, next to the portal's settings they default from."""
    actor = ctx.actor
    async with ctx.storage.unit_of_work() as uow:
        preferences = await uow.preferences.get(actor.portal.id, actor.viewer.user_id)
    return preferences, ctx.settings


async def set_preferences(
    ctx: UseCase, *, digest_enabled: bool, rollup_enabled: bool | None = None
) -> UserPreferences:
    """Set the caller's choices; ``rollup_enabled`` None keeps the stored one."""
    actor = ctx.actor
    async with ctx.storage.unit_of_work() as uow:
        stored = await uow.preferences.get(actor.portal.id, actor.viewer.user_id)
        preferences = UserPreferences(
            user_id=actor.viewer.user_id,
            digest_enabled=digest_enabled,
            rollup_enabled=stored.rollup_enabled if rollup_enabled is None else rollup_enabled,
        )
        await uow.preferences.put(actor.portal.id, preferences, now=ctx.clock.now())
    return preferences


async def send_feedback(ctx: UseCase, *, message: str, email: str | None) -> Feedback:
    """Store a feedback message; at most ``FEEDBACK_PER_HOUR`` per user per hour."""
    text = message.strip()
    if not text:
        raise InvalidInput({"message": "must not be empty"})
    actor = ctx.actor
    now = ctx.clock.now()
    async with ctx.storage.unit_of_work() as uow:
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


async def export_portal(ctx: UseCase) -> PortalExport:
    """All of the portal's app data (admins only)."""
    if not ctx.actor.viewer.is_admin:
        raise Forbidden("only portal administrators may export the app's data")
    portal = ctx.actor.portal
    async with ctx.storage.unit_of_work() as uow:
        preferences = await uow.preferences.list(portal.id)
        touch_points = await uow.touch_points.all(portal.id)
        feedback = await uow.feedback.for_portal(portal.id)
    return PortalExport(
        portal=portal,
        settings=ctx.settings,
        preferences=list(preferences),
        touch_points=list(touch_points),
        feedback=list(feedback),
    )


async def erase_portal(ctx: UseCase) -> None:
    """Delete everything of the portal, as uninstall does. The app must be reinstalled after."""
    if not ctx.actor.viewer.is_admin:
        raise Forbidden("only portal administrators may erase the app's data")
    async with ctx.storage.unit_of_work() as uow:
        await uow.portals.delete(ctx.actor.portal.id)
