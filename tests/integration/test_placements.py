"""The CRM placements beyond the card tabs (DESIGN.md §3.7): bound at install and on update,
launched with the options the docs show, forged or garbled launches refused; and tracking a
to-do made in Bitrix24 from its timeline menu."""

from __future__ import annotations

import html
import json
from datetime import timedelta
from typing import Any

import pytest

from tests.integration.conftest import Harness
from touchpoints.domain.model import OwnerType
from touchpoints.domain.placements import ANALYTICS_MENU

ADMIN = 1
MENUS = {
    "CRM_LEAD_ACTIVITY_TIMELINE_MENU",
    "CRM_DEAL_ACTIVITY_TIMELINE_MENU",
    "CRM_LEAD_LIST_MENU",
    "CRM_DEAL_LIST_MENU",
    "CRM_CONTACT_LIST_MENU",
    "CRM_COMPANY_LIST_MENU",
    ANALYTICS_MENU,
}


def page_options(body: str) -> tuple[str, dict[str, Any]]:
    """The placement and its options as the page's body element carries them."""
    placement = body.split("data-placement='", 1)[1].split("'", 1)[0]
    raw = body.split("data-placement-options='", 1)[1].split("'", 1)[0]
    return placement, json.loads(html.unescape(raw))


def bindings(harness: Harness, member_id: str) -> list[tuple[str, str]]:
    return [(b.placement, b.handler) for b in harness.b24.placement_bindings(member_id)]


async def a_bitrix_todo(harness: Harness, member_id: str, user_id: int) -> tuple[int, int]:
    """A deal with a to-do made in Bitrix24 itself: (deal id, activity id)."""
    deal = harness.b24.add_record(member_id, OwnerType.DEAL, title="Fleet renewal")
    activity = harness.b24.add_activity(
        member_id,
        deal,
        deadline=harness.b24.clock.now().replace(microsecond=0) + timedelta(days=3),
        responsible_id=user_id,
        subject="Call back about the renewal",
    )
    return deal.id, activity


async def test_install_binds_every_menu_to_the_app_once(harness: Harness) -> None:
    member_id = await harness.install()
    app_url = f"{harness.base_url}/b24/app"

    bound = bindings(harness, member_id)

    assert {(code, app_url) for code in MENUS} <= set(bound)
    assert len(bound) == len(set(bound))
    titles = {b.placement: b.title for b in harness.b24.placement_bindings(member_id)}
    assert titles["CRM_DEAL_LIST_MENU"] == "Schedule a touch-point"


async def test_an_update_binds_the_menus_again_without_duplicates(harness: Harness) -> None:
    member_id = await harness.install()
    harness.b24.portal(member_id).placement_bindings.clear()

    deliveries = await harness.b24.update_app(member_id)
    deliveries += await harness.b24.update_app(member_id)

    assert [d.status for d in deliveries] == [200, 200]
    bound = bindings(harness, member_id)
    assert {code for code, _ in bound} >= MENUS
    assert len(bound) == len(set(bound))


async def test_disabling_an_entity_unbinds_its_menus_and_tab(harness: Harness) -> None:
    member_id = await harness.install()
    session = await harness.session_for(member_id, ADMIN)
    _, settings = await harness.api("GET", "/api/v1/settings", session)

    settings["enabled_entities"] = ["deal", "company"]
    status, _ = await harness.api("PUT", "/api/v1/settings", session, json=settings)

    assert status == 200
    codes = {code for code, _ in bindings(harness, member_id)}
    assert {"CRM_DEAL_ACTIVITY_TIMELINE_MENU", "CRM_COMPANY_LIST_MENU", ANALYTICS_MENU} <= codes
    assert not codes & {"CRM_LEAD_ACTIVITY_TIMELINE_MENU", "CRM_LEAD_LIST_MENU"}
    assert "CRM_CONTACT_LIST_MENU" not in codes


@pytest.mark.parametrize("owner_type", list(OwnerType))
async def test_a_list_menu_launch_opens_the_page_for_that_record(
    harness: Harness, owner_type: OwnerType
) -> None:
    member_id = await harness.install()
    record = harness.b24.add_record(member_id, owner_type, title="Row")
    code = f"CRM_{owner_type.name}_LIST_MENU"

    launch = harness.b24.placement_launch(member_id, ADMIN, code, record_id=record.id)
    response = await harness.post_frame("/b24/app", launch)

    body = await response.text()
    assert response.status == 200, body
    assert page_options(body) == (code, {"ID": str(record.id)})


@pytest.mark.parametrize(
    "code", ["CRM_LEAD_ACTIVITY_TIMELINE_MENU", "CRM_DEAL_ACTIVITY_TIMELINE_MENU"]
)
async def test_a_timeline_menu_launch_names_the_record_and_the_todo(
    harness: Harness, code: str
) -> None:
    member_id = await harness.install()
    owner_type = OwnerType.LEAD if "_LEAD_" in code else OwnerType.DEAL
    record = harness.b24.add_record(member_id, owner_type, title="Timeline")
    activity = harness.b24.add_activity(
        member_id,
        record,
        deadline=harness.b24.clock.now() + timedelta(days=1),
        responsible_id=ADMIN,
    )

    launch = harness.b24.placement_launch(
        member_id, ADMIN, code, record_id=record.id, activity_id=activity
    )
    response = await harness.post_frame("/b24/app", launch)

    body = await response.text()
    assert response.status == 200, body
    assert page_options(body) == (code, {"ID": str(record.id), "ACTIVITY_ID": str(activity)})


async def test_the_analytics_menu_launch_opens_the_reports_placement(harness: Harness) -> None:
    member_id = await harness.install()

    response = await harness.post_frame(
        "/b24/app", harness.b24.placement_launch(member_id, ADMIN, ANALYTICS_MENU)
    )

    body = await response.text()
    assert response.status == 200, body
    assert page_options(body) == (ANALYTICS_MENU, {})


@pytest.mark.parametrize(
    "code", ["CRM_DEAL_ACTIVITY_TIMELINE_MENU", "CRM_CONTACT_LIST_MENU", ANALYTICS_MENU]
)
async def test_a_forged_placement_launch_is_refused(harness: Harness, code: str) -> None:
    member_id = await harness.install()
    deal_id, activity = await a_bitrix_todo(harness, member_id, ADMIN)
    record_id = deal_id
    if code == "CRM_CONTACT_LIST_MENU":
        record_id = harness.b24.add_record(member_id, OwnerType.CONTACT, title="C").id

    launch = harness.b24.placement_launch(
        member_id, ADMIN, code, record_id=record_id, activity_id=activity, forged=True
    )
    response = await harness.post_frame("/b24/app", launch)

    body = await response.text()
    assert response.status == 401
    assert "tp-session" not in body


@pytest.mark.parametrize(
    ("code", "options"),
    [
        ("CRM_DEAL_ACTIVITY_TIMELINE_MENU", '{"ENTITY_ID":"12"}'),
        ("CRM_DEAL_ACTIVITY_TIMELINE_MENU", '{"ENTITY_ID":"12","ASSOCIATED_ENTITY_ID":"x"}'),
        (
            "CRM_LEAD_ACTIVITY_TIMELINE_MENU",
            '{"ENTITY_ID":"1","ASSOCIATED_ENTITY_ID":"2","ASSOCIATED_ENTITY_TYPE_ID":"2"}',
        ),
        ("CRM_DEAL_LIST_MENU", "[]"),
        ("CRM_DEAL_LIST_MENU", '{"ID":"-1"}'),
        ("CRM_COMPANY_LIST_MENU", '{"ID":"99999999999999999999"}'),
        ("CRM_CONTACT_LIST_MENU", "{" * 50_000),
        ("CRM_LEAD_LIST_MENU", '{"ID":"<script>alert(1)</script>"}'),
        ("CRM_DEAL_DETAIL_TAB", '{"ID":"²"}'),
    ],
)
async def test_garbled_placement_options_answer_a_clear_page(
    harness: Harness, code: str, options: str
) -> None:
    member_id = await harness.install()
    launch = harness.b24.frame_launch(member_id, ADMIN, code)
    launch.form["PLACEMENT_OPTIONS"] = options

    response = await harness.post_frame("/b24/app", launch)

    body = await response.text()
    assert response.status == 400
    assert "reopen it from Bitrix24" in body
    assert "tp-session" not in body
    assert "<script>" not in body


async def test_a_timeline_menu_on_our_todo_finds_its_touch_point(harness: Harness) -> None:
    member_id = await harness.install()
    session = await harness.session_for(member_id, ADMIN)
    created = await harness.create_touch_point(member_id, session)

    launch = harness.b24.placement_launch(
        member_id,
        ADMIN,
        "CRM_DEAL_ACTIVITY_TIMELINE_MENU",
        record_id=created["owner"]["id"],
        activity_id=created["activity_id"],
    )
    response = await harness.post_frame("/b24/app", launch)
    _, options = page_options(await response.text())
    status, answer = await harness.api(
        "GET", f"/api/v1/activities/{options['ACTIVITY_ID']}", session
    )

    assert status == 200
    assert answer["touch_point"]["id"] == created["id"]
    assert (answer["trackable"], answer["reason"]) == (False, None)


async def test_a_bitrix_todo_tracked_from_its_timeline_behaves_like_ours(harness: Harness) -> None:
    member_id = await harness.install()
    seller = harness.b24.add_user(member_id, name="Seller")
    session = await harness.session_for(member_id, seller)
    _deal, activity = await a_bitrix_todo(harness, member_id, seller)

    status, before = await harness.api("GET", f"/api/v1/activities/{activity}", session)
    assert (status, before["touch_point"], before["trackable"]) == (200, None, True)
    status, tracked = await harness.api(
        "POST", f"/api/v1/activities/{activity}/track", session, json={"type": "call"}
    )
    assert status == 201, tracked
    assert (tracked["activity_id"], tracked["type"], tracked["status"]) == (
        activity,
        "call",
        "open",
    )
    assert tracked["title"] == "Call back about the renewal"
    status, again = await harness.api(
        "POST", f"/api/v1/activities/{activity}/track", session, json={}
    )
    assert (status, again["id"]) == (201, tracked["id"])

    _, board = await harness.api("GET", "/api/v1/board", session)
    on_board = [item["id"] for column in board["columns"] for item in column["items"]]
    assert on_board == [tracked["id"]]
    status, done = await harness.api(
        "POST",
        f"/api/v1/touchpoints/{tracked['id']}/complete",
        session,
        json={"result_note": "Renewed for a year", "follow_up": {}},
    )
    assert status == 200, done
    record = harness.b24.activity(member_id, activity)
    assert record is not None
    assert record.completed
    _, chain = await harness.api("GET", f"/api/v1/touchpoints/{tracked['id']}/chain", session)
    assert [item["id"] for item in chain["items"]] == [tracked["id"], done["follow_up"]["id"]]


async def test_a_colleagues_or_a_finished_todo_is_not_tracked(harness: Harness) -> None:
    member_id = await harness.install()
    seller = harness.b24.add_user(member_id, name="Seller")
    colleague = harness.b24.add_user(member_id, name="Colleague")
    session = await harness.session_for(member_id, seller)
    _deal, theirs = await a_bitrix_todo(harness, member_id, colleague)
    _deal, finished = await a_bitrix_todo(harness, member_id, seller)
    harness.b24.portal(member_id).activities[finished].completed = True

    refused = await harness.api("POST", f"/api/v1/activities/{theirs}/track", session, json={})
    _, their_standing = await harness.api("GET", f"/api/v1/activities/{theirs}", session)
    status, standing = await harness.api("GET", f"/api/v1/activities/{finished}", session)
    closed = await harness.api("POST", f"/api/v1/activities/{finished}/track", session, json={})
    missing = await harness.api("GET", "/api/v1/activities/987654", session)

    assert refused[0] == 403
    assert (their_standing["trackable"], their_standing["subject"]) == (
        False,
        "Call back about the renewal",
    )
    assert (status, standing["trackable"]) == (200, False)
    assert "completed" in standing["reason"]
    assert closed[0] == 409
    assert missing[0] == 404


async def test_a_todo_hidden_from_the_user_cannot_be_read_or_tracked(harness: Harness) -> None:
    member_id = await harness.install()
    outsider = harness.b24.add_user(member_id, name="Outsider", crm_access="none")
    session = await harness.session_for(member_id, outsider)
    _deal, activity = await a_bitrix_todo(harness, member_id, outsider)

    status, _ = await harness.api("GET", f"/api/v1/activities/{activity}", session)
    tracked = await harness.api("POST", f"/api/v1/activities/{activity}/track", session, json={})

    assert status == 404
    assert tracked[0] == 404
    async with harness.storage.unit_of_work() as uow:
        portal = await uow.portals.get_by_member_id(member_id)
        assert portal is not None
        assert await uow.touch_points.by_activity(portal.id, activity) is None


async def test_a_tracked_todo_follows_its_changes_in_bitrix24(harness: Harness) -> None:
    member_id = await harness.install()
    session = await harness.session_for(member_id, ADMIN)
    _deal, activity = await a_bitrix_todo(harness, member_id, ADMIN)
    _, tracked = await harness.api("POST", f"/api/v1/activities/{activity}/track", session, json={})
    record = harness.b24.portal(member_id).activities[activity]
    record.deadline = record.deadline + timedelta(days=4)
    record.completed = True

    delivery = await harness.b24.send_event(
        harness.events_url, "ONCRMACTIVITYUPDATE", member_id, {"ID": str(activity)}
    )
    await harness.services_drain()

    assert delivery.status == 200
    _, after = await harness.api("GET", f"/api/v1/touchpoints/{tracked['id']}", session)
    assert after["status"] == "done"
