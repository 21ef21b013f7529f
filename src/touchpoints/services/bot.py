"""The digest bot: its registration on a portal, and the presses of its buttons.

A press (``ONIMBOTV2COMMANDADD``) is a hint like every event: it is admitted by the
portal's application token, its user is the one Bitrix24 names for the press's own
``auth`` token (``profile``; never a form field), and the action runs as that user through
the API's use case, so visibility and CRM permissions apply (DESIGN.md §3.7, §4). The
buttons carry the version of the touch-point they were drawn for: a replay, a double press
or a press on a touch-point changed since moves nothing and shows the current state.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Mapping
from datetime import timedelta

import attrs

from touchpoints.domain.bot import (
    BOT_CODE,
    COMMANDS,
    SNOOZE_COMMAND,
    changed_note,
    moved_note,
    parse_snooze,
    snooze_day,
)
from touchpoints.domain.digest import DEFAULT_ITEM_LIMIT, handover_notes
from touchpoints.domain.messages import Catalogue
from touchpoints.domain.model import OwnerRef, Status
from touchpoints.domain.portal import Portal
from touchpoints.domain.scheduling import current_local_day, start_of_local_day
from touchpoints.domain.secrets import Secret
from touchpoints.domain.visibility import Viewer
from touchpoints.ports.clock import Clock
from touchpoints.ports.crm import CrmConnector, CrmError, CrmPermissionDenied
from touchpoints.ports.digests import BotStatus, PortalBot
from touchpoints.ports.messaging import BotChannel, BotMessage, BotSpec, BotUnavailable
from touchpoints.ports.storage import BoardQuery, Storage
from touchpoints.services.bot_digest import BotLinks, compose, forget_bot, read_stalled
from touchpoints.services.context import Actor, UseCase, visible_touch_point
from touchpoints.services.digest import handovers_since
from touchpoints.services.digest_delivery import read_titles
from touchpoints.services.errors import Conflict, Forbidden, NotFound, RateLimited, Unauthenticated
from touchpoints.services.touchpoints import move_touch_point
from touchpoints.services.verification import TokenVerifier

log = logging.getLogger("touchpoints.bot")

BOT_NAMES: Mapping[str, str] = {"en": "Touch-points", "ru": "Касания"}


def bot_spec(webhook_url: str) -> BotSpec:
    """The one bot the app registers (code ``touchpoints``, webhook mode)."""
    return BotSpec(code=BOT_CODE, webhook_url=webhook_url, names=BOT_NAMES, commands=COMMANDS)


@attrs.frozen(kw_only=True)
class BotPorts:
    """What the bot's use cases work with, handed over once by the entrypoint: storage, the
    portal's bot channel, the clock, the token checks, the CRM connector (a press runs as
    its user) and the message catalogue."""

    storage: Storage
    bots: BotChannel
    clock: Clock
    verifier: TokenVerifier
    connector: CrmConnector
    catalogue: Catalogue


async def ensure_bot(ports: BotPorts, *, portal: Portal, webhook_url: str) -> PortalBot | None:
    """Register the portal's bot (again: registration is idempotent) and remember it.

    Without the ``imbot`` scope the bot is recorded as unavailable: the digest then goes
    as system notifications and the settings page says why. Any other failure leaves the
    record as it was (install and update go on; the next update tries again).
    """
    now = ports.clock.now()
    try:
        bot_id = await ports.bots.register(portal, bot_spec(webhook_url))
    except BotUnavailable:
        record = PortalBot(status=BotStatus.UNAVAILABLE, bot_id=None, updated_at=now)
        log.info("digest bot unavailable (no imbot scope)", extra={"portal_id": portal.id})
    except CrmError as exc:
        log.warning(
            "digest bot not registered (%s)", type(exc).__name__, extra={"portal_id": portal.id}
        )
        return None
    else:
        record = PortalBot(status=BotStatus.REGISTERED, bot_id=bot_id, updated_at=now)
    async with ports.storage.unit_of_work() as uow:
        await uow.bots.put(portal.id, record)
    return record


class DigestChannel(enum.Enum):
    """How a portal's digest reaches its users (the settings page tells them)."""

    BOT = "bot"
    NOTIFICATION = "notification"


async def digest_channel(storage: Storage, portal_id: int) -> DigestChannel:
    """The bot's message once the portal's bot is registered; a notification otherwise."""
    async with storage.unit_of_work() as uow:
        bot = await uow.bots.get(portal_id)
    registered = bot is not None and bot.usable_id is not None
    return DigestChannel.BOT if registered else DigestChannel.NOTIFICATION


class DeleteOutcome(enum.Enum):
    """What ONIMBOTV2DELETE did: the bot forgotten, or kept (not ours, not confirmed)."""

    FORGOTTEN = "forgotten"
    KEPT = "kept"  # Bitrix24 still has the bot: a forged event
    UNCONFIRMED = "unconfirmed"  # Bitrix24 did not say, or the check budget is spent
    IGNORED = "ignored"  # not the portal's current bot


async def bot_deleted(ports: BotPorts, *, portal: Portal, bot_id: int | None) -> DeleteOutcome:
    """ONIMBOTV2DELETE (a hint, DESIGN.md §4): forget the portal's bot only once Bitrix24,
    asked with our stored tokens, answers that it is not found; the digest then goes as
    system notifications until an install or update registers the bot again.

    Every member can read the application token, so the event alone proves nothing: a
    bot Bitrix24 still has is kept (and the attempt logged). The check costs one call
    from the portal's budget for unverified requests, given back when it was genuine.
    """
    async with ports.storage.unit_of_work() as uow:
        stored = await uow.bots.get(portal.id)
    current = None if stored is None else stored.usable_id
    if current is None or current != bot_id:
        return DeleteOutcome.IGNORED
    try:
        spending = await ports.verifier.spend_for(portal, calls=1)
    except RateLimited:
        log.warning("security: bot deletions over budget", extra={"portal_id": portal.id})
        return DeleteOutcome.UNCONFIRMED
    try:
        alive = await ports.bots.is_registered(portal, current)
    except CrmError as exc:
        log.info(
            "bot deletion not confirmed (%s)", type(exc).__name__, extra={"portal_id": portal.id}
        )
        return DeleteOutcome.UNCONFIRMED
    if alive or not await forget_bot(ports.storage, portal, current, now=ports.clock.now()):
        log.warning(
            "security: a bot deletion Bitrix24 does not confirm; the bot is kept",
            extra={"portal_id": portal.id},
        )
        return DeleteOutcome.KEPT
    await ports.verifier.refund(spending, quiet=True)  # ``forget_bot`` logged it
    return DeleteOutcome.FORGOTTEN


class PressOutcome(enum.Enum):
    """What a press did: moved, nothing (changed since or refused), or ignored outright."""

    MOVED = "moved"
    CHANGED = "changed"
    REFUSED = "refused"
    IGNORED = "ignored"


@attrs.frozen(kw_only=True)
class Press:
    """A button press as the event tells it; nothing here is trusted but the token's word.

    ``named_user_id`` is the user the event's ``data[user]`` names: a form field, never an
    identity, but a press whose token belongs to someone else is refused.
    """

    access_token: Secret
    named_user_id: int | None = None
    command: str
    params: str
    language: str | None = None


async def handle_press(
    ports: BotPorts, *, portal: Portal, press: Press, links: BotLinks
) -> PressOutcome:
    """Run a "+1 working day" press as its user, then redraw that user's digest message.

    Raises:
        Unauthenticated: Bitrix24 does not vouch for the press's token.
        RateLimited: too many unverified presses for this portal lately.
    """
    if press.command.strip().lstrip("/").lower() != SNOOZE_COMMAND:
        return PressOutcome.IGNORED
    shown = parse_snooze(press.params)
    if shown is None:
        return PressOutcome.IGNORED
    user = await ports.verifier.user(portal, press.access_token)
    if press.named_user_id is not None and press.named_user_id != user.id:
        # Someone else's token (a bot's or a colleague's) under this user's name: acting as
        # the token's user would act for the wrong person, and the name is only a field.
        log.warning(
            "security: a bot press whose token belongs to another user",
            extra={"portal_id": portal.id, "user_id": user.id},
        )
        raise Unauthenticated("the press's token is not its user's")
    async with ports.storage.unit_of_work() as uow:
        bot = await uow.bots.get(portal.id)
    bot_id = None if bot is None else bot.usable_id
    if bot_id is None:
        return PressOutcome.IGNORED
    crm = ports.connector.as_user(portal, press.access_token)
    actor = Actor(portal, Viewer(user.id, user.is_admin))
    ctx = await UseCase.load(
        storage=ports.storage, crm=crm, clock=ports.clock, connector=ports.connector, actor=actor
    )
    touch_point_id, version = shown
    async with ports.storage.unit_of_work() as uow:
        # The language the user last opened the app in, as the digest itself was written.
        own = await uow.preferences.get(portal.id, user.id)
    language = own.language or press.language
    texts = ports.catalogue.for_language(language)
    zone = ctx.settings.zone
    try:
        async with ports.storage.unit_of_work() as uow:
            current = await visible_touch_point(uow, actor, touch_point_id, ctx.settings)
    except (NotFound, Forbidden):
        # Another member's press (or a replay from another chat): nothing of theirs to show.
        log.warning(
            "security: a bot press on a touch-point the user may not see",
            extra={"portal_id": portal.id, "user_id": user.id},
        )
        return PressOutcome.REFUSED
    titles = await read_titles(crm, [current.owner])
    outcome = PressOutcome.CHANGED
    if current.version == version and current.status is Status.OPEN:
        try:
            card = await move_touch_point(
                ctx,
                touch_point_id=touch_point_id,
                deadline=None,
                responsible_id=None,
                day=snooze_day(current, ctx.clock.now(), ctx.settings),
            )
        except (Forbidden, CrmPermissionDenied):
            note = texts["bot.refused"].format(record=_record(texts, current.owner, titles))
            outcome = PressOutcome.REFUSED
        except (Conflict, CrmError):
            note = texts["bot.failed"]
            outcome = PressOutcome.REFUSED
        else:
            note = moved_note(
                current.owner,
                titles.get(current.owner),
                card.touch_point.deadline,
                zone=zone,
                texts=texts,
                record_url=links.record_url,
            )
            outcome = PressOutcome.MOVED
    if outcome is PressOutcome.CHANGED:
        async with ports.storage.unit_of_work() as uow:
            latest = await uow.touch_points.get(portal.id, touch_point_id)
        assert latest is not None
        note = changed_note(
            latest, titles.get(latest.owner), zone=zone, texts=texts, record_url=links.record_url
        )
    await _redraw(
        ctx,
        ports,
        bot_id=bot_id,
        language=language,
        links=links,
        note=f"✓ {note}" if outcome is PressOutcome.MOVED else note,
    )
    return outcome


def _record(
    texts: Mapping[str, str], owner: OwnerRef, titles: Mapping[OwnerRef, str | None]
) -> str:
    title = titles.get(owner)
    return title or texts["digest.hidden"].format(owner=texts[owner.type.label_key], id=owner.id)


async def _redraw(
    ctx: UseCase,
    ports: BotPorts,
    *,
    bot_id: int,
    language: str | None,
    links: BotLinks,
    note: str,
) -> None:
    """Update the actor's latest digest message in place: today's state, and what happened
    (a manager's roll-up is a message of its own, left as it was sent)."""
    storage, portal, user_id = ctx.storage, ctx.actor.portal, ctx.actor.viewer.user_id
    now = ctx.clock.now()
    settings = ctx.settings
    today = current_local_day(now, settings.zone)
    day_end = start_of_local_day(today + timedelta(days=1), settings.zone)
    async with storage.unit_of_work() as uow:
        latest = await uow.digest_log.latest_messages(portal.id, [user_id], through=today)
        if user_id not in latest:
            return
        mine = await uow.touch_points.board(
            portal.id,
            BoardQuery(responsible_ids=frozenset({user_id}), deadline_before=day_end),
        )
        handovers = await uow.handovers.for_digest(
            portal.id, returned_since=handovers_since(today, settings)
        )
    try:
        stalled = await read_stalled(ctx.crm, storage, portal.id, [user_id], settings)
    except CrmError:
        stalled = {}
    titles = await read_titles(ctx.crm, [tp.owner for tp in mine])
    others = {
        other
        for h in handovers
        if user_id in (h.from_user_id, h.to_user_id)
        for other in (h.from_user_id, h.to_user_id)
        if other != user_id
    }
    names = {u.id: u.name for u in await ctx.crm.users(sorted(others))} if others else {}
    rendered = compose(
        user_id=user_id,
        touch_points=mine,
        stalled=stalled.get(user_id, ()),
        titles=titles,
        now=now,
        settings=settings,
        language=language,
        links=links,
        catalogue=ports.catalogue,
        item_limit=DEFAULT_ITEM_LIMIT,
        note=note,
        handovers=handover_notes(user_id, handovers, now=now, settings=settings, names=names),
    )
    assert rendered is not None  # a note always makes a message
    message = BotMessage(
        user_id=user_id,
        text=rendered.text,
        keyboard=rendered.keyboard,
        message_id=latest[user_id][1],
    )
    try:
        await ports.bots.send(portal, bot_id, [message])
    except CrmError as exc:
        log.info("bot message not redrawn (%s)", type(exc).__name__, extra={"portal_id": portal.id})
