"""The in-memory database: committed tables, row locks, and one unit of work's transaction.

Each unit of work is a transaction: its writes are kept aside (reads see the committed
state overlaid with its own writes, like Postgres' READ COMMITTED) and applied at once when
the block ends normally, or dropped on an exception. Writes take per-row locks held until
the unit of work ends, as Postgres' row locks are, so concurrent units of work on the same
rows queue up, and optimistic version checks and claims see the winner's commit. Deleting
a portal cascades to every row of it.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Hashable, Iterator
from datetime import datetime
from typing import Any

import attrs

from touchpoints.ports.storage import ConcurrentUpdate, InvalidReference

# Postgres aborts one side of a deadlock; here a lock wait this long is reported the same way.
LOCK_WAIT_S = 10.0

_DELETED: Any = object()

PORTALS = "portals"
SETTINGS = "settings"
PREFERENCES = "preferences"
TOUCH_POINTS = "touch_points"
DIGEST = "digest"
FEEDBACK = "feedback"
PENDING = "pending_todos"
UNDO = "undo_tokens"
HANDOVERS = "handovers"
BOTS = "portal_bots"
DIGEST_DAYS = "digest_days"
CHILD_TABLES = (
    SETTINGS,
    PREFERENCES,
    TOUCH_POINTS,
    DIGEST,
    FEEDBACK,
    PENDING,
    UNDO,
    HANDOVERS,
    BOTS,
    DIGEST_DAYS,
)


@attrs.define
class Committed:
    """The committed rows, one dict per table."""

    tables: dict[str, dict[Hashable, Any]] = attrs.Factory(
        lambda: {name: {} for name in (PORTALS, *CHILD_TABLES)}
    )
    portal_ids: Iterator[int] = attrs.Factory(lambda: itertools.count(1))
    touch_point_ids: Iterator[int] = attrs.Factory(lambda: itertools.count(1))
    feedback_ids: Iterator[int] = attrs.Factory(lambda: itertools.count(1))
    pending_ids: Iterator[int] = attrs.Factory(lambda: itertools.count(1))
    undo_ids: Iterator[int] = attrs.Factory(lambda: itertools.count(1))
    handover_ids: Iterator[int] = attrs.Factory(lambda: itertools.count(1))
    # The abuse budget is not portal data: no cascade, and it counts outside transactions
    # exactly as its own unit of work does on Postgres.
    budget: dict[str, tuple[datetime, int]] = attrs.Factory(dict)


def _portal_of(table: str, key: Hashable, value: Any) -> int:
    if table in (SETTINGS, BOTS, DIGEST_DAYS):
        assert isinstance(key, int)
        return key
    if table in (PREFERENCES, DIGEST):
        assert isinstance(key, tuple)
        portal_id: int = key[0]
        return portal_id
    owned: int = value.portal_id
    return owned


class ReadOnly(AssertionError):
    """A repository wrote inside ``Storage.reading()``: a bug of the caller."""


@attrs.define
class RowLock:
    """A row's lock and how many transactions hold or wait for it (unused ones are dropped)."""

    lock: asyncio.Lock = attrs.Factory(asyncio.Lock)
    users: int = 0


class Transaction:
    """One unit of work's private writes and the row locks it holds.

    ``locks`` is shared by every transaction on ``committed``: the row locks of the storage.
    """

    def __init__(
        self, committed: Committed, locks: dict[Hashable, RowLock], *, read_only: bool = False
    ) -> None:
        self._committed = committed
        self._locks = locks
        self._writes: dict[tuple[str, Hashable], Any] = {}
        self._held: list[Hashable] = []
        self._read_only = read_only

    def _check_writable(self) -> None:
        if self._read_only:
            raise ReadOnly("a write inside Storage.reading(): use a unit of work")

    @property
    def committed(self) -> Committed:
        """The committed state (its id sequences and the abuse budget live there)."""
        return self._committed

    # -- locks

    async def lock(self, key: Hashable) -> None:
        self._check_writable()
        if key in self._held:
            return
        locks = self._locks
        row_lock = locks.setdefault(key, RowLock())
        row_lock.users += 1
        try:
            await asyncio.wait_for(row_lock.lock.acquire(), LOCK_WAIT_S)
        except TimeoutError as exc:
            self._forget(key, row_lock)
            raise ConcurrentUpdate(f"gave up waiting for a lock on {key!r}") from exc
        except BaseException:
            self._forget(key, row_lock)
            raise
        self._held.append(key)

    def _forget(self, key: Hashable, row_lock: RowLock) -> None:
        row_lock.users -= 1
        if row_lock.users == 0:
            del self._locks[key]

    def release(self) -> None:
        locks = self._locks
        for key in reversed(self._held):
            row_lock = locks[key]
            row_lock.lock.release()
            self._forget(key, row_lock)
        self._held.clear()

    # -- reads through the overlay

    def get(self, table: str, key: Hashable) -> Any:
        value = self._writes.get((table, key), None)
        if (table, key) not in self._writes:
            value = self._committed.tables[table].get(key)
        if value is None or value is _DELETED:
            return None
        if table != PORTALS and self.get(PORTALS, _portal_of(table, key, value)) is None:
            return None  # its portal was deleted in this unit of work: cascaded
        return value

    def items(self, table: str) -> list[tuple[Hashable, Any]]:
        """Every visible row of ``table`` with its key."""
        keys = set(self._committed.tables[table])
        keys.update(key for written, key in self._writes if written == table)
        return [(key, value) for key in keys if (value := self.get(table, key)) is not None]

    def values(self, table: str, portal_id: int | None = None) -> list[Any]:
        """Every visible row of ``table``, or of one portal in it."""
        return [
            value
            for key, value in self.items(table)
            if portal_id is None or _portal_of(table, key, value) == portal_id
        ]

    def portal_exists(self, portal_id: int) -> bool:
        return self.get(PORTALS, portal_id) is not None

    def require_portal(self, portal_id: int) -> None:
        if not self.portal_exists(portal_id):
            raise InvalidReference(f"no portal {portal_id}")

    # -- writes

    def put(self, table: str, key: Hashable, value: Any) -> None:
        self._check_writable()
        self._writes[(table, key)] = value

    def delete(self, table: str, key: Hashable) -> None:
        self._check_writable()
        self._writes[(table, key)] = _DELETED

    def commit(self) -> None:
        """Apply every write at once (no await: nothing interleaves)."""
        tables = self._committed.tables
        deleted_portals: set[int] = set()
        for (table, key), value in self._writes.items():
            if table != PORTALS:
                continue
            if value is _DELETED:
                if tables[PORTALS].pop(key, None) is not None:
                    assert isinstance(key, int)
                    deleted_portals.add(key)
            else:
                tables[PORTALS][key] = value
        for (table, key), value in self._writes.items():
            if table == PORTALS:
                continue
            if value is _DELETED:
                tables[table].pop(key, None)
            elif _portal_of(table, key, value) in tables[PORTALS]:
                tables[table][key] = value
            # else: its portal was deleted by a unit of work that committed first.
        if deleted_portals:
            for table in CHILD_TABLES:
                rows = tables[table]
                for key in [
                    k for k, v in rows.items() if _portal_of(table, k, v) in deleted_portals
                ]:
                    del rows[key]
        self._writes.clear()


class MemoryRepository:
    """Base of the in-memory repositories: each works through its unit of work's transaction."""

    def __init__(self, tx: Transaction) -> None:
        self._tx = tx
