"""An installed memory portal for the use cases' unit tests: an admin, a seller and another
user, one deal, the portal's settings, and the CRM as any of them."""

from __future__ import annotations

from typing import Self

import attrs

from touchpoints.adapters.clock import FixedClock
from touchpoints.adapters.memory.crm import MemoryCrmConnector
from touchpoints.adapters.memory.storage import MemoryStorage
from touchpoints.adapters.memory.world import MemoryCrm
from touchpoints.domain.model import OwnerRef, OwnerType
from touchpoints.domain.portal import Portal
from touchpoints.domain.settings import PortalSettings
from touchpoints.ports.crm import Crm

ADMIN, SELLER, OTHER = 1, 2, 3


@attrs.define
class ServiceWorld:
    clock: FixedClock
    storage: MemoryStorage = attrs.Factory(MemoryStorage)
    crm: MemoryCrm = attrs.field(init=False)
    portal: Portal = attrs.field(init=False)
    deal: OwnerRef = attrs.field(init=False)

    def __attrs_post_init__(self) -> None:
        self.crm = MemoryCrm(clock=self.clock)

    async def start(self, settings: PortalSettings | None = None) -> Self:
        member_id = self.crm.add_portal(time_zone="UTC")
        self.crm.add_user(member_id, ADMIN, name="Admin", admin=True)
        self.crm.add_user(member_id, SELLER, name="Seller")
        self.crm.add_user(member_id, OTHER, name="Other")
        now = self.clock.now()
        async with self.storage.unit_of_work() as uow:
            self.portal = await uow.portals.create(self.crm.install(member_id, ADMIN), now=now)
            await uow.settings.put(self.portal.id, settings or PortalSettings.defaults(), now=now)
        self.deal = self.crm.add_record(member_id, OwnerType.DEAL, "Fleet")
        return self

    def crm_as(self, user_id: int) -> Crm:
        token = self.crm.issue_token(self.portal.member_id, user_id)
        return MemoryCrmConnector(self.crm).as_user(self.portal, token)
