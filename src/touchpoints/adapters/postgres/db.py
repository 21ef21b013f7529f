"""One asyncpg connection whose driver errors come out as the storage port's errors."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar, Self

import asyncpg

from touchpoints.adapters.postgres.dsn import libpq_url
from touchpoints.adapters.postgres.errors import DRIVER_ERRORS, translate
from touchpoints.domain.checks import require_aware

if TYPE_CHECKING:
    # The driver's classes are generic only in its stubs.
    Connection = (
        asyncpg.Connection[asyncpg.Record] | asyncpg.pool.PoolConnectionProxy[asyncpg.Record]
    )
    Pool = asyncpg.Pool[asyncpg.Record]


async def keep_session(connection: Connection) -> None:
    """The pools' reset of a released connection: nothing beyond what asyncpg always does
    first (rolling back a transaction left open, dropping listener callbacks).

    asyncpg's default reset is one more round trip per release (``pg_advisory_unlock_all();
    CLOSE ALL; UNLISTEN *; RESET ALL``) for session state this app never leaves behind: it
    runs no ``SET`` outside startup parameters (which ``RESET ALL`` keeps anyway), no
    ``LISTEN``, no cursor outside a transaction (asyncpg's cursors need one, so they close
    with it), and its one session-level advisory lock (``PostgresStorage.exclusive``) is
    unlocked by its holder, which discards the connection when the unlock is not confirmed.
    Behind a transaction-mode pooler (PgBouncer) there is no session to reset either.
    """


def is_closed(connection: Connection) -> bool:
    """Whether the connection is unusable (also when the pool already took it back)."""
    try:
        return connection.is_closed()
    except asyncpg.InterfaceError:
        return True


class Db:
    """One connection whose driver errors come out as port errors."""

    __slots__ = ("_connection",)

    def __init__(self, connection: Connection) -> None:
        self._connection = connection

    @contextlib.contextmanager
    def _translating(self, chain_id: int | None = None) -> Iterator[None]:
        """Re-raise a driver error as the port error it means (unknown ones as they are)."""
        try:
            yield
        except DRIVER_ERRORS as exc:
            error = translate(exc, connection_closed=is_closed(self._connection), chain_id=chain_id)
            if error is None:
                raise
            raise error from exc

    async def fetch(self, query: str, *args: object) -> list[asyncpg.Record]:
        with self._translating():
            return await self._connection.fetch(query, *args)

    async def fetchrow(
        self, query: str, *args: object, chain_id: int | None = None
    ) -> asyncpg.Record | None:
        with self._translating(chain_id):
            return await self._connection.fetchrow(query, *args)

    async def fetchval(self, query: str, *args: object) -> Any:
        with self._translating():
            return await self._connection.fetchval(query, *args)

    async def execute(self, query: str, *args: object) -> str:
        with self._translating():
            return await self._connection.execute(query, *args)


@contextlib.contextmanager
def pool_errors() -> Iterator[None]:
    """Re-raise a driver error of a pooled statement as the port error it means."""
    try:
        yield
    except DRIVER_ERRORS as exc:
        error = translate(exc, connection_closed=True)
        if error is None:
            raise
        raise error from exc


class SidePoolAdapter:
    """Base of the adapters of one statement per operation (the rate budget, the event
    inbox): each has a small pool of its own, so its statements never queue behind the
    units of work, nor they behind it. Build with ``await <Adapter>.open(...)``."""

    POOL_NAME: ClassVar[str]

    def __init__(self, pool: Pool) -> None:
        self._pool = pool

    @classmethod
    def server_settings(cls, *, statement_cache: bool) -> dict[str, str]:
        """Startup parameters of the pool's connections beyond ``application_name``."""
        return {}

    @classmethod
    async def open(
        cls,
        dsn: str,
        *,
        max_size: int = 4,
        statement_cache: bool = True,
        connect_timeout_s: float = 5.0,
        command_timeout_s: float = 5.0,
    ) -> Self:
        """A pool of up to ``max_size`` connections, opened lazily; ``statement_cache``
        False for a transaction-mode pooler in front (README: deploy)."""
        settings = cls.server_settings(statement_cache=statement_cache)
        with pool_errors():
            pool = await asyncpg.create_pool(
                libpq_url(dsn),
                min_size=0,
                max_size=max_size,
                timeout=connect_timeout_s,
                command_timeout=command_timeout_s,
                max_inactive_connection_lifetime=60.0,
                server_settings={"application_name": cls.POOL_NAME, **settings},
                statement_cache_size=100 if statement_cache else 0,
                reset=keep_session,
            )
        return cls(pool)

    async def close(self) -> None:
        await self._pool.close()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} size={self._pool.get_size()}>"


class PostgresRepository:
    """Base of the Postgres repositories: each queries its unit of work's connection."""

    def __init__(self, db: Db) -> None:
        self._db = db

    async def _stamp_once(
        self, table: str, column: str, portal_id: int, row_id: int, *, now: datetime
    ) -> bool:
        """Set a row's ``column`` to ``now`` if it is still NULL (a hand-over returned, an
        undo token used): whether this call was the one that set it.

        ``table`` and ``column`` are the repository's own identifiers, never caller text.
        """
        require_aware("now", now)
        stamped = await self._db.fetchval(
            f"UPDATE {table} SET {column} = $3"  # noqa: S608
            f" WHERE portal_id = $1 AND id = $2 AND {column} IS NULL RETURNING id",
            portal_id,
            row_id,
            now,
        )
        return stamped is not None
