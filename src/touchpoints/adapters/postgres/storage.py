"""``PostgresStorage``: the storage port on an asyncpg pool, one transaction per unit of work,
reads outside any transaction (``reading``) at one round trip per statement."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import asyncpg
from asyncpg.transaction import Transaction

from touchpoints.adapters.postgres.bots import PostgresBots
from touchpoints.adapters.postgres.budget import PostgresAbuseBudget
from touchpoints.adapters.postgres.crypto import TokenCipher
from touchpoints.adapters.postgres.db import Db, is_closed, keep_session
from touchpoints.adapters.postgres.digest_log import PostgresDigestLog
from touchpoints.adapters.postgres.dsn import libpq_url
from touchpoints.adapters.postgres.errors import DRIVER_ERRORS, translate
from touchpoints.adapters.postgres.feedback import PostgresFeedback
from touchpoints.adapters.postgres.handovers import PostgresHandovers
from touchpoints.adapters.postgres.migrate import MIGRATIONS_DIR, migration_ids
from touchpoints.adapters.postgres.pending import PostgresPendingTodos
from touchpoints.adapters.postgres.portals import PostgresPortals
from touchpoints.adapters.postgres.reports import PostgresReports
from touchpoints.adapters.postgres.settings import PostgresPreferences, PostgresSettings
from touchpoints.adapters.postgres.touch_points import PostgresTouchPoints
from touchpoints.adapters.postgres.undo import PostgresUndo
from touchpoints.ports.storage import (
    StorageUnavailable,
    UnitOfWork,
)

if TYPE_CHECKING:
    # The driver's classes are generic only in its stubs.
    Pool = asyncpg.Pool[asyncpg.Record]
    PooledConnection = asyncpg.pool.PoolConnectionProxy[asyncpg.Record]


class PostgresUnitOfWork(UnitOfWork):
    """The repositories of one transaction on one connection.

    The repositories are the ``UnitOfWork`` port's attributes, declared there once.
    """

    def __init__(self, db: Db, cipher: TokenCipher) -> None:
        self.portals = PostgresPortals(db, cipher)
        self.settings = PostgresSettings(db)
        self.preferences = PostgresPreferences(db)
        self.touch_points = PostgresTouchPoints(db)
        self.reports = PostgresReports(db)
        self.digest_log = PostgresDigestLog(db)
        self.feedback = PostgresFeedback(db)
        self.pending = PostgresPendingTodos(db)
        self.budget = PostgresAbuseBudget(db)
        self.undo = PostgresUndo(db)
        self.handovers = PostgresHandovers(db)
        self.bots = PostgresBots(db)


class _ReadingDb(Db):
    """The connection of a ``reading`` block: each statement commits on its own.

    A pooled connection may have died while idle, which shows up at its first statement;
    a read is safe to repeat, so that one statement is tried once more on a fresh
    connection (as ``_begin`` does for BEGIN) before the database is reported unavailable.
    """

    __slots__ = ("_fresh", "_tried")

    def __init__(
        self,
        connection: PooledConnection,
        fresh: Callable[[PooledConnection], Awaitable[PooledConnection]],
    ) -> None:
        super().__init__(connection)
        self._fresh = fresh
        self._tried = False

    @property
    def connection(self) -> PooledConnection:
        """The connection in use now (to release when the block ends)."""
        connection: PooledConnection = self._connection  # type: ignore[assignment]
        return connection

    async def _run(
        self, name: str, query: str, args: tuple[object, ...], chain_id: int | None = None
    ) -> Any:
        with self._translating(chain_id):
            if not self._tried:
                self._tried = True
                try:
                    return await getattr(self._connection, name)(query, *args)
                except DRIVER_ERRORS as exc:
                    died = is_closed(self._connection) or isinstance(
                        exc, asyncpg.InternalClientError
                    )
                    if not died or translate(exc, connection_closed=True) is None:
                        raise
                self._connection = await self._fresh(self.connection)
            return await getattr(self._connection, name)(query, *args)

    async def fetch(self, query: str, *args: object) -> list[asyncpg.Record]:
        rows: list[asyncpg.Record] = await self._run("fetch", query, args)
        return rows

    async def fetchrow(
        self, query: str, *args: object, chain_id: int | None = None
    ) -> asyncpg.Record | None:
        row: asyncpg.Record | None = await self._run("fetchrow", query, args, chain_id)
        return row

    async def fetchval(self, query: str, *args: object) -> Any:
        return await self._run("fetchval", query, args)

    async def execute(self, query: str, *args: object) -> str:
        status: str = await self._run("execute", query, args)
        return status


def _unavailable(exc: BaseException, connection_closed: bool = True) -> Exception | None:
    return translate(exc, connection_closed=connection_closed)


class PostgresStorage:
    """The storage port on Postgres. Build with ``await PostgresStorage.open(...)``.

    A connection that breaks (the database restarted, a network blip) is discarded by the
    pool and replaced on the next unit of work; one whose death is only noticed when the
    transaction begins is replaced at once, so a restart costs at most the requests that
    were in flight.
    """

    def __init__(
        self, pool: Pool, cipher: TokenCipher, expected_migrations: frozenset[str]
    ) -> None:
        self._pool = pool
        self._cipher = cipher
        self._expected_migrations = expected_migrations

    @classmethod
    async def open(
        cls,
        dsn: str,
        cipher: TokenCipher,
        *,
        min_size: int = 1,
        max_size: int = 10,
        connect_timeout_s: float = 5.0,
        command_timeout_s: float = 10.0,
        migrations_dir: Path = MIGRATIONS_DIR,
        statement_cache: bool = True,
    ) -> PostgresStorage:
        """Open a pool of ``min_size``..``max_size`` connections.

        ``statement_cache=False`` turns asyncpg's prepared-statement cache off, as a
        transaction-mode pooler in front of the database requires (README, Deploy).

        Raises:
            StorageUnavailable: ``min_size`` > 0 and the database cannot be reached.
        """
        try:
            pool = await asyncpg.create_pool(
                libpq_url(dsn),
                min_size=min_size,
                max_size=max_size,
                timeout=connect_timeout_s,
                command_timeout=command_timeout_s,
                # Idle connections are recycled, so none outlives a failover for long.
                max_inactive_connection_lifetime=60.0,
                server_settings={"application_name": "touchpoints"},
                # asyncpg's default size, or none: unnamed statements only.
                statement_cache_size=100 if statement_cache else 0,
                reset=keep_session,
            )
        except DRIVER_ERRORS as exc:
            if (error := _unavailable(exc)) is None:
                raise
            raise error from exc
        return cls(pool, cipher, migration_ids(migrations_dir))

    async def close(self, timeout_s: float = 10.0) -> None:
        """Close every connection, waiting up to ``timeout_s`` for units of work in progress."""
        try:
            await asyncio.wait_for(self._pool.close(), timeout_s)
        except TimeoutError:
            self._pool.terminate()

    def __repr__(self) -> str:
        return f"<PostgresStorage size={self._pool.get_size()}>"

    async def _acquire(self) -> PooledConnection:
        """A pooled connection; a database that cannot be reached is ``StorageUnavailable``."""
        try:
            return await self._pool.acquire()
        except DRIVER_ERRORS as exc:
            if (error := _unavailable(exc)) is None:
                raise
            raise error from exc

    async def _begin(self) -> tuple[PooledConnection, Transaction]:
        """A pooled connection inside a started transaction.

        A pooled connection may have died while idle; that shows up as soon as we talk to
        it (an error, or asyncpg's InternalClientError when the server's goodbye arrived
        mid-operation), and BEGIN is safe to repeat, so such a connection is dropped and
        one fresh attempt is made before reporting the database unavailable.
        """
        for attempt in (1, 2):
            connection = await self._acquire()
            transaction = connection.transaction()
            try:
                await transaction.start()
            except DRIVER_ERRORS as exc:
                await self._release(connection, discard=True)
                # A BEGIN that fails leaves the connection unusable whatever the cause.
                error = translate(exc, connection_closed=True)
                if error is None:
                    raise
                if attempt == 2 or not isinstance(error, StorageUnavailable):
                    raise error from exc
            except BaseException:
                await self._release(connection, discard=True)
                raise
            else:
                return connection, transaction
        raise AssertionError("unreachable")  # pragma: no cover

    async def _release(self, connection: PooledConnection, *, discard: bool = False) -> None:
        # A connection the server closed may already be back in the pool (asyncpg releases
        # it on close), which makes both calls raise InterfaceError: nothing left to do then.
        with contextlib.suppress(*DRIVER_ERRORS):
            if discard:
                connection.terminate()
            await self._pool.release(connection)

    @contextlib.asynccontextmanager
    async def _transaction(self) -> AsyncIterator[Db]:
        connection, transaction = await self._begin()
        try:
            yield Db(connection)
        except BaseException:
            try:
                await transaction.rollback()
            except Exception:
                # The connection is gone or unusable; the server rolls back on its own.
                await self._release(connection, discard=True)
            else:
                await self._release(connection)
            raise
        try:
            await transaction.commit()
        except BaseException as exc:
            closed = is_closed(connection)
            await self._release(connection, discard=True)
            error = (
                translate(exc, connection_closed=closed) if isinstance(exc, DRIVER_ERRORS) else None
            )
            if error is None:
                raise
            raise error from exc
        await self._release(connection)

    @contextlib.asynccontextmanager
    async def unit_of_work(self) -> AsyncIterator[UnitOfWork]:
        """One transaction: commits when the block ends normally, rolls back on an exception.

        Raises:
            StorageUnavailable: the database cannot be reached (at start or at commit).
        """
        async with self._transaction() as db:
            yield PostgresUnitOfWork(db, self._cipher)

    @contextlib.asynccontextmanager
    async def reading(self) -> AsyncIterator[UnitOfWork]:
        """Reads without a transaction: each statement sees what is committed when it runs.

        One round trip per statement (no BEGIN, no COMMIT), for the request paths that read
        once or a few independent times (authentication, the board, the events).

        Raises:
            StorageUnavailable: the database cannot be reached.
        """

        async def fresh(dead: PooledConnection) -> PooledConnection:
            await self._release(dead, discard=True)
            return await self._acquire()

        db = _ReadingDb(await self._acquire(), fresh)
        try:
            yield PostgresUnitOfWork(db, self._cipher)
        finally:
            await self._release(db.connection, discard=is_closed(db.connection))

    @contextlib.asynccontextmanager
    async def exclusive(self, name: str) -> AsyncIterator[bool]:
        """Hold the advisory lock ``name`` for the block when nobody else holds it.

        Yields whether this process got it; the lock dies with the connection, so a crashed
        holder never blocks the next one.
        """
        key = int.from_bytes(
            hashlib.sha256(f"touchpoints:{name}".encode()).digest()[:8], "big", signed=True
        )
        connection = await self._acquire()
        # Whether the connection may go back to the pool: the pool does not reset session
        # state (``keep_session``), so one whose lock is not known to be released is dropped.
        clean = False
        try:
            try:
                got = bool(await connection.fetchval("SELECT pg_try_advisory_lock($1)", key))
            except DRIVER_ERRORS as exc:
                if (error := translate(exc, connection_closed=is_closed(connection))) is None:
                    raise
                raise error from exc
            clean = not got
            try:
                yield got
            finally:
                if got:
                    with contextlib.suppress(*DRIVER_ERRORS):
                        clean = bool(
                            await connection.fetchval("SELECT pg_advisory_unlock($1)", key)
                        )
        finally:
            await self._release(connection, discard=not clean or is_closed(connection))

    async def ping(self) -> None:
        """Raises: StorageUnavailable when the database is unreachable or not migrated."""
        async with self._transaction() as db:
            rows = await db.fetch("SELECT migration_id FROM _yoyo_migration")
        missing = self._expected_migrations - {row["migration_id"] for row in rows}
        if missing:
            raise StorageUnavailable(f"{len(missing)} migration(s) not applied")

    async def reencrypt_tokens(self) -> int:
        """Re-encrypt every stored token under the cipher's current key (after a rotation).

        Returns how many portals were rewritten.
        """
        async with self._transaction() as db:
            return await PostgresPortals(db, self._cipher).reencrypt_all()
