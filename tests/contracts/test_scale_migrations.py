"""Migrations 0009 (the shared rate budget) and 0010 (the event inbox) roll back cleanly."""

from __future__ import annotations

from collections.abc import Callable

import psycopg
import pytest
from yoyo import get_backend, read_migrations

from touchpoints.adapters.postgres.dsn import libpq_url, yoyo_url
from touchpoints.adapters.postgres.migrate import MIGRATIONS_DIR, apply_migrations

pytestmark = pytest.mark.postgres

OURS = {"0009.rate-budget": "b24_rate_budget", "0010.event-inbox": "event_inbox"}


def _tables(dsn: str) -> set[str]:
    with psycopg.connect(libpq_url(dsn)) as connection:
        rows = connection.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()"
        ).fetchall()
    return {row[0] for row in rows}


def test_the_budget_and_inbox_migrations_roll_back_and_apply_again(
    fresh_database: Callable[[], str],
) -> None:
    dsn = fresh_database()
    apply_migrations(dsn)
    assert set(OURS.values()) <= _tables(dsn)
    backend = get_backend(yoyo_url(dsn))
    try:
        ours = read_migrations(str(MIGRATIONS_DIR)).filter(lambda m: m.id in OURS)
        assert sorted(m.id for m in ours) == sorted(OURS)
        with backend.lock():
            backend.rollback_migrations(backend.to_rollback(ours))
    finally:
        backend.connection.close()
    assert not set(OURS.values()) & _tables(dsn)
    assert "portals" in _tables(dsn)
    assert apply_migrations(dsn) == len(OURS)
    assert set(OURS.values()) <= _tables(dsn)
