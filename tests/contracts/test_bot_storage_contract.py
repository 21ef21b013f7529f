"""The digest bot's storage, against both adapters: the portal's bot, the messages' ids."""

from __future__ import annotations

from datetime import timedelta

from tests.contracts.conftest import NOW, Make
from touchpoints.domain.settings import UserPreferences
from touchpoints.ports.digests import BotStatus, DigestState, MessageKind, PortalBot, PortalDay
from touchpoints.ports.storage import Storage

TODAY = NOW.date()
DAY = timedelta(days=1)


async def test_a_portal_has_no_bot_until_one_is_recorded_and_then_the_latest_record(
    storage: Storage, make: Make
) -> None:
    portal = await make.portal(storage)
    registered = PortalBot(status=BotStatus.REGISTERED, bot_id=901, updated_at=NOW)
    unavailable = PortalBot(status=BotStatus.UNAVAILABLE, bot_id=None, updated_at=NOW + DAY)
    async with storage.unit_of_work() as uow:
        before = await uow.bots.get(portal.id)
        await uow.bots.put(portal.id, unavailable)
        await uow.bots.put(portal.id, registered)
        after = await uow.bots.get(portal.id)
    assert before is None
    assert after == registered
    assert after.usable_id == 901
    assert unavailable.usable_id is None


async def test_deleting_a_portal_deletes_its_bot(storage: Storage, make: Make) -> None:
    doomed, kept = await make.portal(storage), await make.portal(storage)
    bot = PortalBot(status=BotStatus.REGISTERED, bot_id=902, updated_at=NOW)
    async with storage.unit_of_work() as uow:
        await uow.bots.put(doomed.id, bot)
        await uow.bots.put(kept.id, bot)
    async with storage.unit_of_work() as uow:
        await uow.portals.delete(doomed.id)
    async with storage.unit_of_work() as uow:
        assert await uow.bots.get(doomed.id) is None
        assert await uow.bots.get(kept.id) == bot


async def test_message_ids_are_kept_per_claimed_day_and_the_latest_is_found_per_user(
    storage: Storage, make: Make
) -> None:
    portal, other = await make.portal(storage), await make.portal(storage)
    today = PortalDay(portal.id, TODAY)
    async with storage.unit_of_work() as uow:
        log = uow.digest_log
        for day in (TODAY - DAY, TODAY):
            for user_id in (7, 8, 9):
                await log.claim(portal.id, user_id, day, now=NOW, stale_after_s=600)
        await log.claim(other.id, 7, TODAY, now=NOW, stale_after_s=600)
        await log.set_messages(PortalDay(portal.id, TODAY - DAY), {7: 100, 8: 101})
        await log.set_messages(today, {7: 200})
        await log.set_messages(PortalDay(other.id, TODAY), {7: 300})
        # A user without a claim that day gets nothing written.
        await log.set_messages(PortalDay(portal.id, TODAY + DAY), {7: 400})
        await log.mark(portal.id, 7, TODAY, DigestState.SENT)
        latest = await log.latest_messages(portal.id, [7, 8, 9, 10], through=TODAY)
        yesterday = await log.latest_messages(portal.id, [7], through=TODAY - DAY)
        entry = await log.get(portal.id, 7, TODAY)
        none = await log.latest_messages(portal.id, [], through=TODAY)
    assert latest == {7: (TODAY, 200), 8: (TODAY - DAY, 101)}
    assert yesterday == {7: (TODAY - DAY, 100)}
    assert entry is not None
    assert (entry.state, entry.message_id) == (DigestState.SENT, 200)
    assert none == {}


async def test_the_roll_up_preference_is_kept_beside_the_language_and_defaults_to_on(
    storage: Storage, make: Make
) -> None:
    portal = await make.portal(storage)
    async with storage.unit_of_work() as uow:
        fresh = await uow.preferences.get(portal.id, 7)
        await uow.preferences.set_language(portal.id, 7, "ru", now=NOW)
        await uow.preferences.put(
            portal.id,
            UserPreferences(user_id=7, digest_enabled=True, rollup_enabled=False),
            now=NOW,
        )
        stored = await uow.preferences.get(portal.id, 7)
        listed = await uow.preferences.list(portal.id)
    assert fresh.wants_rollup
    assert (stored.rollup_enabled, stored.wants_rollup, stored.language) == (False, False, "ru")
    assert listed == [stored]


async def test_a_deleted_bot_is_kept_without_an_id_and_is_not_usable(
    storage: Storage, make: Make
) -> None:
    portal = await make.portal(storage)
    deleted = PortalBot(status=BotStatus.DELETED, bot_id=None, updated_at=NOW)
    async with storage.unit_of_work() as uow:
        await uow.bots.put(
            portal.id, PortalBot(status=BotStatus.REGISTERED, bot_id=9, updated_at=NOW)
        )
        await uow.bots.put(portal.id, deleted)
        stored = await uow.bots.get(portal.id)
    assert stored == deleted
    assert stored.usable_id is None


async def test_roll_up_message_ids_are_kept_per_claimed_day_apart_from_the_digests(
    storage: Storage, make: Make
) -> None:
    portal, other = await make.portal(storage), await make.portal(storage)
    today = PortalDay(portal.id, TODAY)
    async with storage.unit_of_work() as uow:
        log = uow.digest_log
        for day in (TODAY - DAY, TODAY):
            for user_id in (7, 8):
                await log.claim(portal.id, user_id, day, now=NOW, stale_after_s=600)
        await log.claim(other.id, 7, TODAY, now=NOW, stale_after_s=600)
        await log.set_messages(today, {7: 200})
        await log.set_messages(PortalDay(portal.id, TODAY - DAY), {7: 150}, kind=MessageKind.ROLLUP)
        await log.set_messages(today, {7: 201, 8: 202}, kind=MessageKind.ROLLUP)
        await log.set_messages(PortalDay(other.id, TODAY), {7: 300}, kind=MessageKind.ROLLUP)
        # A user without a claim that day gets nothing written.
        await log.set_messages(PortalDay(portal.id, TODAY + DAY), {7: 400}, kind=MessageKind.ROLLUP)
    async with storage.unit_of_work() as uow:
        log = uow.digest_log
        assert await log.rollup_messages(today, [7, 8, 9]) == {7: 201, 8: 202}
        assert await log.rollup_messages(PortalDay(portal.id, TODAY - DAY), [7]) == {7: 150}
        assert await log.rollup_messages(PortalDay(portal.id, TODAY + DAY), [7]) == {}
        assert await log.rollup_messages(today, []) == {}
        # The digest's own message is a separate id: the latest digest is still 200.
        assert await log.latest_messages(portal.id, [7], through=TODAY) == {7: (TODAY, 200)}
        entry = await log.get(portal.id, 7, TODAY)
    assert entry is not None
    assert (entry.message_id, entry.rollup_message_id) == (200, 201)
