"""The hosted stack's database (README, Deploy): a transaction-mode pooler in front, Supabase roles.

The pooler is Debian's PgBouncer (``/usr/sbin/pgbouncer``) in ``pool_mode = transaction``,
the mode of Supabase's port 6543: consecutive transactions of one client run on whichever
server connection is free, so a statement prepared in one is unknown in the next.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import pwd
import secrets
import shutil
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict

from tests.contracts.conftest import NOW, Make
from tests.net import free_port
from tests.postgres import TEST_SECRET
from touchpoints.adapters.postgres.crypto import TokenCipher
from touchpoints.adapters.postgres.dsn import libpq_url, with_user
from touchpoints.adapters.postgres.rate_budget import PostgresRateBudget
from touchpoints.adapters.postgres.storage import PostgresStorage
from touchpoints.entrypoints.config import load_config
from touchpoints.entrypoints.runtime import open_database

pytestmark = pytest.mark.postgres

PGBOUNCER = "/usr/sbin/pgbouncer"
SERVER_CONNECTIONS = 3
CLIENT_CONNECTIONS = 4


def _pooler_user() -> str | None:
    """PgBouncer refuses to run as root; as root it runs as the embedded server's owner."""
    if os.geteuid() != 0:
        return None
    for name in ("pgserver", "postgres", "nobody"):
        with contextlib.suppress(KeyError):
            pwd.getpwnam(name)
            return name
    return "nobody"


@pytest.fixture(scope="module")
def pooler_dsn(pg_dsn: str) -> Iterator[str]:
    """``pg_dsn``'s database behind a local PgBouncer in transaction mode."""
    if shutil.which(PGBOUNCER) is None:
        pytest.fail(f"{PGBOUNCER} is missing: apt-get install pgbouncer")
    target = conninfo_to_dict(libpq_url(pg_dsn))
    port = free_port()
    workdir = Path(tempfile.mkdtemp(prefix="tp-pgbouncer-"))
    workdir.chmod(0o755)
    user = str(target.get("user") or "postgres")
    (workdir / "users.txt").write_text(f'"{user}" ""\n')
    server = f"host={target.get('host') or '127.0.0.1'} port={target.get('port') or 5432}"
    (workdir / "pgbouncer.ini").write_text(
        "[databases]\n"
        f"* = {server} user={user}\n"
        "[pgbouncer]\n"
        "listen_addr = 127.0.0.1\n"
        f"listen_port = {port}\n"
        "unix_socket_dir =\n"
        "auth_type = trust\n"
        f"auth_file = {workdir / 'users.txt'}\n"
        "pool_mode = transaction\n"
        f"default_pool_size = {SERVER_CONNECTIONS}\n"
        "ignore_startup_parameters = extra_float_digits\n"
    )
    run_as = _pooler_user()
    command = [PGBOUNCER, *(["-u", run_as] if run_as else []), str(workdir / "pgbouncer.ini")]
    # Its log goes to a file: a pipe nobody reads fills up and stalls the pooler.
    log = workdir / "pgbouncer.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=sink)
    dsn = f"postgresql://{user}@127.0.0.1:{port}/{target['dbname']}"
    try:
        deadline = time.monotonic() + 10
        while True:
            if process.poll() is not None:
                pytest.fail(f"pgbouncer exited: {log.read_text(errors='replace')[-2000:]}")
            # A query through it, not only an open port: the port is ours, not another
            # server's that took it between free_port() and PgBouncer's bind.
            with contextlib.suppress(psycopg.OperationalError):
                with psycopg.connect(libpq_url(dsn), connect_timeout=2) as probe:
                    probe.execute("SELECT 1")
                break
            if time.monotonic() > deadline:
                pytest.fail(f"pgbouncer did not answer within 10 s: {log.read_text()[-2000:]}")
            time.sleep(0.05)
        yield dsn
        assert process.poll() is None, f"pgbouncer died: {log.read_text()[-2000:]}"
    finally:
        process.terminate()
        process.wait(timeout=10)
        shutil.rmtree(workdir, ignore_errors=True)


@contextlib.asynccontextmanager
async def _storage(dsn: str, *, statement_cache: bool) -> AsyncIterator[PostgresStorage]:
    storage = await PostgresStorage.open(
        dsn,
        TokenCipher(TEST_SECRET),
        min_size=CLIENT_CONNECTIONS,
        max_size=CLIENT_CONNECTIONS,
        statement_cache=statement_cache,
        # As for the rate budget below: no cancel requests for the pooler to die of.
        connect_timeout_s=60,
        command_timeout_s=60,
    )
    try:
        yield storage
    finally:
        await storage.close()


async def _traffic(storage: PostgresStorage, make: Make, rounds: int) -> int:
    """Concurrent units of work, each a few statements: what a busy replica sends."""

    async def one() -> int:
        async with storage.unit_of_work() as uow:
            portal = await uow.portals.create(
                make.install(f"pooled-{secrets.token_hex(8)}"), now=NOW
            )
            assert await uow.portals.get(portal.id) is not None
            await uow.touch_points.add(make.new(portal.id))
        async with storage.unit_of_work() as uow:
            seen = await uow.portals.get_by_member_id(portal.member_id)
            assert seen is not None
            return seen.id

    results = await asyncio.gather(*(one() for _ in range(rounds)))
    return len(set(results))


async def test_units_of_work_run_behind_a_transaction_pooler_with_the_statement_cache_off(
    pooler_dsn: str, make: Make
) -> None:
    async with _storage(pooler_dsn, statement_cache=False) as storage:
        assert await _traffic(storage, make, rounds=60) == 60
        await storage.ping()


async def test_the_statement_cache_breaks_behind_a_transaction_pooler(
    pooler_dsn: str, make: Make
) -> None:
    # The reason for TOUCHPOINTS_DB_STATEMENT_CACHE=0: the same traffic with asyncpg's
    # default prepared statements, which live on one server connection only.
    async with _storage(pooler_dsn, statement_cache=True) as storage:
        with pytest.raises(
            (asyncpg.InvalidSQLStatementNameError, asyncpg.DuplicatePreparedStatementError)
        ):
            await _traffic(storage, make, rounds=60)


# ------------------------------------------------------------------ Supabase's API roles


async def test_supabase_api_roles_see_no_row_and_write_none_in_any_table(
    pg_storage: PostgresStorage, pg_dsn: str, make: Make
) -> None:
    # Supabase's Data API connects as ``anon`` or ``authenticated`` and grants them every
    # table of ``public`` by default; deny-all RLS (no policy) must leave them nothing.
    portal = await make.portal(pg_storage)
    async with pg_storage.unit_of_work() as uow:
        await uow.touch_points.add(make.new(portal.id))
    owner = await asyncpg.connect(libpq_url(pg_dsn))
    password = secrets.token_urlsafe(16)
    created: list[str] = []
    try:
        database = await owner.fetchval("SELECT current_database()")
        tables = [
            row["tablename"]
            for row in await owner.fetch(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename"
            )
        ]
        assert {"portals", "touchpoints"} <= set(tables)
        for role in ("anon", "authenticated"):
            if not await owner.fetchval("SELECT 1 FROM pg_roles WHERE rolname = $1", role):
                await owner.execute(f"CREATE ROLE {role} NOLOGIN")
                created.append(role)
            await owner.execute(f'GRANT CONNECT ON DATABASE "{database}" TO {role}')
            await owner.execute(f"GRANT USAGE ON SCHEMA public TO {role}")
            await owner.execute(f"GRANT ALL ON ALL TABLES IN SCHEMA public TO {role}")
        login = f"tp_authenticator_{secrets.token_hex(4)}"
        await owner.execute(f"CREATE ROLE {login} LOGIN PASSWORD '{password}' NOINHERIT")
        await owner.execute(f"GRANT anon, authenticated TO {login}")
        created.append(login)
        api = await asyncpg.connect(with_user(libpq_url(pg_dsn), login, password))
        try:
            for role in ("anon", "authenticated"):
                await api.execute(f"SET ROLE {role}")
                counts = {t: await api.fetchval(f'SELECT count(*) FROM "{t}"') for t in tables}
                assert counts == dict.fromkeys(tables, 0), role
                with pytest.raises(asyncpg.InsufficientPrivilegeError):
                    await api.execute(
                        "INSERT INTO feedback (portal_id, user_id, message, created_at)"
                        " VALUES ($1, 1, 'sneaky', now())",
                        portal.id,
                    )
                assert await api.execute("UPDATE portals SET domain = 'x'") == "UPDATE 0"
                assert await api.execute("DELETE FROM touchpoints") == "DELETE 0"
                await api.execute("RESET ROLE")
        finally:
            await api.close()
        assert await owner.fetchval("SELECT count(*) FROM touchpoints") == 1
    finally:
        for role in reversed(created):
            await owner.execute(f"DROP OWNED BY {role}")
            await owner.execute(f"DROP ROLE {role}")
        for role in ("anon", "authenticated"):
            if role not in created and await owner.fetchval(
                "SELECT 1 FROM pg_roles WHERE rolname = $1", role
            ):
                await owner.execute(f"REVOKE ALL ON ALL TABLES IN SCHEMA public FROM {role}")
        await owner.close()


@pytest.mark.parametrize(("flag", "prepared"), [("1", True), ("0", False)])
async def test_the_configuration_flag_decides_whether_the_pool_prepares_named_statements(
    pg_dsn: str, tmp_path: Path, flag: str, prepared: bool
) -> None:
    config = load_config(
        {
            "TOUCHPOINTS_DATABASE_URL": pg_dsn,
            "TOUCHPOINTS_DATA_DIR": str(tmp_path),
            "TOUCHPOINTS_DB_STATEMENT_CACHE": flag,
        }
    )
    async with open_database(config, max_size=1) as storage:
        async with storage.unit_of_work() as uow:
            assert await uow.portals.get_by_member_id("nobody") is None
        # The one pooled connection: named statements survive on it only with the cache on.
        async with storage._transaction() as db:
            named = await db.fetchval(
                "SELECT count(*) FROM pg_prepared_statements WHERE name LIKE '__asyncpg_stmt_%'"
            )
    assert (named > 0) is prepared


async def test_the_shared_rate_budget_works_behind_a_transaction_pooler(
    pooler_dsn: str, pg_storage: PostgresStorage, make: Make
) -> None:
    portal = await make.portal(pg_storage)
    # No timeouts to speak of: on a busy CI machine a slow statement would make asyncpg send
    # a cancel request, which Debian's PgBouncer 1.18 can die of (pgbouncer/pgbouncer#801,
    # "bad client state: 0"), failing this test for the pooler's bug, not the budget's.
    budgets = [
        await PostgresRateBudget.open(
            pooler_dsn, statement_cache=False, connect_timeout_s=60, command_timeout_s=60
        )
        for _ in range(3)
    ]
    try:
        admissions = await asyncio.gather(
            *(
                budgets[n % 3].admit(
                    portal.member_id, "batch", capacity=10, drain_per_s=2, max_wait_s=60
                )
                for n in range(30)
            )
        )
    finally:
        for budget in budgets:
            await budget.close()
    waits = sorted(a.wait_s for a in admissions if a is not None and a.reserved)
    assert len(waits) == 30
    assert waits[9] == 0.0
    assert waits[-1] > (30 - 10) / 2 - 1
