"""The rate-budget port: a portal's Bitrix24 request budget shared by every process (BITRIX24.md §7)."""

from __future__ import annotations

from typing import Protocol

import attrs


@attrs.frozen(kw_only=True)
class Admission:
    """The answer to one request for a slot in a portal's shared bucket.

    ``reserved``: a slot is taken; send after ``wait_s`` seconds. Otherwise nothing was
    taken: the method is held back for ``paused_s`` more seconds by the operating-time
    limit (§7.2), or the slot is further away than the caller would wait (``wait_s``).
    """

    reserved: bool
    wait_s: float = 0.0
    paused_s: float = 0.0


class RateBudget(Protocol):
    """Leaky buckets keyed by a portal's ``member_id``, one per portal for all processes.

    A key the budget does not know (a portal not stored yet) answers ``None``: the caller
    paces that portal in process.
    """

    async def admit(
        self, key: str, method: str, *, capacity: float, drain_per_s: float, max_wait_s: float
    ) -> Admission | None:
        """Reserve one request of ``method`` unless it is paused or too far away.

        Raises:
            StorageError: the budget cannot be reached.
        """
        ...

    async def saturate(self, key: str, *, capacity: float, drain_per_s: float) -> None:
        """Bitrix24 refused a request as over the limit: its bucket is full (§7.1)."""
        ...

    async def pause(self, key: str, method: str, seconds: float) -> None:
        """Hold ``method`` back for ``seconds`` for every process (§7.2)."""
        ...
