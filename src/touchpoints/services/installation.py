"""Install, verify, update and uninstall: the portal's installation use cases (DESIGN.md §4)."""

from __future__ import annotations

import enum
import logging
from collections.abc import Iterable
from datetime import datetime
from urllib.parse import urlsplit

import attrs

from touchpoints.domain.crm import CurrentUser
from touchpoints.domain.model import EntityType, OwnerType
from touchpoints.domain.placements import APP_LINK, detail_tab, menu_bindings
from touchpoints.domain.portal import Portal, PortalInstall, TokenMatch
from touchpoints.domain.secrets import Secret
from touchpoints.domain.settings import PortalSettings
from touchpoints.ports.clock import Clock
from touchpoints.ports.crm import (
    Crm,
    CrmAuthExpired,
    CrmConnector,
    CrmError,
    CrmPermissionDenied,
    CrmUnavailable,
    PortalGone,
)
from touchpoints.ports.storage import PortalExists, Storage
from touchpoints.services.errors import Forbidden, Unauthenticated
from touchpoints.services.verification import TokenVerifier

log = logging.getLogger("touchpoints.lifecycle")

EVENTS = ("ONAPPUNINSTALL", "ONAPPUPDATE", "ONCRMACTIVITYUPDATE", "ONCRMACTIVITYDELETE")
PLACEMENT_TITLES = {
    "en": "Touch-points",
    "ru": "Касания",
}


@attrs.frozen(kw_only=True)
class Handlers:
    """Where Bitrix24 must call us: absolute URLs under ``TOUCHPOINTS_PUBLIC_URL``."""

    events: str
    app: str
    bot: str = ""  # the digest bot's webhook (DESIGN.md §3.7)

    @classmethod
    def under(cls, public_url: str) -> Handlers:
        base = public_url.rstrip("/")
        return cls(events=f"{base}/b24/events", app=f"{base}/b24/app", bot=f"{base}/b24/bot")


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
    verifier: TokenVerifier,
    connector: CrmConnector,
    clock: Clock,
    request: InstallRequest,
    handlers: Handlers,
    allow_http: bool,
) -> Portal:
    """Establish (or re-establish) a portal from the token endpoint's word only.

    The refresh token is redeemed with our client secret; ``member_id`` and the REST
    endpoint come from that reply, never from the request. Only a portal admin installs:
    a matching application token is no proof, every member can read it (DESIGN.md §4).
    Handlers are bound with the redeemed tokens first and the tokens stored only when all
    of it succeeded, so a refused or failed install changes nothing stored.

    Raises:
        Unauthenticated: the tokens do not verify, or belong to another portal.
        Forbidden: a non-admin tried to (re)install.
        RateLimited: too many unverified installs lately.
    """
    if not request.application_token or not request.refresh_token:
        raise Unauthenticated("install without tokens")
    grant, spending = await verifier.redeem(
        request.refresh_token, claimed_member_id=request.member_id
    )
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
    # Checked apart from the portal's working budget: a member may be posting this.
    checking = connector.as_user(probe, grant.tokens.access_token, verifying=True)
    try:
        installer = await checking.current_user()
    except (CrmAuthExpired, CrmPermissionDenied) as exc:
        raise Unauthenticated("the install tokens do not work on the portal") from exc
    if not installer.is_admin:
        verifier.refused(request.refresh_token)
        log.warning(
            "security: a non-admin tried to install",
            extra={"member_id": grant.member_id, "user_id": installer.id},
        )
        raise Forbidden("only a portal administrator can install the app")
    crm = connector.as_user(probe, grant.tokens.access_token)
    # The grant came from our client secret, so this is our app's id on the portal.
    app = await crm.app_info()

    async with storage.unit_of_work() as uow:
        existing = await uow.portals.get_by_member_id(grant.member_id)
        settings = None if existing is None else await uow.settings.get(existing.id)
    enabled = (settings or PortalSettings.defaults()).enabled_entities
    await bind_handlers(crm, handlers, enabled)
    install = PortalInstall(
        member_id=grant.member_id,
        client_endpoint=grant.client_endpoint,
        domain=probe.domain,
        application_token=request.application_token,
        tokens=grant.tokens,
        installed_by=installer.id,
        scope=grant.scope,
        app_id=app.id,
        app_code=app.code or None,
    )
    portal = await _store_install(storage, install, installer, now=now)
    await verifier.refund(spending)
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


async def _enabled(storage: Storage, portal_id: int) -> frozenset[EntityType]:
    async with storage.unit_of_work() as uow:
        settings = await uow.settings.get(portal_id)
    return (settings or PortalSettings.defaults()).enabled_entities


async def bind_handlers(
    crm: Crm,
    handlers: Handlers,
    enabled: Iterable[EntityType],
    *,
    previous: Iterable[EntityType] = (),
) -> None:
    """Bind our events and placements (idempotent); unbind disabled entities' tabs and menus.

    The four entities' tabs are bound or unbound each time; a smart process's tab is bound
    while it is enabled and unbound when it leaves ``previous`` (DESIGN.md §3.7).
    ``crm`` must act as a portal admin: placement binding is admin-only (BITRIX24.md §19.13).
    """
    for event in EVENTS:
        await crm.bind_event(event, handlers.events)
    enabled_set = frozenset(enabled)
    lang_all = PLACEMENT_TITLES
    tabs: dict[EntityType, bool] = dict.fromkeys(OwnerType, False)
    tabs.update(dict.fromkeys(previous, False))
    tabs.update(dict.fromkeys(enabled_set, True))
    for owner_type, bind in tabs.items():
        if bind:
            await crm.bind_placement(detail_tab(owner_type), handlers.app, lang_all["en"], lang_all)
        else:
            await crm.unbind_placement(detail_tab(owner_type), handlers.app)
    await crm.bind_placement("LEFT_MENU", handlers.app, lang_all["en"], lang_all)
    # One handler per app (a second bind is refused): drop whichever is bound, ours under
    # an older address included, then bind (BITRIX24.md §22.1.11).
    await crm.unbind_placement(APP_LINK, "")
    await crm.bind_placement(APP_LINK, handlers.app, lang_all["en"], lang_all)
    await crm.bind_placements(handlers.app, menu_bindings(enabled_set, previous))


async def verify_portal(
    storage: Storage, member_id: str | None, application_token: str | None, *, clock: Clock
) -> Portal:
    """The stored portal whose application token the request carries (constant time).

    After a verified rotation the previous token is still accepted; the first request
    with the new one retires it (DESIGN.md §4). Passing this check keeps outsiders out and
    proves nothing more: every member of the portal can read the token.

    Raises:
        Unauthenticated: unknown member_id, missing or wrong token.
    """
    if not member_id or not application_token:
        raise Unauthenticated("member_id and application_token are required")
    async with storage.reading() as uow:
        portal = await uow.portals.get_by_member_id(member_id)
    return await _verified(storage, portal, application_token, clock=clock)


async def verify_activity_event(
    storage: Storage,
    member_id: str | None,
    application_token: str | None,
    activity_id: int,
    *,
    clock: Clock,
) -> tuple[Portal, bool]:
    """``verify_portal`` for an event about ``activity_id``, and whether one of our
    touch-points tracks it: both in one read, which is all that an event about someone
    else's activity costs.

    Raises:
        Unauthenticated: as ``verify_portal``.
    """
    if not member_id or not application_token:
        raise Unauthenticated("member_id and application_token are required")
    async with storage.reading() as uow:
        found = await uow.portals.get_for_event(member_id, activity_id)
    portal = await _verified(storage, found[0] if found else None, application_token, clock=clock)
    return portal, found is not None and found[1]


async def _verified(
    storage: Storage, portal: Portal | None, application_token: str, *, clock: Clock
) -> Portal:
    if portal is None:
        # Compare anyway so an unknown portal takes as long as a wrong token.
        Secret("x" * 32).matches(application_token)
        raise Unauthenticated("unknown portal")
    match = portal.application_token_match(application_token)
    if match is TokenMatch.NONE:
        raise Unauthenticated("application token mismatch")
    if match is TokenMatch.CURRENT and portal.previous_application_token is not None:
        async with storage.unit_of_work() as uow:
            await uow.portals.forget_previous_application_token(portal.id, now=clock.now())
        portal = attrs.evolve(portal, previous_application_token=None)
    return portal


class Installation(enum.Enum):
    """What Bitrix24 says of our installation when asked with our own stored tokens."""

    PRESENT = "present"
    GONE = "gone"
    UNKNOWN = "unknown"


# The token endpoint's answers that mean the installation is gone; PAYMENT_REQUIRED means
# an unpaid one that still exists (BITRIX24.md §2.3, §8.4).
_GONE_CODES = frozenset({"invalid_grant", "invalid_client", "portal_deleted", "uninstalled"})


async def installation_state(connector: CrmConnector, portal: Portal) -> Installation:
    """Ask Bitrix24, with our stored tokens, whether the app is still installed.

    Gone only when the stored tokens fail with an auth error *and* the token endpoint
    refuses a refresh (or the portal itself is deleted); unknown when Bitrix24 cannot be
    reached, so the caller tries again later.
    """
    if portal.is_active:
        try:
            await connector.as_app(portal).app_info()
            return Installation.PRESENT
        except PortalGone as exc:
            # Raised after the connector's own refresh was refused, or by the portal.
            if exc.code.lower() in _GONE_CODES:
                return Installation.GONE
            if exc.code.lower() == "payment_required":
                return Installation.PRESENT
        except CrmUnavailable:
            return Installation.UNKNOWN
        except CrmError:
            pass  # an odd refusal proves nothing: ask the token endpoint
    try:
        await connector.revalidate(portal)
    except PortalGone as exc:
        code = exc.code.lower()
        if code in _GONE_CODES:
            return Installation.GONE
        return Installation.PRESENT if code == "payment_required" else Installation.UNKNOWN
    except CrmError:
        return Installation.UNKNOWN
    return Installation.PRESENT


async def uninstall_portal(
    *, storage: Storage, connector: CrmConnector, clock: Clock, portal: Portal
) -> Installation:
    """ONAPPUNINSTALL (a hint): delete everything of the portal once Bitrix24 confirms.

    Every member can forge this event, so nothing is deleted on its word: with our stored
    tokens still accepted the rows stay (and a security event is logged); when Bitrix24
    cannot be asked, reconciliation asks again and deletes once it is confirmed.
    """
    state = await installation_state(connector, portal)
    now = clock.now()
    if state is Installation.GONE:
        async with storage.unit_of_work() as uow:
            await uow.portals.delete(portal.id)
        log.info(
            "portal uninstalled", extra={"portal_id": portal.id, "member_id": portal.member_id}
        )
    elif state is Installation.PRESENT:
        async with storage.unit_of_work() as uow:
            if portal.uninstall_requested_at is not None:
                await uow.portals.set_uninstall_requested(portal.id, None, now=now)
        log.warning(
            "security: uninstall event while Bitrix24 still accepts our tokens; nothing deleted",
            extra={"portal_id": portal.id, "member_id": portal.member_id},
        )
    else:
        async with storage.unit_of_work() as uow:
            if portal.uninstall_requested_at is None:
                await uow.portals.set_uninstall_requested(portal.id, now, now=now)
        log.warning(
            "uninstall not confirmed yet (Bitrix24 unreachable); reconciliation retries",
            extra={"portal_id": portal.id},
        )
    return state


async def request_uninstall(*, storage: Storage, clock: Clock, portal: Portal) -> None:
    """Leave an uninstall for reconciliation to confirm (the abuse budget is spent)."""
    async with storage.unit_of_work() as uow:
        if portal.uninstall_requested_at is None:
            now = clock.now()
            await uow.portals.set_uninstall_requested(portal.id, now, now=now)


async def update_application_token(
    *,
    storage: Storage,
    verifier: TokenVerifier,
    connector: CrmConnector,
    clock: Clock,
    member_id: str | None,
    application_token: str | None,
    access_token: str | None,
    handlers: Handlers,
) -> Portal:
    """ONAPPUPDATE: rebind, and rotate the application token, for a verified admin only.

    The event's access token must belong to an admin of this portal and have been issued
    to this app (``app.info``); a member's own token or a matching application token alone
    change nothing (DESIGN.md §4). The previous token stays accepted until Bitrix24 uses
    the new one.

    Raises:
        Unauthenticated: unknown portal, or the token is not a verified admin's.
        RateLimited: too many unverified requests for this portal lately.
    """
    if not member_id or not application_token:
        raise Unauthenticated("member_id and application_token are required")
    async with storage.unit_of_work() as uow:
        portal = await uow.portals.get_by_member_id(member_id)
    if portal is None:
        raise Unauthenticated("unknown portal")
    if not access_token:
        raise Unauthenticated("an update event without an access token proves nothing")
    user = await verifier.user(portal, Secret(access_token))
    if not user.is_admin:
        log.warning(
            "security: an update event with a non-admin's token; nothing changed",
            extra={"portal_id": portal.id, "user_id": user.id},
        )
        raise Unauthenticated("only an administrator's update may change the installation")
    if portal.application_token_match(application_token) is TokenMatch.NONE:
        async with storage.unit_of_work() as uow:
            await uow.portals.rotate_application_token(
                portal.id, Secret(application_token), now=clock.now()
            )
            refreshed = await uow.portals.get(portal.id)
        assert refreshed is not None
        portal = refreshed
        log.info("application token rotated", extra={"portal_id": portal.id})
    crm = connector.as_user(portal, Secret(access_token))
    await bind_handlers(crm, handlers, await _enabled(storage, portal.id))
    if portal.app_code is None:
        # Installed before the app's code was kept: links into the app need it (§22.1.11).
        info = await crm.app_info()
        async with storage.unit_of_work() as uow:
            await uow.portals.set_app_id(
                portal.id, info.id, app_code=info.code or None, now=clock.now()
            )
            portal = await uow.portals.get(portal.id) or portal
    return portal
