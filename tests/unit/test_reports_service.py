"""Report use cases on the in-memory adapters: visibility, closed records, coverage, export rows."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, timedelta

import attrs
import pytest

from touchpoints.adapters.clock import FixedClock
from touchpoints.adapters.memory.crm import MemoryCrmConnector
from touchpoints.adapters.memory.storage import MemoryStorage
from touchpoints.adapters.memory.world import MemoryCrm
from touchpoints.domain.model import NewTouchPoint, OwnerRef, OwnerType, Status, TouchPointType
from touchpoints.domain.portal import Portal
from touchpoints.domain.reports import ReportPeriod
from touchpoints.domain.settings import PortalSettings
from touchpoints.domain.visibility import Viewer
from touchpoints.ports.crm import Crm, CrmUnavailable
from touchpoints.services import reports
from touchpoints.services.context import Actor, UseCase
from touchpoints.services.errors import Forbidden
from touchpoints.services.reports import ReportFilters

# The week of Monday 2 March 2026 in Berlin (CET, +01:00); "now" is the Monday after.
WEEK = ReportPeriod(date(2026, 3, 2), date(2026, 3, 8))
NOW = datetime(2026, 3, 9, 9, 0, tzinfo=UTC)
ADMIN, ALICE, BOB, VERA = 1, 2, 3, 4
BERLIN = PortalSettings(time_zone="Europe/Berlin", team_viewers=frozenset({VERA}))
NO_FILTERS = ReportFilters()


def berlin(day: int, hour: int) -> datetime:
    """An instant on ``day`` March 2026 at ``hour`` o'clock Berlin time (CET)."""
    return datetime(2026, 3, day, hour - 1, tzinfo=UTC)


@attrs.define
class World:
    """A memory Bitrix24 and database with one installed portal and four users."""

    storage: MemoryStorage = attrs.Factory(MemoryStorage)
    crm: MemoryCrm = attrs.Factory(lambda: MemoryCrm(clock=FixedClock(NOW)))
    clock: FixedClock = attrs.Factory(lambda: FixedClock(NOW))
    activity_ids: itertools.count[int] = attrs.Factory(lambda: itertools.count(1))
    portal: Portal | None = None

    async def install(self, settings: PortalSettings = BERLIN) -> Portal:
        member_id = self.crm.add_portal()
        self.crm.add_user(member_id, ADMIN, name="Admin", admin=True)
        self.crm.add_user(member_id, ALICE, name="Алиса")
        self.crm.add_user(member_id, BOB, name="Bob")
        self.crm.add_user(member_id, VERA, name="Vera")
        install = self.crm.install(member_id, ADMIN)
        async with self.storage.unit_of_work() as uow:
            self.portal = await uow.portals.create(install, now=NOW)
            await uow.settings.put(self.portal.id, settings, now=NOW)
        return self.portal

    @property
    def member_id(self) -> str:
        assert self.portal is not None
        return self.portal.member_id

    def actor(self, user_id: int) -> tuple[Actor, Crm]:
        assert self.portal is not None
        token = self.crm.issue_token(self.member_id, user_id)
        crm = MemoryCrmConnector(self.crm).as_user(self.portal, token)
        return Actor(self.portal, Viewer(user_id, is_admin=user_id == ADMIN)), crm

    async def ctx(self, user_id: int) -> UseCase:
        """The context of one request by ``user_id``, with the settings stored now."""
        actor, crm = self.actor(user_id)
        return await UseCase.load(
            storage=self.storage,
            crm=crm,
            clock=self.clock,
            connector=MemoryCrmConnector(self.crm),
            actor=actor,
        )

    async def touch_point(
        self,
        user_id: int,
        owner: OwnerRef,
        *,
        created: datetime,
        deadline: datetime,
        completed: datetime | None = None,
        followed: bool = False,
        kind: TouchPointType = TouchPointType.CALL,
    ) -> int:
        assert self.portal is not None
        async with self.storage.unit_of_work() as uow:
            stored = await uow.touch_points.add(
                NewTouchPoint(
                    portal_id=self.portal.id,
                    activity_id=next(self.activity_ids),
                    owner=owner,
                    type=kind,
                    deadline=deadline,
                    responsible_id=user_id,
                    created_by=user_id,
                    created_at=created,
                )
            )
            if completed is not None:
                done = await uow.touch_points.update(stored.complete("talked", now=completed))
                if followed:
                    follow = await uow.touch_points.add(
                        NewTouchPoint(
                            portal_id=self.portal.id,
                            activity_id=next(self.activity_ids),
                            owner=owner,
                            type=kind,
                            deadline=deadline + timedelta(days=30),
                            responsible_id=user_id,
                            created_by=user_id,
                            created_at=completed,
                            previous_id=stored.id,
                        )
                    )
                    await uow.touch_points.update(done.link_follow_up(follow.id, now=completed))
        return stored.id

    async def report(self, user_id: int, user_filter: int | None = None) -> reports.TeamReport:
        return await reports.get_report(
            await self.ctx(user_id),
            period=WEEK,
            filters=NO_FILTERS,
            user_filter=user_filter,
        )


@pytest.fixture
async def world() -> World:
    world = World()
    await world.install()
    return world


async def seed_two_users(world: World) -> None:
    deal = world.crm.add_record(world.member_id, OwnerType.DEAL, "Deal", assigned_by_id=ALICE)
    await world.touch_point(ALICE, deal, created=berlin(2, 9), deadline=berlin(3, 10),
                            completed=berlin(3, 18))  # fmt: skip
    await world.touch_point(BOB, deal, created=berlin(2, 9), deadline=berlin(3, 10),
                            completed=berlin(5, 9))  # fmt: skip
    await world.touch_point(BOB, deal, created=berlin(4, 9), deadline=berlin(6, 10))


async def test_a_user_sees_only_their_own_row_and_figures(world: World) -> None:
    await seed_two_users(world)
    result = await world.report(ALICE)
    assert list(result.report.users) == [ALICE]
    assert result.report.team.created == 1
    assert result.report.team.completed_on_time == 1
    assert result.names == {ALICE: "Алиса"}
    assert result.sees_team is False


async def test_a_user_without_figures_still_gets_their_own_row(world: World) -> None:
    await seed_two_users(world)
    result = await world.report(VERA, user_filter=ADMIN)
    assert list(result.report.users) == [ADMIN]
    assert result.report.users[ADMIN].created == 0


async def test_asking_for_a_colleagues_figures_without_team_visibility_is_forbidden(
    world: World,
) -> None:
    await seed_two_users(world)
    with pytest.raises(Forbidden):
        await world.report(ALICE, user_filter=BOB)
    assert list((await world.report(ALICE, user_filter=ALICE)).report.users) == [ALICE]


@pytest.mark.parametrize("viewer", [ADMIN, VERA])
async def test_admins_and_team_viewers_see_everyone_or_whom_they_pick(
    world: World, viewer: int
) -> None:
    await seed_two_users(world)
    everyone = await world.report(viewer)
    assert list(everyone.report.users) == [ALICE, BOB]
    assert everyone.report.team.created == 3
    assert everyone.report.team.completed_late == 1
    assert everyone.report.team.overdue == 1
    assert everyone.names == {ALICE: "Алиса", BOB: "Bob"}
    assert everyone.sees_team is True
    bob = await world.report(viewer, user_filter=BOB)
    assert list(bob.report.users) == [BOB]
    assert bob.report.team.created == 2


async def test_a_completion_on_a_closed_record_counts_as_followed_up(world: World) -> None:
    won = world.crm.add_record(world.member_id, OwnerType.DEAL, "Won", closed=True)
    still_open = world.crm.add_record(world.member_id, OwnerType.DEAL, "Open")
    for owner in (won, still_open):
        await world.touch_point(ALICE, owner, created=berlin(2, 9), deadline=berlin(3, 10),
                                completed=berlin(3, 11))  # fmt: skip
    await world.touch_point(ALICE, still_open, created=berlin(2, 9), deadline=berlin(3, 10),
                            completed=berlin(3, 12), followed=True)  # fmt: skip
    result = await world.report(ADMIN)
    assert result.report.team.completed == 3
    assert result.report.team.completed_followed_up == 2
    assert result.closed_checked is True


async def test_a_closed_record_the_user_may_not_read_does_not_count_as_closed(
    world: World,
) -> None:
    outsider = world.crm.add_user(world.member_id, 9, name="Outsider", crm_access="none")
    won = world.crm.add_record(world.member_id, OwnerType.DEAL, "Won", closed=True)
    await world.touch_point(outsider, won, created=berlin(2, 9), deadline=berlin(3, 10),
                            completed=berlin(3, 11))  # fmt: skip
    mine = await world.report(outsider)
    assert mine.report.team.completed_followed_up == 0
    assert (await world.report(ADMIN)).report.team.completed_followed_up == 1


async def test_more_unfollowed_records_than_the_lookup_covers_are_flagged(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(reports, "CLOSED_LOOKUP_LIMIT", 1)
    for title in ("One", "Two"):
        deal = world.crm.add_record(world.member_id, OwnerType.DEAL, title, closed=True)
        await world.touch_point(ALICE, deal, created=berlin(2, 9), deadline=berlin(3, 10),
                                completed=berlin(3, 11))  # fmt: skip
    result = await world.report(ADMIN)
    assert result.closed_checked is False
    assert result.report.team.completed_followed_up == 1


async def coverage(world: World, user_id: int, **kwargs: object) -> reports.Coverage:
    return await reports.get_coverage(await world.ctx(user_id), **kwargs)  # type: ignore[arg-type]


async def seed_records(world: World) -> dict[str, OwnerRef]:
    add = world.crm.add_record
    refs = {
        "covered": add(world.member_id, OwnerType.DEAL, "Covered", assigned_by_id=ALICE),
        "alices": add(world.member_id, OwnerType.DEAL, "Alice's", assigned_by_id=ALICE),
        "bobs": add(world.member_id, OwnerType.DEAL, "Bob's", assigned_by_id=BOB),
        "closed": add(world.member_id, OwnerType.DEAL, "Closed", closed=True),
        "lead": add(world.member_id, OwnerType.LEAD, "Lead", assigned_by_id=ALICE),
        "contact": add(world.member_id, OwnerType.CONTACT, "Contact", assigned_by_id=ALICE),
        "done": add(world.member_id, OwnerType.DEAL, "Only done", assigned_by_id=BOB),
    }
    await world.touch_point(BOB, refs["covered"], created=berlin(2, 9), deadline=berlin(3, 10))
    await world.touch_point(BOB, refs["done"], created=berlin(2, 9), deadline=berlin(3, 10),
                            completed=berlin(3, 11))  # fmt: skip
    return refs


async def test_coverage_lists_open_deals_and_leads_without_an_open_touch_point(
    world: World,
) -> None:
    refs = await seed_records(world)
    result = await coverage(world, ADMIN)
    assert [card.ref for card in result.items] == [refs["alices"], refs["bobs"], refs["done"],
                                                    refs["lead"]]  # fmt: skip
    assert result.open_records == {OwnerType.DEAL: 4, OwnerType.LEAD: 1}
    assert result.truncated is False
    leads = await coverage(world, ADMIN, owner_types=[OwnerType.LEAD])
    assert [card.ref for card in leads.items] == [refs["lead"]]


async def test_coverage_of_a_user_is_limited_to_records_assigned_to_them(world: World) -> None:
    refs = await seed_records(world)
    mine = await coverage(world, ALICE)
    assert [card.ref for card in mine.items] == [refs["alices"], refs["lead"]]
    assert mine.open_records == {OwnerType.DEAL: 2, OwnerType.LEAD: 1}
    bobs = await coverage(world, VERA, user_filter=BOB)
    assert [card.ref for card in bobs.items] == [refs["bobs"], refs["done"]]
    with pytest.raises(Forbidden):
        await coverage(world, ALICE, user_filter=BOB)


async def test_coverage_skips_owner_types_the_portal_has_not_enabled(world: World) -> None:
    await seed_records(world)
    assert world.portal is not None
    deals_only = attrs.evolve(BERLIN, enabled_entities=frozenset({OwnerType.DEAL}))
    async with world.storage.unit_of_work() as uow:
        await uow.settings.put(world.portal.id, deals_only, now=NOW)
    result = await coverage(world, ADMIN)
    assert {card.ref.type for card in result.items} == {OwnerType.DEAL}
    assert set(result.open_records) == {OwnerType.DEAL}


async def test_coverage_beyond_its_limit_is_flagged_truncated(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    await seed_records(world)
    monkeypatch.setattr(reports, "COVERAGE_LIMIT", 2)
    result = await coverage(world, ADMIN)
    assert result.truncated is True
    assert result.open_records == {OwnerType.DEAL: 2, OwnerType.LEAD: 1}


async def test_a_crm_failure_during_coverage_is_raised_not_hidden(world: World) -> None:
    await seed_records(world)
    world.crm.fail("open_records", CrmUnavailable("down"))
    with pytest.raises(CrmUnavailable):
        await coverage(world, ADMIN)


async def period_listing(
    world: World, user_id: int, user_filter: int | None = None
) -> reports.PeriodTouchPoints:
    return await reports.list_period_touch_points(
        await world.ctx(user_id),
        period=WEEK,
        filters=NO_FILTERS,
        user_filter=user_filter,
    )


async def test_the_export_lists_visible_touch_points_with_titles_and_names(world: World) -> None:
    await seed_two_users(world)
    hidden = world.crm.add_record(world.member_id, OwnerType.LEAD, "Secret")
    outsider = world.crm.add_user(world.member_id, 9, name="Outsider", crm_access="own")
    await world.touch_point(outsider, hidden, created=berlin(3, 9), deadline=berlin(4, 9))
    everyone = await period_listing(world, ADMIN)
    assert [card.touch_point.responsible_id for card in everyone.cards] == [ALICE, BOB, outsider,
                                                                          BOB]  # fmt: skip
    assert everyone.names == {ALICE: "Алиса", BOB: "Bob", outsider: "Outsider"}
    assert everyone.time_zone == "Europe/Berlin"
    theirs = await period_listing(world, outsider)
    assert [(card.touch_point.status, card.owner_title) for card in theirs.cards] == [
        (Status.OPEN, None)
    ]
    with pytest.raises(Forbidden):
        await period_listing(world, outsider, user_filter=ALICE)


async def test_an_export_over_its_limit_is_cut_short_and_says_so(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    await seed_two_users(world)
    monkeypatch.setattr(reports, "EXPORT_LIMIT", 2)
    listing = await period_listing(world, ADMIN)
    assert len(listing.cards) == 2
    assert listing.truncated is True


async def test_a_request_reads_the_settings_its_context_loaded(world: World) -> None:
    ctx = await world.ctx(VERA)
    async with world.storage.unit_of_work() as uow:
        await uow.settings.put(world.portal.id, PortalSettings(time_zone="Asia/Tokyo"), now=NOW)  # type: ignore[union-attr]
    listing = await reports.list_period_touch_points(
        ctx, period=WEEK, filters=NO_FILTERS, user_filter=ALICE
    )
    assert listing.time_zone == "Europe/Berlin"
    report = await reports.get_report(ctx, period=WEEK, filters=NO_FILTERS, user_filter=ALICE)
    assert report.sees_team is True
