"""``POST /b24/bot``: the digest bot's webhook (``ONIMBOTV2*`` events, BITRIX24.md §22.1.8-9):
button presses and the bot's deletion.

Verified like every event (DESIGN.md §4): the top-level ``auth.application_token`` must be
the portal's stored one before anything else happens; the press's user is who Bitrix24
says its own ``auth`` token belongs to. Bitrix24 does not retry these calls (§22.1.10),
so a refused press is answered at once and nothing of it is kept.
"""

from __future__ import annotations

import logging

from aiohttp import web

from touchpoints.domain.secrets import Secret
from touchpoints.entrypoints import webhooks
from touchpoints.entrypoints.container import SERVICES, Services
from touchpoints.entrypoints.forms import text
from touchpoints.ports.crm import CrmError
from touchpoints.ports.messaging import BotChannel
from touchpoints.ports.storage import StorageError
from touchpoints.services import installation
from touchpoints.services.bot import (
    BotPorts,
    DeleteOutcome,
    Press,
    bot_deleted,
    ensure_bot,
    handle_press,
)
from touchpoints.services.bot_digest import app_links
from touchpoints.services.errors import RateLimited, Unauthenticated

log = logging.getLogger("touchpoints.bot")

COMMAND_EVENT = "ONIMBOTV2COMMANDADD"
DELETE_EVENT = "ONIMBOTV2DELETE"


async def bot_events(request: web.Request) -> web.Response:
    """Admit the event by its application token, then run a button press as its user."""
    services = request.app[SERVICES]
    form = await webhooks.read_form(request)
    event = (text(form, "event") or "").upper()
    # The v2 example's top-level auth may lack member_id; the bot's block names the portal
    # too. Either is only a lookup key: the application token decides (§22.1.10).
    member_id = text(form, "auth", "member_id") or text(form, "data", "bot", "auth", "member_id")
    try:
        portal = await installation.verify_portal(
            services.storage,
            member_id,
            text(form, "auth", "application_token"),
            clock=services.clock,
        )
    except Unauthenticated as exc:
        return webhooks.refused(request, event, exc, log)
    if event == DELETE_EVENT and services.bots is not None:
        try:
            deleted = await bot_deleted(
                bot_ports(services, services.bots),
                portal=portal,
                bot_id=_event_id(text(form, "data", "bot", "id")),
            )
        except StorageError as exc:
            log.warning("bot deletion not recorded: %s", type(exc).__name__)
            webhooks.count_event(request, event, "failed")
            return webhooks.error_reply(503, "DB_UNAVAILABLE", "try again later")
        webhooks.count_event(
            request, event, "handled" if deleted is DeleteOutcome.FORGOTTEN else "ignored"
        )
        return webhooks.ok_reply(outcome=deleted.value)
    if event != COMMAND_EVENT or services.bots is None:
        webhooks.count_event(request, event, "ignored")
        return webhooks.ok_reply()
    press = Press(
        # The presser's own token: the top-level auth's, as v1 events carry it (§22.1.10);
        # without one, the bot block's. Whoever it belongs to is the only identity trusted.
        access_token=Secret(
            text(form, "auth", "access_token")
            or text(form, "data", "bot", "auth", "access_token")
            or ""
        ),
        named_user_id=_event_id(text(form, "data", "user", "id")),
        command=text(form, "data", "command", "command") or "",
        params=text(form, "data", "command", "params") or "",
        language=text(form, "data", "language"),
    )
    try:
        outcome = await handle_press(
            bot_ports(services, services.bots),
            portal=portal,
            press=press,
            links=app_links(services.app_code)(portal),
        )
    except Unauthenticated:
        webhooks.count_event(request, event, "rejected")
        return webhooks.error_reply(
            401, "UNAUTHENTICATED", "the press's authorisation was not accepted"
        )
    except RateLimited as exc:
        return webhooks.rate_limited(request, event, exc)
    except CrmError as exc:
        log.warning("bot press failed: %s", type(exc).__name__, extra={"portal_id": portal.id})
        webhooks.count_event(request, event, "failed")
        return webhooks.error_reply(502, "CRM_ERROR", "Bitrix24 did not answer as expected")
    webhooks.count_event(request, event, "handled")
    return webhooks.ok_reply(outcome=outcome.value)


def bot_ports(services: Services, bots: BotChannel) -> BotPorts:
    """The bot use cases' ports from the shared services (``bots``: the one they have)."""
    return BotPorts(
        storage=services.storage,
        bots=bots,
        clock=services.clock,
        verifier=services.verifier,
        connector=services.connector,
        catalogue=services.catalogue,
    )


def _event_id(value: str | None) -> int | None:
    """An id the event names, ``data[bot][id]`` or ``data[user][id]`` (strings in webhook
    mode, §22.1.10), if it is one."""
    digits = (value or "").strip()
    if not digits.isascii() or not digits.isdigit() or len(digits) > 18:
        return None
    return int(digits)


async def register_bot(services: Services, portal_id: int) -> None:
    """After an install or update: (re)register the portal's bot, never failing the caller."""
    if services.bots is None or not services.handlers.bot:
        return
    try:
        async with services.storage.unit_of_work() as uow:
            portal = await uow.portals.get(portal_id)
        if portal is None:
            return
        await ensure_bot(
            bot_ports(services, services.bots), portal=portal, webhook_url=services.handlers.bot
        )
    except StorageError as exc:
        log.warning("digest bot not recorded: %s", type(exc).__name__)


def add_routes(app: web.Application) -> None:
    app.router.add_post("/b24/bot", bot_events)
