"""Reminders are Bitrix24's own: the portal's ``reminder_minutes`` become each to-do's
``pingOffsets`` when it is created and when a follow-up is (DESIGN.md §3.7, BITRIX24.md §22.6)."""

from __future__ import annotations

import pytest

from tests.integration.conftest import Harness

pytestmark = pytest.mark.postgres


async def test_a_new_to_do_is_reminded_15_minutes_before_by_default(harness: Harness) -> None:
    member_id = await harness.install()
    session = await harness.session_for(member_id, 1)
    status, settings = await harness.api("GET", "/api/v1/settings", session)
    assert (status, settings["reminder_minutes"]) == (200, [15])
    created = await harness.create_touch_point(member_id, session)
    activity = harness.b24.activity(member_id, created["activity_id"])
    assert activity is not None
    assert activity.ping_offsets == (15,)


async def test_the_portals_reminders_go_to_new_to_dos_and_follow_ups_and_a_put_without_them_keeps_them(
    harness: Harness,
) -> None:
    member_id = await harness.install()
    session = await harness.session_for(member_id, 1)
    _, settings = await harness.api("GET", "/api/v1/settings", session)
    status, saved = await harness.api(
        "PUT", "/api/v1/settings", session, json={**settings, "reminder_minutes": [60, 0, 60]}
    )
    assert (status, saved["reminder_minutes"]) == (200, [0, 60])
    without = {key: value for key, value in saved.items() if key != "reminder_minutes"}
    status, kept = await harness.api("PUT", "/api/v1/settings", session, json=without)
    assert (status, kept["reminder_minutes"]) == (200, [0, 60])

    created = await harness.create_touch_point(member_id, session)
    status, completion = await harness.api(
        "POST",
        f"/api/v1/touchpoints/{created['id']}/complete",
        session,
        json={"result_note": "Called", "follow_up": {}},
    )
    assert status == 200, completion
    first = harness.b24.activity(member_id, created["activity_id"])
    follow_up = harness.b24.activity(member_id, completion["follow_up"]["activity_id"])
    assert first is not None
    assert follow_up is not None
    assert (first.ping_offsets, follow_up.ping_offsets) == ((0, 60), (0, 60))


@pytest.mark.parametrize("minutes", [[-1], [10_081], list(range(11))])
async def test_reminders_outside_a_week_or_too_many_are_refused_naming_the_field(
    harness: Harness, minutes: list[int]
) -> None:
    member_id = await harness.install()
    session = await harness.session_for(member_id, 1)
    _, settings = await harness.api("GET", "/api/v1/settings", session)
    status, body = await harness.api(
        "PUT", "/api/v1/settings", session, json={**settings, "reminder_minutes": minutes}
    )
    assert status == 400
    assert "reminder_minutes" in str(body)
