"""The portals' digest bots in memory: one entry per portal."""

from __future__ import annotations

from touchpoints.adapters.memory.checks import checked_now
from touchpoints.adapters.memory.transaction import BOTS, Transaction
from touchpoints.ports.digests import PortalBot


class MemoryBots:
    def __init__(self, tx: Transaction) -> None:
        self._tx = tx

    async def get(self, portal_id: int) -> PortalBot | None:
        bot: PortalBot | None = self._tx.get(BOTS, portal_id)
        return bot

    async def put(self, portal_id: int, bot: PortalBot) -> None:
        checked_now(bot.updated_at)
        await self._tx.lock(("bot", portal_id))
        self._tx.require_portal(portal_id)
        self._tx.put(BOTS, portal_id, bot)
