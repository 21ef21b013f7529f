"""``POST /b24/bot``: the digest bot's webhook (``ONIMBOTV2*`` events, BITRIX24.md §22.1.8).

Verified like every event (DESIGN.md §4): the top-level ``auth.application_token`` must be
the portal's stored one before anything else happens; the press's user is who Bitrix24
says its own ``auth`` token belongs to. Bitrix24 does not retry these calls (§22.1.10),
so a refused press is answered at once and nothing of it is kept.
"""

from __future__ import annotations

import logging
from typing import Any

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

from touchpoints.domain.secrets import Secret
from touchpoints.entrypoints.container import SERVICES, Services
from touchpoints.entrypoints.forms import FormError, parse_bracket_form, text
from touchpoints.entrypoints.metrics import METRICS
from touchpoints.ports.crm import CrmError
from touchpoints.ports.storage import StorageError
from touchpoints.services import installation
from touchpoints.services.bot import Press, ensure_bot, handle_press
from touchpoints.services.bot_digest import app_links
from touchpoints.services.errors import RateLimited, Unauthenticated

log = logging.getLogger("touchpoints.bot")

COMMAND_EVENT = "ONIMBOTV2COMMANDADD"


async def _form(request: web.Request) -> dict[str, Any]:
    try:
        posted = await request.post()
    except (ValueError, HttpProcessingError) as exc:
        raise web.HTTPBadRequest(reason="malformed form body") from exc
    items = [(key, value) for key, value in posted.items() if isinstance(value, str)]
    try:
        return parse_bracket_form(items)
    except FormError as exc:
        raise web.HTTPBadRequest(reason=str(exc)) from exc


def _reply(status: int, code: str, message: str) -> web.Response:
    return web.json_response({"code": code, "message": message}, status=status)


async def bot_events(request: web.Request) -> web.Response:
    """Admit the event by its application token, then run a button press as its user."""
    services = request.app[SERVICES]
    form = await _form(request)
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
        log.warning("bot event refused", extra={"event": event[:40], "reason": str(exc)[:200]})
        _count(request, event, "rejected")
        status = 403 if "mismatch" in str(exc) else 401
        return _reply(status, "UNAUTHENTICATED", "event refused")
    if event != COMMAND_EVENT or services.bots is None:
        _count(request, event, "ignored")
        return web.json_response({"ok": True})
    press = Press(
        access_token=Secret(text(form, "auth", "access_token") or ""),
        command=text(form, "data", "command", "command") or "",
        params=text(form, "data", "command", "params") or "",
        language=text(form, "data", "language"),
    )
    try:
        outcome = await handle_press(
            storage=services.storage,
            connector=services.connector,
            verifier=services.verifier,
            bots=services.bots,
            clock=services.clock,
            catalogue=services.catalogue,
            portal=portal,
            press=press,
            links=app_links(services.app_code)(portal),
        )
    except Unauthenticated:
        _count(request, event, "rejected")
        return _reply(401, "UNAUTHENTICATED", "the press's authorisation was not accepted")
    except RateLimited as exc:
        _count(request, event, "limited")
        response = _reply(429, "RATE_LIMITED", "too many unverified events")
        response.headers["Retry-After"] = str(exc.retry_after_s)
        return response
    except CrmError as exc:
        log.warning("bot press failed: %s", type(exc).__name__, extra={"portal_id": portal.id})
        _count(request, event, "failed")
        return _reply(502, "CRM_ERROR", "Bitrix24 did not answer as expected")
    _count(request, event, "handled")
    return web.json_response({"ok": True, "outcome": outcome.value})


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
            storage=services.storage,
            bots=services.bots,
            clock=services.clock,
            portal=portal,
            webhook_url=services.handlers.bot,
        )
    except StorageError as exc:
        log.warning("digest bot not recorded: %s", type(exc).__name__)


def _count(request: web.Request, event: str, outcome: str) -> None:
    metrics = request.app.get(METRICS)
    if metrics is not None:
        metrics.count_event(event, outcome)


def add_routes(app: web.Application) -> None:
    app.router.add_post("/b24/bot", bot_events)
