"""Apply the yoyo migrations in ``migrations/`` under a lock that is safe for concurrent replicas."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
from yoyo import get_backend, read_migrations

from touchpoints.adapters.postgres.dsn import libpq_url, yoyo_url
from touchpoints.ports.storage import StorageUnavailable

# src/touchpoints/adapters/postgres/migrate.py -> the repository root's migrations/.
MIGRATIONS_DIR = Path(__file__).resolve().parents[4] / "migrations"

# An arbitrary constant that names "schema migrations of Touch-points" among advisory locks.
_ADVISORY_LOCK_KEY = 0x7470_6D69_6772_6174  # "tpmigrat"

# yoyo's own lock is a row in yoyo_lock keyed by the process id: two threads of one process
# would share it, and creating yoyo's bookkeeping tables races between replicas. A session
# advisory lock taken first serialises all of that, across threads, processes and hosts.
_LOCK_TIMEOUT_S = 300


def migration_ids(migrations_dir: Path = MIGRATIONS_DIR) -> frozenset[str]:
    """The ids (file names without ``.sql``) of every migration the code expects."""
    return frozenset(
        path.name.removesuffix(".sql")
        for path in migrations_dir.glob("*.sql")
        if not path.name.endswith(".rollback.sql")
    )


@contextlib.contextmanager
def _advisory_lock(dsn: str) -> Iterator[None]:
    with psycopg.connect(libpq_url(dsn), autocommit=True, connect_timeout=10) as connection:
        connection.execute(f"SET lock_timeout = '{_LOCK_TIMEOUT_S}s'")
        connection.execute("SELECT pg_advisory_lock(%s)", (_ADVISORY_LOCK_KEY,))
        try:
            yield
        finally:
            connection.execute("SELECT pg_advisory_unlock(%s)", (_ADVISORY_LOCK_KEY,))


@contextlib.contextmanager
def _backend(dsn: str) -> Iterator[Any]:
    backend = get_backend(yoyo_url(dsn))
    try:
        yield backend
    finally:
        backend.connection.close()


def apply_migrations(dsn: str, migrations_dir: Path = MIGRATIONS_DIR) -> int:
    """Apply every pending migration; return how many were applied.

    Safe to call from several replicas (or threads) at once: one applies, the others wait
    for it and then find nothing pending.

    Raises:
        StorageUnavailable: the database cannot be reached.
    """
    try:
        with _advisory_lock(dsn), _backend(dsn) as backend:
            migrations = read_migrations(str(migrations_dir))
            with backend.lock():
                pending = backend.to_apply(migrations)
                backend.apply_migrations(pending)
            return len(pending)
    except psycopg.OperationalError as exc:
        raise StorageUnavailable("cannot reach the database to migrate it") from exc


def pending_migrations(dsn: str, migrations_dir: Path = MIGRATIONS_DIR) -> int:
    """How many migrations are not applied yet.

    Raises:
        StorageUnavailable: the database cannot be reached.
    """
    try:
        with _advisory_lock(dsn), _backend(dsn) as backend:
            return len(backend.to_apply(read_migrations(str(migrations_dir))))
    except psycopg.OperationalError as exc:
        raise StorageUnavailable("cannot reach the database") from exc
