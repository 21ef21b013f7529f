"""The embedded Postgres used when ``TOUCHPOINTS_DATABASE_URL`` is unset.

Why pgserver: it ships the real Postgres 16 binaries inside a PyPI wheel, so ``uv sync``
alone gives every developer, CI runner and demo user a genuine server (the same SQL,
locking, row-level security and constraint behaviour as production) with no system
package, Docker daemon or download at run time. It initialises a data directory, starts
the server on a Unix socket only (no TCP port to collide with), reuses a server that is
already running on the same directory, and stops it when the last process using it exits.
Started as root it runs Postgres as a dedicated ``pgserver`` system user (Postgres refuses
to run as root), widening the permissions of the data directory's parents so that user
can reach it. Alternatives considered: ``testing.postgresql`` and ``pytest-postgresql``
need Postgres installed on the host; SQLite would not exercise the real SQL.
"""

from __future__ import annotations

import contextlib
import fcntl
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import psycopg
from psycopg import sql

from touchpoints.adapters.postgres.dsn import with_database
from touchpoints.ports.storage import StorageUnavailable

DATABASE = "touchpoints"
_SUPERUSER = "postgres"

# One pgserver handle per data directory and process: it counts the processes using the
# server and stops it when the last one exits.
_servers: dict[Path, Any] = {}


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    with path.open("a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _start(pgdata: Path) -> Any:
    with warnings.catch_warnings():
        # platformdirs warns when XDG_RUNTIME_DIR is unset (containers, cron); harmless.
        warnings.simplefilter("ignore")
        from pgserver import postgres_server  # noqa: PLC0415 - heavy, and touches the disk

        return postgres_server.get_server(pgdata, cleanup_mode="stop")


def _server_dsn(server: Any, database: str) -> str:
    info = server.get_postmaster_info()
    if info.socket_dir is not None:
        port = f"&port={info.port}" if info.port else ""
        return (
            f"postgresql://{_SUPERUSER}@/{quote(database)}?host={quote(str(info.socket_dir))}{port}"
        )
    return f"postgresql://{_SUPERUSER}@{info.hostname}:{info.port}/{quote(database)}"


def _ensure_database(admin_dsn: str, database: str) -> None:
    with psycopg.connect(admin_dsn, autocommit=True, connect_timeout=10) as connection:
        exists = connection.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", (database,)
        ).fetchone()
        if exists is None:
            with contextlib.suppress(psycopg.errors.DuplicateDatabase):
                connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database)))


def ensure_embedded(data_dir: Path, database: str = DATABASE) -> str:
    """Start (or reuse) the Postgres under ``data_dir/postgres``; return a DSN for ``database``.

    Safe when several processes call it at once (a file lock in ``data_dir`` serialises
    initialisation and start-up). Creates ``database`` when it does not exist. The server
    stops when the last process that called this exits.

    Raises:
        StorageUnavailable: the server could not be initialised or started.
    """
    data_dir = data_dir.expanduser().resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    pgdata = data_dir / "postgres"
    try:
        with _file_lock(data_dir / "postgres.lock"):
            server = _servers.get(pgdata)
            if server is None:
                server = _servers[pgdata] = _start(pgdata)
            elif not (pgdata / "postmaster.pid").exists():
                # Stopped behind our back (pg_ctl stop, a restart): start it again in place.
                # The pid file, not the cached process, tells: a postmaster that exited may
                # linger as a zombie where nothing reaps it (containers without an init).
                server.ensure_postgres_running()
            _ensure_database(_server_dsn(server, "postgres"), database)
    except Exception as exc:
        # OSError, psycopg's OperationalError, and pgserver's CalledProcessError,
        # TimeoutExpired or AssertionError for a failed initdb/pg_ctl all mean the same here.
        raise StorageUnavailable(f"cannot start the embedded Postgres in {pgdata}") from exc
    return with_database(_server_dsn(server, "postgres"), database)
