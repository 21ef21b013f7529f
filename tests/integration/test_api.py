"""The JSON API end to end: visibility, isolation, CRM permissions, sessions, bad input."""

from __future__ import annotations

import io
from datetime import timedelta
from typing import Any

import pytest

from tests.integration.conftest import APP_SECRET, Harness
from touchpoints.domain.model import OwnerType
from touchpoints.entrypoints.sessions import SessionSealer

pytestmark = pytest.mark.postgres


async def create(harness: Harness, session: str, deal_id: int, **extra: Any) -> tuple[int, Any]:
    deadline = harness.b24.clock.now().replace(microsecond=0) + timedelta(days=2)
    body = {
        "owner": {"type": "deal", "id": deal_id},
        "type": "call",
        "deadline": deadline.isoformat(),
    }
    body.update(extra)
    return await harness.api("POST", "/api/v1/touchpoints", session, json=body)


async def board_ids(harness: Harness, session: str, query: str = "") -> set[int]:
    status, board = await harness.api("GET", f"/api/v1/board{query}", session)
    assert status == 200, board
    return {item["id"] for column in board["columns"] for item in column["items"]}


async def test_team_visibility_user_versus_admin_versus_team_viewer(harness: Harness) -> None:
    member_id = await harness.install()
    alice = harness.b24.add_user(member_id, name="Alice")
    bob = harness.b24.add_user(member_id, name="Bob")
    viewer = harness.b24.add_user(member_id, name="Vera")
    deal = harness.b24.add_record(member_id, OwnerType.DEAL, title="Shared deal")
    alice_session = await harness.session_for(member_id, alice)
    bob_session = await harness.session_for(member_id, bob)
    admin_session = await harness.session_for(member_id, 1)
    _, mine = await create(harness, alice_session, deal.id)
    _, his = await create(harness, bob_session, deal.id)

    assert await board_ids(harness, alice_session) == {mine["id"]}
    assert await board_ids(harness, admin_session) == {mine["id"], his["id"]}
    status, _ = await harness.api("GET", f"/api/v1/touchpoints/{his['id']}", alice_session)
    assert status == 403
    status, _ = await harness.api("GET", f"/api/v1/board?responsible_id={bob}", alice_session)
    assert status == 403
    status, _ = await harness.api(
        "POST",
        f"/api/v1/touchpoints/{his['id']}/complete",
        alice_session,
        json={"result_note": "x"},
    )
    assert status == 403

    status, settings = await harness.api("GET", "/api/v1/settings", admin_session)
    assert status == 200
    settings["team_viewers"] = [viewer]
    status, saved = await harness.api("PUT", "/api/v1/settings", admin_session, json=settings)
    assert status == 200, saved
    viewer_session = await harness.session_for(member_id, viewer)
    assert await board_ids(harness, viewer_session) == {mine["id"], his["id"]}
    assert await board_ids(harness, viewer_session, f"?responsible_id={bob}") == {his["id"]}


async def test_only_admins_change_settings(harness: Harness) -> None:
    member_id = await harness.install()
    user = harness.b24.add_user(member_id, name="Regular")
    session = await harness.session_for(member_id, user)
    status, settings = await harness.api("GET", "/api/v1/settings", session)
    assert status == 200
    settings["digest_hour"] = 7
    status, body = await harness.api("PUT", "/api/v1/settings", session, json=settings)
    assert status == 403, body
    admin = await harness.session_for(member_id, 1)
    settings["digest_hour"] = 25
    settings["time_zone"] = "Mars/Olympus"
    status, body = await harness.api("PUT", "/api/v1/settings", admin, json=settings)
    assert status == 400
    assert set(body["fields"]) == {"digest_hour", "time_zone"}


async def test_portal_b_cannot_read_portal_a_ids(harness: Harness) -> None:
    first = await harness.install()
    second = await harness.install()
    deal = harness.b24.add_record(first, OwnerType.DEAL, title="A's deal")
    a_session = await harness.session_for(first, 1)
    b_session = await harness.session_for(second, 1)
    _, created = await create(harness, a_session, deal.id)
    for method, path in (
        ("GET", f"/api/v1/touchpoints/{created['id']}"),
        ("DELETE", f"/api/v1/touchpoints/{created['id']}"),
        ("GET", f"/api/v1/touchpoints/{created['id']}/chain"),
    ):
        status, body = await harness.api(method, path, b_session)
        assert status == 404, (method, path, body)
    status, body = await harness.api(
        "PATCH", f"/api/v1/touchpoints/{created['id']}", b_session, json={"responsible_id": 1}
    )
    assert status == 404
    assert await board_ids(harness, b_session) == set()


async def test_a_record_the_user_cannot_edit_creates_nothing_anywhere(harness: Harness) -> None:
    member_id = await harness.install()
    outsider = harness.b24.add_user(member_id, name="Outsider", crm_access="none")
    deal = harness.b24.add_record(member_id, OwnerType.DEAL, title="Secret deal")
    session = await harness.session_for(member_id, outsider)
    before = len(harness.b24.portal(member_id).activities)
    status, body = await create(harness, session, deal.id)
    assert status == 403, body
    assert body["code"] == "CRM_ACCESS_DENIED"
    assert len(harness.b24.portal(member_id).activities) == before
    assert await board_ids(harness, await harness.session_for(member_id, 1)) == set()


async def test_hidden_records_show_without_a_title(harness: Harness) -> None:
    member_id = await harness.install()
    seller = harness.b24.add_user(member_id, name="Seller", crm_access="own")
    own = harness.b24.add_record(member_id, OwnerType.DEAL, title="Mine", assigned_by_id=seller)
    session = await harness.session_for(member_id, seller)
    status, created = await create(harness, session, own.id, title="Call Anna", note="Pricing")
    assert status == 201
    assert created["owner"]["title"] == "Mine"
    assert (created["title"], created["note"]) == ("Call Anna", "Pricing")
    # The record is handed to someone else: the seller may no longer read it (nor its to-do).
    harness.b24.portal(member_id).records[(2, own.id)].assigned_by_id = 1
    status, fetched = await harness.api("GET", f"/api/v1/touchpoints/{created['id']}", session)
    assert status == 200
    assert fetched["owner"]["title"] is None
    assert (fetched["title"], fetched["note"]) == (None, None)


async def test_cards_say_what_their_to_do_is_about_read_live_in_one_batch(
    harness: Harness,
) -> None:
    member_id = await harness.install()
    deal = harness.b24.add_record(member_id, OwnerType.DEAL, title="One deal")
    session = await harness.session_for(member_id, 1)
    _, first = await create(harness, session, deal.id, title="Send the quote", note="v2, EUR")
    _, second = await create(harness, session, deal.id, title="Call the CFO")
    # Edited in Bitrix24 itself: the board shows the CRM's text, we keep no copy.
    harness.b24.portal(member_id).activities[second["activity_id"]].subject = "Call the CEO"
    harness.b24.reset_counters()
    status, board = await harness.api("GET", "/api/v1/board", session)
    assert status == 200
    items = {item["id"]: item for column in board["columns"] for item in column["items"]}
    assert (items[first["id"]]["title"], items[first["id"]]["note"]) == (
        "Send the quote",
        "v2, EUR",
    )
    assert (items[second["id"]]["title"], items[second["id"]]["note"]) == ("Call the CEO", "")
    # Owner titles and to-do texts: one batch request.
    assert harness.b24.requests(member_id) == 1


async def test_an_expired_session_answers_session_expired_and_renews(harness: Harness) -> None:
    member_id = await harness.install()
    session = await harness.session_for(member_id, 1)
    harness.b24.clock.advance(3700)
    status, body = await harness.api("GET", "/api/v1/board", session)
    assert status == 401
    assert body["code"] == "SESSION_EXPIRED"
    fresh = harness.b24.issue_tokens(member_id, 1)
    response = await harness.client.post(
        "/api/v1/session/renew", json={"auth_id": fresh.access_token, "member_id": member_id}
    )
    assert response.status == 200
    renewed = (await response.json())["session"]
    status, _ = await harness.api("GET", "/api/v1/board", renewed)
    assert status == 200
    response = await harness.client.post(
        "/api/v1/session/renew", json={"auth_id": "forged", "member_id": member_id}
    )
    assert response.status == 401


async def test_a_session_from_one_instance_works_on_another(harness: Harness) -> None:
    member_id = await harness.install()
    session = await harness.session_for(member_id, 1)
    # Another replica only shares the secret key: it opens the same session.
    other = SessionSealer(APP_SECRET)
    opened = other.open(session, now=harness.b24.clock.now())
    assert opened.user_id == 1
    assert opened.member_id == member_id


async def test_frame_launches_need_the_portal_application_token(harness: Harness) -> None:
    member_id = await harness.install()
    forged = harness.b24.frame_launch(member_id, 1, forged=True)
    response = await harness.post_frame("/b24/app", forged)
    assert response.status == 401
    assert "tp-session" not in await response.text()
    tab = harness.b24.frame_launch(member_id, 1, "CRM_DEAL_DETAIL_TAB", {"ID": "7"})
    response = await harness.post_frame("/b24/app", tab)
    body = await response.text()
    assert response.status == 200
    assert "CRM_DEAL_DETAIL_TAB" in body
    assert "frame-ancestors https://" in response.headers["Content-Security-Policy"]


@pytest.mark.parametrize(
    ("method", "path", "body", "status"),
    [
        ("POST", "/api/v1/touchpoints", "not json", 400),
        ("POST", "/api/v1/touchpoints", {"owner": {"type": "deal", "id": 1}}, 400),
        (
            "POST",
            "/api/v1/touchpoints",
            {"owner": {"type": "deal", "id": 1}, "type": "call", "deadline": "2026-01-01T10:00:00"},
            400,
        ),
        (
            "POST",
            "/api/v1/touchpoints",
            {
                "owner": {"type": "deal", "id": -1},
                "type": "call",
                "deadline": "2026-01-01T10:00:00Z",
            },
            400,
        ),
        (
            "POST",
            "/api/v1/touchpoints",
            {"owner": {"type": "deal", "id": 1}, "type": "fax", "deadline": "2026-01-01T10:00:00Z"},
            400,
        ),
        ("PATCH", "/api/v1/touchpoints/0", {"deadline": "2026-01-01T10:00:00Z"}, 400),
        ("PATCH", "/api/v1/touchpoints/999999", {"deadline": "2026-01-01T10:00:00Z"}, 404),
        ("PATCH", "/api/v1/touchpoints/1", {"colour": "red"}, 400),
        ("GET", "/api/v1/board?owner_type=invoice", None, 400),
        ("GET", "/api/v1/board?responsible_id=abc", None, 400),
        ("GET", "/api/v1/board?bogus=1", None, 400),
        ("POST", "/api/v1/feedback", {"message": "x" * 5001}, 400),
        ("POST", "/api/v1/feedback", {"message": ""}, 400),
        ("PUT", "/api/v1/me/preferences", {"digest_enabled": "yes"}, 400),
        ("GET", "/api/v1/records/invoice/1/touchpoints", None, 400),
        ("GET", "/api/v1/nope", None, 404),
    ],
)
async def test_bad_input_gets_a_clear_4xx_and_changes_nothing(
    harness: Harness, method: str, path: str, body: Any, status: int
) -> None:
    member_id = await harness.install()
    session = await harness.session_for(member_id, 1)
    kwargs: dict[str, Any] = {"headers": {"Authorization": f"Bearer {session}"}}
    if isinstance(body, str):
        kwargs["data"] = body
    elif body is not None:
        kwargs["json"] = body
    response = await harness.client.request(method, path, **kwargs)
    assert response.status == status, await response.text()
    payload = await response.json()
    assert set(payload) >= {"code", "message"}
    assert await board_ids(harness, session) == set()


async def test_a_body_over_one_mebibyte_is_refused(harness: Harness) -> None:
    member_id = await harness.install()
    session = await harness.session_for(member_id, 1)
    response = await harness.client.post(
        "/api/v1/feedback",
        data=io.BytesIO(b"{" + b" " * (1024 * 1024 + 10) + b"}"),
        headers={"Authorization": f"Bearer {session}", "Content-Type": "application/json"},
    )
    assert response.status == 413


async def test_requests_without_a_session_are_refused(harness: Harness) -> None:
    for headers in ({}, {"Authorization": "Bearer nonsense"}, {"Authorization": "Basic abc"}):
        response = await harness.client.get("/api/v1/board", headers=headers)
        assert response.status == 401
        assert (await response.json())["code"] == "UNAUTHENTICATED"


async def test_feedback_is_rate_limited_per_user(harness: Harness) -> None:
    member_id = await harness.install()
    session = await harness.session_for(member_id, 1)
    statuses = [
        (await harness.api("POST", "/api/v1/feedback", session, json={"message": f"idea {n}"}))[0]
        for n in range(6)
    ]
    assert statuses == [201] * 5 + [429]


async def test_admins_export_without_tokens_and_erase_everything(harness: Harness) -> None:
    member_id = await harness.install()
    deal = harness.b24.add_record(member_id, OwnerType.DEAL, title="Deal")
    admin = await harness.session_for(member_id, 1)
    user = await harness.session_for(member_id, harness.b24.add_user(member_id, name="U"))
    await create(harness, admin, deal.id)
    status, _ = await harness.api("GET", "/api/v1/portal/export", user)
    assert status == 403
    response = await harness.client.get(
        "/api/v1/portal/export", headers={"Authorization": f"Bearer {admin}"}
    )
    text = await response.text()
    assert response.status == 200
    portal = harness.b24.portal(member_id)
    assert portal.application_token not in text
    assert "token" not in text.lower()
    document = await response.json()
    assert len(document["touchpoints"]) == 1
    status, _ = await harness.api("DELETE", "/api/v1/portal/data", user)
    assert status == 403
    status, _ = await harness.api("DELETE", "/api/v1/portal/data", admin)
    assert status == 204
    async with harness.storage.unit_of_work() as uow:
        assert await uow.portals.get_by_member_id(member_id) is None


async def test_health_readiness_privacy_and_openapi_answer(harness: Harness) -> None:
    assert (await harness.client.get("/healthz")).status == 200
    assert (await harness.client.get("/readyz")).status == 200
    privacy = await harness.client.get("/privacy")
    text = await privacy.text()
    assert privacy.status == 200
    assert "row-level security" in text
    assert "Политика конфиденциальности" in text
    spec = await (await harness.client.get("/api/openapi.json")).json()
    assert spec["openapi"] == "3.1.0"
    assert "/api/v1/board" in spec["paths"]


async def test_metrics_count_requests_bitrix24_calls_and_events(harness: Harness) -> None:
    member_id = await harness.install()
    session = await harness.session_for(member_id, 1)
    await harness.api("GET", "/api/v1/board", session)
    await harness.b24.send_event(
        harness.events_url, "ONCRMACTIVITYUPDATE", member_id, {"ID": "5"}, forged=True
    )
    text = await (await harness.client.get("/metrics")).text()
    assert (
        'touchpoints_http_requests_total{method="GET",route="/api/v1/board",status="200"}' in text
    )
    assert 'touchpoints_b24_calls_total{method="profile",outcome="ok"}' in text
    assert 'touchpoints_events_total{event="ONCRMACTIVITYUPDATE",outcome="rejected"}' in text
    assert session not in text


async def test_a_session_renews_with_bx24_get_auth_as_it_is(harness: Harness) -> None:
    member_id = await harness.install()
    fresh = harness.b24.issue_tokens(member_id, 1)
    response = await harness.client.post(
        "/api/v1/session/renew",
        json={
            "access_token": fresh.access_token,
            "refresh_token": fresh.refresh_token,
            "expires_in": 1790000000000,
            "domain": harness.b24.portal(member_id).domain,
            "member_id": member_id,
        },
    )
    assert response.status == 200, await response.text()
    session = (await response.json())["session"]
    assert fresh.refresh_token not in session
    status, _ = await harness.api("GET", "/api/v1/me", session)
    assert status == 200


@pytest.mark.parametrize(
    "form",
    [
        {"event": "ONCRMACTIVITYUPDATE", "data[FIELDS][ID]": "5"},
        {"event": "ONCRMACTIVITYUPDATE", "auth[application_token]": "x", "data[FIELDS][ID]": "5"},
        {"event": "ONAPPUNINSTALL", "auth[member_id": "x", "auth]application_token[": "y"},
        {
            "event": "ONAPPUNINSTALL",
            "auth": "flat",
            "auth[member_id]": "m",
            "auth[application_token]": "t",
        },
        {"event": "", "auth[member_id]": "m"},
        {"event[]": "ONAPPUNINSTALL", "a[b][c][d][e][f][g][h]": "deep"},
    ],
)
async def test_malformed_events_are_refused_with_a_4xx_and_change_nothing(
    harness: Harness, form: dict[str, str]
) -> None:
    member_id = await harness.install()
    response = await harness.client.post("/b24/events", data=form)
    assert 400 <= response.status < 500, await response.text()
    async with harness.storage.unit_of_work() as uow:
        assert await uow.portals.get_by_member_id(member_id) is not None


async def test_an_event_for_an_activity_with_a_bad_id_is_refused(harness: Harness) -> None:
    member_id = await harness.install()
    for raw in ("abc", "-4", "0", ""):
        delivery = await harness.b24.send_event(
            harness.events_url, "ONCRMACTIVITYUPDATE", member_id, {"ID": raw}
        )
        assert delivery.status == 400, raw


async def test_the_record_tab_lists_open_touch_points_first_the_most_overdue_on_top(
    harness: Harness,
) -> None:
    member_id = await harness.install()
    deal = harness.b24.add_record(member_id, OwnerType.DEAL, title="Tab deal")
    session = await harness.session_for(member_id, 1)
    now = harness.b24.clock.now().replace(microsecond=0)
    ids = {}
    for name, days in (("late", -3), ("soon", 1), ("later", 9), ("finished", -6)):
        created = await harness.create_touch_point(
            member_id, session, deal_id=deal.id, deadline=now + timedelta(days=days), title=name
        )
        ids[name] = created["id"]
    status, _ = await harness.api(
        "POST",
        f"/api/v1/touchpoints/{ids['finished']}/complete",
        session,
        json={"result_note": "Done", "follow_up": None},
    )
    assert status == 200
    status, record = await harness.api(
        "GET", f"/api/v1/records/deal/{deal.id}/touchpoints", session
    )
    assert status == 200
    assert [item["title"] for item in record["items"]] == ["late", "soon", "later", "finished"]
