"""Install, frame launch, CRM events and uninstall against the emulator on real Postgres."""

from __future__ import annotations

from datetime import timedelta

import asyncpg
import pytest

from tests.integration.conftest import Harness
from touchpoints.adapters.postgres.dsn import libpq_url
from touchpoints.domain.model import OwnerType, Status
from touchpoints.domain.placements import detail_tab
from touchpoints.entrypoints.catalogue import load_catalogue
from touchpoints.services.digest import run_digest_pass

pytestmark = pytest.mark.postgres


async def rows_of_portal(dsn: str, portal_id: int) -> dict[str, int]:
    """Rows per table that carry ``portal_id`` (found in the catalog, so new tables count)."""
    connection = await asyncpg.connect(libpq_url(dsn))
    try:
        tables = await connection.fetch(
            "SELECT table_name FROM information_schema.columns "
            "WHERE table_schema = 'public' AND column_name = 'portal_id'"
        )
        counts = {}
        for row in tables:
            name = row["table_name"]
            counts[name] = await connection.fetchval(
                f'SELECT count(*) FROM "{name}" WHERE portal_id = $1',
                portal_id,
            )
        counts["portals"] = await connection.fetchval(
            "SELECT count(*) FROM portals WHERE id = $1", portal_id
        )
        return counts
    finally:
        await connection.close()


async def portal_id_of(harness: Harness, member_id: str) -> int:
    async with harness.storage.unit_of_work() as uow:
        portal = await uow.portals.get_by_member_id(member_id)
    assert portal is not None
    return portal.id


async def test_install_binds_events_and_placements_and_stores_default_settings(
    harness: Harness,
) -> None:
    member_id = await harness.install(user_time_zone="Europe/Berlin")
    events = {binding.event for binding in harness.b24.event_bindings(member_id)}
    assert {"ONAPPUNINSTALL", "ONAPPUPDATE", "ONCRMACTIVITYUPDATE", "ONCRMACTIVITYDELETE"} <= events
    placements = {binding.placement for binding in harness.b24.placement_bindings(member_id)}
    assert placements >= {detail_tab(t) for t in OwnerType} | {"LEFT_MENU"}
    async with harness.storage.unit_of_work() as uow:
        portal = await uow.portals.get_by_member_id(member_id)
        assert portal is not None
        settings = await uow.settings.get(portal.id)
    assert settings is not None
    assert settings.time_zone == "Europe/Berlin"
    assert settings.default_interval == 3
    # ONAPPINSTALL after installFinish was accepted (verified by its tokens).
    assert all(d.status == 200 for d in harness.b24.deliveries if d.event == "ONAPPINSTALL")


async def test_reinstalling_the_same_portal_keeps_one_portal_and_no_duplicate_bindings(
    harness: Harness,
) -> None:
    member_id = await harness.install()
    await harness.b24.uninstall(member_id)
    await harness.b24.drain_events()
    await harness.install(member_id=member_id)
    launch = harness.b24.frame_launch(member_id, 1)
    response = await harness.post_frame("/b24/install", launch)
    assert response.status == 200
    async with harness.storage.unit_of_work() as uow:
        ids = await uow.portals.list_ids(active_only=False)
    assert len(ids) == 1
    handlers = [(b.event, b.handler) for b in harness.b24.event_bindings(member_id)]
    assert len(handlers) == len(set(handlers))


async def test_a_forged_install_creates_and_overwrites_nothing(harness: Harness) -> None:
    member_id = await harness.install()
    before = await portal_id_of(harness, member_id)
    # A bogus REFRESH_ID: the token endpoint refuses it.
    launch = harness.b24.frame_launch(member_id, 1)
    bogus = dict(launch.form, REFRESH_ID="not-a-real-refresh-token", APPLICATION_TOKEN="evil")
    response = await harness.client.post("/b24/install", params=launch.query, data=bogus)
    assert response.status == 401
    # Another portal's member_id next to valid tokens of this one: refused.
    other = harness.b24.add_portal()
    launch = harness.b24.frame_launch(member_id, 1)
    mixed = dict(launch.form, member_id=other, APPLICATION_TOKEN="evil")
    response = await harness.client.post(
        "/b24/install", params={**launch.query, "DOMAIN": "evil.example"}, data=mixed
    )
    assert response.status == 401
    # A non-admin's valid tokens cannot replace the application token.
    user = harness.b24.add_user(member_id, name="Regular")
    launch = harness.b24.frame_launch(member_id, user)
    response = await harness.post_frame(
        "/b24/install", launch._replace(form=dict(launch.form, APPLICATION_TOKEN="evil"))
    )
    assert response.status == 403
    async with harness.storage.unit_of_work() as uow:
        portal = await uow.portals.get_by_member_id(member_id)
        assert await uow.portals.get_by_member_id(other) is None
    assert portal is not None
    assert portal.id == before
    assert portal.application_token.matches(harness.b24.portal(member_id).application_token)


async def test_forged_events_change_nothing(harness: Harness) -> None:
    member_id = await harness.install()
    portal_id = await portal_id_of(harness, member_id)
    for kwargs in ({"forged": True}, {"without_auth": True}, {"application_token": ""}):
        delivery = await harness.b24.send_event(
            harness.events_url, "ONAPPUNINSTALL", member_id, **kwargs
        )
        assert delivery.status in (401, 403)
    stranger = await harness.b24.send_event(harness.events_url, "ONAPPUNINSTALL", "f" * 32)
    assert stranger.status == 401
    counts = await rows_of_portal(harness.dsn, portal_id)
    assert counts["portals"] == 1
    assert counts["settings"] == 1


async def test_the_full_loop_from_launch_to_completed_follow_up(harness: Harness) -> None:
    member_id = await harness.install(user_time_zone="Europe/Berlin")
    deal = harness.b24.add_record(
        member_id, OwnerType.DEAL, title="Fleet rollout", assigned_by_id=1
    )
    session = await harness.session_for(member_id, 1)
    deadline = (harness.b24.clock.now() + timedelta(days=1)).replace(microsecond=0)
    created = await harness.create_touch_point(
        member_id, session, deal_id=deal.id, deadline=deadline, title="Call about the fleet"
    )
    assert {key: created["owner"][key] for key in ("type", "id", "title")} == {
        "type": "deal",
        "id": deal.id,
        "title": "Fleet rollout",
    }
    activity = harness.b24.activity(member_id, created["activity_id"])
    assert activity is not None
    assert activity.subject == "Call about the fleet"

    status, board = await harness.api("GET", "/api/v1/board", session)
    assert status == 200
    columns = {column["key"]: column["items"] for column in board["columns"]}
    assert [item["id"] for item in columns["tomorrow"] + columns["today"]] == [created["id"]]

    later = (deadline + timedelta(days=2)).isoformat()
    status, moved = await harness.api(
        "PATCH", f"/api/v1/touchpoints/{created['id']}", session, json={"deadline": later}
    )
    assert status == 200, moved
    assert harness.b24.activity(member_id, created["activity_id"]).deadline == deadline + timedelta(
        days=2
    )

    status, result = await harness.api(
        "POST",
        f"/api/v1/touchpoints/{created['id']}/complete",
        session,
        json={"result_note": "They want a pilot", "follow_up": {}},
    )
    assert status == 200, result
    assert result["completed"]["status"] == "done"
    follow_up = result["follow_up"]
    assert follow_up["previous_id"] == created["id"]
    assert result["completed"]["next_id"] == follow_up["id"]
    assert harness.b24.activity(member_id, created["activity_id"]).completed
    next_activity = harness.b24.activity(member_id, follow_up["activity_id"])
    assert next_activity is not None
    assert next_activity.parent_activity_id == created["activity_id"]

    status, chain = await harness.api(
        "GET", f"/api/v1/touchpoints/{follow_up['id']}/chain", session
    )
    assert status == 200
    assert [item["id"] for item in chain["items"]] == [created["id"], follow_up["id"]]

    status, again = await harness.api(
        "PATCH", f"/api/v1/touchpoints/{created['id']}", session, json={"deadline": later}
    )
    assert status == 409, again


async def test_activity_changes_in_the_crm_are_mirrored_and_deletes_orphan(
    harness: Harness,
) -> None:
    member_id = await harness.install()
    deal = harness.b24.add_record(member_id, OwnerType.DEAL, title="Deal")
    session = await harness.session_for(member_id, 1)
    deadline = harness.b24.clock.now().replace(microsecond=0) + timedelta(days=3)
    created = await harness.create_touch_point(
        member_id, session, deal_id=deal.id, type_="meeting", deadline=deadline
    )
    portal_id = await portal_id_of(harness, member_id)
    moved_to = deadline + timedelta(days=1)
    colleague = harness.b24.add_user(member_id, name="Colleague")
    await harness.b24.ui_update_activity(
        member_id, created["activity_id"], deadline=moved_to, responsible_id=colleague
    )
    await harness.b24.drain_events()
    async with harness.storage.unit_of_work() as uow:
        stored = await uow.touch_points.get(portal_id, created["id"])
    assert stored is not None
    assert stored.deadline == moved_to
    assert stored.responsible_id == colleague

    await harness.b24.ui_update_activity(member_id, created["activity_id"], completed=True)
    await harness.b24.drain_events()
    async with harness.storage.unit_of_work() as uow:
        stored = await uow.touch_points.get(portal_id, created["id"])
    assert stored is not None
    assert stored.status is Status.DONE

    await harness.b24.ui_delete_activity(member_id, created["activity_id"])
    await harness.b24.drain_events()
    async with harness.storage.unit_of_work() as uow:
        stored = await uow.touch_points.get(portal_id, created["id"])
    assert stored is not None
    # Done touch-points keep their history when the CRM activity goes.
    assert stored.status is Status.DONE


async def test_uninstall_removes_every_row_of_the_portal_and_nothing_else(harness: Harness) -> None:
    first = await harness.install()
    second = await harness.install()
    session = await harness.session_for(first, 1)
    await harness.create_touch_point(first, session, days=3)
    status, _ = await harness.api("POST", "/api/v1/feedback", session, json={"message": "Nice"})
    assert status == 201
    first_id = await portal_id_of(harness, first)
    second_id = await portal_id_of(harness, second)
    deliveries = await harness.b24.uninstall(first, clean=False)
    assert [d.status for d in deliveries] == [200]
    counts = await rows_of_portal(harness.dsn, first_id)
    assert set(counts.values()) == {0}, counts
    assert (await rows_of_portal(harness.dsn, second_id))["portals"] == 1
    status, body = await harness.api("GET", "/api/v1/board", session)
    assert status == 401, body


async def test_the_digest_speaks_the_language_the_user_opens_the_app_in(harness: Harness) -> None:
    member_id = await harness.install()
    ivan = harness.b24.add_user(member_id, name="Ivan", language="ru")
    deal = harness.b24.add_record(member_id, OwnerType.DEAL, title="Сделка")
    session = await harness.session_for(member_id, ivan, lang="ru")
    admin = await harness.session_for(member_id, 1)
    status, settings = await harness.api("GET", "/api/v1/settings", admin)
    assert status == 200
    settings.update(digest_hour=0, working_days=[1, 2, 3, 4, 5, 6, 7])
    assert (await harness.api("PUT", "/api/v1/settings", admin, json=settings))[0] == 200
    await harness.create_touch_point(member_id, session, deal_id=deal.id, days=-2 / 24)
    summary = await run_digest_pass(
        storage=harness.storage,
        connector=harness.services.connector,
        messenger=harness.services.messenger,
        clock=harness.services.clock,
        board_url=lambda portal: f"https://{portal.domain}/marketplace/app/x/",
        catalogue=load_catalogue(),
    )
    assert summary.sent == 1
    (message,) = harness.b24.inbox(member_id, ivan)
    assert "Касания на" in message.message
    assert "Сделка" in message.message
