"""Bitrix24 failing on each kind of write: documented statuses, consistent rows, clean retries."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from tests.integration.conftest import Harness
from touchpoints.adapters.bitrix24.throttle import RetryPolicy
from touchpoints.domain.model import OwnerType
from touchpoints.services.reconciliation import reconcile_portal

pytestmark = pytest.mark.postgres


@pytest.fixture
def b24_timeout_s() -> float:
    return 1.0


@pytest.fixture
def b24_retry() -> RetryPolicy:
    return RetryPolicy(max_attempts=2, base_delay_s=0.01, max_delay_s=0.05, budget_s=2.0)


async def start(harness: Harness) -> tuple[str, str, int]:
    member_id = await harness.install()
    deal = harness.b24.add_record(member_id, OwnerType.DEAL, title="Deal")
    session = await harness.session_for(member_id, 1)
    return member_id, session, deal.id


def create_body(harness: Harness, deal_id: int) -> dict[str, Any]:
    deadline = harness.b24.clock.now().replace(microsecond=0) + timedelta(days=2)
    return {
        "owner": {"type": "deal", "id": deal_id},
        "type": "call",
        "deadline": deadline.isoformat(),
    }


async def stored(harness: Harness, member_id: str) -> list[Any]:
    async with harness.storage.unit_of_work() as uow:
        portal = await uow.portals.get_by_member_id(member_id)
        assert portal is not None
        return await uow.touch_points.all(portal.id)


@pytest.mark.parametrize(
    ("fault", "status", "code"),
    [
        ({"error": "INTERNAL_SERVER_ERROR"}, 503, "CRM_UNAVAILABLE"),
        ({"error": "QUERY_LIMIT_EXCEEDED", "times": None}, 503, "CRM_UNAVAILABLE"),
        ({"raw_body": "<html>502 Bad Gateway</html>", "status": 502}, 503, "CRM_UNAVAILABLE"),
        ({"stall": True}, 504, "CRM_TIMEOUT"),
        ({"error": "SOMETHING_NEW", "status": 400}, 502, "CRM_ERROR"),
    ],
)
async def test_a_failed_create_records_nothing_and_succeeds_once_the_fault_clears(
    harness: Harness, fault: dict[str, Any], status: int, code: str
) -> None:
    member_id, session, deal_id = await start(harness)
    harness.b24.inject("crm.activity.todo.add", member_id=member_id, **fault)
    got, body = await harness.api(
        "POST", "/api/v1/touchpoints", session, json=create_body(harness, deal_id)
    )
    assert (got, body["code"]) == (status, code)
    assert await stored(harness, member_id) == []
    harness.b24.clear_faults()
    got, body = await harness.api(
        "POST", "/api/v1/touchpoints", session, json=create_body(harness, deal_id)
    )
    assert got == 201, body
    assert len(await stored(harness, member_id)) == 1


@pytest.mark.parametrize(
    ("method", "fault", "status"),
    [
        ("crm.activity.todo.updatedeadline", {"error": "INTERNAL_SERVER_ERROR"}, 503),
        ("crm.activity.todo.updatedeadline", {"stall": True}, 504),
        ("crm.activity.todo.updatedeadline", {"error": "QUERY_LIMIT_EXCEEDED", "times": None}, 503),
    ],
)
async def test_a_failed_move_leaves_the_row_unchanged(
    harness: Harness, method: str, fault: dict[str, Any], status: int
) -> None:
    member_id, session, deal_id = await start(harness)
    _, created = await harness.api(
        "POST", "/api/v1/touchpoints", session, json=create_body(harness, deal_id)
    )
    later = (harness.b24.clock.now().replace(microsecond=0) + timedelta(days=5)).isoformat()
    harness.b24.inject(method, member_id=member_id, **fault)
    got, body = await harness.api(
        "PATCH", f"/api/v1/touchpoints/{created['id']}", session, json={"deadline": later}
    )
    assert got == status, body
    (row,) = await stored(harness, member_id)
    assert row.deadline.isoformat() != later
    assert row.version == 1
    harness.b24.clear_faults()
    got, body = await harness.api(
        "PATCH", f"/api/v1/touchpoints/{created['id']}", session, json={"deadline": later}
    )
    assert got == 200, body


async def test_a_failed_completion_keeps_the_touch_point_open(harness: Harness) -> None:
    member_id, session, deal_id = await start(harness)
    _, created = await harness.api(
        "POST", "/api/v1/touchpoints", session, json=create_body(harness, deal_id)
    )
    harness.b24.inject("crm.activity.update", member_id=member_id, error="INTERNAL_SERVER_ERROR")
    got, body = await harness.api(
        "POST",
        f"/api/v1/touchpoints/{created['id']}/complete",
        session,
        json={"result_note": "Done"},
    )
    assert (got, body["code"]) == (503, "CRM_UNAVAILABLE")
    (row,) = await stored(harness, member_id)
    assert row.status.value == "open"
    got, body = await harness.api(
        "POST",
        f"/api/v1/touchpoints/{created['id']}/complete",
        session,
        json={"result_note": "Done"},
    )
    assert got == 200, body
    assert body["completed"]["status"] == "done"


async def test_a_failed_follow_up_is_finished_by_repeating_the_same_request(
    harness: Harness,
) -> None:
    member_id, session, deal_id = await start(harness)
    _, created = await harness.api(
        "POST", "/api/v1/touchpoints", session, json=create_body(harness, deal_id)
    )
    request = {"result_note": "Call again next week", "follow_up": {}}
    harness.b24.inject("crm.activity.todo.add", member_id=member_id, error="INTERNAL_SERVER_ERROR")
    got, body = await harness.api(
        "POST", f"/api/v1/touchpoints/{created['id']}/complete", session, json=request
    )
    assert got == 503, body
    rows = await stored(harness, member_id)
    assert [(r.status.value, r.next_id) for r in rows] == [("done", None)]
    got, body = await harness.api(
        "POST", f"/api/v1/touchpoints/{created['id']}/complete", session, json=request
    )
    assert got == 200, body
    assert body["follow_up"]["previous_id"] == created["id"]
    rows = await stored(harness, member_id)
    assert len(rows) == 2
    open_todos = [a for a in harness.b24.portal(member_id).activities.values() if not a.completed]
    assert len(open_todos) == 1


async def test_a_dead_token_endpoint_during_refresh_does_not_lock_the_portal_out(
    harness: Harness,
) -> None:
    member_id = await harness.install()
    async with harness.storage.unit_of_work() as uow:
        portal = await uow.portals.get_by_member_id(member_id)
    assert portal is not None
    harness.b24.clock.advance(3700)  # the stored access token has expired
    harness.b24.inject("oauth.token", error="INTERNAL_SERVER_ERROR", status=500)
    crm = harness.services.connector.as_app(portal)
    with pytest.raises(Exception, match=r"(?i)unavailable|token|refresh|500"):
        await crm.current_user()
    harness.b24.clear_faults()
    async with harness.storage.unit_of_work() as uow:
        portal = await uow.portals.get_by_member_id(member_id)
    assert portal is not None
    assert portal.is_active
    me = await harness.services.connector.as_app(portal).current_user()
    assert me.id == 1


async def reconcile(harness: Harness, member_id: str) -> None:
    async with harness.storage.unit_of_work() as uow:
        portal = await uow.portals.get_by_member_id(member_id)
    assert portal is not None
    await reconcile_portal(
        storage=harness.storage,
        connector=harness.services.connector,
        clock=harness.services.clock,
        portal=portal,
    )


async def test_a_to_do_created_by_a_timed_out_call_is_adopted_by_reconciliation(
    harness: Harness,
) -> None:
    member_id, session, deal_id = await start(harness)
    before = set(harness.b24.portal(member_id).activities)
    harness.b24.inject("crm.activity.todo.add", member_id=member_id, delay=3.0)
    got, body = await harness.api(
        "POST", "/api/v1/touchpoints", session, json=create_body(harness, deal_id)
    )
    assert (got, body["code"]) == (504, "CRM_TIMEOUT")
    (created,) = set(harness.b24.portal(member_id).activities) - before
    assert await stored(harness, member_id) == []
    await reconcile(harness, member_id)  # too early: the request might still be running
    assert await stored(harness, member_id) == []
    harness.b24.clock.advance(180)
    await reconcile(harness, member_id)
    (row,) = await stored(harness, member_id)
    assert row.activity_id == created
    assert row.status.value == "open"


async def test_a_stray_to_do_is_removed_when_the_user_already_retried(harness: Harness) -> None:
    member_id, session, deal_id = await start(harness)
    body = create_body(harness, deal_id)
    harness.b24.inject("crm.activity.todo.add", member_id=member_id, delay=3.0)
    got, _ = await harness.api("POST", "/api/v1/touchpoints", session, json=body)
    assert got == 504
    got, retried = await harness.api("POST", "/api/v1/touchpoints", session, json=body)
    assert got == 201, retried
    harness.b24.clock.advance(180)
    await reconcile(harness, member_id)
    rows = await stored(harness, member_id)
    assert [r.activity_id for r in rows] == [retried["activity_id"]]
    assert set(harness.b24.portal(member_id).activities) == {retried["activity_id"]}


async def test_an_attempt_the_crm_never_ran_is_forgotten(harness: Harness) -> None:
    member_id, session, deal_id = await start(harness)
    harness.b24.inject("crm.activity.todo.add", member_id=member_id, stall=True)
    got, _ = await harness.api(
        "POST", "/api/v1/touchpoints", session, json=create_body(harness, deal_id)
    )
    assert got == 504
    harness.b24.clock.advance(180)
    await reconcile(harness, member_id)
    assert await stored(harness, member_id) == []
    async with harness.storage.unit_of_work() as uow:
        portal = await uow.portals.get_by_member_id(member_id)
        assert portal is not None
        assert await uow.pending.older_than(portal.id, harness.b24.clock.now()) == []
