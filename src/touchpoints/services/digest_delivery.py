"""Rendering and sending the digests a pass has claimed: live titles, notifications, outcomes.

A manager (an admin or team viewer who wants it) also gets the team's roll-up under the same
claim: a second notification with its own per-day TAG, so a resend replaces it too.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from datetime import date, datetime

import attrs

from touchpoints.domain.bot import RollupRow, StalledDeal, render_rollup, rollup_rows, stalled_deals
from touchpoints.domain.crm import UserInfo
from touchpoints.domain.digest import (
    DigestContent,
    DigestItem,
    compute_digest,
    crm_record_links,
    handover_notes,
    render_digest,
)
from touchpoints.domain.handover import Handover
from touchpoints.domain.messages import Catalogue
from touchpoints.domain.model import OwnerRef, OwnerType, TouchPoint
from touchpoints.domain.portal import Portal
from touchpoints.domain.settings import PortalSettings
from touchpoints.ports.crm import Crm, CrmError, CrmPermissionDenied, Hidden
from touchpoints.ports.digests import DigestState
from touchpoints.ports.messaging import BotDelivery, Delivery, Messenger, Notification
from touchpoints.ports.storage import Storage

log = logging.getLogger("touchpoints.digest")

# Open deals read per portal and pass for "No next step" (50 to a page).
DEAL_READ_LIMIT = 2_000


@attrs.frozen(kw_only=True)
class OpenDeals:
    """What the open-deal list told: each user's deals with no next step, and the titles
    of every open deal read (the digest's titles need not be read again)."""

    stalled: Mapping[int, list[StalledDeal]] = attrs.field(factory=dict)
    titles: Mapping[OwnerRef, str | None] = attrs.field(factory=dict)


async def read_open_deals(
    crm: Crm,
    storage: Storage,
    portal_id: int,
    user_ids: Iterable[int] | None,
    settings: PortalSettings,
) -> OpenDeals:
    """Each user's open deals (read live) with no open touch-point, when deals are enabled;
    ``user_ids`` None: every user a visible open deal is assigned to.

    Raises: CrmUnavailable and other CrmError but a permission refusal (no deals then).
    """
    wanted = None if user_ids is None else set(user_ids)
    if OwnerType.DEAL not in settings.enabled_entities or wanted == set():
        return OpenDeals()
    try:
        deals = await crm.open_records(OwnerType.DEAL, limit=DEAL_READ_LIMIT)
    except CrmPermissionDenied:
        return OpenDeals()
    titles: dict[OwnerRef, str | None] = {card.ref: card.title for card in deals}
    mine = [
        card
        for card in deals
        if card.assigned_by_id is not None and (wanted is None or card.assigned_by_id in wanted)
    ]
    if not mine:
        return OpenDeals(titles=titles)
    async with storage.reading() as uow:
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
    return OpenDeals(stalled=dict(stalled), titles=titles)


async def open_deals_or_none(
    claimed: ClaimedDigests, storage: Storage, user_ids: Iterable[int] | None = None
) -> OpenDeals:
    """``read_open_deals`` for a digest: none when Bitrix24 does not list them now, since
    "No next step" is extra (the overdue and today sections, and the roll-up's other
    figures, still go out)."""
    try:
        return await read_open_deals(
            claimed.crm, storage, claimed.portal.id, user_ids, claimed.settings
        )
    except CrmError as exc:
        log.info(
            "digest: open deals not read (%s)",
            type(exc).__name__,
            extra={"portal_id": claimed.portal.id},
        )
        return OpenDeals()


def portal_base(portal: Portal) -> str:
    """``https://acme.bitrix24.com`` from the portal's ``client_endpoint`` (``…/rest/``)."""
    endpoint = portal.client_endpoint
    return endpoint[: -len("/rest/")] if endpoint.endswith("/rest/") else endpoint.rstrip("/")


@attrs.frozen(kw_only=True)
class ClaimedDigests:
    """One portal's share of a pass once its claims are won: whose digests of which day,
    and what they are made of. Either channel (notification or bot) sends them."""

    crm: Crm
    portal: Portal
    user_ids: list[int]
    day: date
    by_user: Mapping[int, list[TouchPoint]]
    now: datetime
    settings: PortalSettings
    item_limit: int
    languages: Mapping[int, str]
    catalogue: Catalogue
    managers: frozenset[int] = frozenset()
    handovers: Sequence[Handover] = ()

    def content(
        self,
        user_id: int,
        *,
        titles: Mapping[OwnerRef, str | None] | None = None,
        include_empty: bool = False,
        names: Mapping[int, str] | None = None,
    ) -> DigestContent | None:
        """What ``user_id``'s digest lists (``domain.digest.compute_digest``), with what it
        says about their hand-overs (the other people named from ``names``)."""
        return compute_digest(
            user_id=user_id,
            touch_points=self.by_user.get(user_id, ()),
            now=self.now,
            settings=self.settings,
            titles={} if titles is None else titles,
            limit=self.item_limit,
            include_empty=include_empty,
            handovers=handover_notes(
                user_id,
                self.handovers,
                now=self.now,
                settings=self.settings,
                names={} if names is None else names,
            )
            if self.handovers
            else (),
        )

    def people(self, rolling: Iterable[int]) -> set[int]:
        """Whom a ``user.get`` must name: the claimed users, the other people of their
        hand-overs, and every rep when a roll-up names them."""
        wanted = set(self.user_ids)
        for handover in self.handovers:
            if wanted & {handover.from_user_id, handover.to_user_id}:
                wanted |= {handover.from_user_id, handover.to_user_id}
        if set(rolling):
            wanted |= set(self.by_user)
        return wanted

    def rollups(
        self,
        rolling: Iterable[int],
        stalled: Mapping[int, Sequence[StalledDeal]],
        names: Mapping[int, str],
    ) -> list[RollupRow]:
        """The team's roll-up rows (the same for every manager); none when nobody rolls up."""
        if not set(rolling):
            return []
        return rollup_rows(
            (tp for tps in self.by_user.values() for tp in tps),
            {uid: len(deals) for uid, deals in stalled.items()},
            now=self.now,
            settings=self.settings,
            names=names,
        )

    def language(self, user_id: int, employees: Mapping[int, UserInfo]) -> str | None:
        """The language the user last opened the app in; ``user.get`` does not tell it."""
        return self.languages.get(user_id) or employees[user_id].language

    def settle_unreachable(self, employees: Mapping[int, UserInfo]) -> dict[int, DigestState]:
        """An inactive or unknown user cannot be notified today: settled, not retried."""
        return {
            uid: DigestState.SENT
            for uid in self.user_ids
            if uid not in employees or not employees[uid].active
        }


async def send_digests(
    claimed: ClaimedDigests,
    *,
    employees: Mapping[int, UserInfo] | None,
    messenger: Messenger,
    board_url: str,
    nothing_due_note: bool,
    rep_url: Callable[[int], str] | None = None,
    open_deals: Callable[[], Awaitable[OpenDeals]] | None = None,
) -> tuple[dict[int, DigestState], int]:
    """Render and send the claimed users' digests; returns each one's state and how many
    were settled without a notification (inactive, or nothing to say).

    With ``rep_url``, the claimed managers also get the team's roll-up notification;
    ``open_deals`` reads the reps' deals with no next step for it (whose titles then
    serve the digests too).
    """
    crm, portal = claimed.crm, claimed.portal
    rolling = claimed.managers & set(claimed.user_ids) if rep_url is not None else frozenset()
    if employees is None:
        employees = {user.id: user for user in await crm.users(sorted(claimed.people(rolling)))}
    names = {uid: user.name for uid, user in employees.items()}
    outcome = claimed.settle_unreachable(employees)
    deals = OpenDeals()
    if rolling and open_deals is not None:
        deals = await open_deals()
    rollups = claimed.rollups(rolling, deals.stalled, names)
    contents: dict[int, DigestContent] = {}
    notifications: list[Notification] = []
    for user_id in claimed.user_ids:
        if user_id in outcome:
            continue
        content = claimed.content(
            user_id, titles=deals.titles, include_empty=nothing_due_note, names=names
        )
        rollup = (
            render_rollup(
                rollups,
                user_id=user_id,
                local_day=claimed.day,
                language=claimed.language(user_id, employees),
                board_url=board_url,
                rep_url=rep_url,
                catalogue=claimed.catalogue,
            )
            if rep_url is not None and user_id in rolling
            else None
        )
        if rollup is not None:
            notifications.append(
                Notification(
                    user_id=user_id,
                    message=rollup.text,
                    tag=rollup.tag,
                    attach=((rollup.board_link, board_url),),
                )
            )
        if content is None and rollup is None:
            outcome[user_id] = DigestState.SENT
        elif content is not None:
            contents[user_id] = content
    skipped = len(outcome)
    # Only the records a digest lists are read (at most 2 × item_limit per user), and only
    # those the open-deal list did not name already.
    titles = dict(deals.titles)
    titles.update(
        await read_titles(
            crm,
            (
                item.owner
                for c in contents.values()
                for item in (*c.overdue, *c.today)
                if item.owner not in titles
            ),
        )
    )
    record_url = crm_record_links(portal_base(portal))
    for user_id, content in contents.items():
        rendered = render_digest(
            with_titles(content, titles),
            language=claimed.language(user_id, employees),
            board_url=board_url,
            record_url=record_url,
            catalogue=claimed.catalogue,
        )
        notifications.append(
            Notification(
                user_id=user_id, message=rendered.message, tag=rendered.tag, attach=rendered.attach
            )
        )
    deliveries = await messenger.notify(portal, notifications) if notifications else []
    settle_deliveries(outcome, deliveries, (n.user_id for n in notifications), portal_id=portal.id)
    return outcome, skipped


def settle_deliveries(
    outcome: dict[int, DigestState],
    deliveries: Iterable[Delivery | BotDelivery],
    expected: Iterable[int],
    *,
    portal_id: int,
) -> None:
    """Each ``expected`` user's digest state from the channel's ``deliveries`` (the
    undelivered ones logged); one the channel did not report on is not known to be sent."""
    wanted = set(expected)
    for delivery in deliveries:
        # A user with two messages (digest and roll-up) is sent only once both went out.
        if delivery.user_id in wanted and not delivery.ok:
            outcome[delivery.user_id] = DigestState.FAILED
        elif delivery.user_id in wanted:
            outcome.setdefault(delivery.user_id, DigestState.SENT)
        if not delivery.ok:
            log.info(
                "digest not delivered",
                extra={
                    "portal_id": portal_id,
                    "user_id": delivery.user_id,
                    "error": delivery.error,
                },
            )
    for user_id in wanted:
        outcome.setdefault(user_id, DigestState.FAILED)


async def read_titles(crm: Crm, owners: Iterable[OwnerRef]) -> dict[OwnerRef, str | None]:
    """Owner titles read live in one batched call; none when the token lost its CRM rights."""
    unique = list(dict.fromkeys(owners))
    if not unique:
        return {}
    try:
        lookup = await crm.read_records(unique)
    except CrmPermissionDenied:
        # The installer's token may have lost its CRM rights: a digest without titles
        # still tells the user what is due.
        return {}
    return {ref: None if isinstance(card, Hidden) else card.title for ref, card in lookup.items()}


def with_titles(content: DigestContent, titles: Mapping[OwnerRef, str | None]) -> DigestContent:
    """``content`` with each listed item's record title (None: hidden or gone); the same
    ``content`` when every title is already the one given."""

    def titled(items: tuple[DigestItem, ...]) -> tuple[DigestItem, ...]:
        if all(item.title == titles.get(item.owner) for item in items):
            return items
        return tuple(attrs.evolve(i, title=titles.get(i.owner)) for i in items)

    overdue, today = titled(content.overdue), titled(content.today)
    if overdue is content.overdue and today is content.today:
        return content
    return attrs.evolve(content, overdue=overdue, today=today)
