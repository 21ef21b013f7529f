"""The list view, bulk actions, the sweep and undo end to end: the app on Postgres talking to
the HTTP Bitrix24 emulator (visibility, tenant isolation, partial failures, undo rules)."""

from __future__ import annotations

import math
from datetime import datetime, time, timedelta
from typing import Any

import jsonschema_rs
import pytest

from tests.integration.conftest import Harness
from touchpoints.domain.model import OwnerType

pytestmark = pytest.mark.postgres


async def create(
    harness: Harness, member_id: str, session: str, *, hours: float = 48, **extra: Any
) -> dict[str, Any]:
    deal = harness.b24.add_record(member_id, OwnerType.DEAL, title="Fleet")
    deadline = harness.b24.clock.now().replace(microsecond=0) + timedelta(hours=hours)
    status, body = await harness.api(
        "POST",
        "/api/v1/touchpoints",
        session,
        json={
            "owner": {"type": "deal", "id": deal.id},
            "type": "call",
            "deadline": deadline.isoformat(),
            **extra,
        },
    )
    assert status == 201, body
    return dict(body)


async def settle(harness: Harness) -> None:
    """Let the emulator's activity events reach the app and the app apply them."""
    await harness.b24.drain_events()
    await harness.services_drain()


async def list_ids(harness: Harness, session: str, query: str = "") -> list[int]:
    status, page = await harness.api("GET", f"/api/v1/touchpoints{query}", session)
    assert status == 200, page
    return [item["id"] for item in page["items"]]


def crm_deadline(harness: Harness, member_id: str, item: dict[str, Any]) -> datetime:
    activity = harness.b24.activity(member_id, item["activity_id"])
    assert activity is not None
    assert activity.deadline is not None
    return activity.deadline


# ------------------------------------------------------------------ the list view


async def test_the_list_shows_what_the_board_would_and_pages_with_a_cursor(
    harness: Harness,
) -> None:
    member_id = await harness.install()
    alice = harness.b24.add_user(member_id, name="Alice")
    bob = harness.b24.add_user(member_id, name="Bob")
    alice_session = await harness.session_for(member_id, alice)
    bob_session = await harness.session_for(member_id, bob)
    admin_session = await harness.session_for(member_id, 1)
    mine = [await create(harness, member_id, alice_session, hours=h) for h in (30, 5, 70)]
    his = await create(harness, member_id, bob_session)

    ordered = [item["id"] for item in sorted(mine, key=lambda i: (i["deadline"], i["id"]))]
    assert await list_ids(harness, alice_session) == ordered
    assert set(await list_ids(harness, admin_session)) == {*ordered, his["id"]}
    status, body = await harness.api(
        "GET", f"/api/v1/touchpoints?responsible_id={bob}", alice_session
    )
    assert (status, body["code"]) == (403, "FORBIDDEN")

    status, first = await harness.api("GET", "/api/v1/touchpoints?limit=2", alice_session)
    assert status == 200
    assert [item["id"] for item in first["items"]] == ordered[:2]
    assert first["items"][0]["owner"]["title"] == "Fleet"
    status, rest = await harness.api(
        "GET", f"/api/v1/touchpoints?limit=2&cursor={first['next_cursor']}", alice_session
    )
    assert status == 200
    assert ([item["id"] for item in rest["items"]], rest["next_cursor"]) == (ordered[2:], None)

    for query in (
        f"?cursor={first['next_cursor']}x",
        f"?cursor={first['next_cursor']}&status=open",
        "?limit=0",
        "?limit=201",
        "?from=2026-03-09&to=2026-03-01",
        "?status=lost",
    ):
        status, body = await harness.api("GET", f"/api/v1/touchpoints{query}", alice_session)
        assert status == 400, (query, body)
    status, body = await harness.api(
        "GET", f"/api/v1/touchpoints?cursor={first['next_cursor']}", admin_session
    )
    assert status == 400, body


async def test_the_list_searches_live_titles_and_notes(harness: Harness) -> None:
    member_id = await harness.install()
    session = await harness.session_for(member_id, 1)
    title = await create(harness, member_id, session, hours=3, title="Renewal call")
    note = await create(harness, member_id, session, hours=4, note="about the RENEWAL")
    await create(harness, member_id, session, hours=5, title="Invoice")
    status, page = await harness.api("GET", "/api/v1/touchpoints?q=renewal", session)
    assert status == 200
    assert [item["id"] for item in page["items"]] == [title["id"], note["id"]]
    assert page["items"][1]["note"] == "about the RENEWAL"


async def test_portals_never_see_or_touch_each_others_touch_points(harness: Harness) -> None:
    first = await harness.install()
    second = await harness.install()
    first_admin = await harness.session_for(first, 1)
    second_admin = await harness.session_for(second, 1)
    theirs = await create(harness, first, first_admin)
    assert await list_ids(harness, second_admin) == []
    status, reply = await harness.api(
        "POST",
        "/api/v1/touchpoints/bulk",
        second_admin,
        json={"ids": [theirs["id"]], "action": "cancel"},
    )
    assert status == 200
    assert reply["done"] == []
    assert [(f["id"], f["code"]) for f in reply["failed"]] == [(theirs["id"], "NOT_FOUND")]
    status, moved = await harness.api(
        "POST",
        "/api/v1/touchpoints/bulk",
        first_admin,
        json={"ids": [theirs["id"]], "action": "reschedule", "shift": {"days": 3}},
    )
    assert status == 200, moved
    status, body = await harness.api(
        "POST", "/api/v1/undo", second_admin, json={"token": moved["undo"]["token"]}
    )
    assert (status, body["code"]) == (404, "NOT_FOUND")
    status, _ = await harness.api("GET", f"/api/v1/touchpoints/{theirs['id']}", first_admin)
    assert status == 200


# ------------------------------------------------------------------ bulk actions


async def test_a_bulk_reschedule_reports_each_failure_and_batches_its_crm_writes(
    harness: Harness,
) -> None:
    member_id = await harness.install()
    alice = harness.b24.add_user(member_id, name="Alice")
    bob = harness.b24.add_user(member_id, name="Bob")
    session = await harness.session_for(member_id, alice)
    mine = [await create(harness, member_id, session, hours=24 + n) for n in range(60)]
    his = await create(harness, member_id, await harness.session_for(member_id, bob))
    done = await create(harness, member_id, session)
    status, _ = await harness.api(
        "POST", f"/api/v1/touchpoints/{done['id']}/complete", session, json={"result_note": "ok"}
    )
    assert status == 200
    refused = mine[7]
    harness.b24.inject("crm.activity.todo.updateDeadline", error="ACCESS_DENIED", times=1)
    await settle(harness)
    before = harness.b24.requests(member_id, "batch")
    ids = [his["id"], *(item["id"] for item in mine[:7]), done["id"], 10**12]
    ids += [item["id"] for item in mine[7:]]
    status, reply = await harness.api(
        "POST",
        "/api/v1/touchpoints/bulk",
        session,
        json={"ids": ids, "action": "reschedule", "day": "2026-09-15"},
    )
    assert status == 200, reply
    assert harness.b24.requests(member_id, "batch") - before == math.ceil(60 / 50)
    failed = {f["id"]: f["code"] for f in reply["failed"]}
    assert failed == {
        his["id"]: "FORBIDDEN",
        done["id"]: "CONFLICT",
        10**12: "NOT_FOUND",
        mine[0]["id"]: "CRM_ACCESS_DENIED",
    }
    assert refused["id"] in reply["done"]
    assert len(reply["done"]) == 59
    assert reply["undo"]["token"]
    await settle(harness)
    status, moved = await harness.api("GET", f"/api/v1/touchpoints/{mine[1]['id']}", session)
    assert moved["deadline"].startswith("2026-09-15T")
    assert crm_deadline(harness, member_id, mine[1]).date().isoformat() == "2026-09-15"
    status, kept = await harness.api("GET", f"/api/v1/touchpoints/{mine[0]['id']}", session)
    assert kept["deadline"] == mine[0]["deadline"]


async def test_bulk_bodies_are_validated_field_by_field(harness: Harness) -> None:
    member_id = await harness.install()
    session = await harness.session_for(member_id, 1)
    for body, field in (
        ({"ids": [], "action": "cancel"}, "ids"),
        ({"ids": list(range(1, 502)), "action": "cancel"}, "ids"),
        ({"ids": [1], "action": "reschedule"}, "deadline"),
        ({"ids": [1], "action": "reschedule", "shift": {"days": 1, "working_days": 1}}, "shift"),
        ({"ids": [1], "action": "reschedule", "shift": {"days": 400}}, "shift.days"),
        ({"ids": [1], "action": "complete", "result_note": " "}, "result_note"),
        ({"ids": [1], "action": "reassign"}, "responsible_id"),
        ({"ids": [1], "action": "explode"}, "action"),
        ({"ids": [0], "action": "cancel"}, "ids"),
        ({"ids": [1], "action": "reschedule", "day": "9999-12-31"}, "day"),
    ):
        status, reply = await harness.api("POST", "/api/v1/touchpoints/bulk", session, json=body)
        assert status == 400, (body, reply)
        assert field in reply["fields"], (body, reply)


async def test_complete_and_cancel_in_bulk_offer_no_undo(harness: Harness) -> None:
    member_id = await harness.install()
    session = await harness.session_for(member_id, 1)
    first, second = [await create(harness, member_id, session) for _ in range(2)]
    status, reply = await harness.api(
        "POST",
        "/api/v1/touchpoints/bulk",
        session,
        json={"ids": [first["id"]], "action": "complete", "result_note": "Called all"},
    )
    assert (status, reply["done"], reply["undo"]) == (200, [first["id"]], None)
    status, reply = await harness.api(
        "POST",
        "/api/v1/touchpoints/bulk",
        session,
        json={"ids": [second["id"], first["id"]], "action": "cancel"},
    )
    assert status == 200
    assert (reply["done"], [f["code"] for f in reply["failed"]]) == ([second["id"]], ["CONFLICT"])
    assert harness.b24.activity(member_id, second["activity_id"]) is None


# ------------------------------------------------------------------ undo


async def test_a_single_move_answers_an_undo_token_header_that_restores_it(
    harness: Harness,
) -> None:
    member_id = await harness.install()
    lena = harness.b24.add_user(member_id, name="Lena")
    session = await harness.session_for(member_id, 1)
    item = await create(harness, member_id, session)
    response = await harness.client.patch(
        f"/api/v1/touchpoints/{item['id']}",
        json={"responsible_id": lena, "day": "2026-09-21"},
        headers={"Authorization": f"Bearer {session}"},
    )
    assert response.status == 200
    body = await response.json()
    assert set(body) == set(item)
    token = response.headers["X-Undo-Token"]
    await settle(harness)
    status, reply = await harness.api("POST", "/api/v1/undo", session, json={"token": token})
    assert (status, reply["done"], reply["failed"]) == (200, [item["id"]], [])
    await settle(harness)
    status, restored = await harness.api("GET", f"/api/v1/touchpoints/{item['id']}", session)
    assert (restored["deadline"], restored["responsible_id"]) == (item["deadline"], 1)
    activity = harness.b24.activity(member_id, item["activity_id"])
    assert activity is not None
    assert activity.responsible_id == 1
    status, again = await harness.api("POST", "/api/v1/undo", session, json={"token": token})
    assert (status, again["code"]) == (409, "UNDO_USED")


async def test_undo_after_a_concurrent_change_skips_it_and_refuses_other_users(
    harness: Harness,
) -> None:
    member_id = await harness.install()
    alice = harness.b24.add_user(member_id, name="Alice")
    session = await harness.session_for(member_id, alice)
    admin = await harness.session_for(member_id, 1)
    first, second = [await create(harness, member_id, session) for _ in range(2)]
    status, moved = await harness.api(
        "POST",
        "/api/v1/touchpoints/bulk",
        session,
        json={"ids": [first["id"], second["id"]], "action": "reschedule", "day": "2026-09-15"},
    )
    assert status == 200, moved
    token = moved["undo"]["token"]
    await settle(harness)
    # Someone moves the first one again in Bitrix24 itself; the event reaches the app.
    activity = harness.b24.activity(member_id, first["activity_id"])
    assert activity is not None
    assert activity.deadline is not None
    await harness.b24.ui_update_activity(
        member_id, first["activity_id"], deadline=activity.deadline + timedelta(days=2)
    )
    await settle(harness)
    status, body = await harness.api("POST", "/api/v1/undo", admin, json={"token": token})
    assert (status, body["code"]) == (403, "FORBIDDEN")
    status, reply = await harness.api("POST", "/api/v1/undo", session, json={"token": token})
    assert status == 200, reply
    assert reply["done"] == [second["id"]]
    assert [(f["id"], f["code"]) for f in reply["failed"]] == [(first["id"], "CHANGED_SINCE")]
    await settle(harness)
    assert (
        crm_deadline(harness, member_id, second).isoformat()
        == datetime.fromisoformat(second["deadline"]).isoformat()
    )
    status, body = await harness.api("POST", "/api/v1/undo", session, json={"token": token})
    assert (status, body["code"]) == (409, "UNDO_USED")
    status, body = await harness.api("POST", "/api/v1/undo", session, json={"token": "nope"})
    assert (status, body["code"]) == (404, "NOT_FOUND")


# ------------------------------------------------------------------ the sweep


async def test_the_sweep_counts_first_then_moves_and_can_be_undone(harness: Harness) -> None:
    # Start at 06:00 UTC: three hours later must still be the same day as the deadlines,
    # or "today" keeps them where they are (a time past today moves only within today).
    now = harness.b24.clock.now()
    harness.b24.clock.advance(
        (datetime.combine(now.date(), time(6), now.tzinfo) - now).total_seconds() % 86_400
    )
    member_id = await harness.install()
    session = await harness.session_for(member_id, 1)
    overdue = [await create(harness, member_id, session, hours=h) for h in (1, 2)]
    later = await create(harness, member_id, session, hours=72)
    harness.b24.clock.advance(3 * 3600)
    session = await harness.session_for(member_id, 1)
    status, dry = await harness.api(
        "POST", "/api/v1/touchpoints/sweep", session, json={"to": "today", "dry_run": True}
    )
    assert status == 200, dry
    assert (dry["count"], dry["ids"], dry["done"], dry["undo"]) == (
        2,
        [item["id"] for item in overdue],
        [],
        None,
    )
    status, swept = await harness.api(
        "POST", "/api/v1/touchpoints/sweep", session, json={"to": "next_working_day"}
    )
    assert status == 200, swept
    assert swept["count"] == 2
    assert swept["ids"] == swept["done"] == [item["id"] for item in overdue]
    assert later["id"] not in swept["ids"]
    status, body = await harness.api(
        "POST", "/api/v1/touchpoints/sweep", session, json={"to": "someday"}
    )
    assert (status, list(body["fields"])) == (400, ["to"])
    await settle(harness)
    status, reply = await harness.api(
        "POST", "/api/v1/undo", session, json={"token": swept["undo"]["token"]}
    )
    assert (status, sorted(reply["done"])) == (200, sorted(item["id"] for item in overdue))


# ------------------------------------------------------------------ the OpenAPI document


async def test_bulk_replies_match_the_openapi_document(harness: Harness) -> None:
    member_id = await harness.install()
    session = await harness.session_for(member_id, 1)
    item = await create(harness, member_id, session, hours=-2)
    document = await (await harness.client.get("/api/openapi.json")).json()

    def check(body: Any, schema: str) -> None:
        validator = jsonschema_rs.Draft202012Validator(
            {"$ref": f"#/components/schemas/{schema}", "components": document["components"]}
        )
        assert [error.message for error in validator.iter_errors(body)] == [], (schema, body)

    status, page = await harness.api("GET", "/api/v1/touchpoints?limit=1", session)
    assert status == 200
    check(page, "TouchPointList")
    status, swept = await harness.api(
        "POST", "/api/v1/touchpoints/sweep", session, json={"to": "today"}
    )
    assert status == 200, swept
    check(swept, "SweepResult")
    status, moved = await harness.api(
        "POST",
        "/api/v1/touchpoints/bulk",
        session,
        json={"ids": [item["id"], 10**9], "action": "reschedule", "shift": {"working_days": 2}},
    )
    assert status == 200, moved
    check(moved, "BulkOutcome")
    status, undone = await harness.api(
        "POST", "/api/v1/undo", session, json={"token": moved["undo"]["token"]}
    )
    assert status == 200
    check(undone, "BulkOutcome")
    patch = document["paths"]["/api/v1/touchpoints/{id}"]["patch"]["responses"]["200"]
    assert "X-Undo-Token" in patch["headers"]
    for path in ("/api/v1/touchpoints/bulk", "/api/v1/touchpoints/sweep", "/api/v1/undo"):
        assert "post" in document["paths"][path]
    assert "get" in document["paths"]["/api/v1/touchpoints"]


# ------------------------------------------------------------------ hand-over with return


async def test_a_hand_over_moves_a_period_and_ending_it_gives_back_what_is_open(
    harness: Harness,
) -> None:
    member_id = await harness.install()
    maxim = harness.b24.add_user(member_id, name="Maxim")
    lena = harness.b24.add_user(member_id, name="Lena")
    maxim_session = await harness.session_for(member_id, maxim)
    lena_session = await harness.session_for(member_id, lena)
    due = await create(harness, member_id, maxim_session, hours=30)
    later = await create(harness, member_id, maxim_session, hours=24 * 20)
    day = datetime.fromisoformat(due["deadline"]).date()
    body = {
        "from_user_id": maxim,
        "to_user_id": lena,
        "first_day": day.isoformat(),
        "last_day": (day + timedelta(days=3)).isoformat(),
    }
    status, refused = await harness.api("POST", "/api/v1/handovers", lena_session, json=body)
    assert (status, refused["code"]) == (403, "FORBIDDEN")
    status, started = await harness.api("POST", "/api/v1/handovers", maxim_session, json=body)
    assert status == 201, started
    assert (started["done"], started["handover"]["touch_point_ids"]) == ([due["id"]], [due["id"]])
    activity = harness.b24.activity(member_id, due["activity_id"])
    assert activity is not None
    assert activity.responsible_id == lena
    await settle(harness)
    assert await list_ids(harness, lena_session) == [due["id"]]
    status, listed = await harness.api("GET", "/api/v1/handovers", lena_session)
    assert (status, [h["id"] for h in listed["items"]]) == (200, [started["handover"]["id"]])
    path = f"/api/v1/handovers/{started['handover']['id']}"
    status, ended = await harness.api("DELETE", path, maxim_session)
    assert status == 200, ended
    assert ended["done"] == [due["id"]]
    assert ended["handover"]["returned_at"] is not None
    await settle(harness)
    assert await list_ids(harness, maxim_session) == [due["id"], later["id"]]
    status, again = await harness.api("DELETE", path, maxim_session)
    assert (status, again["code"]) == (404, "NOT_FOUND")
    other = await harness.install()
    status, foreign = await harness.api("DELETE", path, await harness.session_for(other, 1))
    assert status == 404, foreign
