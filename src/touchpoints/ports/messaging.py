"""The messaging port: IM notifications to portal users (the daily digest)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol

import attrs

from touchpoints.domain.bot import BotButton
from touchpoints.domain.portal import Portal


@attrs.frozen(kw_only=True)
class Notification:
    """One system notification; a later one with the same ``tag`` replaces it in Bitrix24."""

    user_id: int
    message: str
    tag: str
    attach: tuple[tuple[str, str], ...] = ()  # (link name, URL) pairs


@attrs.frozen(kw_only=True)
class Delivery:
    """The outcome of one notification: sent, or the error that stopped it."""

    user_id: int
    ok: bool
    error: str = ""


class Messenger(Protocol):
    async def notify(self, portal: Portal, notifications: Sequence[Notification]) -> list[Delivery]:
        """Send with the portal's stored tokens, batched (≤50 per request).

        Raises: PortalGone, CrmUnavailable (the whole send failed; nothing is known sent).
        """
        ...


# ------------------------------------------------------------------ the digest bot (§22.1)


class BotUnavailable(Exception):
    """The installation cannot have a bot (no ``imbot`` scope): fall back to notifications."""


@attrs.frozen(kw_only=True)
class BotMessage:
    """A bot message to a user's personal chat; ``message_id`` set means: update that one."""

    user_id: int
    text: str
    keyboard: tuple[BotButton, ...] = ()
    message_id: int | None = None


@attrs.frozen(kw_only=True)
class BotDelivery:
    """The outcome of one bot message: its id when it went out, or the error."""

    user_id: int
    ok: bool
    message_id: int | None = None
    error: str = ""


@attrs.frozen(kw_only=True)
class BotSpec:
    """The bot the app registers: its code, webhook, names and hidden commands."""

    code: str
    webhook_url: str
    names: Mapping[str, str]
    commands: tuple[str, ...]


class BotChannel(Protocol):
    """The app's chat-bot, spoken to with the portal's stored (app) tokens."""

    async def register(self, portal: Portal, spec: BotSpec) -> int:
        """Register the bot (idempotent per code) and its hidden commands; returns its id.

        Raises: BotUnavailable (no ``imbot`` scope), PortalGone, CrmUnavailable, CrmError.
        """
        ...

    async def is_registered(self, portal: Portal, bot_id: int) -> bool:
        """Whether Bitrix24 still has the bot (``imbot.v2.Bot.get``); False only when it
        answers that the bot is not found.

        Raises: PortalGone, CrmUnavailable, CrmError: Bitrix24 did not say either way.
        """
        ...

    async def send(
        self, portal: Portal, bot_id: int, messages: Sequence[BotMessage]
    ) -> list[BotDelivery]:
        """Send (or, with ``message_id``, update) each message, batched (≤50 per request);
        the outcomes in the messages' order.

        A batch that fails after an earlier one went out marks its own messages failed.

        Raises: PortalGone, CrmUnavailable, CrmError: the first batch failed as a whole.
        """
        ...

    async def clear_keyboards(
        self, portal: Portal, bot_id: int, message_ids: Sequence[int]
    ) -> None:
        """Take the buttons off earlier messages (best effort: a message too old to edit stays)."""
        ...
