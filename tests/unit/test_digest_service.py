"""The digest pass on the in-memory adapters: who gets what, failures, retries and stopping."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta

import attrs
import pytest

from touchpoints.adapters.clock import FixedClock
from touchpoints.adapters.memory.crm import MemoryCrmConnector
from touchpoints.adapters.memory.messaging import MemoryMessenger
from touchpoints.adapters.memory.storage import MemoryStorage
from touchpoints.adapters.memory.world import MemoryCrm
from touchpoints.domain.model import NewTouchPoint, OwnerRef, OwnerType, TouchPointType
from touchpoints.domain.portal import Portal, PortalStatus
from touchpoints.domain.settings import PortalSettings, UserPreferences
from touchpoints.entrypoints.catalogue import load_catalogue
from touchpoints.ports.crm import CrmPermissionDenied, CrmUnavailable
from touchpoints.ports.digests import DigestState
from touchpoints.ports.messaging import Delivery, Notification
from touchpoints.services.digest import (
    MAX_ATTEMPTS,
    PORTAL_BUDGET_S,
    STALE_CLAIM_S,
    DigestSummary,
    run_digest_pass,
)
from touchpoints.services.digest_delivery import portal_base

# Tuesday 2026-09-01 in Berlin (CEST, +02:00): the digest hour 9 is 07:00 UTC.
BERLIN = PortalSettings(time_zone="Europe/Berlin", digest_hour=9)
DAY = date(2026, 9, 1)
NOW = datetime(2026, 9, 1, 7, 5, tzinfo=UTC)
ADMIN = 1


class RecordingMessenger:
    """The memory messenger, remembering every notification it was asked to send."""

    def __init__(self, world: MemoryCrm) -> None:
        self._inner = MemoryMessenger(world)
        self.sent: list[tuple[str, Notification]] = []

    async def notify(self, portal: Portal, notifications: Sequence[Notification]) -> list[Delivery]:
        await asyncio.sleep(0)  # a real send awaits the network: other portals run meanwhile
        deliveries = await self._inner.notify(portal, notifications)
        self.sent.extend(
            (portal.member_id, n) for n, d in zip(notifications, deliveries, strict=True) if d.ok
        )
        return deliveries


class FailingMessenger(RecordingMessenger):
    """Raises ``error`` for the portals named in ``broken`` (a bug or an outage there)."""

    def __init__(self, world: MemoryCrm, broken: set[str], error: Exception) -> None:
        super().__init__(world)
        self.broken = broken
        self.error = error

    async def notify(self, portal: Portal, notifications: Sequence[Notification]) -> list[Delivery]:
        if portal.member_id in self.broken:
            raise self.error
        return await super().notify(portal, notifications)


class RefusingMessenger(RecordingMessenger):
    """Bitrix24 answers ``false`` for every notification: nothing was created (§15)."""

    async def notify(self, portal: Portal, notifications: Sequence[Notification]) -> list[Delivery]:
        await asyncio.sleep(0)
        return [Delivery(user_id=n.user_id, ok=False, error="NOT_CREATED") for n in notifications]


@attrs.define
class World:
    """A memory Bitrix24 and a memory database with portals in them."""

    storage: MemoryStorage = attrs.Factory(MemoryStorage)
    crm: MemoryCrm = attrs.Factory(lambda: MemoryCrm(clock=FixedClock(NOW)))
    messenger: RecordingMessenger | None = None
    activity_ids: itertools.count[int] = attrs.Factory(lambda: itertools.count(1))

    def __attrs_post_init__(self) -> None:
        if self.messenger is None:
            self.messenger = RecordingMessenger(self.crm)

    @property
    def recorder(self) -> RecordingMessenger:
        assert self.messenger is not None
        return self.messenger

    async def portal(
        self, settings: PortalSettings = BERLIN, users: Sequence[int] = (2, 3)
    ) -> Portal:
        member_id = self.crm.add_portal()
        self.crm.add_user(member_id, ADMIN, name="Admin", admin=True)
        for user_id in users:
            self.crm.add_user(member_id, user_id)
        install = self.crm.install(member_id, ADMIN)
        async with self.storage.unit_of_work() as uow:
            portal = await uow.portals.create(install, now=NOW)
            await uow.settings.put(portal.id, settings, now=NOW)
        return portal

    async def due(
        self,
        portal: Portal,
        user_id: int,
        deadline: datetime,
        *,
        title: str = "",
        kind: TouchPointType = TouchPointType.CALL,
    ) -> OwnerRef:
        owner = self.crm.add_record(portal.member_id, OwnerType.DEAL, title)
        async with self.storage.unit_of_work() as uow:
            await uow.touch_points.add(
                NewTouchPoint(
                    portal_id=portal.id,
                    activity_id=next(self.activity_ids),
                    owner=owner,
                    type=kind,
                    deadline=deadline,
                    responsible_id=user_id,
                    created_by=user_id,
                    created_at=NOW - timedelta(days=7),
                )
            )
        return owner

    async def prefer(self, portal: Portal, user_id: int, enabled: bool | None) -> None:
        async with self.storage.unit_of_work() as uow:
            await uow.preferences.put(
                portal.id, UserPreferences(user_id=user_id, digest_enabled=enabled), now=NOW
            )

    async def run(self, now: datetime = NOW, **kwargs: object) -> DigestSummary:
        return await run_digest_pass(
            storage=self.storage,
            connector=MemoryCrmConnector(self.crm),
            messenger=self.recorder,
            clock=FixedClock(now),
            board_url=lambda p: f"{portal_base(p)}/marketplace/app/test/",
            catalogue=load_catalogue(),
            **kwargs,  # type: ignore[arg-type]
        )

    def sent_to(self, portal: Portal, user_id: int) -> list[Notification]:
        return [
            n
            for member, n in self.recorder.sent
            if member == portal.member_id and n.user_id == user_id
        ]

    async def entry_state(
        self, portal: Portal, user_id: int, day: date = DAY
    ) -> DigestState | None:
        async with self.storage.unit_of_work() as uow:
            entry = await uow.digest_log.get(portal.id, user_id, day)
        return None if entry is None else entry.state


@pytest.fixture
def world() -> World:
    return World()


async def test_each_due_user_gets_one_notification_with_tag_titles_and_links(world: World) -> None:
    portal = await world.portal(users=(2, 3, 4))
    deal = await world.due(portal, 2, NOW - timedelta(days=1), title="ACME renewal")
    await world.due(portal, 2, NOW + timedelta(hours=2))
    await world.due(portal, 3, NOW + timedelta(days=1))  # tomorrow: nothing to say today

    summary = await world.run()

    assert summary == DigestSummary(portals=1, due=1, sent=1)
    (notification,) = world.sent_to(portal, 2)
    assert notification.tag == "touchpoints.digest.2.2026-09-01"
    base = portal_base(portal)
    assert f"[url={base}/crm/deal/details/{deal.id}/]ACME renewal[/url]" in notification.message
    assert "[b]Overdue: 1[/b]" in notification.message
    assert "[b]Due today: 1[/b]" in notification.message
    assert notification.attach == (("Open the board", f"{base}/marketplace/app/test/"),)
    assert world.sent_to(portal, 3) == []
    assert await world.entry_state(portal, 2) is DigestState.SENT


async def test_the_digest_speaks_the_users_language(world: World) -> None:
    portal = await world.portal(users=())
    world.crm.add_user(portal.member_id, 7, language="ru")
    await world.due(portal, 7, NOW + timedelta(hours=1))

    await world.run()

    (notification,) = world.sent_to(portal, 7)
    assert notification.message.startswith("[b]Касания на 01.09.2026[/b]")


async def test_a_nothing_due_note_goes_to_idle_users_only_when_asked(world: World) -> None:
    portal = await world.portal(users=(2, 3))
    await world.due(portal, 2, NOW + timedelta(hours=1))

    await world.run()
    assert world.sent_to(portal, 3) == []

    later = NOW.replace(day=2)
    summary = await world.run(later, nothing_due_note=True)

    assert summary.sent == 3  # user 2, the idle user 3 and the admin
    (note,) = world.sent_to(portal, 3)
    assert "Nothing is overdue or due today." in note.message


async def test_preferences_and_the_portal_default_decide_who_gets_a_digest(world: World) -> None:
    quiet = await world.portal(attrs.evolve(BERLIN, digest_default=False), users=(2, 3, 4))
    for user_id in (2, 3, 4):
        await world.due(quiet, user_id, NOW + timedelta(hours=1))
    await world.prefer(quiet, 2, True)
    await world.prefer(quiet, 3, None)  # saved without a choice: the default applies

    summary = await world.run()

    assert [bool(world.sent_to(quiet, u)) for u in (2, 3, 4)] == [True, False, False]
    assert summary.skipped == 2


async def test_inactive_users_are_settled_without_a_notification(world: World) -> None:
    portal = await world.portal(users=(2,))
    world.crm.add_user(portal.member_id, 3, active=False)
    await world.due(portal, 2, NOW + timedelta(hours=1))
    await world.due(portal, 3, NOW + timedelta(hours=1))
    await world.due(portal, 99, NOW + timedelta(hours=1))  # not a user of the portal any more

    summary = await world.run()

    assert summary.sent == 1
    assert summary.skipped == 2
    assert world.sent_to(portal, 3) == []
    # Settled for today: the next pass does not ask Bitrix24 about them again.
    calls = world.crm.calls["users"]
    await world.run(NOW + timedelta(minutes=1))
    assert world.crm.calls["users"] == calls


async def test_a_failed_send_is_recorded_and_retried_by_the_next_pass(world: World) -> None:
    portal = await world.portal(users=(2, 3))
    await world.due(portal, 2, NOW + timedelta(hours=1))
    await world.due(portal, 3, NOW + timedelta(hours=1))
    world.crm.fail("notify", CrmUnavailable("bitrix24 is down", code="INTERNAL_SERVER_ERROR"))

    first = await world.run()

    assert first.failed_portals == 1
    assert await world.entry_state(portal, 2) is DigestState.FAILED
    second = await world.run(NOW + timedelta(minutes=1))
    assert second.sent == 2
    assert [len(world.sent_to(portal, u)) for u in (2, 3)] == [1, 1]
    async with world.storage.unit_of_work() as uow:
        entry = await uow.digest_log.get(portal.id, 2, DAY)
    assert entry is not None
    assert entry.attempts == 2


async def test_a_failure_while_reading_users_marks_the_claims_failed(world: World) -> None:
    portal = await world.portal(users=(2,))
    await world.due(portal, 2, NOW + timedelta(hours=1))
    world.crm.fail("users", CrmUnavailable("timeout", code="TIMEOUT"))

    await world.run()

    assert await world.entry_state(portal, 2) is DigestState.FAILED


async def test_a_user_who_keeps_failing_is_retried_only_when_stale_after_max_attempts(
    world: World,
) -> None:
    portal = await world.portal(users=(2,))
    await world.due(portal, 2, NOW + timedelta(hours=1))
    world.crm.fail("notify", CrmUnavailable("down"), times=MAX_ATTEMPTS)
    for minute in range(MAX_ATTEMPTS - 1):
        await world.run(NOW + timedelta(minutes=minute))
    assert await world.entry_state(portal, 2) is DigestState.FAILED
    await world.run(NOW + timedelta(minutes=MAX_ATTEMPTS - 1))
    assert await world.entry_state(portal, 2) is DigestState.PENDING  # backing off
    last_fast = NOW + timedelta(minutes=MAX_ATTEMPTS - 1)

    waiting = await world.run(last_fast + timedelta(minutes=1))
    stale = await world.run(last_fast + timedelta(seconds=STALE_CLAIM_S + 1))

    assert world.crm.calls["notify"] == MAX_ATTEMPTS + 1
    assert waiting.already == 1  # the claim left pending holds back the next passes
    assert stale.sent == 1
    assert len(world.sent_to(portal, 2)) == 1


async def test_a_refused_notification_counts_as_failed_then_backs_off() -> None:
    world = World()
    world.messenger = RefusingMessenger(world.crm)
    portal = await world.portal(users=(2,))
    await world.due(portal, 2, NOW + timedelta(hours=1))

    passes = [await world.run(NOW + timedelta(minutes=m)) for m in range(MAX_ATTEMPTS)]

    assert passes[0] == DigestSummary(portals=1, due=1, failed=1)
    assert passes[-1] == DigestSummary(portals=1, due=1, failed=1, backed_off=1)
    assert await world.entry_state(portal, 2) is DigestState.PENDING


async def test_titles_the_installer_may_not_read_are_left_out_not_the_digest(
    world: World,
) -> None:
    portal = await world.portal(users=(2,))
    owner = await world.due(portal, 2, NOW + timedelta(hours=1), title="Secret deal")
    world.crm.fail("read_records", CrmPermissionDenied("no CRM rights", code="ACCESS_DENIED"))

    await world.run()

    (notification,) = world.sent_to(portal, 2)
    assert "Secret deal" not in notification.message
    assert f"Deal #{owner.id}" in notification.message


async def test_a_concurrent_pass_counts_every_portal(world: World) -> None:
    for _ in range(5):
        portal = await world.portal(users=(2,))
        await world.due(portal, 2, NOW + timedelta(hours=1))

    summary = await world.run(concurrency=3)

    assert summary == DigestSummary(portals=5, due=5, sent=5)


async def test_one_broken_portal_does_not_stop_the_others() -> None:
    world = World()
    broken = await world.portal(users=(2,))
    healthy = await world.portal(users=(2,))
    world.messenger = FailingMessenger(world.crm, {broken.member_id}, RuntimeError("a bug"))
    for portal in (broken, healthy):
        await world.due(portal, 2, NOW + timedelta(hours=1))

    summary = await world.run(concurrency=1)

    assert summary.failed_portals == 1
    assert summary.sent == 1
    assert len(world.sent_to(healthy, 2)) == 1
    assert await world.entry_state(broken, 2) is DigestState.FAILED


async def test_a_portal_that_is_gone_is_marked_and_skipped_from_then_on(world: World) -> None:
    gone = await world.portal(users=(2,))
    await world.due(gone, 2, NOW + timedelta(hours=1))
    world.crm.uninstall(gone.member_id)

    summary = await world.run()

    assert summary.dead_portals == 1
    async with world.storage.unit_of_work() as uow:
        stored = await uow.portals.get(gone.id)
    assert stored is not None
    assert stored.status is PortalStatus.NEEDS_REAUTH
    assert (await world.run(NOW + timedelta(minutes=1))).portals == 0


async def test_a_set_stop_event_defers_the_portals_not_yet_started(world: World) -> None:
    for _ in range(3):
        portal = await world.portal(users=(2,))
        await world.due(portal, 2, NOW + timedelta(hours=1))
    stop = asyncio.Event()
    stop.set()

    summary = await world.run(stop=stop)

    assert summary == DigestSummary(deferred=3)
    assert world.recorder.sent == []


async def test_nothing_is_due_before_the_digest_hour_or_on_a_holiday(world: World) -> None:
    portal = await world.portal(attrs.evolve(BERLIN, holidays=frozenset({date(2026, 9, 2)})))
    await world.due(portal, 2, NOW + timedelta(hours=1))

    early = await world.run(NOW - timedelta(minutes=10))
    holiday = await world.run(NOW + timedelta(days=1))

    assert (early.due, holiday.due) == (0, 0)
    assert world.recorder.sent == []


def test_a_claim_is_taken_over_only_after_its_sender_has_given_up() -> None:
    assert STALE_CLAIM_S > PORTAL_BUDGET_S


def test_summaries_add_up_field_by_field() -> None:
    assert DigestSummary(sent=1, failed=2) + DigestSummary(sent=3, portals=1) == DigestSummary(
        sent=4, failed=2, portals=1
    )
    assert "4 sent" in DigestSummary(sent=4).line()
