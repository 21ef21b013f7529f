"""Pytest plugin: a Postgres for the test session, migrated by the real migrations.

``TOUCHPOINTS_DATABASE_URL`` names a server to use (its role needs CREATEDB and
CREATEROLE); otherwise an embedded Postgres is started under the session's tmp dir. Either
way the session gets a fresh database of its own, dropped at the end.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator, Callable, Iterator

import asyncpg
import psycopg
import pytest
from psycopg import sql

from touchpoints.adapters.postgres.crypto import TokenCipher
from touchpoints.adapters.postgres.dsn import libpq_url, with_database
from touchpoints.adapters.postgres.embedded import ensure_embedded
from touchpoints.adapters.postgres.migrate import apply_migrations
from touchpoints.adapters.postgres.storage import PostgresStorage
from touchpoints.domain.secrets import Secret

TEST_SECRET = Secret("contract-tests-secret-key-0123456789abcdef")


def _admin(dsn: str) -> psycopg.Connection[tuple[object, ...]]:
    return psycopg.connect(libpq_url(dsn), autocommit=True, connect_timeout=10)


def create_database(server_dsn: str, prefix: str = "touchpoints_test") -> str:
    """Create an empty database on ``server_dsn``'s server; return its DSN."""
    name = f"{prefix}_{secrets.token_hex(4)}"
    with _admin(server_dsn) as connection:
        connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        # Test data is disposable: do not wait for the WAL flush on every commit.
        connection.execute(
            sql.SQL("ALTER DATABASE {} SET synchronous_commit = off").format(sql.Identifier(name))
        )
    return with_database(server_dsn, name)


def drop_database(server_dsn: str, dsn: str) -> None:
    name = dsn.rpartition("/")[2].partition("?")[0]
    with _admin(server_dsn) as connection:
        connection.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


@pytest.fixture(scope="session")
def pg_server_dsn(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A DSN of the server the tests use (configured, or embedded for this session)."""
    configured = os.environ.get("TOUCHPOINTS_DATABASE_URL", "").strip()
    if configured:
        return configured
    dsn = ensure_embedded(tmp_path_factory.mktemp("embedded"))
    with _admin(dsn) as connection:
        # Our own throwaway server: durability is not worth the fsyncs.
        connection.execute("ALTER SYSTEM SET fsync = off")
        connection.execute("ALTER SYSTEM SET full_page_writes = off")
        connection.execute("SELECT pg_reload_conf()")
    return dsn


@pytest.fixture(scope="session")
def pg_dsn(pg_server_dsn: str) -> Iterator[str]:
    """A fresh database for this session, with every migration applied."""
    dsn = create_database(pg_server_dsn)
    apply_migrations(dsn)
    yield dsn
    drop_database(pg_server_dsn, dsn)


@pytest.fixture
def fresh_database(pg_server_dsn: str) -> Iterator[Callable[[], str]]:
    """Make empty (unmigrated) databases for this test; they are dropped afterwards."""
    made: list[str] = []

    def make() -> str:
        made.append(create_database(pg_server_dsn, "touchpoints_scratch"))
        return made[-1]

    yield make
    for dsn in made:
        drop_database(pg_server_dsn, dsn)


@pytest.fixture
def pg_cipher() -> TokenCipher:
    return TokenCipher(TEST_SECRET)


async def empty_database(dsn: str) -> None:
    """Delete every row the tests write (the session database is shared by the tests)."""
    connection = await asyncpg.connect(libpq_url(dsn))
    try:
        # Every table references portals ON DELETE CASCADE, so this empties them all.
        await connection.execute("TRUNCATE portals, abuse_budget RESTART IDENTITY CASCADE")
    finally:
        await connection.close()


@pytest.fixture
async def pg_storage(pg_dsn: str, pg_cipher: TokenCipher) -> AsyncIterator[PostgresStorage]:
    """``PostgresStorage`` on the session database, emptied before the test."""
    storage = await PostgresStorage.open(pg_dsn, pg_cipher, min_size=1, max_size=8)
    try:
        await empty_database(pg_dsn)
        yield storage
    finally:
        await storage.close()
