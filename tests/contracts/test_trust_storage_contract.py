"""The storage of the trust model (DESIGN.md §4), against MemoryStorage and PostgresStorage."""

from __future__ import annotations

from datetime import timedelta

import attrs

from tests.contracts.conftest import NOW, Make
from touchpoints.domain.portal import TokenMatch
from touchpoints.domain.secrets import Secret
from touchpoints.ports.storage import Storage

MINUTE = timedelta(minutes=1)


async def test_a_rotation_keeps_the_previous_token_until_it_is_forgotten(
    storage: Storage, make: Make
) -> None:
    install = make.install()
    async with storage.unit_of_work() as uow:
        portal = await uow.portals.create(install, now=NOW)
        await uow.portals.rotate_application_token(portal.id, Secret("n" * 32), now=NOW)
    async with storage.unit_of_work() as uow:
        rotated = await uow.portals.get(portal.id)
    assert rotated is not None
    assert rotated.application_token_match("n" * 32) is TokenMatch.CURRENT
    assert rotated.application_token_match(install.application_token.reveal()) is (
        TokenMatch.PREVIOUS
    )
    assert rotated.application_token_match("x" * 32) is TokenMatch.NONE
    async with storage.unit_of_work() as uow:
        await uow.portals.forget_previous_application_token(portal.id, now=NOW)
        forgotten = await uow.portals.get(portal.id)
    assert forgotten is not None
    assert forgotten.previous_application_token is None
    assert forgotten.application_token_match(install.application_token.reveal()) is (
        TokenMatch.NONE
    )


async def test_the_app_id_is_stored_at_install_and_can_be_learned_later(
    storage: Storage, make: Make
) -> None:
    async with storage.unit_of_work() as uow:
        with_id = await uow.portals.create(attrs.evolve(make.install(), app_id="7"), now=NOW)
        without = await uow.portals.create(make.install(), now=NOW)
        await uow.portals.set_app_id(without.id, "8", now=NOW)
    async with storage.unit_of_work() as uow:
        assert (await uow.portals.get(with_id.id)).app_id == "7"  # type: ignore[union-attr]
        assert (await uow.portals.get(without.id)).app_id == "8"  # type: ignore[union-attr]


async def test_the_app_code_is_stored_with_the_app_id_and_a_later_id_alone_keeps_it(
    storage: Storage, make: Make
) -> None:
    async with storage.unit_of_work() as uow:
        installed = await uow.portals.create(
            attrs.evolve(make.install(), app_id="7", app_code="vendor.touchpoints"), now=NOW
        )
        learned = await uow.portals.create(make.install(), now=NOW)
        await uow.portals.set_app_id(learned.id, "8", app_code="vendor.touchpoints", now=NOW)
        await uow.portals.set_app_id(installed.id, "9", now=NOW)
    async with storage.unit_of_work() as uow:
        first, second = await uow.portals.get(installed.id), await uow.portals.get(learned.id)
    assert first is not None
    assert second is not None
    assert (first.app_id, first.app_code) == ("9", "vendor.touchpoints")
    assert (second.app_id, second.app_code) == ("8", "vendor.touchpoints")


async def test_uninstall_requests_are_listed_oldest_first_until_cleared(
    storage: Storage, make: Make
) -> None:
    async with storage.unit_of_work() as uow:
        first = await uow.portals.create(make.install(), now=NOW)
        second = await uow.portals.create(make.install(), now=NOW)
        await uow.portals.create(make.install(), now=NOW)
        await uow.portals.set_uninstall_requested(second.id, NOW, now=NOW)
        await uow.portals.set_uninstall_requested(first.id, NOW + MINUTE, now=NOW)
    async with storage.unit_of_work() as uow:
        assert await uow.portals.uninstall_requested() == [second.id, first.id]
        await uow.portals.set_uninstall_requested(second.id, None, now=NOW)
    async with storage.unit_of_work() as uow:
        assert await uow.portals.uninstall_requested() == [first.id]
        # A verified reinstall starts afresh: no pending uninstall, no previous token.
        await uow.portals.rotate_application_token(first.id, Secret("r" * 32), now=NOW)
        await uow.portals.replace_install(first.id, make.install(first.member_id), now=NOW)
        replaced = await uow.portals.get(first.id)
    assert replaced is not None
    assert replaced.uninstall_requested_at is None
    assert replaced.previous_application_token is None


async def test_the_abuse_budget_refuses_beyond_its_limit_within_a_window(
    storage: Storage,
) -> None:
    async def take(key: str, cost: int, window: int = 0) -> bool:
        async with storage.unit_of_work() as uow:
            return await uow.budget.take(key, cost, limit=10, window_start=NOW + window * MINUTE)

    assert await take("k", 4)
    assert await take("k", 6)
    assert not await take("k", 1)
    # Another key has its own budget; a cost above the limit is never granted.
    assert await take("other", 10)
    assert not await take("big", 11)
    # A new window starts from nothing.
    assert await take("k", 10, window=1)
    assert not await take("k", 1, window=1)


async def test_a_refund_gives_back_only_within_the_same_window(storage: Storage) -> None:
    async with storage.unit_of_work() as uow:
        assert await uow.budget.take("k", 10, limit=10, window_start=NOW)
        await uow.budget.refund("k", 4, window_start=NOW)
        assert await uow.budget.take("k", 4, limit=10, window_start=NOW)
        assert not await uow.budget.take("k", 1, limit=10, window_start=NOW)
        # A refund for an old window changes nothing of the current one.
        assert await uow.budget.take("k", 10, limit=10, window_start=NOW + MINUTE)
        await uow.budget.refund("k", 10, window_start=NOW)
        assert not await uow.budget.take("k", 1, limit=10, window_start=NOW + MINUTE)
