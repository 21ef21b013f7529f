"""Database round trips per request, counted on the wire (``tests/roundtrips.py``).

The board and the events are the app's hottest paths (issue 19: at most 3 round trips per
board render, 1 per event about an activity that is not ours). Each request is made once
first, so every statement it uses is already prepared on the pooled connection, as it is
in a process that has been up for a while. With asyncpg's statement cache off (behind a
transaction-mode pooler, README: deploy) every statement is prepared anew, one more round
trip each: the same statements, twice the trips.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.integration.conftest import Harness
from tests.postgres import empty_database
from tests.roundtrips import RoundTripCounter, counting
from touchpoints.adapters.postgres.crypto import TokenCipher
from touchpoints.adapters.postgres.storage import PostgresStorage

pytestmark = pytest.mark.postgres


@pytest.fixture
async def wire(pg_dsn: str) -> AsyncIterator[RoundTripCounter]:
    async with counting(pg_dsn) as counter:
        yield counter


@pytest.fixture(params=[True, False], ids=["statement-cache", "no-statement-cache"])
def per_statement(request: pytest.FixtureRequest) -> int:
    """Round trips per statement: 1 with the statement cache, 2 without (prepare, execute)."""
    return 1 if request.param else 2


@pytest.fixture
async def pg_storage(
    wire: RoundTripCounter, pg_dsn: str, pg_cipher: TokenCipher, per_statement: int
) -> AsyncIterator[PostgresStorage]:
    """The harness's storage, connected through the counter."""
    storage = await PostgresStorage.open(
        wire.dsn, pg_cipher, min_size=1, max_size=8, statement_cache=per_statement == 1
    )
    try:
        await empty_database(pg_dsn)
        yield storage
    finally:
        await storage.close()


async def test_a_board_render_takes_at_most_three_round_trips(
    harness: Harness, wire: RoundTripCounter, per_statement: int
) -> None:
    member_id = await harness.install()
    session = await harness.session_for(member_id, 1)
    for days in (1, 2, 3):
        await harness.create_touch_point(member_id, session, days=days)
    status, first = await harness.api("GET", "/api/v1/board", session)
    assert status == 200

    wire.reset()
    status, board = await harness.api("GET", "/api/v1/board", session)

    assert status == 200
    assert board == first
    assert sum(len(column["items"]) for column in board["columns"]) == 3
    # The portal with its settings, then the board's query: 2 (the budget is 3).
    assert wire.count == 2 * per_statement


async def test_an_event_about_an_activity_not_ours_takes_one_round_trip(
    harness: Harness, wire: RoundTripCounter, per_statement: int
) -> None:
    member_id = await harness.install()
    session = await harness.session_for(member_id, 1)
    await harness.create_touch_point(member_id, session)
    first = await harness.b24.send_event(
        harness.events_url, "ONCRMACTIVITYUPDATE", member_id, {"ID": "999001"}
    )
    assert first.status == 200

    wire.reset()
    again = await harness.b24.send_event(
        harness.events_url, "ONCRMACTIVITYUPDATE", member_id, {"ID": "999002"}
    )

    assert again.status == 200
    # The portal, its token and whether the activity is ours: one statement.
    assert wire.count == per_statement
