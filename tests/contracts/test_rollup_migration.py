"""Migration 0014 (the roll-up's message id, a deleted bot) rolls back and applies again."""

from __future__ import annotations

from collections.abc import Callable

import psycopg
import pytest
from yoyo import get_backend, read_migrations

from touchpoints.adapters.postgres.dsn import libpq_url, yoyo_url
from touchpoints.adapters.postgres.migrate import MIGRATIONS_DIR, apply_migrations

pytestmark = pytest.mark.postgres

OURS = "0014.digest-rollup"


def _digest_log_columns(dsn: str) -> set[str]:
    with psycopg.connect(libpq_url(dsn)) as connection:
        rows = connection.execute(
            "SELECT column_name FROM information_schema.columns"
            " WHERE table_schema = current_schema() AND table_name = 'digest_log'"
        ).fetchall()
    return {row[0] for row in rows}


def _accepts_deleted(dsn: str) -> bool:
    with psycopg.connect(libpq_url(dsn)) as connection:
        row = connection.execute(
            "SELECT pg_get_constraintdef(oid) FROM pg_constraint"
            " WHERE conname = 'portal_bots_status_valid'"
        ).fetchone()
    assert row is not None
    return "'deleted'" in row[0]


def test_the_roll_up_migration_rolls_back_and_applies_again(
    fresh_database: Callable[[], str],
) -> None:
    dsn = fresh_database()
    apply_migrations(dsn)
    assert "rollup_message_id" in _digest_log_columns(dsn)
    assert _accepts_deleted(dsn)
    backend = get_backend(yoyo_url(dsn))
    try:
        ours = read_migrations(str(MIGRATIONS_DIR)).filter(lambda m: m.id == OURS)
        assert [m.id for m in ours] == [OURS]
        with backend.lock():
            backend.rollback_migrations(backend.to_rollback(ours))
    finally:
        backend.connection.close()
    assert "rollup_message_id" not in _digest_log_columns(dsn)
    assert not _accepts_deleted(dsn)
    assert apply_migrations(dsn) == 1
    assert _accepts_deleted(dsn)
