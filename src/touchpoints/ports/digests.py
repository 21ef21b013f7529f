"""The storage ports of the daily digest: the log of who got which day's digest (claims,
outcomes, the bot messages kept to update), the per-portal day and lease, and the portal's
digest bot. The unit of work (``ports.storage``) holds them as ``digest_log`` and ``bots``."""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import Literal, Protocol

import attrs


class DigestState(enum.Enum):
    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"


@attrs.frozen(kw_only=True)
class DigestEntry:
    portal_id: int
    user_id: int
    local_day: date
    state: DigestState
    claimed_at: datetime
    attempts: int = 1
    message_id: int | None = None  # the bot message this digest went out as
    rollup_message_id: int | None = None  # the manager's roll-up message of that day


@attrs.frozen
class PortalDay:
    """One portal's local day of digests: the key of a pass's claims, outcomes and messages."""

    portal_id: int
    local_day: date


class MessageKind(enum.Enum):
    """Which of a day's bot messages an entry keeps: the user's digest, or a manager's
    roll-up of the team (a message of its own)."""

    DIGEST = "digest"
    ROLLUP = "rollup"

    @property
    def field(self) -> Literal["message_id", "rollup_message_id"]:
        """The ``DigestEntry`` field (and ``digest_log`` column) that keeps its id."""
        return "message_id" if self is MessageKind.DIGEST else "rollup_message_id"


class BotStatus(enum.Enum):
    REGISTERED = "registered"
    UNAVAILABLE = "unavailable"  # no ``imbot`` scope: the digest goes as notifications
    # Bitrix24 confirmed the bot is gone (ONIMBOTV2DELETE): notifications until re-registered.
    DELETED = "deleted"


@attrs.frozen(kw_only=True)
class PortalBot:
    """The portal's digest bot: registered (with its id) or unavailable, and since when."""

    status: BotStatus
    bot_id: int | None
    updated_at: datetime

    @property
    def usable_id(self) -> int | None:
        return self.bot_id if self.status is BotStatus.REGISTERED else None


class DigestLogRepository(Protocol):
    async def claim(
        self, portal_id: int, user_id: int, local_day: date, *, now: datetime, stale_after_s: float
    ) -> bool:
        """Claim the (portal, user, local day) digest; exactly one concurrent claimer wins.

        A failed entry, or a pending one older than ``stale_after_s`` (its sender crashed),
        may be claimed again; a sent one never.
        """
        ...

    async def mark(
        self, portal_id: int, user_id: int, local_day: date, state: DigestState
    ) -> None: ...

    async def claim_many(
        self, day: PortalDay, user_ids: Sequence[int], *, now: datetime, stale_after_s: float
    ) -> list[int]:
        """``claim`` each of ``user_ids`` on ``day`` in one statement; returns those won, sorted.

        The same guarantees as ``claim`` for each user: exactly one concurrent claimer
        wins; a failed or stale pending entry is claimed again (one more attempt).
        """
        ...

    async def mark_many(
        self, day: PortalDay, states: Mapping[int, DigestState], *, max_attempts: int
    ) -> int:
        """``mark`` each user's entry of ``day`` with its state in one statement.

        A ``failed`` outcome of an entry already claimed ``max_attempts`` times is not
        written: the claim stays pending, so only a pass that finds it stale retries it.
        Returns how many were left pending so.
        """
        ...

    async def get(self, portal_id: int, user_id: int, local_day: date) -> DigestEntry | None: ...

    async def due_portals(self, *, now: datetime) -> list[int]:
        """The active portals a pass at ``now`` looks at, in id order: those whose next
        digest is due (never scheduled, or its ``next_at`` has come) and that no runner
        holds a lease on."""
        ...

    async def lease(self, portal_id: int, *, now: datetime, until: datetime) -> bool:
        """Take the portal for one runner until ``until``; False when another runner's
        lease has not expired at ``now``, or the portal is left alone until later than
        ``now`` (``schedule``, ``settle``: another runner settled it since it was listed)."""
        ...

    async def schedule(self, portal_id: int, *, next_at: datetime | None) -> None:
        """Leave the portal alone until ``next_at`` (None: the next pass) and end the lease."""
        ...

    async def settle(self, day: PortalDay, *, next_at: datetime) -> bool:
        """``schedule`` the day's portal for ``next_at`` if every digest claimed for that
        local day was sent; otherwise only end the lease. Returns whether it settled."""
        ...

    async def set_messages(
        self, day: PortalDay, messages: Mapping[int, int], *, kind: MessageKind = MessageKind.DIGEST
    ) -> None:
        """Keep each user's bot message id of that kind on ``day`` (one statement for them all)."""
        ...

    async def latest_messages(
        self, portal_id: int, user_ids: Sequence[int], *, through: date
    ) -> dict[int, tuple[date, int]]:
        """Each user's most recent day up to ``through`` with a bot message, and its id."""
        ...

    async def rollup_messages(self, day: PortalDay, user_ids: Sequence[int]) -> dict[int, int]:
        """The roll-up message ids kept for ``day``: a resend updates them."""
        ...


class BotRepository(Protocol):
    """The digest bot registered for each portal (BITRIX24.md §22.1)."""

    async def get(self, portal_id: int) -> PortalBot | None: ...

    async def put(self, portal_id: int, bot: PortalBot) -> None: ...
