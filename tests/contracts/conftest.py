"""Contract fixtures: the storage port as each adapter, and builders of valid domain values."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import aiohttp
import pytest

from tests.fakes.bitrix24 import Bitrix24Emulator
from touchpoints.adapters.memory.storage import MemoryStorage
from touchpoints.domain.model import NewTouchPoint, OwnerRef, OwnerType, TouchPointType
from touchpoints.domain.portal import OAuthTokens, Portal, PortalInstall
from touchpoints.domain.secrets import Secret
from touchpoints.ports.storage import Storage

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.fixture
async def memory_storage() -> AsyncIterator[MemoryStorage]:
    storage = MemoryStorage()
    yield storage
    await storage.close()


@pytest.fixture(params=["memory", pytest.param("postgres", marks=pytest.mark.postgres)])
def storage(request: pytest.FixtureRequest) -> Storage:
    """The storage port, once per adapter: the same test must pass against both."""
    name = "memory_storage" if request.param == "memory" else "pg_storage"
    adapter: Storage = request.getfixturevalue(name)
    return adapter


class Make:
    """Builders of valid domain values with unique ids, so tests state only what matters."""

    def __init__(self) -> None:
        self._numbers = itertools.count(1)

    def number(self) -> int:
        return next(self._numbers)

    def install(self, member_id: str | None = None, **overrides: object) -> PortalInstall:
        n = self.number()
        values: dict[str, object] = {
            "member_id": f"member{n:04d}" if member_id is None else member_id,
            "client_endpoint": f"https://portal{n}.bitrix24.example/rest/",
            "domain": f"portal{n}.bitrix24.example",
            "application_token": Secret(f"application-token-{n}"),
            "tokens": self.tokens(n),
            "installed_by": 1,
            "scope": "crm,im,user_brief",
        }
        values.update(overrides)
        return PortalInstall(**values)  # type: ignore[arg-type]

    def tokens(self, n: int | None = None) -> OAuthTokens:
        n = n if n is not None else self.number()
        return OAuthTokens(
            access_token=Secret(f"access-token-plaintext-{n}"),
            refresh_token=Secret(f"refresh-token-plaintext-{n}"),
            expires_at=NOW + timedelta(hours=1),
        )

    async def portal(self, storage: Storage, member_id: str | None = None) -> Portal:
        async with storage.unit_of_work() as uow:
            return await uow.portals.create(self.install(member_id), now=NOW)

    def new(
        self,
        portal_id: int,
        *,
        activity_id: int | None = None,
        owner: OwnerRef | None = None,
        type: TouchPointType = TouchPointType.CALL,
        deadline: datetime | None = None,
        responsible_id: int = 7,
        previous_id: int | None = None,
        created_at: datetime = NOW,
    ) -> NewTouchPoint:
        return NewTouchPoint(
            portal_id=portal_id,
            activity_id=activity_id or 1000 + self.number(),
            owner=owner or OwnerRef(OwnerType.DEAL, 42),
            type=type,
            deadline=deadline or NOW + timedelta(days=1),
            responsible_id=responsible_id,
            created_by=responsible_id,
            created_at=created_at,
            previous_id=previous_id,
        )


@pytest.fixture
def make() -> Make:
    return Make()


@pytest.fixture
async def b24() -> AsyncIterator[Bitrix24Emulator]:
    """An HTTP Bitrix24 emulator on a real clock (the emulator contract suites)."""
    async with Bitrix24Emulator() as emulator:
        yield emulator


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session
