"""Bitrix24-facing routes: the installer, every frame launch, and the event handler."""

from __future__ import annotations

import asyncio
import html
import logging
from typing import Any

from aiohttp import web

from touchpoints.domain.portal import Portal
from touchpoints.domain.secrets import Secret
from touchpoints.entrypoints import bot, pages, placements
from touchpoints.entrypoints.container import (
    ACTIVITY_SYNC,
    EVENT_INLINE_BUDGET_S,
    SERVICES,
    Services,
)
from touchpoints.entrypoints.context import issue_session
from touchpoints.entrypoints.forms import text
from touchpoints.entrypoints.inputs import parse_id
from touchpoints.entrypoints.webhooks import (
    count_event,
    error_reply,
    ok_reply,
    rate_limited,
    read_form,
    refused,
)
from touchpoints.ports.crm import CrmError
from touchpoints.ports.storage import StorageError
from touchpoints.services import installation
from touchpoints.services.errors import Forbidden, RateLimited, Unauthenticated
from touchpoints.services.verification import UNINSTALL_CHECK_CALLS

log = logging.getLogger("touchpoints.b24")


def lang_of(raw: str | None) -> str:
    return "ru" if (raw or "").lower().startswith(("ru", "by", "kz", "ua")) else "en"


def _error_page(status: int, message: str) -> web.Response:
    body = (
        "<!doctype html><html><head><meta charset='utf-8'><title>Touch-points</title></head>"
        f'<body style="font:15px system-ui;margin:40px"><p>{message}</p></body></html>'
    )
    return web.Response(text=body, status=status, content_type="text/html")


def _too_many(exc: RateLimited) -> web.Response:
    page = _error_page(429, "Too many attempts right now; please try again in a minute.")
    page.headers["Retry-After"] = str(exc.retry_after_s)
    return page


async def install(request: web.Request) -> web.Response:
    """``POST /b24/install``: establish the portal from the token endpoint's reply only."""
    services = request.app[SERVICES]
    form = await read_form(request)
    try:
        portal = await _install(
            services,
            member_id=text(form, "member_id"),
            refresh_token=text(form, "REFRESH_ID"),
            application_token=text(form, "APPLICATION_TOKEN"),
        )
    except Unauthenticated as exc:
        log.warning("install refused: %s", exc)
        return _error_page(401, "This install request could not be verified with Bitrix24.")
    except Forbidden:
        return _error_page(403, "Only a portal administrator can install Touch-points.")
    except RateLimited as exc:
        return _too_many(exc)
    except (CrmError, StorageError) as exc:
        log.warning("install failed: %s", type(exc).__name__)
        return pages.install_finish_page(
            portal_domain=None,
            ok=False,
            message="Bitrix24 or our database did not answer; please retry.",
        )
    return pages.install_finish_page(portal_domain=portal.domain, ok=True)


async def frame(request: web.Request) -> web.Response:
    """``POST /b24/app``: every frame launch. Verifies the portal, asks Bitrix24 who the user is."""
    services = request.app[SERVICES]
    form = await read_form(request)
    try:
        portal = await installation.verify_portal(
            services.storage,
            text(form, "member_id"),
            text(form, "APPLICATION_TOKEN"),
            clock=services.clock,
        )
    except Unauthenticated as exc:
        log.warning("frame launch refused: %s", exc)
        return _error_page(401, "This page must be opened from your Bitrix24 portal.")
    auth_id = text(form, "AUTH_ID") or ""
    if not auth_id:
        return _error_page(401, "Bitrix24 did not send an authorisation for this page.")
    access_token = Secret(auth_id)
    try:
        me = await services.verifier.user(portal, access_token)
    except Unauthenticated:
        return _error_page(401, "Bitrix24 did not accept this page's authorisation; reopen it.")
    except RateLimited as exc:
        return _too_many(exc)
    except CrmError:
        return _error_page(
            503, "Bitrix24 is not answering right now; please reopen the app shortly."
        )
    try:
        launch = placements.read_launch(text(form, "PLACEMENT"), text(form, "PLACEMENT_OPTIONS"))
    except placements.PlacementRefused as exc:
        return _error_page(400, html.escape(str(exc)) + " Please reopen it from Bitrix24.")
    lang = lang_of(request.query.get("LANG"))
    await _remember_language(services, portal.id, me.id, request.query.get("LANG"))
    session, _ = issue_session(
        services,
        portal=portal,
        user=me,
        access_token=access_token,
        lang=lang,
        token_lifetime_s=parse_id(text(form, "AUTH_EXPIRES")),
    )
    return pages.app_page(
        session=session,
        lang=lang,
        placement=launch.placement,
        placement_options=launch.options,
        portal_domain=portal.domain,
    )


async def _remember_language(
    services: Services, portal_id: int, user_id: int, raw: str | None
) -> None:
    """Keep the user's UI language for their digest; a write only when it changed."""
    language = (raw or "").strip().lower()[:16]
    if len(language) < 2 or not language.replace("-", "").replace("_", "").isalpha():
        return
    async with services.storage.unit_of_work() as uow:
        current = await uow.preferences.get(portal_id, user_id)
        if current.language != language:
            await uow.preferences.set_language(
                portal_id, user_id, language, now=services.clock.now()
            )


# The activity events that may change one of our touch-points.
_SYNCED_EVENTS = frozenset({"ONCRMACTIVITYUPDATE", "ONCRMACTIVITYDELETE"})


async def events(request: web.Request) -> web.Response:
    """``POST /b24/events``: verify ``application_token`` before anything else, answer fast.

    Passing the check only admits the event: it is a hint, confirmed with Bitrix24 before
    anything is deleted, rotated or orphaned (DESIGN.md §4).
    """
    services = request.app[SERVICES]
    form = await read_form(request)
    event = (text(form, "event") or "").upper()
    member_id = text(form, "auth", "member_id")
    application_token = text(form, "auth", "application_token")
    if not event:
        return error_reply(400, "BAD_REQUEST", "no event name")
    try:
        if event == "ONAPPINSTALL":
            await _on_install(services, form)
            count_event(request, event, "handled")
            return ok_reply()
        if event == "ONAPPUPDATE":
            updated = await installation.update_application_token(
                storage=services.storage,
                verifier=services.verifier,
                connector=services.connector,
                clock=services.clock,
                member_id=member_id,
                application_token=application_token,
                access_token=text(form, "auth", "access_token"),
                handlers=services.handlers,
            )
            await bot.register_bot(services, updated.id)
            count_event(request, event, "handled")
            return ok_reply()
        activity_id = parse_id(text(form, "data", "FIELDS", "ID"))
        ours: bool | None = None
        if event in _SYNCED_EVENTS and activity_id is not None:
            portal, ours = await installation.verify_activity_event(
                services.storage, member_id, application_token, activity_id, clock=services.clock
            )
        else:
            portal = await installation.verify_portal(
                services.storage, member_id, application_token, clock=services.clock
            )
    except Unauthenticated as exc:
        return refused(request, event, exc, log)
    except RateLimited as exc:
        return rate_limited(request, event, exc)

    count_event(request, event, "handled")
    if event == "ONAPPUNINSTALL":
        await _on_uninstall(services, portal)
        return ok_reply()
    if event in ("ONCRMACTIVITYUPDATE", "ONCRMACTIVITYDELETE", "ONCRMACTIVITYADD"):
        if activity_id is None:
            return error_reply(400, "BAD_REQUEST", "no activity id")
        if event == "ONCRMACTIVITYADD":
            return ok_reply()
        # A delete is a hint like an update: the fetch decides (DESIGN.md §4).
        pending = await request.app[ACTIVITY_SYNC].activity_changed(portal, activity_id, ours=ours)
        if pending is not None and services.inbox is None:
            # Kept in this process only: wait briefly, so the answer mostly follows the
            # sync; a slow Bitrix24 must not hold it (the worker finishes, §3.5). With the
            # inbox the event is durable before this point and answered at once.
            await asyncio.wait({pending}, timeout=EVENT_INLINE_BUDGET_S)
        return ok_reply()
    return ok_reply()


async def _on_uninstall(services: Services, portal: Portal) -> None:
    """Confirm with our stored tokens within the abuse budget; otherwise leave it to
    reconciliation (a real uninstall is never answered with an error: no retries come)."""
    try:
        spending = await services.verifier.spend_for(portal, calls=UNINSTALL_CHECK_CALLS)
    except RateLimited:
        await installation.request_uninstall(
            storage=services.storage, clock=services.clock, portal=portal
        )
        return
    state = await installation.uninstall_portal(
        storage=services.storage, connector=services.connector, clock=services.clock, portal=portal
    )
    if state is installation.Installation.GONE:
        services.users.forget(portal.id)
        await services.verifier.refund(spending)


async def _on_install(services: Services, form: dict[str, Any]) -> None:
    refresh = text(form, "auth", "refresh_token")
    application_token = text(form, "auth", "application_token") or ""
    member_id = text(form, "auth", "member_id")
    if not refresh:
        # Nothing to redeem: only a known portal with its stored token may say hello.
        await installation.verify_portal(
            services.storage, member_id, application_token, clock=services.clock
        )
        return
    try:
        await _install(
            services,
            member_id=member_id,
            refresh_token=refresh,
            application_token=application_token,
        )
    except Forbidden as exc:
        raise Unauthenticated(str(exc)) from exc


async def _install(
    services: Services,
    *,
    member_id: str | None,
    refresh_token: str | None,
    application_token: str | None,
) -> Portal:
    """The installer page and ONAPPINSTALL alike: an admin's tokens, redeemed by us."""
    portal = await installation.install_portal(
        storage=services.storage,
        verifier=services.verifier,
        connector=services.connector,
        clock=services.clock,
        request=installation.InstallRequest(
            member_id=member_id,
            refresh_token=Secret(refresh_token or ""),
            application_token=Secret(application_token or ""),
        ),
        handlers=services.handlers,
        allow_http=services.allow_http,
    )
    await bot.register_bot(services, portal.id)
    return portal


def add_routes(app: web.Application) -> None:
    app.router.add_post("/b24/install", install)
    app.router.add_post("/b24/app", frame)
    app.router.add_post("/b24/events", events)
