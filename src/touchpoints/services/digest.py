"""The daily IM digest: one pass over every portal whose digest hour has come.

Exactly once per (portal, user, local day): the digest log is claimed atomically before a
notification is sent, and the notification's TAG is per user and day, so a resend after a
crash replaces the earlier one instead of duplicating it (BITRIX24.md §15).
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Callable
from datetime import date, datetime, timedelta

import attrs

from touchpoints.domain.digest import build_digest, crm_record_links
from touchpoints.domain.model import TouchPoint
from touchpoints.domain.portal import Portal
from touchpoints.domain.scheduling import digest_slot, start_of_local_day
from touchpoints.ports.crm import CrmConnector, CrmError, Hidden, PortalGone
from touchpoints.ports.messaging import Messenger, Notification
from touchpoints.ports.storage import BoardQuery, DigestState, Storage, StorageError
from touchpoints.services.touchpoints import load_settings

log = logging.getLogger("touchpoints.digest")

# A claim whose sender died is taken over after this long (the TAG prevents a duplicate).
STALE_CLAIM_S = 10 * 60
PORTAL_CONCURRENCY = 8


@attrs.define
class DigestSummary:
    portals: int = 0
    due_portals: int = 0
    sent: int = 0
    skipped: int = 0
    failed: int = 0
    dead_portals: int = 0

    def add(self, other: DigestSummary) -> None:
        for field in attrs.fields(DigestSummary):
            setattr(self, field.name, getattr(self, field.name) + getattr(other, field.name))


BoardUrl = Callable[[Portal], str]


def portal_base(portal: Portal) -> str:
    """``https://acme.bitrix24.com`` from the portal's ``client_endpoint`` (``…/rest/``)."""
    endpoint = portal.client_endpoint
    return endpoint[: -len("/rest/")] if endpoint.endswith("/rest/") else endpoint.rstrip("/")


async def digest_portal(
    *,
    storage: Storage,
    connector: CrmConnector,
    messenger: Messenger,
    portal: Portal,
    now: datetime,
    board_url: BoardUrl,
) -> DigestSummary:
    """Send today's digests of one portal (if due); a dead portal raises ``PortalGone``."""
    summary = DigestSummary(portals=1)
    async with storage.unit_of_work() as uow:
        settings = await load_settings(uow, portal.id)
    slot = digest_slot(now, settings)
    if slot is None:
        return summary
    summary.due_portals = 1
    zone = settings.zone
    day_end = start_of_local_day(slot.local_day + timedelta(days=1), zone)
    async with storage.unit_of_work() as uow:
        due = await uow.touch_points.board(
            portal.id, BoardQuery(responsible_ids=None, deadline_before=day_end, limit=100_000)
        )
        preferences = {p.user_id: p for p in await uow.preferences.list(portal.id)}
    by_user: dict[int, list[TouchPoint]] = defaultdict(list)
    for touch_point in due:
        by_user[touch_point.responsible_id].append(touch_point)
    wanted = [
        user_id
        for user_id in sorted(by_user)
        if (
            preferences[user_id].wants_digest(settings)
            if user_id in preferences
            else settings.digest_default
        )
    ]
    summary.skipped += len(by_user) - len(wanted)
    if not wanted:
        return summary

    crm = connector.as_app(portal)
    users = {user.id: user for user in await crm.users(wanted)}
    active = [uid for uid in wanted if uid in users and users[uid].active]
    summary.skipped += len(wanted) - len(active)

    claimed: list[int] = []
    for user_id in active:
        async with storage.unit_of_work() as uow:
            if await uow.digest_log.claim(
                portal.id, user_id, slot.local_day, now=now, stale_after_s=STALE_CLAIM_S
            ):
                claimed.append(user_id)
    summary.skipped += len(active) - len(claimed)
    if not claimed:
        return summary

    owners = {tp.owner for user_id in claimed for tp in by_user[user_id]}
    lookup = await crm.read_records(owners)
    titles = {
        ref: (None if isinstance(record, Hidden) else record.title)
        for ref, record in lookup.items()
    }
    record_url = crm_record_links(portal_base(portal))
    notifications: list[Notification] = []
    for user_id in claimed:
        rendered = build_digest(
            user_id=user_id,
            touch_points=by_user[user_id],
            now=now,
            settings=settings,
            titles=titles,
            language=users[user_id].language,
            board_url=board_url(portal),
            record_url=record_url,
        )
        if rendered is None:
            await _mark(storage, portal.id, user_id, slot.local_day, DigestState.SENT)
            continue
        notifications.append(
            Notification(
                user_id=user_id, message=rendered.message, tag=rendered.tag, attach=rendered.attach
            )
        )
    try:
        deliveries = await messenger.notify(portal, notifications)
    except CrmError:
        for notification in notifications:
            await _mark(
                storage, portal.id, notification.user_id, slot.local_day, DigestState.FAILED
            )
        raise
    for delivery in deliveries:
        state = DigestState.SENT if delivery.ok else DigestState.FAILED
        await _mark(storage, portal.id, delivery.user_id, slot.local_day, state)
        if delivery.ok:
            summary.sent += 1
        else:
            summary.failed += 1
    return summary


async def _mark(
    storage: Storage, portal_id: int, user_id: int, day: date, state: DigestState
) -> None:
    async with storage.unit_of_work() as uow:
        await uow.digest_log.mark(portal_id, user_id, day, state)


async def run_digest_pass(
    *,
    storage: Storage,
    connector: CrmConnector,
    messenger: Messenger,
    now: datetime,
    board_url: BoardUrl,
    concurrency: int = PORTAL_CONCURRENCY,
) -> DigestSummary:
    """One pass over every active portal, ``concurrency`` portals at a time.

    A dead portal (revoked tokens, uninstalled, payment required) is counted and skipped;
    the connector marks it ``needs_reauth``. Progress is logged as portals finish.
    """
    async with storage.unit_of_work() as uow:
        portal_ids = await uow.portals.list_ids(active_only=True)
    total = DigestSummary()
    gate = asyncio.Semaphore(concurrency)
    done = 0

    async def one(portal_id: int) -> None:
        nonlocal done
        async with gate:
            try:
                async with storage.unit_of_work() as uow:
                    portal = await uow.portals.get(portal_id)
                if portal is None or not portal.is_active:
                    return
                result = await digest_portal(
                    storage=storage,
                    connector=connector,
                    messenger=messenger,
                    portal=portal,
                    now=now,
                    board_url=board_url,
                )
                total.add(result)
            except PortalGone:
                total.dead_portals += 1
            except (CrmError, StorageError) as exc:
                total.failed += 1
                log.warning(
                    "digest failed for a portal: %s",
                    type(exc).__name__,
                    extra={"portal_id": portal_id},
                )
            finally:
                done += 1
                if done % 100 == 0:
                    log.info("digest progress", extra={"done": done, "total": len(portal_ids)})

    await asyncio.gather(*(one(portal_id) for portal_id in portal_ids))
    log.info(
        "digest pass done",
        extra={"portals": len(portal_ids), **attrs.asdict(total)},
    )
    return total
