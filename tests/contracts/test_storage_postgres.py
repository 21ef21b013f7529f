"""What only Postgres can show: RLS, cascades found in the catalog, encryption, migrations, outages."""

from __future__ import annotations

import asyncio
import re
import secrets
import threading
from collections.abc import AsyncIterator, Callable

import asyncpg
import pytest

from tests.contracts.conftest import NOW, Make
from tests.postgres import TEST_SECRET
from touchpoints.adapters.postgres import open_storage
from touchpoints.adapters.postgres.crypto import TokenCipher
from touchpoints.adapters.postgres.dsn import libpq_url, with_user
from touchpoints.adapters.postgres.migrate import (
    apply_migrations,
    migration_ids,
    pending_migrations,
)
from touchpoints.adapters.postgres.storage import PostgresStorage
from touchpoints.domain.errors import InvalidValue
from touchpoints.domain.secrets import Secret
from touchpoints.domain.settings import PortalSettings, UserPreferences
from touchpoints.ports.storage import Feedback, StorageUnavailable

pytestmark = pytest.mark.postgres

TODAY = NOW.date()


@pytest.fixture
async def raw(pg_dsn: str) -> AsyncIterator[asyncpg.Connection]:
    """A plain connection as the owning role, to look under the adapter."""
    connection = await asyncpg.connect(libpq_url(pg_dsn))
    yield connection
    await connection.close()


async def _populate(storage: PostgresStorage, make: Make, portal_id: int) -> None:
    """One row of the portal in every table the port writes."""
    async with storage.unit_of_work() as uow:
        await uow.settings.put(portal_id, PortalSettings.defaults(), now=NOW)
        await uow.preferences.put(
            portal_id, UserPreferences(user_id=7, digest_enabled=True), now=NOW
        )
        first = await uow.touch_points.add(make.new(portal_id))
        done = await uow.touch_points.update(first.complete("ok", now=NOW))
        follow = await uow.touch_points.add(make.new(portal_id, previous_id=first.id))
        await uow.touch_points.update(done.link_follow_up(follow.id, now=NOW))
        await uow.digest_log.claim(portal_id, 7, TODAY, now=NOW, stale_after_s=60)
        await uow.feedback.add(
            Feedback(portal_id=portal_id, user_id=7, message="m", email=None, created_at=NOW)
        )


async def _tables(raw: asyncpg.Connection) -> list[str]:
    rows = await raw.fetch(
        "SELECT tablename FROM pg_tables WHERE schemaname = current_schema() ORDER BY tablename"
    )
    return [row["tablename"] for row in rows]


# ------------------------------------------------------------------ row-level security


async def test_every_table_has_row_level_security_and_no_policy(raw: asyncpg.Connection) -> None:
    rows = await raw.fetch(
        """
        SELECT c.relname, c.relrowsecurity,
               (SELECT count(*) FROM pg_policy p WHERE p.polrelid = c.oid) AS policies
        FROM pg_class c
        WHERE c.relnamespace = current_schema()::regnamespace AND c.relkind IN ('r', 'p')
        """
    )
    assert {row["relname"] for row in rows} >= {
        "portals",
        "settings",
        "user_preferences",
        "touchpoints",
        "digest_log",
        "feedback",
    }
    assert [(row["relname"], row["relrowsecurity"], row["policies"]) for row in rows] == [
        (row["relname"], True, 0) for row in rows
    ]


async def test_a_non_owner_role_sees_no_row_of_any_table_even_with_select_granted(
    pg_storage: PostgresStorage, pg_dsn: str, raw: asyncpg.Connection, make: Make
) -> None:
    portal = await make.portal(pg_storage)
    await _populate(pg_storage, make, portal.id)
    tables = await _tables(raw)
    role, password = f"tp_reader_{secrets.token_hex(4)}", secrets.token_urlsafe(16)
    database = await raw.fetchval("SELECT current_database()")
    await raw.execute(f"CREATE ROLE {role} LOGIN PASSWORD '{password}'")
    try:
        await raw.execute(f'GRANT CONNECT ON DATABASE "{database}" TO {role}')
        await raw.execute(f"GRANT USAGE ON SCHEMA public TO {role}")
        await raw.execute(f"GRANT SELECT, INSERT ON ALL TABLES IN SCHEMA public TO {role}")
        reader = await asyncpg.connect(with_user(libpq_url(pg_dsn), role, password))
        try:
            seen_by_owner = {
                table: await raw.fetchval(f'SELECT count(*) FROM "{table}"') for table in tables
            }
            seen_by_reader = {
                table: await reader.fetchval(f'SELECT count(*) FROM "{table}"') for table in tables
            }
            assert {table for table, count in seen_by_owner.items() if count} >= {
                "portals",
                "settings",
                "user_preferences",
                "touchpoints",
                "digest_log",
                "feedback",
                "_yoyo_migration",
            }
            assert seen_by_reader == dict.fromkeys(tables, 0)
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await reader.execute(
                    "INSERT INTO feedback (portal_id, user_id, message, created_at)"
                    " VALUES ($1, 1, 'sneaky', now())",
                    portal.id,
                )
        finally:
            await reader.close()
    finally:
        await raw.execute(f"DROP OWNED BY {role}")
        await raw.execute(f"DROP ROLE {role}")


# ------------------------------------------------------------------ cascade


async def test_deleting_a_portal_leaves_no_row_of_it_in_any_table_with_a_portal_id(
    pg_storage: PostgresStorage, raw: asyncpg.Connection, make: Make
) -> None:
    doomed = await make.portal(pg_storage)
    kept = await make.portal(pg_storage)
    await _populate(pg_storage, make, doomed.id)
    await _populate(pg_storage, make, kept.id)
    # Found in the catalog, so a table added later is covered without touching this test.
    tables = [
        row["table_name"]
        for row in await raw.fetch(
            """
            SELECT table_name FROM information_schema.columns
            WHERE table_schema = current_schema() AND column_name = 'portal_id'
            ORDER BY table_name
            """
        )
    ]
    assert set(tables) >= {"settings", "user_preferences", "touchpoints", "digest_log", "feedback"}

    async def counts(portal_id: int) -> dict[str, int]:
        return {
            table: await raw.fetchval(
                f'SELECT count(*) FROM "{table}" WHERE portal_id = $1', portal_id
            )
            for table in tables
        }

    kept_before = await counts(kept.id)
    populated = {table for table, count in (await counts(doomed.id)).items() if count}
    assert populated >= {"settings", "user_preferences", "touchpoints", "digest_log", "feedback"}
    async with pg_storage.unit_of_work() as uow:
        assert await uow.portals.delete(doomed.id)
    assert await counts(doomed.id) == dict.fromkeys(tables, 0)
    assert await counts(kept.id) == kept_before
    assert await raw.fetchval("SELECT count(*) FROM portals WHERE id = $1", doomed.id) == 0


# ------------------------------------------------------------------ constraints


async def test_the_schema_refuses_invalid_rows_written_around_the_adapter(
    pg_storage: PostgresStorage, raw: asyncpg.Connection, make: Make
) -> None:
    mine = await make.portal(pg_storage)
    theirs = await make.portal(pg_storage)
    async with pg_storage.unit_of_work() as uow:
        foreign = await uow.touch_points.add(make.new(theirs.id))
    insert = """
        INSERT INTO touchpoints (portal_id, activity_id, owner_type, owner_id, type, status,
            deadline, responsible_id, created_by, created_at, updated_at, previous_id)
        VALUES ($1, $2, 'deal', 1, 'call', $3, now(), 1, 1, now(), now(), $4)
    """
    with pytest.raises(asyncpg.CheckViolationError):
        await raw.execute(insert, mine.id, 1, "lost", None)
    with pytest.raises(asyncpg.CheckViolationError):
        await raw.execute(insert, mine.id, 2, "done", None)  # done without completed_at
    with pytest.raises(asyncpg.ForeignKeyViolationError):
        await raw.execute(insert, mine.id, 3, "open", foreign.id)


async def test_an_over_long_result_note_is_refused_as_invalid(
    pg_storage: PostgresStorage, raw: asyncpg.Connection, make: Make
) -> None:
    portal = await make.portal(pg_storage)
    async with pg_storage.unit_of_work() as uow:
        tp = await uow.touch_points.add(make.new(portal.id))
    # The domain refuses such a note first; the CHECK is the backstop for other writers.
    with pytest.raises(asyncpg.CheckViolationError):
        await raw.execute(
            "UPDATE touchpoints SET result_note = repeat('x', 10001) WHERE id = $1", tp.id
        )
    with pytest.raises(InvalidValue):
        async with pg_storage.unit_of_work() as uow:
            await uow.preferences.put(portal.id, UserPreferences(user_id=2**63), now=NOW)


# ------------------------------------------------------------------ tokens at rest


async def test_a_dump_of_the_database_holds_no_plaintext_token(
    pg_storage: PostgresStorage, raw: asyncpg.Connection, make: Make
) -> None:
    install = make.install()
    async with pg_storage.unit_of_work() as uow:
        await uow.portals.create(install, now=NOW)
    plaintexts = [
        install.tokens.access_token.reveal(),
        install.tokens.refresh_token.reveal(),
        install.application_token.reveal(),
    ]
    dump = []
    for table in await _tables(raw):
        dump += [row[0] for row in await raw.fetch(f'SELECT t::text FROM "{table}" t')]
    row = await raw.fetchrow("SELECT access_token, refresh_token, application_token FROM portals")
    assert row is not None
    dump += [bytes(value).decode("latin-1") for value in row.values()]
    assert dump
    assert not [text for text in dump for secret in plaintexts if secret in text]
    assert all(bytes(value).startswith(b"gAAAAA") for value in row.values())  # Fernet tokens


async def test_tokens_survive_a_key_rotation_and_the_old_key_can_then_be_dropped(
    pg_dsn: str, pg_storage: PostgresStorage, make: Make
) -> None:
    portal = await make.portal(pg_storage)
    new_secret = Secret("the-next-secret-key-0123456789abcdefghij")
    rotated = await PostgresStorage.open(pg_dsn, TokenCipher(new_secret, [TEST_SECRET]))
    try:
        async with rotated.unit_of_work() as uow:
            assert await uow.portals.get(portal.id) == portal
        assert await rotated.reencrypt_tokens() == 1
    finally:
        await rotated.close()
    retired = await PostgresStorage.open(pg_dsn, TokenCipher(new_secret))
    try:
        async with retired.unit_of_work() as uow:
            assert await uow.portals.get(portal.id) == portal
    finally:
        await retired.close()


# ------------------------------------------------------------------ migrations


def test_migrations_applied_concurrently_from_two_threads_run_once(
    fresh_database: Callable[[], str],
) -> None:
    dsn = fresh_database()
    expected = len(migration_ids())
    assert pending_migrations(dsn) == expected
    results: list[int] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(2)

    def migrate() -> None:
        barrier.wait()
        try:
            results.append(apply_migrations(dsn))
        except BaseException as exc:  # surfaced by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=migrate) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    assert sorted(results) == [0, expected]
    assert pending_migrations(dsn) == 0


async def test_ping_reports_a_database_without_migrations_as_unavailable(
    fresh_database: Callable[[], str], pg_cipher: TokenCipher
) -> None:
    storage = await PostgresStorage.open(fresh_database(), pg_cipher)
    try:
        with pytest.raises(StorageUnavailable):
            await storage.ping()
    finally:
        await storage.close()


async def test_open_storage_migrates_a_configured_database_and_opens_it(
    fresh_database: Callable[[], str], pg_cipher: TokenCipher, tmp_path: object
) -> None:
    dsn = fresh_database()
    storage = await open_storage(Secret(dsn), tmp_path, pg_cipher, max_size=2)  # type: ignore[arg-type]
    try:
        await storage.ping()
        assert pending_migrations(dsn) == 0
    finally:
        await storage.close()


# ------------------------------------------------------------------ outages


async def _backend_pids(raw: asyncpg.Connection) -> set[int]:
    rows = await raw.fetch(
        """
        SELECT pid FROM pg_stat_activity
        WHERE datname = current_database() AND application_name = 'touchpoints'
        """
    )
    return {row["pid"] for row in rows}


async def test_the_pool_replaces_connections_the_server_killed(
    pg_storage: PostgresStorage, raw: asyncpg.Connection, make: Make
) -> None:
    await make.portal(pg_storage)
    before = await _backend_pids(raw)
    assert before
    # What every client sees when Postgres restarts: its backend ends with 57P01.
    await raw.execute(
        """
        SELECT pg_terminate_backend(pid) FROM pg_stat_activity
        WHERE datname = current_database() AND application_name = 'touchpoints'
        """
    )
    async with pg_storage.unit_of_work() as uow:
        assert len(await uow.portals.list_ids()) == 1
    await pg_storage.ping()
    after = await _backend_pids(raw)
    assert after
    assert not after & before


async def test_a_reading_block_replaces_a_connection_the_server_killed_while_idle(
    pg_storage: PostgresStorage, raw: asyncpg.Connection, make: Make
) -> None:
    portal = await make.portal(pg_storage)
    before = await _backend_pids(raw)
    await raw.execute(
        """
        SELECT pg_terminate_backend(pid) FROM pg_stat_activity
        WHERE datname = current_database() AND application_name = 'touchpoints'
        """
    )
    await asyncio.sleep(0.05)
    async with pg_storage.reading() as uow:
        assert await uow.portals.get(portal.id) == portal
    after = await _backend_pids(raw)
    assert after
    assert not after & before


async def test_an_exclusive_lock_is_released_before_its_connection_is_pooled_again(
    pg_storage: PostgresStorage, raw: asyncpg.Connection
) -> None:
    async with pg_storage.exclusive("reconciliation") as got:
        assert got
        held = await raw.fetchval(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND database = "
            "(SELECT oid FROM pg_database WHERE datname = current_database())"
        )
    # The pool does not reset released connections (``keep_session``): the holder unlocks.
    left = await raw.fetchval(
        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND database = "
        "(SELECT oid FROM pg_database WHERE datname = current_database())"
    )
    async with pg_storage.exclusive("reconciliation") as again:
        assert again
    assert (held, left) == (1, 0)


async def test_a_connection_lost_inside_a_unit_of_work_is_reported_unavailable_and_healed(
    pg_storage: PostgresStorage, raw: asyncpg.Connection, make: Make
) -> None:
    await make.portal(pg_storage)

    async def read_across_a_kill() -> None:
        async with pg_storage.unit_of_work() as uow:
            await uow.portals.list_ids()
            await raw.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = current_database() AND application_name = 'touchpoints'"
            )
            await asyncio.sleep(0.05)
            await uow.portals.list_ids()

    with pytest.raises(StorageUnavailable):
        await read_across_a_kill()
    async with pg_storage.unit_of_work() as uow:
        assert len(await uow.portals.list_ids()) == 1


async def test_an_unreachable_database_is_reported_as_unavailable(
    tmp_path: object, pg_cipher: TokenCipher
) -> None:
    dsn = f"postgresql://postgres@/touchpoints?host={tmp_path}&port=5999"
    with pytest.raises(StorageUnavailable):
        await PostgresStorage.open(dsn, pg_cipher, connect_timeout_s=2)
    storage = await PostgresStorage.open(dsn, pg_cipher, min_size=0, connect_timeout_s=2)
    try:
        with pytest.raises(StorageUnavailable):
            async with storage.unit_of_work():
                pass
        with pytest.raises(StorageUnavailable):
            await storage.ping()
    finally:
        await storage.close()
    with pytest.raises(StorageUnavailable):
        pending_migrations(dsn)
    with pytest.raises(StorageUnavailable):
        apply_migrations(dsn)


async def test_reprs_reveal_no_dsn_or_key(pg_storage: PostgresStorage) -> None:
    assert re.fullmatch(r"<PostgresStorage size=\d+>", repr(pg_storage))
    assert repr(TokenCipher(TEST_SECRET, [Secret("older-secret")])) == "<TokenCipher keys=2>"
