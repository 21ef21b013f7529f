"""In-memory storage with the Postgres adapter's semantics, for tests and the demo portal.

Each unit of work is a transaction (``transaction.Transaction``): reads see the committed
state overlaid with its own writes, writes take row locks held until it ends, and they are
applied at once when the block ends normally or dropped on an exception. Deleting a portal
cascades to every row of it. ``reading`` reads the committed state and refuses writes. The
contract suite in tests/contracts runs the same tests against this and ``PostgresStorage``.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Hashable

from touchpoints.adapters.memory.bots import MemoryBots
from touchpoints.adapters.memory.budget import MemoryAbuseBudget
from touchpoints.adapters.memory.digest_log import MemoryDigestLog
from touchpoints.adapters.memory.feedback import MemoryFeedback
from touchpoints.adapters.memory.handovers import MemoryHandovers
from touchpoints.adapters.memory.pending import MemoryPendingTodos
from touchpoints.adapters.memory.portals import MemoryPortals
from touchpoints.adapters.memory.reports import MemoryReports
from touchpoints.adapters.memory.settings import MemoryPreferences, MemorySettings
from touchpoints.adapters.memory.touch_points import MemoryTouchPoints
from touchpoints.adapters.memory.transaction import PORTALS, Committed, RowLock, Transaction
from touchpoints.adapters.memory.undo import MemoryUndo
from touchpoints.ports.storage import (
    StorageUnavailable,
    UnitOfWork,
)


class MemoryUnitOfWork(UnitOfWork):
    """The repositories of one in-memory transaction.

    The repositories are the ``UnitOfWork`` port's attributes, declared there once.
    """

    def __init__(self, tx: Transaction) -> None:
        self.portals = MemoryPortals(tx)
        self.settings = MemorySettings(tx)
        self.preferences = MemoryPreferences(tx)
        self.touch_points = MemoryTouchPoints(tx)
        self.reports = MemoryReports(tx)
        self.digest_log = MemoryDigestLog(tx)
        self.feedback = MemoryFeedback(tx)
        self.pending = MemoryPendingTodos(tx)
        self.budget = MemoryAbuseBudget(tx)
        self.undo = MemoryUndo(tx)
        self.handovers = MemoryHandovers(tx)
        self.bots = MemoryBots(tx)


class MemoryStorage:
    """The storage port in memory (tests, the demo portal).

    ``simulate_outage(True)`` makes it answer like an unreachable database, so callers'
    503 and readiness paths can be tested without stopping Postgres.
    """

    def __init__(self) -> None:
        self._state = Committed()
        self._locks: dict[Hashable, RowLock] = {}
        self._exclusive: set[str] = set()
        self._down = False

    def simulate_outage(self, down: bool = True) -> None:
        self._down = down

    def _check_up(self) -> None:
        if self._down:
            raise StorageUnavailable("the (simulated) database is unreachable")

    @contextlib.asynccontextmanager
    async def unit_of_work(self) -> AsyncIterator[UnitOfWork]:
        """One transaction: commits when the block ends normally, rolls back on an exception."""
        self._check_up()
        tx = Transaction(self._state, self._locks)
        try:
            yield MemoryUnitOfWork(tx)
            self._check_up()
            tx.commit()
        finally:
            tx.release()

    @contextlib.asynccontextmanager
    async def reading(self) -> AsyncIterator[UnitOfWork]:
        """Reads of the committed state only; a write raises ``transaction.ReadOnly``."""
        self._check_up()
        yield MemoryUnitOfWork(Transaction(self._state, self._locks, read_only=True))

    @contextlib.asynccontextmanager
    async def exclusive(self, name: str) -> AsyncIterator[bool]:
        """Yields whether this caller holds the named lock for the block (one process here)."""
        self._check_up()
        if name in self._exclusive:
            yield False
            return
        self._exclusive.add(name)
        try:
            yield True
        finally:
            self._exclusive.discard(name)

    async def ping(self) -> None:
        """Raises: StorageUnavailable while an outage is simulated."""
        self._check_up()

    async def close(self) -> None:
        """Nothing to release; here so both adapters close alike."""

    def __repr__(self) -> str:
        return f"<MemoryStorage portals={len(self._state.tables[PORTALS])}>"
