"""A user's remembered UI language and digest choice are stored independently."""

from __future__ import annotations

from tests.contracts.conftest import NOW, Make
from touchpoints.domain.settings import UserPreferences
from touchpoints.ports.storage import Storage


async def test_language_and_digest_choice_do_not_overwrite_each_other(
    storage: Storage, make: Make
) -> None:
    portal = await make.portal(storage)
    async with storage.unit_of_work() as uow:
        await uow.preferences.set_language(portal.id, 5, "ru", now=NOW)
        await uow.preferences.put(
            portal.id, UserPreferences(user_id=5, digest_enabled=False), now=NOW
        )
    async with storage.unit_of_work() as uow:
        stored = await uow.preferences.get(portal.id, 5)
    assert stored == UserPreferences(user_id=5, digest_enabled=False, language="ru")
    async with storage.unit_of_work() as uow:
        await uow.preferences.set_language(portal.id, 5, "en", now=NOW)
        await uow.preferences.set_language(portal.id, 6, "de", now=NOW)
        listed = await uow.preferences.list(portal.id)
    assert listed == [
        UserPreferences(user_id=5, digest_enabled=False, language="en"),
        UserPreferences(user_id=6, digest_enabled=None, language="de"),
    ]
