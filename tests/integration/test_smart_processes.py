"""Smart processes (DESIGN.md §3.7, BITRIX24.md §22.3) through the HTTP Bitrix24 emulator:
listed live (``crm.type.list`` for admins, ``crm.enum.ownertype`` for everyone else), enabled
by an admin next to the four entities, their card tab and menus bound, touch-points planned on
their items as ``dynamic_<entityTypeId>``, read live on the board and counted in reports."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from tests.integration.conftest import Harness
from tests.integration.test_placements import bindings, page_options

ADMIN = 1
PROJECTS = 1046


async def enable(harness: Harness, session: str, *kinds: str) -> tuple[int, Any]:
    _, settings = await harness.api("GET", "/api/v1/settings", session)
    settings["enabled_entities"] = [*settings["enabled_entities"], *kinds]
    return await harness.api("PUT", "/api/v1/settings", session, json=settings)


async def a_portal_with_projects(harness: Harness) -> tuple[str, str]:
    """A portal with a "Projects" smart process enabled: (member_id, the admin's session)."""
    member_id = await harness.install()
    harness.b24.add_smart_process(member_id, PROJECTS, "Projects")
    session = await harness.session_for(member_id, ADMIN)
    status, body = await enable(harness, session, f"dynamic_{PROJECTS}")
    assert status == 200, body
    return member_id, session


async def test_an_admin_lists_the_portals_smart_processes_from_the_type_list(
    harness: Harness,
) -> None:
    member_id = await harness.install()
    harness.b24.add_smart_process(member_id, PROJECTS, "Projects")
    harness.b24.add_smart_process(member_id, 130, "All Inclusive")
    session = await harness.session_for(member_id, ADMIN)

    status, body = await harness.api("GET", "/api/v1/smart-processes", session)

    assert status == 200, body
    assert body["items"] == [
        {"type": "dynamic_130", "title": "All Inclusive", "enabled": False},
        {"type": "dynamic_1046", "title": "Projects", "enabled": False},
    ]
    assert harness.b24.calls(member_id, "crm.type.list") >= 1


async def test_a_member_who_is_no_crm_admin_gets_the_names_from_the_owner_type_enum(
    harness: Harness,
) -> None:
    member_id, _ = await a_portal_with_projects(harness)
    rep = harness.b24.add_user(member_id, name="Rep")
    session = await harness.session_for(member_id, rep)

    status, body = await harness.api("GET", "/api/v1/smart-processes", session)

    assert status == 200, body
    assert body["items"] == [{"type": "dynamic_1046", "title": "Projects", "enabled": True}]
    assert harness.b24.calls(member_id, "crm.enum.ownertype") == 1


async def test_enabling_a_smart_process_binds_its_card_tab_and_menus(harness: Harness) -> None:
    member_id, _ = await a_portal_with_projects(harness)

    codes = {code for code, _ in bindings(harness, member_id)}

    assert {
        f"CRM_DYNAMIC_{PROJECTS}_DETAIL_TAB",
        f"CRM_DYNAMIC_{PROJECTS}_LIST_MENU",
        f"CRM_DYNAMIC_{PROJECTS}_ACTIVITY_TIMELINE_MENU",
    } <= codes


async def test_disabling_it_again_unbinds_them(harness: Harness) -> None:
    member_id, session = await a_portal_with_projects(harness)
    _, settings = await harness.api("GET", "/api/v1/settings", session)
    settings["enabled_entities"] = ["deal"]

    status, _ = await harness.api("PUT", "/api/v1/settings", session, json=settings)

    assert status == 200
    codes = {code for code, _ in bindings(harness, member_id)}
    assert not {code for code in codes if code.startswith("CRM_DYNAMIC_")}


@pytest.mark.parametrize(
    ("kind", "why"),
    [
        ("dynamic_1050", "no such smart process on this portal: dynamic_1050"),
        ("dynamic_0128", "must be one of"),
        ("dynamic_7", "must be one of"),
        ("smart_1046", "must be one of"),
    ],
)
async def test_an_unknown_or_misspelt_smart_process_is_refused_and_nothing_changes(
    harness: Harness, kind: str, why: str
) -> None:
    _, session = await a_portal_with_projects(harness)
    _, before = await harness.api("GET", "/api/v1/settings", session)

    status, body = await enable(harness, session, kind)

    assert status == 400, body
    assert why in body["fields"]["enabled_entities"]
    _, after = await harness.api("GET", "/api/v1/settings", session)
    assert after == before


async def test_a_touch_point_on_a_smart_process_item_is_planned_and_read_live(
    harness: Harness,
) -> None:
    member_id, session = await a_portal_with_projects(harness)
    item = harness.b24.add_record(member_id, PROJECTS, title="Warehouse roll-out")
    deadline = harness.b24.clock.now().replace(microsecond=0) + timedelta(days=1)

    status, created = await harness.api(
        "POST",
        "/api/v1/touchpoints",
        session,
        json={
            "owner": {"type": f"dynamic_{PROJECTS}", "id": item.id},
            "type": "meeting",
            "deadline": deadline.isoformat(),
        },
    )

    assert status == 201, created
    assert created["owner"]["type"] == f"dynamic_{PROJECTS}"
    todo = harness.b24.activity(member_id, created["activity_id"])
    assert todo is not None
    assert (todo.owner_type_id, todo.owner_id) == (PROJECTS, item.id)
    status, listing = await harness.api(
        "GET", f"/api/v1/touchpoints?owner_type=dynamic_{PROJECTS}", session
    )
    assert status == 200, listing
    (row,) = listing["items"]
    owner = row["owner"]
    assert (owner["type"], owner["id"], owner["title"]) == (
        f"dynamic_{PROJECTS}",
        item.id,
        "Warehouse roll-out",
    )


async def test_a_smart_process_not_enabled_takes_no_touch_points(harness: Harness) -> None:
    member_id = await harness.install()
    harness.b24.add_smart_process(member_id, PROJECTS, "Projects")
    item = harness.b24.add_record(member_id, PROJECTS, title="Not enabled")
    session = await harness.session_for(member_id, ADMIN)

    status, body = await harness.api(
        "POST",
        "/api/v1/touchpoints",
        session,
        json={
            "owner": {"type": f"dynamic_{PROJECTS}", "id": item.id},
            "type": "call",
            "deadline": (harness.b24.clock.now() + timedelta(days=1)).isoformat(),
        },
    )

    assert status == 400, body
    assert "owner.type" in body["fields"]


async def test_the_smart_process_tab_opens_the_page_for_its_item(harness: Harness) -> None:
    member_id, _ = await a_portal_with_projects(harness)
    item = harness.b24.add_record(member_id, PROJECTS, title="Tab")
    code = f"CRM_DYNAMIC_{PROJECTS}_DETAIL_TAB"

    response = await harness.post_frame(
        "/b24/app", harness.b24.placement_launch(member_id, ADMIN, code, record_id=item.id)
    )

    body = await response.text()
    assert response.status == 200, body
    assert page_options(body) == (code, {"ID": str(item.id)})


@pytest.mark.parametrize(
    "options", [None, "", "{", '{"ID": "0"}', '{"ID": "abc"}', '{"ID": "1e3"}', "[]"]
)
async def test_a_garbled_smart_process_tab_launch_gets_a_clear_page(
    harness: Harness, options: str | None
) -> None:
    member_id, _ = await a_portal_with_projects(harness)
    launch = harness.b24.frame_launch(member_id, ADMIN, f"CRM_DYNAMIC_{PROJECTS}_DETAIL_TAB")
    if options is None:
        launch.form.pop("PLACEMENT_OPTIONS", None)
    else:
        launch.form["PLACEMENT_OPTIONS"] = options

    response = await harness.post_frame("/b24/app", launch)

    body = await response.text()
    assert response.status == 400, body
    assert "reopen it from Bitrix24" in body
    assert "tp-session" not in body


async def test_reports_count_touch_points_on_smart_processes_by_owner_type(
    harness: Harness,
) -> None:
    member_id, session = await a_portal_with_projects(harness)
    item = harness.b24.add_record(member_id, PROJECTS, title="Counted")
    await harness.api(
        "POST",
        "/api/v1/touchpoints",
        session,
        json={
            "owner": {"type": f"dynamic_{PROJECTS}", "id": item.id},
            "type": "call",
            "deadline": (harness.b24.clock.now() + timedelta(days=1)).isoformat(),
        },
    )
    await harness.create_touch_point(member_id, session)

    today = harness.b24.clock.now().date()
    period = f"from={(today - timedelta(days=1)).isoformat()}&to={(today + timedelta(days=1)).isoformat()}"
    status, report = await harness.api("GET", f"/api/v1/reports/summary?{period}", session)

    assert status == 200, report
    by_owner = report["mix"]["by_owner_type"]
    assert by_owner[f"dynamic_{PROJECTS}"] == 1
    assert by_owner["deal"] == 1
    assert by_owner["lead"] == 0


async def test_the_smart_process_list_menu_opens_the_page_for_that_row(harness: Harness) -> None:
    member_id, _ = await a_portal_with_projects(harness)
    item = harness.b24.add_record(member_id, PROJECTS, title="Row")
    code = f"CRM_DYNAMIC_{PROJECTS}_LIST_MENU"

    response = await harness.post_frame(
        "/b24/app", harness.b24.placement_launch(member_id, ADMIN, code, record_id=item.id)
    )

    body = await response.text()
    assert response.status == 200, body
    assert page_options(body) == (code, {"ID": str(item.id)})


async def test_a_todo_made_in_bitrix24_on_an_item_is_tracked_from_its_timeline_menu(
    harness: Harness,
) -> None:
    member_id, session = await a_portal_with_projects(harness)
    item = harness.b24.add_record(member_id, PROJECTS, title="Timeline")
    activity = harness.b24.add_activity(
        member_id,
        item,
        deadline=harness.b24.clock.now().replace(microsecond=0) + timedelta(days=2),
        responsible_id=ADMIN,
        subject="Kick-off",
    )
    code = f"CRM_DYNAMIC_{PROJECTS}_ACTIVITY_TIMELINE_MENU"

    response = await harness.post_frame(
        "/b24/app",
        harness.b24.placement_launch(
            member_id, ADMIN, code, record_id=item.id, activity_id=activity
        ),
    )
    body = await response.text()
    assert response.status == 200, body
    assert page_options(body) == (code, {"ID": str(item.id), "ACTIVITY_ID": str(activity)})

    status, standing = await harness.api("GET", f"/api/v1/activities/{activity}", session)
    assert status == 200, standing
    assert standing["trackable"] is True
    status, tracked = await harness.api(
        "POST", f"/api/v1/activities/{activity}/track", session, json={"type": "meeting"}
    )
    assert status == 201, tracked
    assert tracked["owner"]["type"] == f"dynamic_{PROJECTS}"
    assert tracked["activity_id"] == activity


async def test_a_forged_smart_process_tab_launch_is_refused(harness: Harness) -> None:
    member_id, _ = await a_portal_with_projects(harness)
    item = harness.b24.add_record(member_id, PROJECTS, title="Forged")
    launch = harness.b24.placement_launch(
        member_id, ADMIN, f"CRM_DYNAMIC_{PROJECTS}_DETAIL_TAB", record_id=item.id, forged=True
    )

    response = await harness.post_frame("/b24/app", launch)

    assert response.status == 401
    assert "tp-session" not in await response.text()
