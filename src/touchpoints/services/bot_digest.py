"""The actionable digest through the bot: who gets which message, sent exactly once.

Per portal and pass (after the claims): the users (one ``user.get``), the listed records'
titles (one batched read), the open deals with no open touch-point (one paged list with the
portal's stored token and one storage query), the previous bot messages (one query), the
messages (50 to a request), their ids (one statement), and the cleared keyboards of the
previous day's messages (50 to a request). A resend after a crash updates the day's
message whose id was kept, so the user never gets two.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime

import attrs

from touchpoints.domain.bot import (
    DoneUrl,
    RenderedBotDigest,
    RepUrl,
    RollupRow,
    StalledDeal,
    render_bot_digest,
    rollup_rows,
    stalled_deals,
)
from touchpoints.domain.crm import UserInfo
from touchpoints.domain.digest import DigestContent, RecordUrl, compute_digest, crm_record_links
from touchpoints.domain.messages import Catalogue
from touchpoints.domain.model import OwnerRef, OwnerType, TouchPoint
from touchpoints.domain.portal import Portal
from touchpoints.domain.settings import PortalSettings
from touchpoints.ports.crm import Crm, CrmError, CrmPermissionDenied
from touchpoints.ports.messaging import BotChannel, BotMessage
from touchpoints.ports.storage import DigestState, Storage
from touchpoints.services.digest_delivery import (
    ClaimedDigests,
    portal_base,
    read_titles,
    settle_deliveries,
)

log = logging.getLogger("touchpoints.digest")

# Open deals read per portal and pass for "No next step" (50 to a page).
DEAL_READ_LIMIT = 2_000
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
    ``/marketplace/view/<code>/?params[complete]=<id>`` (BITRIX24.md §22.1.11)."""

    def links(portal: Portal) -> BotLinks:
        base = portal_base(portal)
        return BotLinks(
            board_url=f"{base}/marketplace/app/{app_code}/",
            record_url=crm_record_links(base),
            done_url=lambda touch_point_id: (
                f"/marketplace/view/{app_code}/?params[complete]={touch_point_id}"
            ),
            rep_url=lambda user_id: (
                f"/marketplace/view/{app_code}/?params[responsible_id]={user_id}"
            ),
        )

    return links


async def read_stalled(
    crm: Crm,
    storage: Storage,
    portal_id: int,
    user_ids: Iterable[int] | None,
    settings: PortalSettings,
) -> dict[int, list[StalledDeal]]:
    """Each user's open deals (read live) with no open touch-point, when deals are enabled;
    ``user_ids`` None: every user a visible open deal is assigned to.

    Raises: CrmUnavailable and other CrmError but a permission refusal (no deals then).
    """
    wanted = None if user_ids is None else set(user_ids)
    if OwnerType.DEAL not in settings.enabled_entities or wanted == set():
        return {}
    try:
        deals = await crm.open_records(OwnerType.DEAL, limit=DEAL_READ_LIMIT)
    except CrmPermissionDenied:
        return {}
    mine = [
        card
        for card in deals
        if card.assigned_by_id is not None and (wanted is None or card.assigned_by_id in wanted)
    ]
    if not mine:
        return {}
    async with storage.unit_of_work() as uow:
        covered = await uow.reports.owners_with_open(
            portal_id, OwnerType.DEAL, [card.ref.id for card in mine]
        )
    rows = [(card.ref, card.assigned_by_id, card.title) for card in mine]
    with_open = [OwnerRef(OwnerType.DEAL, owner_id) for owner_id in covered]
    stalled: dict[int, list[StalledDeal]] = defaultdict(list)
    for user_id in {card.assigned_by_id for card in mine if card.assigned_by_id is not None}:
        found = stalled_deals(user_id, rows, with_open)
        if found:
            stalled[user_id] = found
    return dict(stalled)


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
    rollup: Sequence[RollupRow] = (),
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
        include_empty=bool(stalled) or bool(rollup) or note is not None,
    )
    if content is None:
        return None
    return render_bot_digest(
        content,
        stalled[:STALLED_LIMIT],
        stalled_count=len(stalled),
        versions={tp.id: tp.version for tp in mine},
        language=language,
        board_url=links.board_url,
        record_url=links.record_url,
        done_url=links.done_url,
        catalogue=catalogue,
        note=note,
        rollup=rollup,
        rep_url=links.rep_url,
    )


def _owners(content: DigestContent | None) -> list[OwnerRef]:
    return [] if content is None else [i.owner for i in (*content.overdue, *content.today)]


async def send_bot_digests(
    claimed: ClaimedDigests,
    *,
    employees: Mapping[int, UserInfo] | None,
    storage: Storage,
    bots: BotChannel,
    bot_id: int,
    links: BotLinks,
    managers: frozenset[int] = frozenset(),
) -> tuple[dict[int, DigestState], int]:
    """Render and send the claimed users' bot digests; returns each one's state and how
    many were settled without a message (inactive, or nothing to say).

    ``managers`` (admins and team viewers who want it) also get the team's roll-up: per
    rep overdue, due today and deals with no next step, each linking to the rep's board.
    """
    crm, portal, day, by_user = claimed.crm, claimed.portal, claimed.day, claimed.by_user
    rolling = managers & set(claimed.user_ids)
    if employees is None:
        # The reps' names too, when a roll-up names them (one user.get either way).
        wanted = {*claimed.user_ids, *(by_user if rolling else ())}
        employees = {user.id: user for user in await crm.users(sorted(wanted))}
    outcome = claimed.settle_unreachable(employees)
    active = [uid for uid in claimed.user_ids if uid not in outcome]
    try:
        stalled = await read_stalled(
            crm, storage, portal.id, None if rolling else active, claimed.settings
        )
    except CrmError as exc:
        # "No next step" is extra: the overdue and today sections still go out.
        log.info(
            "digest: open deals not read (%s)", type(exc).__name__, extra={"portal_id": portal.id}
        )
        stalled = {}
    probes = {uid: claimed.content(uid) for uid in active}
    # The stalled deals came with their titles; only the listed touch-points' records are read.
    titles = await read_titles(
        crm, (owner for content in probes.values() for owner in _owners(content))
    )
    rollup = (
        rollup_rows(
            (tp for tps in by_user.values() for tp in tps),
            {uid: len(deals) for uid, deals in stalled.items()},
            now=claimed.now,
            settings=claimed.settings,
            names={uid: user.name for uid, user in employees.items()},
        )
        if rolling
        else []
    )
    async with storage.unit_of_work() as uow:
        previous = await uow.digest_log.latest_messages(portal.id, active, through=day)
    messages: list[BotMessage] = []
    for user_id in active:
        rendered = compose(
            user_id=user_id,
            touch_points=by_user.get(user_id, ()),
            stalled=stalled.get(user_id, ()),
            titles=titles,
            now=claimed.now,
            settings=claimed.settings,
            language=claimed.language(user_id, employees),
            links=links,
            catalogue=claimed.catalogue,
            item_limit=claimed.item_limit,
            rollup=rollup if user_id in rolling else (),
        )
        if rendered is None:
            outcome[user_id] = DigestState.SENT
            continue
        kept = previous.get(user_id)
        messages.append(
            BotMessage(
                user_id=user_id,
                text=rendered.text,
                keyboard=rendered.keyboard,
                # Today's id kept by a pass that crashed before marking: update, not resend.
                message_id=kept[1] if kept is not None and kept[0] == day else None,
            )
        )
    skipped = len(outcome)
    if not messages:
        return outcome, skipped
    deliveries = await bots.send(portal, bot_id, messages)
    sent = {d.user_id: d.message_id for d in deliveries if d.ok and d.message_id is not None}
    if sent:
        async with storage.unit_of_work() as uow:
            await uow.digest_log.set_messages(portal.id, day, sent)
    settle_deliveries(
        outcome, deliveries, (message.user_id for message in messages), portal_id=portal.id
    )
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
