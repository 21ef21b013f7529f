"""The Postgres adapter: asyncpg repositories behind the storage port."""

from __future__ import annotations

import asyncio
from pathlib import Path

from touchpoints.adapters.postgres.crypto import TokenCipher
from touchpoints.adapters.postgres.embedded import ensure_embedded
from touchpoints.adapters.postgres.migrate import apply_migrations, pending_migrations
from touchpoints.adapters.postgres.storage import PostgresStorage
from touchpoints.domain.secrets import Secret


async def resolve_dsn(database_url: Secret | str | None, data_dir: Path) -> str:
    """The configured DSN, or the embedded server's under ``data_dir`` when there is none."""
    if isinstance(database_url, Secret):
        database_url = database_url.reveal()
    if database_url:
        return database_url
    return await asyncio.to_thread(ensure_embedded, data_dir)


async def open_storage(
    database_url: Secret | str | None,
    data_dir: Path,
    cipher: TokenCipher,
    *,
    min_size: int = 1,
    max_size: int = 10,
    statement_cache: bool = True,
) -> PostgresStorage:
    """What the composition root calls: pick the database, migrate it, open the pool.

    Uses ``database_url`` (``TOUCHPOINTS_DATABASE_URL``) when set, else starts or reuses the
    embedded Postgres under ``data_dir``. Pending migrations are applied under a lock that
    makes replicas starting together safe.

    Raises:
        StorageUnavailable: the database cannot be reached or started.
    """
    dsn = await resolve_dsn(database_url, data_dir)
    await asyncio.to_thread(apply_migrations, dsn)
    return await PostgresStorage.open(
        dsn, cipher, min_size=min_size, max_size=max_size, statement_cache=statement_cache
    )


__all__ = [
    "PostgresStorage",
    "TokenCipher",
    "apply_migrations",
    "ensure_embedded",
    "open_storage",
    "pending_migrations",
    "resolve_dsn",
]
