"""The board's columns carry their local days; a card moves to a local day by the server's rule."""

from __future__ import annotations

from datetime import date, datetime

from tests.integration.conftest import Harness
from tests.integration.test_api import create
from touchpoints.domain.model import OwnerType


async def test_board_columns_carry_their_local_days(harness: Harness) -> None:
    member_id = await harness.install()
    session = await harness.session_for(member_id, 1)
    status, board = await harness.api("GET", "/api/v1/board", session)
    assert status == 200
    today = date.fromisoformat(board["today"])
    columns = {column["key"]: column for column in board["columns"]}
    assert columns["today"]["from"] == columns["today"]["to"] == today.isoformat()
    assert columns["overdue"]["from"] is None
    assert columns["later"]["to"] is None


async def test_a_card_moves_to_a_local_day_keeping_its_time_of_day(harness: Harness) -> None:
    member_id = await harness.install()
    deal = harness.b24.add_record(member_id, OwnerType.DEAL, title="Deal")
    session = await harness.session_for(member_id, 1)
    status, created = await create(harness, session, deal.id)
    assert status == 201, created
    before = datetime.fromisoformat(created["deadline"])
    _, board = await harness.api("GET", "/api/v1/board", session)
    target = next(c for c in board["columns"] if c["key"] == "next_week")["from"]
    status, moved = await harness.api(
        "PATCH", f"/api/v1/touchpoints/{created['id']}", session, json={"day": target}
    )
    assert status == 200, moved
    after = datetime.fromisoformat(moved["deadline"])
    assert after.date() == date.fromisoformat(target)  # next week's Monday is a working day
    assert after.time() == before.time()
    status, body = await harness.api(
        "PATCH",
        f"/api/v1/touchpoints/{created['id']}",
        session,
        json={"day": target, "deadline": created["deadline"]},
    )
    assert status == 400
    assert "day" in body["fields"]
