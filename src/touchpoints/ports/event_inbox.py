"""The event-inbox port: verified activity events kept durably until they are processed."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

import attrs


@attrs.frozen(kw_only=True)
class InboxEntry:
    """An activity of a portal waiting to be synced; ``received_at`` is its version."""

    portal_id: int
    activity_id: int
    received_at: datetime


class EventInbox(Protocol):
    """Activity events recorded before they are answered, drained by any process.

    Raises (every method):
        StorageError: the inbox cannot be reached.
    """

    async def record(self, portal_id: int, activity_id: int, *, lease_s: float) -> InboxEntry:
        """Keep the event (coalesced per activity), leased to the caller for ``lease_s``."""
        ...

    async def claim(self, *, limit: int, lease_s: float) -> list[InboxEntry]:
        """Take up to ``limit`` entries whose lease ran out (or never had one)."""
        ...

    async def done(self, entries: Sequence[InboxEntry]) -> None:
        """Forget entries processed; an entry recorded again since stays."""
        ...
