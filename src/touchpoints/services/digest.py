"""The daily IM digest: one pass over every portal whose digest hour has come.

Exactly once per (portal, user, local day): the digest log is claimed atomically before a
notification is sent, and the notification's TAG is per user and day, so a resend after a
crash replaces the earlier one instead of duplicating it (BITRIX24.md §15).

A pass, per portal: the portal, its settings, the open touch-points due by the end of the
local day and the users' preferences (one unit of work); claims for every user who wants a
digest (one statement); then, only for the users it won, the CRM users (active? language?)
and the listed owner records' titles (one batched read each), the notifications (50 to a
request), and the outcomes (one statement). A pass that finds everything claimed makes no
Bitrix24 request.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import date, datetime, timedelta

import attrs

from touchpoints.domain.crm import UserInfo
from touchpoints.domain.digest import DEFAULT_ITEM_LIMIT, previous_working_day
from touchpoints.domain.messages import Catalogue
from touchpoints.domain.model import TouchPoint
from touchpoints.domain.portal import Portal, PortalStatus
from touchpoints.domain.scheduling import (
    current_local_day,
    digest_due_at,
    digest_slot,
    next_working_day,
    start_of_local_day,
)
from touchpoints.domain.settings import PortalSettings, UserPreferences
from touchpoints.ports.clock import Clock
from touchpoints.ports.crm import CrmConnector, CrmError, PortalGone
from touchpoints.ports.digests import DigestState, PortalDay
from touchpoints.ports.messaging import BotChannel, Messenger
from touchpoints.ports.storage import BoardQuery, Storage, StorageError
from touchpoints.services.bot_digest import BotLinks, send_bot_digests
from touchpoints.services.context import load_portal
from touchpoints.services.digest_delivery import (
    ClaimedDigests,
    open_deals_or_none,
    send_digests,
)

log = logging.getLogger("touchpoints.digest")

# One portal's share of a pass gives up after this long; its pending claims are then
# recovered by a later pass once they are STALE_CLAIM_S old.
PORTAL_BUDGET_S = 5 * 60
# A pending claim older than this belongs to a sender that crashed or gave up: it must stay
# above PORTAL_BUDGET_S so that a live sender's claim is never taken over (and even then the
# TAG makes the resend replace, not duplicate).
STALE_CLAIM_S = 10 * 60
PORTAL_CONCURRENCY = 16
# A user whose notification keeps failing is retried by every pass this many times a day;
# after that the claim is left pending, so it is retried only once it goes stale.
MAX_ATTEMPTS = 30
# Open touch-points read per portal and pass (ordered by deadline, so a cut drops the latest).
BOARD_LIMIT = 100_000

BoardUrl = Callable[[Portal], str]
AppLinks = Callable[[Portal], BotLinks]


@attrs.frozen(kw_only=True)
class DigestSummary:
    """What a pass (or one portal's share of it) did; summaries add up with ``+``.

    Users: ``sent`` got today's digest now; ``skipped`` turned it off, are inactive or had
    nothing to hear; ``already`` had theirs from an earlier or concurrent pass (or are
    backing off); ``failed`` are retried by a later pass the same local day, except the
    ``backed_off`` among them, who have failed ``MAX_ATTEMPTS`` times today and are
    retried only once their claim is stale. Portals: ``portals`` looked at, ``due`` at
    their digest hour,
    ``failed_portals`` failed as a whole (retried), ``dead_portals`` were found uninstalled
    or unpaid and marked ``needs_reauth``, ``deferred`` were not started because the job
    was stopping, ``busy`` were being sent by another runner (its lease), or had just
    been finished by one.
    """

    portals: int = 0
    due: int = 0
    sent: int = 0
    skipped: int = 0
    already: int = 0
    failed: int = 0
    backed_off: int = 0
    failed_portals: int = 0
    dead_portals: int = 0
    deferred: int = 0
    busy: int = 0

    def __add__(self, other: DigestSummary) -> DigestSummary:
        return DigestSummary(
            **{
                field.name: getattr(self, field.name) + getattr(other, field.name)
                for field in attrs.fields(DigestSummary)
            }
        )

    def line(self) -> str:
        """One human line for logs and ``touchpoints digest --once``."""
        return (
            f"{self.portals} portal(s), {self.due} due, {self.sent} sent, "
            f"{self.skipped} skipped, {self.already} already sent, {self.failed} failed, "
            f"{self.backed_off} backing off, {self.failed_portals} failed portal(s), "
            f"{self.dead_portals} dead portal(s), {self.deferred} deferred"
            + (f", {self.busy} busy elsewhere" if self.busy else "")
        )


async def digest_portal(
    *,
    storage: Storage,
    connector: CrmConnector,
    messenger: Messenger,
    portal_id: int,
    now: datetime,
    board_url: BoardUrl,
    nothing_due_note: bool = False,
    catalogue: Catalogue,
    item_limit: int = DEFAULT_ITEM_LIMIT,
    bots: BotChannel | None = None,
    links: AppLinks | None = None,
    lease_s: float = PORTAL_BUDGET_S,
) -> DigestSummary:
    """Send one portal's digests for the local day of ``now``, if its digest hour has come.

    With ``bots`` and the portal's bot registered, each digest is one bot message with
    buttons (``services.bot_digest``); otherwise a system notification, as before.

    A portal that is no longer stored or active (uninstalled, marked dead) is left alone.
    The portal is leased for ``lease_s`` while its digests are sent, so another runner
    leaves it alone (``busy``); once every claimed digest of the day is sent, the portal is
    settled: passes skip it, without reading its users, until the next day's slot opens.
    A pass before the digest hour schedules the portal for it the same way.

    ``nothing_due_note`` also sends every active employee who has nothing overdue or due
    today a short "nothing due" note (it costs a ``user.get`` listing on every pass).

    Raises:
        PortalGone: the portal is uninstalled, deleted or unpaid (claims are marked failed).
        CrmError, StorageError: the portal failed as a whole; a later pass retries.
    """
    async with storage.unit_of_work() as uow:
        found = await load_portal(uow, portal_id)
        if found is None or not found[0].is_active:
            return DigestSummary()
        portal, settings = found
        slot = digest_slot(now, settings)
        if slot is None:
            # Before the digest hour (or on a day off): left alone until the slot opens.
            await uow.digest_log.schedule(portal.id, next_at=next_digest_at(now, settings))
            return DigestSummary(portals=1)
        if not await uow.digest_log.lease(
            portal.id, now=now, until=now + timedelta(seconds=lease_s)
        ):
            return DigestSummary(portals=1, busy=1)
        day_end = start_of_local_day(slot.local_day + timedelta(days=1), settings.zone)
        due = await uow.touch_points.board(
            portal.id, BoardQuery(deadline_before=day_end, limit=BOARD_LIMIT)
        )
        preferences = {p.user_id: p for p in await uow.preferences.list(portal.id)}
        bot = await uow.bots.get(portal.id) if bots is not None and links is not None else None
        handovers = await uow.handovers.for_digest(
            portal.id, returned_since=handovers_since(slot.local_day, settings)
        )
    bot_id = None if bot is None else bot.usable_id
    by_user: dict[int, list[TouchPoint]] = defaultdict(list)
    for touch_point in due:
        by_user[touch_point.responsible_id].append(touch_point)

    crm = connector.as_app(portal)
    employees: dict[int, UserInfo] | None = None
    candidates = set(by_user)
    if nothing_due_note:
        employees = {user.id: user for user in await crm.users()}
        candidates |= set(employees)
    if bot_id is not None:
        # "No next step" may concern users with nothing due: those who use the app.
        candidates |= set(preferences)
    managers: frozenset[int] = frozenset()
    if links is not None:
        # The roll-up goes to team viewers and the installing admin (user.get does not
        # tell admins apart), unless they turned it off; a manager with nothing of their
        # own due still gets their team's.
        managers = frozenset(
            uid
            for uid in {*settings.team_viewers, portal.installed_by or 0}
            if uid > 0 and (uid not in preferences or preferences[uid].wants_rollup)
        )
        candidates |= managers
    wanted = sorted(uid for uid in candidates if _wants_digest(uid, preferences, settings))
    summary = DigestSummary(portals=1, due=1, skipped=len(candidates) - len(wanted))

    tomorrow = start_of_local_day(slot.local_day + timedelta(days=1), settings.zone)
    next_at = next_digest_at(tomorrow, settings)
    claim = await _claim(storage, portal.id, wanted, slot.local_day, now, next_at=next_at)
    summary += DigestSummary(already=claim.already)
    if not claim.won:
        return summary
    claimed = ClaimedDigests(
        crm=crm,
        portal=portal,
        user_ids=claim.won,
        day=slot.local_day,
        by_user=by_user,
        now=now,
        settings=settings,
        item_limit=item_limit,
        languages={uid: p.language for uid, p in preferences.items() if p.language},
        catalogue=catalogue,
        managers=managers,
        handovers=handovers,
    )
    try:
        if bot_id is not None and bots is not None and links is not None:
            outcome, skipped = await send_bot_digests(
                claimed,
                employees=employees,
                storage=storage,
                bots=bots,
                bot_id=bot_id,
                links=links(portal),
            )
        else:
            outcome, skipped = await send_digests(
                claimed,
                employees=employees,
                messenger=messenger,
                board_url=board_url(portal),
                nothing_due_note=nothing_due_note,
                rep_url=None if links is None else links(portal).rep_url,
                open_deals=lambda: open_deals_or_none(claimed, storage),
            )
    except Exception:
        # Failed now, retried by the next pass; if even this write fails, the claims go
        # stale and a later pass takes them over.
        with contextlib.suppress(StorageError):
            await _settle(
                storage,
                portal.id,
                slot.local_day,
                dict.fromkeys(claim.won, DigestState.FAILED),
                next_at=next_at,
            )
        raise
    backed_off = await _settle(storage, portal.id, slot.local_day, outcome, next_at=next_at)
    failed = sum(1 for state in outcome.values() if state is DigestState.FAILED)
    sent = len(outcome) - failed - skipped
    return summary + DigestSummary(sent=sent, skipped=skipped, failed=failed, backed_off=backed_off)


def handovers_since(day: date, settings: PortalSettings) -> datetime:
    """Hand-overs given back from this instant on are still told in ``day``'s digest: the
    previous working day's digest hour (``domain.digest.handover_notes``)."""
    return digest_due_at(previous_working_day(day, settings), settings)


def next_digest_at(now: datetime, settings: PortalSettings) -> datetime:
    """The instant the first digest slot at or after ``now`` opens (``now`` when one is
    open)."""
    if digest_slot(now, settings) is not None:
        return now
    today = current_local_day(now, settings.zone)
    due = digest_due_at(next_working_day(today, settings), settings)
    if due >= now:
        return due
    # Today's slot is over: the next working day after today.
    return digest_due_at(next_working_day(today + timedelta(days=1), settings), settings)


def _wants_digest(
    user_id: int, preferences: Mapping[int, UserPreferences], settings: PortalSettings
) -> bool:
    own = preferences.get(user_id)
    return settings.digest_default if own is None else own.wants_digest(settings)


@attrs.frozen(kw_only=True)
class _Claim:
    won: list[int]
    already: int


async def _claim(
    storage: Storage,
    portal_id: int,
    user_ids: Sequence[int],
    day: date,
    now: datetime,
    *,
    next_at: datetime,
) -> _Claim:
    """Claim today's digest of each user: one statement in one unit of work.

    The rows are claimed in user order, so concurrent passes take their locks in one order
    and never deadlock; the loser of a race waits for the winner's commit, then sees its
    claim.
    """
    portal_day = PortalDay(portal_id, day)
    async with storage.unit_of_work() as uow:
        won = await uow.digest_log.claim_many(
            portal_day, user_ids, now=now, stale_after_s=STALE_CLAIM_S
        )
        if not won:
            # Nothing left to send today (unless another runner's claims are still open).
            await uow.digest_log.settle(portal_day, next_at=next_at)
    return _Claim(won=won, already=len(user_ids) - len(won))


async def _settle(
    storage: Storage,
    portal_id: int,
    day: date,
    outcome: Mapping[int, DigestState],
    *,
    next_at: datetime,
) -> int:
    """Record each claimed user's outcome: one statement in one unit of work; returns how
    many back off.

    A failure is marked ``failed`` (the next pass retries it) until the user's claim has
    been made ``MAX_ATTEMPTS`` times today; then the claim is left pending, so only a pass
    that finds it stale retries it.
    """
    portal_day = PortalDay(portal_id, day)
    async with storage.unit_of_work() as uow:
        backed_off = await uow.digest_log.mark_many(portal_day, outcome, max_attempts=MAX_ATTEMPTS)
        # Settled once every claim of the day is sent; the lease ends either way.
        await uow.digest_log.settle(portal_day, next_at=next_at)
    return backed_off


async def run_digest_pass(
    *,
    storage: Storage,
    connector: CrmConnector,
    messenger: Messenger,
    clock: Clock,
    board_url: BoardUrl,
    catalogue: Catalogue,
    concurrency: int = PORTAL_CONCURRENCY,
    portal_budget_s: float = PORTAL_BUDGET_S,
    nothing_due_note: bool = False,
    stop: asyncio.Event | None = None,
    bots: BotChannel | None = None,
    links: AppLinks | None = None,
) -> DigestSummary:
    """One pass over every active portal, ``concurrency`` portals at a time.

    Each portal is judged at the instant its turn comes (``clock.now()``), so a long pass
    still claims with a fresh timestamp. A portal that fails is counted and left to a later
    pass; a dead one (revoked tokens, deleted, payment required) is marked ``needs_reauth``
    and skipped from then on; neither stops the others. Once ``stop`` is set, portals not
    yet started are deferred and the pass returns when those in flight are done. Progress
    is logged every tenth of the portals, and the pass ends with a summary line.

    Raises:
        StorageError: the list of portals could not be read.
    """
    if concurrency < 1:
        raise ValueError("concurrency must be at least 1")
    started = time.monotonic()
    async with storage.unit_of_work() as uow:
        portal_ids = await uow.digest_log.due_portals(now=clock.now())
    total = len(portal_ids)
    step = max(1, total // 10)
    summary = DigestSummary()
    done = 0
    queue = iter(portal_ids)

    async def digest(portal_id: int, now: datetime) -> DigestSummary:
        return await digest_portal(
            storage=storage,
            connector=connector,
            messenger=messenger,
            portal_id=portal_id,
            now=now,
            board_url=board_url,
            catalogue=catalogue,
            nothing_due_note=nothing_due_note,
            bots=bots,
            links=links,
        )

    async def worker() -> None:
        nonlocal summary, done
        # One shared iterator: ``next`` never awaits, so each portal goes to one worker.
        for portal_id in queue:
            if stop is not None and stop.is_set():
                summary += DigestSummary(deferred=1)
                continue
            # Awaited first, then added: ``summary += await ...`` would read ``summary``
            # before the await and lose what other workers added meanwhile.
            result = await _portal_pass(
                portal_id, digest, storage=storage, clock=clock, budget_s=portal_budget_s
            )
            summary += result
            done += 1
            if done % step == 0 and done < total:
                log.info(
                    "digest progress: %d/%d portals, %d sent, %d skipped, %d failed",
                    done,
                    total,
                    summary.sent,
                    summary.skipped,
                    summary.failed,
                    extra={"done": done, "total": total},
                )

    async with asyncio.TaskGroup() as group:
        for _ in range(min(concurrency, total)):
            group.create_task(worker())
    elapsed = time.monotonic() - started
    log.info(
        "digest pass done in %.1f s: %s",
        elapsed,
        summary.line(),
        extra={"elapsed_s": round(elapsed, 3), **attrs.asdict(summary)},
    )
    return summary


async def _portal_pass(
    portal_id: int,
    digest: Callable[[int, datetime], Awaitable[DigestSummary]],
    *,
    storage: Storage,
    clock: Clock,
    budget_s: float,
) -> DigestSummary:
    """``digest`` (``digest_portal``) of one portal at this instant, every failure turned
    into a count."""
    try:
        async with asyncio.timeout(budget_s):
            return await digest(portal_id, clock.now())
    except PortalGone as exc:
        await _mark_dead(storage, portal_id, clock.now())
        log.warning(
            "digest: portal gone (%s), marked needs_reauth",
            exc.code or type(exc).__name__,
            extra={"portal_id": portal_id},
        )
        return DigestSummary(portals=1, dead_portals=1)
    except TimeoutError:
        log.warning(
            "digest: portal over its %.0f s budget; a later pass retries",
            budget_s,
            extra={"portal_id": portal_id},
        )
    except (CrmError, StorageError) as exc:
        log.warning(
            "digest: portal failed (%s %s); a later pass retries",
            type(exc).__name__,
            getattr(exc, "code", ""),
            extra={"portal_id": portal_id},
        )
    except Exception:
        # One portal's bug must not cost every other portal its digest.
        log.exception("digest: unexpected failure", extra={"portal_id": portal_id})
    return DigestSummary(portals=1, failed_portals=1)


async def _mark_dead(storage: Storage, portal_id: int, now: datetime) -> None:
    """Background work stops calling a portal Bitrix24 refuses for good (§19.11).

    The connector already marks a refused refresh; a deleted portal (``PORTAL_DELETED``)
    or a refusal met with a still-valid access token is marked here.
    """
    with contextlib.suppress(StorageError):
        async with storage.unit_of_work() as uow:
            await uow.portals.set_status(portal_id, PortalStatus.NEEDS_REAUTH, now=now)
