"""The embedded Postgres: shared by concurrent processes, and survived by the pool when it restarts."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.postgres import TEST_SECRET
from touchpoints.adapters.postgres import open_storage
from touchpoints.adapters.postgres.crypto import TokenCipher
from touchpoints.adapters.postgres.embedded import ensure_embedded
from touchpoints.ports.storage import StorageUnavailable

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

_CHILD = """
import sys
from pathlib import Path

import psycopg

from touchpoints.adapters.postgres.embedded import ensure_embedded

dsn = ensure_embedded(Path(sys.argv[1]))
with psycopg.connect(dsn) as connection:
    answer = connection.execute("SELECT 40 + 2").fetchone()[0]
print(dsn, answer)
"""


def test_two_processes_starting_the_embedded_server_at_once_share_one(tmp_path: Path) -> None:
    children = [
        subprocess.Popen(
            [sys.executable, "-c", _CHILD, str(tmp_path)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    outputs = [child.communicate(timeout=120) for child in children]
    assert [child.returncode for child in children] == [0, 0], [err for _, err in outputs]
    lines = {out.strip() for out, _ in outputs}
    assert len(lines) == 1
    (line,) = lines
    assert line.endswith(" 42")
    assert f"host={tmp_path.resolve()}/postgres" in line


def _stop_fast(pgdata: Path) -> None:
    """What an operator's restart does first: a fast shutdown (SIGINT to the postmaster)."""
    pid = int((pgdata / "postmaster.pid").read_text().split()[0])
    os.kill(pid, signal.SIGINT)
    deadline = time.monotonic() + 30
    while (pgdata / "postmaster.pid").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not (pgdata / "postmaster.pid").exists()


async def test_the_storage_recovers_by_itself_when_the_database_comes_back(
    tmp_path: Path,
) -> None:
    storage = await open_storage(None, tmp_path, TokenCipher(TEST_SECRET), max_size=3)
    try:
        await storage.ping()
        _stop_fast(tmp_path / "postgres")
        with pytest.raises(StorageUnavailable):
            async with storage.unit_of_work() as uow:
                await uow.portals.list_ids()
        with pytest.raises(StorageUnavailable):
            await storage.ping()
        ensure_embedded(tmp_path)  # the server is back (same data directory)
        await storage.ping()
        async with storage.unit_of_work() as uow:
            assert await uow.portals.list_ids() == []
    finally:
        await storage.close()
