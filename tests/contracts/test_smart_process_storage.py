"""Smart processes in storage (DESIGN.md §3.7): a touch-point's owner type and a portal's
enabled entities may name ``dynamic_<entityTypeId>``; the memory and Postgres adapters agree."""

from __future__ import annotations

from datetime import date

from tests.contracts.conftest import NOW, Make
from touchpoints.domain.model import OwnerRef, OwnerType, SmartProcess
from touchpoints.domain.settings import IntervalUnit, PortalSettings
from touchpoints.ports.storage import BoardQuery, Storage

PROJECTS = SmartProcess(1046)


async def test_a_touch_point_on_a_smart_process_item_reads_back_with_its_owner(
    storage: Storage, make: Make
) -> None:
    portal = await make.portal(storage)
    async with storage.unit_of_work() as uow:
        created = await uow.touch_points.add(make.new(portal.id, owner=OwnerRef(PROJECTS, 7)))
    async with storage.unit_of_work() as uow:
        found = await uow.touch_points.get(portal.id, created.id)
    assert found is not None
    assert found.owner == OwnerRef(SmartProcess(1046), 7)


async def test_the_board_filters_by_a_smart_process_like_by_an_entity(
    storage: Storage, make: Make
) -> None:
    portal = await make.portal(storage)
    async with storage.unit_of_work() as uow:
        on_item = await uow.touch_points.add(make.new(portal.id, owner=OwnerRef(PROJECTS, 7)))
        await uow.touch_points.add(make.new(portal.id, owner=OwnerRef(SmartProcess(1048), 7)))
        await uow.touch_points.add(make.new(portal.id))
    async with storage.unit_of_work() as uow:
        found = await uow.touch_points.board(portal.id, BoardQuery(owner_type=PROJECTS))
        deals = await uow.touch_points.board(portal.id, BoardQuery(owner_type=OwnerType.DEAL))
    assert [tp.id for tp in found] == [on_item.id]
    assert len(deals) == 1


async def test_settings_keep_enabled_smart_processes_next_to_the_entities(
    storage: Storage, make: Make
) -> None:
    portal = await make.portal(storage)
    settings = PortalSettings.create(
        time_zone="Europe/Berlin",
        enabled_entities=[OwnerType.DEAL, PROJECTS, SmartProcess(130)],
        default_interval=5,
        default_interval_unit=IntervalUnit.DAYS,
        working_days=[1, 2, 3, 4, 5],
        holidays=[date(2026, 12, 25)],
        digest_hour=7,
        team_viewers=[],
        digest_default=True,
    )
    async with storage.unit_of_work() as uow:
        await uow.settings.put(portal.id, settings, now=NOW)
    async with storage.unit_of_work() as uow:
        found = await uow.settings.get(portal.id)
    assert found == settings
    assert found is not None
    assert PROJECTS in found.enabled_entities
