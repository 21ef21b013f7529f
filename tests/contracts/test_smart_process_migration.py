"""Migration 0011 (smart processes): the widened checks take ``dynamic_<entityTypeId>`` in one
spelling only, and the rollback leaves a schema and data the four-entity code can read."""

from __future__ import annotations

from collections.abc import Callable

import psycopg
import pytest
from yoyo import get_backend, read_migrations

from touchpoints.adapters.postgres.dsn import libpq_url, yoyo_url
from touchpoints.adapters.postgres.migrate import MIGRATIONS_DIR, apply_migrations

pytestmark = pytest.mark.postgres

OURS = "0011.smart-processes"
_PORTAL = """
    INSERT INTO portals (member_id, client_endpoint, domain, access_token, refresh_token,
                         application_token, token_expires_at, created_at, updated_at)
    VALUES (%s, 'https://a.bitrix24.example/rest/', 'a.bitrix24.example', '\\x00', '\\x00',
            '\\x00', now(), now(), now())
    RETURNING id
"""


def _settings(connection: psycopg.Connection, portal_id: int, entities: list[str]) -> None:
    connection.execute(
        """
        INSERT INTO settings (portal_id, time_zone, enabled_entities, default_interval,
                              default_interval_unit, working_days, holidays, digest_hour,
                              team_viewers, digest_default, updated_at)
        VALUES (%s, 'UTC', %s, 3, 'working_days', '{1,2,3,4,5}', '{}', 9, '{}', true, now())
        ON CONFLICT (portal_id) DO UPDATE SET enabled_entities = excluded.enabled_entities
        """,
        (portal_id, entities),
    )


def _portal(connection: psycopg.Connection, member_id: str = "m1") -> int:
    row = connection.execute(_PORTAL, (member_id,)).fetchone()
    assert row is not None
    return int(row[0])


@pytest.mark.parametrize(
    "entities",
    [
        ["deal", "dynamic_0128"],
        ["dynamic_12"],
        ["deal", "Dynamic_1046"],
        ["deal", "dynamic_1046 "],
        ["deal", None],
        [],
    ],
)
def test_the_settings_check_refuses_misspelt_entities(
    fresh_database: Callable[[], str], entities: list[str | None]
) -> None:
    dsn = fresh_database()
    apply_migrations(dsn)
    with psycopg.connect(libpq_url(dsn)) as connection:
        portal_id = _portal(connection)
        _settings(connection, portal_id, ["deal", "dynamic_1046", "dynamic_130"])
        with pytest.raises(psycopg.errors.CheckViolation):
            _settings(connection, portal_id, entities)  # type: ignore[arg-type]


def test_the_rollback_drops_smart_processes_and_keeps_a_portal_an_entity(
    fresh_database: Callable[[], str],
) -> None:
    dsn = fresh_database()
    apply_migrations(dsn)
    with psycopg.connect(libpq_url(dsn)) as connection:
        only_dynamic = _portal(connection, "m0")
        _settings(connection, only_dynamic, ["dynamic_1046"])
        mixed = _portal(connection)
        _settings(connection, mixed, ["lead", "dynamic_1046"])
    backend = get_backend(yoyo_url(dsn))
    try:
        ours = read_migrations(str(MIGRATIONS_DIR)).filter(lambda m: m.id == OURS)
        with backend.lock():
            backend.rollback_migrations(backend.to_rollback(ours))
    finally:
        backend.connection.close()
    with psycopg.connect(libpq_url(dsn)) as connection:
        rows = dict(connection.execute("SELECT portal_id, enabled_entities FROM settings"))
        assert rows == {only_dynamic: ["lead", "deal", "contact", "company"], mixed: ["lead"]}
        with pytest.raises(psycopg.errors.CheckViolation):
            _settings(connection, mixed, ["lead", "dynamic_1046"])
    assert apply_migrations(dsn) == 1
