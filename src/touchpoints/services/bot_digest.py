"""The actionable digest through the bot: who gets which message, sent exactly once.

Per portal and pass (after the claims): the users (one ``user.get``), the open deals with
no open touch-point (one paged list with the portal's stored token and one storage query;
their titles serve the digest too), the titles of the other listed records (one batched
read, none when every listed record is an open deal), the previous bot messages (one
query), the digests and managers' roll-ups (50 messages to a request), their ids (one
statement), and the cleared keyboards of the previous day's messages (50 to a request).
A resend after a crash updates the day's messages whose ids were kept, so nobody gets two.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import date, datetime

import attrs

from touchpoints.domain.bot import (
    DoneUrl,
    RenderedBotDigest,
    RepUrl,
    StalledDeal,
    render_bot_digest,
    render_rollup,
)
from touchpoints.domain.crm import UserInfo
from touchpoints.domain.digest import (
    DigestContent,
    HandoverNote,
    RecordUrl,
    compute_digest,
    crm_record_links,
)
from touchpoints.domain.messages import Catalogue
from touchpoints.domain.model import OwnerRef, TouchPoint
from touchpoints.domain.portal import Portal
from touchpoints.domain.settings import PortalSettings
from touchpoints.ports.crm import Crm, CrmError
from touchpoints.ports.digests import BotStatus, DigestState, MessageKind, PortalBot, PortalDay
from touchpoints.ports.messaging import BotChannel, BotDelivery, BotMessage
from touchpoints.ports.storage import Storage
from touchpoints.services.digest_delivery import (
    ClaimedDigests,
    OpenDeals,
    open_deals_or_none,
    portal_base,
    read_open_deals,
    read_titles,
    settle_deliveries,
    with_titles,
)

log = logging.getLogger("touchpoints.digest")

# Stalled deals listed per user (the rest are counted in "and N more").
STALLED_LIMIT = 10


@attrs.frozen(kw_only=True)
class BotLinks:
    """Where the digest's links go: the board, a record's card, the complete dialog."""

    board_url: str
    record_url: RecordUrl
    done_url: DoneUrl
    rep_url: RepUrl


def app_links(app_code: str) -> Callable[[Portal], BotLinks]:
    """Links for a portal: the app's page, CRM cards, and the ``REST_APP_URI`` form
    ``/marketplace/view/<code>/?params[complete]=<id>`` (BITRIX24.md §22.1.11).

    The code is the portal's ``app.info`` CODE (a Market app's Market code) where it was
    read, else ``app_code`` (the client id: a local app's code).
    """

    def links(portal: Portal) -> BotLinks:
        base = portal_base(portal)
        code = portal.app_code or app_code
        return BotLinks(
            board_url=f"{base}/marketplace/app/{code}/",
            record_url=crm_record_links(base),
            done_url=lambda touch_point_id: (
                f"/marketplace/view/{code}/?params[complete]={touch_point_id}"
            ),
            rep_url=lambda user_id: f"/marketplace/view/{code}/?params[responsible_id]={user_id}",
        )

    return links


async def read_stalled(
    crm: Crm,
    storage: Storage,
    portal_id: int,
    user_ids: Iterable[int] | None,
    settings: PortalSettings,
) -> Mapping[int, list[StalledDeal]]:
    """``read_open_deals``' deals with no next step, by user."""
    return (await read_open_deals(crm, storage, portal_id, user_ids, settings)).stalled


def compose(
    *,
    user_id: int,
    touch_points: Iterable[TouchPoint],
    stalled: Sequence[StalledDeal],
    titles: Mapping[OwnerRef, str | None],
    now: datetime,
    settings: PortalSettings,
    language: str | None,
    links: BotLinks,
    catalogue: Catalogue,
    item_limit: int,
    note: str | None = None,
    handovers: tuple[HandoverNote, ...] = (),
) -> RenderedBotDigest | None:
    """One user's bot digest; None when there is nothing to say (and no ``note``)."""
    mine = list(touch_points)
    content = compute_digest(
        user_id=user_id,
        touch_points=mine,
        now=now,
        settings=settings,
        titles=titles,
        limit=item_limit,
        include_empty=bool(stalled) or note is not None,
        handovers=handovers,
    )
    if content is None:
        return None
    return render(
        content,
        stalled,
        versions={tp.id: tp.version for tp in mine},
        language=language,
        links=links,
        catalogue=catalogue,
        note=note,
    )


def render(
    content: DigestContent,
    stalled: Sequence[StalledDeal],
    *,
    versions: Mapping[int, int],
    language: str | None,
    links: BotLinks,
    catalogue: Catalogue,
    note: str | None = None,
) -> RenderedBotDigest:
    """``content`` (its titles filled in) as a bot message, the stalled deals cut to
    ``STALLED_LIMIT``."""
    return render_bot_digest(
        content,
        stalled[:STALLED_LIMIT],
        stalled_count=len(stalled),
        versions=versions,
        language=language,
        board_url=links.board_url,
        record_url=links.record_url,
        done_url=links.done_url,
        catalogue=catalogue,
        note=note,
    )


def _owners(content: DigestContent | None) -> list[OwnerRef]:
    return [] if content is None else [i.owner for i in (*content.overdue, *content.today)]


BOT_NOT_FOUND = "BOT_NOT_FOUND"


async def forget_if_gone(
    storage: Storage, bots: BotChannel, portal: Portal, bot_id: int, *, now: datetime
) -> bool:
    """Forget the portal's bot when Bitrix24, asked with our stored tokens, answers that it
    is not found: the failed digests then go as notifications on the next pass. Returns
    whether it was forgotten (not when Bitrix24 did not say)."""
    try:
        if await bots.is_registered(portal, bot_id):
            return False
    except CrmError as exc:
        log.info("digest: bot not checked (%s)", type(exc).__name__, extra={"portal_id": portal.id})
        return False
    return await forget_bot(storage, portal, bot_id, now=now)


async def forget_bot(storage: Storage, portal: Portal, bot_id: int, *, now: datetime) -> bool:
    """Record that the portal's bot ``bot_id`` is gone (Bitrix24 said so); False when the
    portal has another bot by now (an update registered it again)."""
    async with storage.unit_of_work() as uow:
        current = await uow.bots.get(portal.id)
        if current is None or current.usable_id != bot_id:
            return False
        await uow.bots.put(
            portal.id, PortalBot(status=BotStatus.DELETED, bot_id=None, updated_at=now)
        )
    log.info(
        "digest bot gone from the portal; digests go as notifications",
        extra={"portal_id": portal.id},
    )
    return True


async def _keep_ids(
    storage: Storage,
    portal_id: int,
    day: date,
    outgoing: Sequence[_Outgoing],
    deliveries: Sequence[BotDelivery],
) -> dict[int, int]:
    """Keep the ids of the day's messages that went out (one unit of work); returns the
    digests' ids by user."""
    sent: dict[int, int] = {}
    sent_rollups: dict[int, int] = {}
    for item, delivery in zip(outgoing, deliveries, strict=True):
        if delivery.ok and delivery.message_id is not None:
            (sent_rollups if item.rollup else sent)[delivery.user_id] = delivery.message_id
    if sent or sent_rollups:
        portal_day = PortalDay(portal_id, day)
        async with storage.unit_of_work() as uow:
            await uow.digest_log.set_messages(portal_day, sent)
            await uow.digest_log.set_messages(portal_day, sent_rollups, kind=MessageKind.ROLLUP)
    return sent


@attrs.frozen(kw_only=True)
class _Outgoing:
    """One message of a user's morning: their digest, or (``rollup``) their team's."""

    message: BotMessage
    rollup: bool = False


async def send_bot_digests(
    claimed: ClaimedDigests,
    *,
    employees: Mapping[int, UserInfo] | None,
    storage: Storage,
    bots: BotChannel,
    bot_id: int,
    links: BotLinks,
) -> tuple[dict[int, DigestState], int]:
    """Render and send the claimed users' bot digests; returns each one's state and how
    many were settled without a message (inactive, or nothing to say).

    Managers (``claimed.managers``: admins and team viewers who want it) also get the
    team's roll-up as a second message under the same claim: per rep overdue, due today
    and deals with no next step, each linking to the rep's board. A user's claim is sent
    once every message of theirs went out; a failed one is retried whole, each message
    whose id was kept being updated rather than sent again.
    """
    crm, portal, day, by_user = claimed.crm, claimed.portal, claimed.day, claimed.by_user
    rolling = claimed.managers & set(claimed.user_ids)
    # The people and the open deals do not depend on each other: both requests at once.
    reading = asyncio.ensure_future(
        open_deals_or_none(claimed, storage, None if rolling else claimed.user_ids)
    )
    try:
        if employees is None:
            employees = {user.id: user for user in await crm.users(sorted(claimed.people(rolling)))}
    except BaseException:
        reading.cancel()
        await asyncio.gather(reading, return_exceptions=True)
        raise
    deals = await reading
    outcome = claimed.settle_unreachable(employees)
    active = [uid for uid in claimed.user_ids if uid not in outcome]
    if rolling:
        employees = {**employees, **await _unnamed_reps(crm, deals, employees)}
    names = {uid: user.name for uid, user in employees.items()}
    contents = {
        uid: claimed.content(
            uid, titles=deals.titles, include_empty=bool(deals.stalled.get(uid)), names=names
        )
        for uid in active
    }
    # The open deals came with their titles; only the other listed records are read.
    titles = dict(deals.titles)
    titles.update(
        await read_titles(
            crm,
            (
                owner
                for content in contents.values()
                for owner in _owners(content)
                if owner not in titles
            ),
        )
    )
    rollups = claimed.rollups(rolling, deals.stalled, names)
    async with storage.reading() as uow:  # two independent reads: no transaction
        previous = await uow.digest_log.latest_messages(portal.id, active, through=day)
        kept_rollups = (
            await uow.digest_log.rollup_messages(PortalDay(portal.id, day), sorted(rolling))
            if rolling
            else {}
        )
    outgoing: list[_Outgoing] = []
    for user_id in active:
        content = contents[user_id]
        if content is not None:
            rendered = render(
                with_titles(content, titles),
                deals.stalled.get(user_id, ()),
                versions={tp.id: tp.version for tp in by_user.get(user_id, ())},
                language=claimed.language(user_id, employees),
                links=links,
                catalogue=claimed.catalogue,
            )
            kept = previous.get(user_id)
            outgoing.append(
                _Outgoing(
                    message=BotMessage(
                        user_id=user_id,
                        text=rendered.text,
                        keyboard=rendered.keyboard,
                        # Today's id kept by a pass that crashed before marking: update.
                        message_id=kept[1] if kept is not None and kept[0] == day else None,
                    )
                )
            )
        rollup = (
            render_rollup(
                rollups,
                user_id=user_id,
                local_day=day,
                language=claimed.language(user_id, employees),
                board_url=links.board_url,
                rep_url=links.rep_url,
                catalogue=claimed.catalogue,
            )
            if user_id in rolling
            else None
        )
        if rollup is not None:
            outgoing.append(
                _Outgoing(
                    message=BotMessage(
                        user_id=user_id, text=rollup.text, message_id=kept_rollups.get(user_id)
                    ),
                    rollup=True,
                )
            )
        if content is None and rollup is None:
            outcome[user_id] = DigestState.SENT
    skipped = len(outcome)
    if not outgoing:
        return outcome, skipped
    deliveries = await bots.send(portal, bot_id, [item.message for item in outgoing])
    sent = await _keep_ids(storage, portal.id, day, outgoing, deliveries)
    settle_deliveries(
        outcome, deliveries, (item.message.user_id for item in outgoing), portal_id=portal.id
    )
    if any(d.error.upper() == BOT_NOT_FOUND for d in deliveries):
        # ONIMBOTV2DELETE is not retried and may never have reached us (§22.1.10).
        await forget_if_gone(storage, bots, portal, bot_id, now=claimed.now)
    stale = [
        kept[1]
        for user_id, kept in previous.items()
        if kept[0] < day and user_id in sent and sent[user_id] != kept[1]
    ]
    if stale:
        try:
            await bots.clear_keyboards(portal, bot_id, stale)
        except CrmError as exc:
            # Yesterday's buttons then stay; pressing one answers with the current state.
            log.info(
                "digest: old keyboards kept (%s)",
                type(exc).__name__,
                extra={"portal_id": portal.id},
            )
    return outcome, skipped


async def _unnamed_reps(
    crm: Crm, deals: OpenDeals, employees: Mapping[int, UserInfo]
) -> dict[int, UserInfo]:
    """The reps the roll-up names only for their deals with no next step: they were not
    among the people read first (one ``user.get`` more, only when there are any). Unreadable,
    they keep their ``#id``."""
    unnamed = sorted(set(deals.stalled) - set(employees))
    if not unnamed:
        return {}
    try:
        return {user.id: user for user in await crm.users(unnamed)}
    except CrmError as exc:
        log.info("digest: reps not named (%s)", type(exc).__name__)
        return {}
