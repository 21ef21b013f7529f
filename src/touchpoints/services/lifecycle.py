"""Install, events, uninstall and reconciliation: the Bitrix24-facing use cases (DESIGN.md §4)."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterable
from datetime import datetime, timedelta
from urllib.parse import urlsplit

import attrs

from touchpoints.domain.crm import Activity, CurrentUser
from touchpoints.domain.model import OwnerType
from touchpoints.domain.portal import Portal, PortalInstall, PortalStatus
from touchpoints.domain.secrets import Secret
from touchpoints.domain.settings import PortalSettings
from touchpoints.ports.clock import Clock
from touchpoints.ports.crm import (
    Crm,
    CrmAuthExpired,
    CrmConnector,
    CrmError,
    CrmNotFound,
    CrmPermissionDenied,
    OAuthServer,
    PortalGone,
)
from touchpoints.ports.storage import PendingTodo, PortalExists, Storage
from touchpoints.services.errors import Conflict, Forbidden, NotFound, Unauthenticated
from touchpoints.services.event_sync import converge
from touchpoints.services.touchpoints import new_from_attempt, record_follow_up

log = logging.getLogger("touchpoints.lifecycle")

EVENTS = ("ONAPPUNINSTALL", "ONAPPUPDATE", "ONCRMACTIVITYUPDATE", "ONCRMACTIVITYDELETE")
PLACEMENT_TITLES = {
    "en": "Touch-points",
    "ru": "Касания",
}
RECONCILE_PAGE = 500
# An attempt younger than this may still be in flight in some request.
ATTEMPT_GRACE = timedelta(minutes=2)
ATTEMPT_CLOCK_SKEW = timedelta(minutes=5)


@attrs.frozen(kw_only=True)
class Handlers:
    """Where Bitrix24 must call us: absolute URLs under ``TOUCHPOINTS_PUBLIC_URL``."""

    events: str
    app: str

    @classmethod
    def under(cls, public_url: str) -> Handlers:
        base = public_url.rstrip("/")
        return cls(events=f"{base}/b24/events", app=f"{base}/b24/app")


@attrs.frozen(kw_only=True)
class InstallRequest:
    """What an installer frame (or ONAPPINSTALL) hands us; nothing here is trusted yet."""

    member_id: str | None
    refresh_token: Secret
    application_token: Secret


def _acceptable_endpoint(endpoint: str, *, allow_http: bool) -> bool:
    parts = urlsplit(endpoint)
    schemes = ("https", "http") if allow_http else ("https",)
    return parts.scheme in schemes and bool(parts.hostname) and parts.path.endswith("/rest/")


async def install_portal(
    *,
    storage: Storage,
    oauth: OAuthServer,
    connector: CrmConnector,
    clock: Clock,
    request: InstallRequest,
    handlers: Handlers,
    allow_http: bool,
) -> Portal:
    """Establish (or re-establish) a portal from the token endpoint's word only.

    The refresh token is redeemed with our client secret; ``member_id`` and the REST
    endpoint come from that reply, never from the request. An existing portal is only
    replaced when the request carries its stored application token, or when the redeemed
    tokens belong to a portal admin (a reinstall that brought a new application token).

    Raises:
        Unauthenticated: the tokens do not verify, or belong to another portal.
        Forbidden: a non-admin tried to (re)install.
    """
    if not request.application_token or not request.refresh_token:
        raise Unauthenticated("install without tokens")
    try:
        grant = await oauth.refresh(request.refresh_token)
    except PortalGone as exc:
        raise Unauthenticated("the token endpoint refused the install tokens") from exc
    if request.member_id is not None and grant.member_id != request.member_id:
        raise Unauthenticated("the tokens belong to another portal")
    if not _acceptable_endpoint(grant.client_endpoint, allow_http=allow_http):
        raise Unauthenticated("the portal's REST endpoint is not an acceptable https URL")
    now = clock.now()
    probe = Portal(
        id=0,
        member_id=grant.member_id,
        client_endpoint=grant.client_endpoint,
        domain=urlsplit(grant.client_endpoint).hostname or "",
        application_token=request.application_token,
        tokens=grant.tokens,
        created_at=now,
        updated_at=now,
    )
    try:
        installer = await connector.as_user(probe, grant.tokens.access_token).current_user()
    except (CrmAuthExpired, CrmPermissionDenied) as exc:
        raise Unauthenticated("the install tokens do not work on the portal") from exc

    async with storage.unit_of_work() as uow:
        existing = await uow.portals.get_by_member_id(grant.member_id)
    proven = existing is not None and existing.application_token.matches(
        request.application_token.reveal()
    )
    if not proven and not installer.is_admin:
        raise Forbidden("only a portal administrator can install the app")

    install = PortalInstall(
        member_id=grant.member_id,
        client_endpoint=grant.client_endpoint,
        domain=probe.domain,
        application_token=request.application_token,
        tokens=grant.tokens,
        installed_by=installer.id,
        scope=grant.scope,
    )
    portal = await _store_install(storage, install, installer, now=now)
    await bind_handlers(connector, portal, handlers, await _enabled(storage, portal.id))
    log.info("portal installed", extra={"portal_id": portal.id, "member_id": portal.member_id})
    return portal


async def _store_install(
    storage: Storage, install: PortalInstall, installer: CurrentUser, *, now: datetime
) -> Portal:
    for _attempt in range(2):
        try:
            async with storage.unit_of_work() as uow:
                existing = await uow.portals.get_by_member_id(install.member_id)
                if existing is None:
                    portal = await uow.portals.create(install, now=now)
                else:
                    portal = await uow.portals.replace_install(existing.id, install, now=now)
                if await uow.settings.get(portal.id) is None:
                    await uow.settings.put(
                        portal.id, PortalSettings.defaults(installer.time_zone), now=now
                    )
                return portal
        except PortalExists:
            continue  # another replica created it a moment ago: replace it instead
    raise Unauthenticated("could not store the portal")  # pragma: no cover


async def _enabled(storage: Storage, portal_id: int) -> frozenset[OwnerType]:
    async with storage.unit_of_work() as uow:
        settings = await uow.settings.get(portal_id)
    return (settings or PortalSettings.defaults()).enabled_entities


async def bind_handlers(
    connector: CrmConnector,
    portal: Portal,
    handlers: Handlers,
    enabled: Iterable[OwnerType],
) -> None:
    """Bind our events and placements (idempotent); unbind tabs of disabled entities."""
    crm = connector.as_app(portal)
    for event in EVENTS:
        await crm.bind_event(event, handlers.events)
    enabled_set = frozenset(enabled)
    lang_all = PLACEMENT_TITLES
    for owner_type in OwnerType:
        if owner_type in enabled_set:
            await crm.bind_placement(owner_type.placement, handlers.app, lang_all["en"], lang_all)
        else:
            await crm.unbind_placement(owner_type.placement, handlers.app)
    await crm.bind_placement("LEFT_MENU", handlers.app, lang_all["en"], lang_all)


async def verify_portal(
    storage: Storage, member_id: str | None, application_token: str | None
) -> Portal:
    """The stored portal whose application token the request carries (constant time).

    Raises:
        Unauthenticated: unknown member_id, missing or wrong token.
    """
    if not member_id or not application_token:
        raise Unauthenticated("member_id and application_token are required")
    async with storage.unit_of_work() as uow:
        portal = await uow.portals.get_by_member_id(member_id)
    if portal is None:
        # Compare anyway so an unknown portal takes as long as a wrong token.
        Secret("x" * 32).matches(application_token)
        raise Unauthenticated("unknown portal")
    if not portal.application_token.matches(application_token):
        raise Unauthenticated("application token mismatch")
    return portal


async def uninstall_portal(storage: Storage, portal: Portal) -> bool:
    """Delete the portal and, by cascade, everything of it (CLEAN or not: we keep nothing)."""
    async with storage.unit_of_work() as uow:
        deleted = await uow.portals.delete(portal.id)
    log.info("portal uninstalled", extra={"portal_id": portal.id, "member_id": portal.member_id})
    return deleted


async def update_application_token(
    *,
    storage: Storage,
    connector: CrmConnector,
    clock: Clock,
    member_id: str | None,
    application_token: str | None,
    access_token: str | None,
    handlers: Handlers,
) -> Portal:
    """ONAPPUPDATE: accept a new application token only when the event's access token works.

    Raises:
        Unauthenticated: neither the stored token matches nor the access token verifies.
    """
    try:
        portal = await verify_portal(storage, member_id, application_token)
    except Unauthenticated:
        if not member_id or not application_token or not access_token:
            raise
        async with storage.unit_of_work() as uow:
            stored = await uow.portals.get_by_member_id(member_id)
        if stored is None:
            raise
        try:
            await connector.as_user(stored, Secret(access_token)).current_user()
        except CrmError as exc:
            raise Unauthenticated("the update event's token does not work on the portal") from exc
        async with storage.unit_of_work() as uow:
            await uow.portals.set_application_token(
                stored.id, Secret(application_token), now=clock.now()
            )
            refreshed = await uow.portals.get(stored.id)
        assert refreshed is not None
        portal = refreshed
    await bind_handlers(connector, portal, handlers, await _enabled(storage, portal.id))
    return portal


def _same_plan(attempt: PendingTodo, deadline: datetime | None, responsible_id: int) -> bool:
    # Bitrix24 stores deadlines to the second; our attempt may carry microseconds.
    return (
        deadline is not None
        and abs((deadline - attempt.deadline).total_seconds()) < 1
        and responsible_id == attempt.responsible_id
    )


async def _find_created(crm: Crm, storage: Storage, attempt: PendingTodo) -> Activity | None:
    """The CRM to-do an unfinished attempt created, if any and not recorded yet."""
    if attempt.activity_id is not None:
        return (await crm.get_activities([attempt.activity_id])).get(attempt.activity_id)
    candidates = await crm.find_todos(
        owner=attempt.owner, created_after=attempt.created_at - ATTEMPT_CLOCK_SKEW
    )
    matching = [c for c in candidates if _same_plan(attempt, c.deadline, c.responsible_id)]
    if not matching:
        return None
    async with storage.unit_of_work() as uow:
        recorded = await uow.touch_points.by_activities(attempt.portal_id, [c.id for c in matching])
    known = {tp.activity_id for tp in recorded}
    return next((c for c in matching if c.id not in known), None)


async def adopt_attempts(
    *, storage: Storage, connector: CrmConnector, clock: Clock, portal: Portal
) -> dict[str, int]:
    """Settle to-do creations that never finished (timeouts, crashes, database failures).

    A to-do the CRM did create is adopted as the touch-point the user asked for, unless the
    user already retried and got one for the same plan: then the stray to-do is removed.
    An attempt the CRM never acted on is forgotten.
    """
    now = clock.now()
    counts = {"adopted": 0, "removed": 0, "forgotten": 0}
    async with storage.unit_of_work() as uow:
        attempts = await uow.pending.older_than(portal.id, now - ATTEMPT_GRACE, limit=200)
    if not attempts:
        return counts
    crm = connector.as_app(portal)
    for attempt in attempts:
        assert attempt.id is not None
        created = await _find_created(crm, storage, attempt)
        outcome = "forgotten"
        if created is not None:
            async with storage.unit_of_work() as uow:
                siblings = await uow.touch_points.for_owner(portal.id, attempt.owner)
            retried = any(
                tp.created_at >= attempt.created_at
                and tp.type is attempt.type
                and _same_plan(attempt, tp.deadline, tp.responsible_id)
                for tp in siblings
            )
            if retried:
                with contextlib.suppress(CrmNotFound):
                    await crm.delete_activity(created.id)
                outcome = "removed"
            else:
                await _adopt(storage, attempt, created.id, now=now)
                outcome = "adopted"
        async with storage.unit_of_work() as uow:
            await uow.pending.delete(portal.id, attempt.id)
        counts[outcome] += 1
        log.info(
            "settled an unfinished to-do creation",
            extra={"portal_id": portal.id, "outcome": outcome},
        )
    return counts


async def _adopt(
    storage: Storage, attempt: PendingTodo, activity_id: int, *, now: datetime
) -> None:
    if attempt.previous_id is not None:
        try:
            async with storage.unit_of_work() as uow:
                await record_follow_up(uow, attempt, activity_id, now=now)
            return
        except (Conflict, NotFound):
            pass  # the predecessor moved on: keep the to-do as a plain touch-point
    async with storage.unit_of_work() as uow:
        if await uow.touch_points.by_activity(attempt.portal_id, activity_id) is None:
            await uow.touch_points.add(
                new_from_attempt(attrs.evolve(attempt, previous_id=None), activity_id)
            )


async def reconcile_portal(
    *, storage: Storage, connector: CrmConnector, clock: Clock, portal: Portal
) -> int:
    """Compare every open touch-point with its CRM activity and repair drift.

    Returns the number of touch-points changed. A portal whose tokens are dead is marked
    ``needs_reauth`` by the connector and raises ``PortalGone`` for the caller to skip.
    """
    settled = await adopt_attempts(storage=storage, connector=connector, clock=clock, portal=portal)
    changed = settled["adopted"] + settled["removed"]
    after_id = 0
    crm = connector.as_app(portal)
    while True:
        async with storage.unit_of_work() as uow:
            page = await uow.touch_points.open_page(
                portal.id, after_id=after_id, limit=RECONCILE_PAGE
            )
        if not page:
            return changed
        after_id = page[-1].id
        activities = await crm.get_activities([tp.activity_id for tp in page])
        for touch_point in page:
            outcome = await converge(
                storage=storage,
                connector=connector,
                clock=clock,
                portal=portal,
                touch_point_id=touch_point.id,
                activity=activities.get(touch_point.activity_id),
            )
            changed += outcome in ("synced", "orphaned")
        if len(page) < RECONCILE_PAGE:
            return changed


async def reconcile_all(
    *, storage: Storage, connector: CrmConnector, clock: Clock
) -> dict[str, int]:
    """One reconciliation pass over every active portal; a dead portal does not stop it."""
    summary = {"portals": 0, "changed": 0, "skipped": 0, "failed": 0, "busy": 0}
    async with storage.exclusive("reconciliation") as mine:
        if not mine:
            summary["busy"] = 1  # another replica is reconciling right now
            return summary
        await _reconcile_portals(storage, connector, clock, summary)
    return summary


async def _reconcile_portals(
    storage: Storage, connector: CrmConnector, clock: Clock, summary: dict[str, int]
) -> None:
    async with storage.unit_of_work() as uow:
        portal_ids = await uow.portals.list_ids(active_only=True)
    for portal_id in portal_ids:
        async with storage.unit_of_work() as uow:
            portal = await uow.portals.get(portal_id)
        if portal is None or portal.status is not PortalStatus.ACTIVE:
            summary["skipped"] += 1
            continue
        try:
            summary["changed"] += await reconcile_portal(
                storage=storage, connector=connector, clock=clock, portal=portal
            )
            summary["portals"] += 1
        except PortalGone:
            summary["skipped"] += 1
        except CrmError:
            log.warning("reconciliation failed for a portal", extra={"portal_id": portal_id})
            summary["failed"] += 1
