"""The public row mappers: a stored row maps back to what the repository returned for it.

The benches read rows with their own SQL and map them with these, so each mapper must give
exactly the repository's value, and read every column but those the domain does not keep.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from typing import Any

import asyncpg
import pytest

from tests.contracts.conftest import NOW, Make
from touchpoints.adapters.postgres.crypto import TokenCipher
from touchpoints.adapters.postgres.dsn import libpq_url
from touchpoints.adapters.postgres.rows import (
    digest_entry_from_row,
    feedback_from_row,
    pending_todo_from_row,
    portal_from_row,
    preferences_from_row,
    settings_from_row,
    touch_point_from_row,
)
from touchpoints.adapters.postgres.storage import PostgresStorage
from touchpoints.domain.model import OwnerRef, OwnerType, TouchPointType
from touchpoints.domain.secrets import Secret
from touchpoints.domain.settings import PortalSettings, UserPreferences
from touchpoints.ports.storage import Feedback, PendingTodo

pytestmark = pytest.mark.postgres

# Columns a mapper leaves out: keys and bookkeeping that are not part of the domain value.
UNREAD = {
    "portals": set(),
    "settings": {"portal_id", "updated_at"},
    "user_preferences": {"portal_id", "updated_at"},
    "touchpoints": set(),
    "digest_log": set(),
    "feedback": set(),
    "pending_todos": set(),
}


class Reading(Mapping[str, Any]):
    """A row that remembers which columns were read from it."""

    def __init__(self, record: asyncpg.Record) -> None:
        self._record = dict(record.items())
        self.read: set[str] = set()

    def __getitem__(self, key: str) -> Any:
        self.read.add(key)
        return self._record[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._record)

    def __len__(self) -> int:
        return len(self._record)


@pytest.fixture
async def raw(pg_dsn: str) -> AsyncIterator[asyncpg.Connection]:
    connection = await asyncpg.connect(libpq_url(pg_dsn))
    yield connection
    await connection.close()


async def _row(raw: asyncpg.Connection, table: str) -> Reading:
    rows = await raw.fetch(f'SELECT * FROM "{table}"')
    assert len(rows) == 1
    return Reading(rows[0])


def _check(
    row: Reading, table: str, mapper: Callable[[Any], object], stored: object, columns: set[str]
) -> None:
    assert mapper(row) == stored
    assert columns - row.read == UNREAD[table]


async def _columns(raw: asyncpg.Connection, table: str) -> set[str]:
    rows = await raw.fetch(
        "SELECT column_name FROM information_schema.columns"
        " WHERE table_schema = current_schema() AND table_name = $1",
        table,
    )
    return {row["column_name"] for row in rows}


async def test_each_mapper_gives_back_what_its_repository_stored(
    pg_storage: PostgresStorage, pg_cipher: TokenCipher, raw: asyncpg.Connection, make: Make
) -> None:
    portal = await make.portal(pg_storage)
    async with pg_storage.unit_of_work() as uow:
        await uow.portals.rotate_application_token(portal.id, Secret("rotated"), now=NOW)
        await uow.portals.set_uninstall_requested(portal.id, NOW, now=NOW)
        await uow.settings.put(portal.id, PortalSettings.defaults(), now=NOW)
        await uow.preferences.put(
            portal.id, UserPreferences(user_id=7, digest_enabled=True), now=NOW
        )
        await uow.preferences.set_language(portal.id, 7, "de", now=NOW)
        added = await uow.touch_points.add(make.new(portal.id))
        done = await uow.touch_points.update(added.complete("talked", now=NOW))
        await uow.digest_log.claim(portal.id, 7, NOW.date(), now=NOW, stale_after_s=60)
        feedback = await uow.feedback.add(
            Feedback(portal_id=portal.id, user_id=7, message="hi", email="a@b.c", created_at=NOW)
        )
        pending = await uow.pending.add(
            PendingTodo(
                portal_id=portal.id,
                owner=OwnerRef(OwnerType.LEAD, 3),
                type=TouchPointType.EMAIL,
                deadline=NOW,
                responsible_id=7,
                created_by=7,
                created_at=NOW,
                previous_id=done.id,
            )
        )
    async with pg_storage.unit_of_work() as uow:
        stored: dict[str, tuple[Callable[[Any], object], object]] = {
            "portals": (
                lambda row: portal_from_row(row, pg_cipher),
                await uow.portals.get(portal.id),
            ),
            "settings": (settings_from_row, await uow.settings.get(portal.id)),
            "user_preferences": (preferences_from_row, await uow.preferences.get(portal.id, 7)),
            "touchpoints": (touch_point_from_row, done),
            "digest_log": (
                digest_entry_from_row,
                await uow.digest_log.get(portal.id, 7, NOW.date()),
            ),
            "feedback": (feedback_from_row, feedback),
            "pending_todos": (pending_todo_from_row, pending),
        }
    assert set(stored) == set(UNREAD)
    for table, (mapper, value) in stored.items():
        assert value is not None
        _check(await _row(raw, table), table, mapper, value, await _columns(raw, table))
