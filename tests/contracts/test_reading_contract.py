"""Reads outside a transaction (``Storage.reading``) and the reads that answer two questions
at once: the contract, against MemoryStorage and PostgresStorage."""

from __future__ import annotations

import attrs
import pytest

from tests.contracts.conftest import NOW, Make
from touchpoints.domain.settings import PortalSettings
from touchpoints.ports.storage import Storage


async def test_a_reading_block_sees_what_units_of_work_committed(
    storage: Storage, make: Make
) -> None:
    portal = await make.portal(storage)
    async with storage.reading() as uow:
        before = await uow.touch_points.by_activity(portal.id, 501)
        async with storage.unit_of_work() as writer:
            added = await writer.touch_points.add(make.new(portal.id, activity_id=501))
        after = await uow.touch_points.by_activity(portal.id, 501)
    assert before is None
    # No snapshot held across statements: the second read sees the commit in between.
    assert after == added


async def test_the_portal_reads_with_its_settings_in_one_read(storage: Storage, make: Make) -> None:
    portal = await make.portal(storage)
    async with storage.reading() as uow:
        unsaved = await uow.portals.get_with_settings(portal.id)
    settings = attrs.evolve(
        PortalSettings.defaults(),
        time_zone="Europe/Berlin",
        digest_hour=7,
        team_viewers=frozenset({3}),
    )
    async with storage.unit_of_work() as uow:
        await uow.settings.put(portal.id, settings, now=NOW)
    async with storage.reading() as uow:
        saved = await uow.portals.get_with_settings(portal.id)
        missing = await uow.portals.get_with_settings(portal.id + 1000)
        alone = await uow.settings.get(portal.id)
    assert unsaved == (portal, None)
    assert saved == (portal, settings)
    assert alone == settings
    assert missing is None


async def test_an_event_read_tells_the_portal_and_whether_the_activity_is_tracked(
    storage: Storage, make: Make
) -> None:
    portal = await make.portal(storage, "member-ev")
    other = await make.portal(storage, "member-other")
    async with storage.unit_of_work() as uow:
        await uow.touch_points.add(make.new(portal.id, activity_id=700))
        await uow.touch_points.add(make.new(other.id, activity_id=701))
    async with storage.reading() as uow:
        tracked = await uow.portals.get_for_event("member-ev", 700)
        untracked = await uow.portals.get_for_event("member-ev", 701)
        unknown = await uow.portals.get_for_event("member-nobody", 700)
    assert tracked == (portal, True)
    # Another portal's activity of that id is not this portal's.
    assert untracked == (portal, False)
    assert unknown is None


async def test_a_write_inside_a_reading_block_is_refused_in_memory(
    memory_storage: Storage, make: Make
) -> None:
    portal = await make.portal(memory_storage)
    with pytest.raises(AssertionError, match="reading"):
        async with memory_storage.reading() as uow:
            await uow.touch_points.add(make.new(portal.id))
    async with memory_storage.reading() as uow:
        assert await uow.touch_points.all(portal.id) == []
