"""The ``BotChannel`` port over the in-memory Bitrix24 world: one bot, its chat messages."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING

import attrs

from touchpoints.adapters.memory.world import MemoryCrm
from touchpoints.domain.bot import TEXT_LIMIT, BotButton
from touchpoints.domain.portal import Portal
from touchpoints.ports.messaging import BotDelivery, BotMessage, BotSpec, BotUnavailable

if TYPE_CHECKING:
    from touchpoints.ports.messaging import BotChannel


@attrs.frozen(kw_only=True)
class ChatMessage:
    """A bot message as the user's personal chat with the bot shows it."""

    id: int
    user_id: int
    text: str
    keyboard: tuple[BotButton, ...]
    sent_at: datetime


class MemoryBotChannel:
    """``BotChannel``: registration by code, messages kept per portal and id.

    A portal whose scope lacks ``imbot`` cannot have a bot, as Bitrix24 answers
    ``insufficient_scope`` (BITRIX24.md §22.0).
    """

    def __init__(self, world: MemoryCrm) -> None:
        self._world = world
        self.bots: dict[tuple[str, str], int] = {}
        self.commands: dict[int, tuple[str, ...]] = {}
        self.messages: dict[tuple[str, int], ChatMessage] = {}

    async def register(self, portal: Portal, spec: BotSpec) -> int:
        self._world.enter("bot.register")
        state = self._world.live_portal(portal.member_id)
        if "imbot" not in state.scope.split(","):
            raise BotUnavailable("insufficient_scope")
        key = (portal.member_id, spec.code)
        if key not in self.bots:
            self.bots[key] = state.seq("bot") + 1000
        bot_id = self.bots[key]
        self.commands[bot_id] = tuple(
            dict.fromkeys((*self.commands.get(bot_id, ()), *spec.commands))
        )
        return bot_id

    async def is_registered(self, portal: Portal, bot_id: int) -> bool:
        self._world.enter("bot.get")
        self._world.live_portal(portal.member_id)
        return bot_id in {v for (mid, _), v in self.bots.items() if mid == portal.member_id}

    def delete(self, member_id: str, bot_id: int) -> None:
        """The bot is deleted in Bitrix24 (with its chats)."""
        self.bots = {k: v for k, v in self.bots.items() if (k[0], v) != (member_id, bot_id)}

    async def send(
        self, portal: Portal, bot_id: int, messages: Sequence[BotMessage]
    ) -> list[BotDelivery]:
        self._world.enter("bot.send")
        state = self._world.live_portal(portal.member_id)
        deliveries = []
        for message in messages:
            text = message.text.strip()[:TEXT_LIMIT]
            if message.message_id is not None:
                existing = self.messages.get((portal.member_id, message.message_id))
                if existing is None or existing.user_id != message.user_id:
                    deliveries.append(
                        BotDelivery(user_id=message.user_id, ok=False, error="ACCESS_DENIED")
                    )
                    continue
                self.messages[(portal.member_id, existing.id)] = attrs.evolve(
                    existing, text=text, keyboard=message.keyboard
                )
                deliveries.append(
                    BotDelivery(user_id=message.user_id, ok=True, message_id=existing.id)
                )
                continue
            user = state.users.get(message.user_id)
            if user is None or not user.info.active or not text:
                deliveries.append(
                    BotDelivery(user_id=message.user_id, ok=False, error="SENDING_FAILED")
                )
                continue
            chat = ChatMessage(
                id=state.seq("im"),
                user_id=message.user_id,
                text=text,
                keyboard=message.keyboard,
                sent_at=self._world.clock.now(),
            )
            self.messages[(portal.member_id, chat.id)] = chat
            deliveries.append(BotDelivery(user_id=message.user_id, ok=True, message_id=chat.id))
        return deliveries

    async def clear_keyboards(
        self, portal: Portal, bot_id: int, message_ids: Sequence[int]
    ) -> None:
        self._world.enter("bot.update")
        for message_id in message_ids:
            existing = self.messages.get((portal.member_id, message_id))
            if existing is not None:
                self.messages[(portal.member_id, message_id)] = attrs.evolve(existing, keyboard=())

    def chat(self, member_id: str, user_id: int) -> list[ChatMessage]:
        """A user's personal chat with the bot, oldest first."""
        return sorted(
            (
                m
                for (mid, _), m in self.messages.items()
                if mid == member_id and m.user_id == user_id
            ),
            key=lambda m: m.id,
        )


if TYPE_CHECKING:  # mypy checks that the fake conforms to the port

    def _conforms(world: MemoryCrm) -> BotChannel:
        return MemoryBotChannel(world)
