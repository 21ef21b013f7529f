"""The attacks of DESIGN.md §4, replayed as a portal member (and an outsider) would.

Every portal member can read ``APPLICATION_TOKEN``, ``AUTH_ID``, ``REFRESH_ID`` and
``member_id`` from their own frame launch. Each test sends what such a member can send,
through the real app on real Postgres against the HTTP emulator of Bitrix24, and proves
it changes nothing; then that the genuine request from Bitrix24 still works.
"""

from __future__ import annotations

import logging
import secrets
from typing import Any

import pytest

from tests.integration.conftest import Harness
from touchpoints.domain.model import Status
from touchpoints.domain.portal import Portal
from touchpoints.services.reconciliation import reconcile_all

pytestmark = pytest.mark.postgres


async def stored(harness: Harness, member_id: str) -> Portal | None:
    async with harness.storage.unit_of_work() as uow:
        return await uow.portals.get_by_member_id(member_id)


async def member_of(harness: Harness, member_id: str) -> tuple[int, dict[str, str]]:
    """A plain member and the launch form they can read in their browser."""
    user = harness.b24.add_user(member_id, name="Mallory")
    return user, dict(harness.b24.frame_launch(member_id, user).form)


async def event(harness: Harness, form: dict[str, Any]) -> int:
    response = await harness.client.post("/b24/events", data=form)
    return response.status


def start_of_a_budget_window(harness: Harness) -> None:
    """Move the (real-time) clock to just past a minute boundary, so that a flood counted
    against the per-minute abuse budget does not straddle two windows on a slow machine."""
    now = harness.b24.clock.time()
    harness.b24.clock.advance(60 - now % 60 + 0.5)


def uninstall_form(member_id: str, application_token: str) -> dict[str, str]:
    return {
        "event": "ONAPPUNINSTALL",
        "data[LANGUAGE_ID]": "en",
        "data[CLEAN]": "1",
        "ts": "1790000000",
        "auth[member_id]": member_id,
        "auth[application_token]": application_token,
        "auth[domain]": "portal.bitrix24.test",
    }


# ------------------------------------------------------------------ uninstall


async def test_a_members_forged_uninstall_deletes_nothing_and_is_logged(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    member_id = await harness.install()
    session = await harness.session_for(member_id, 1)
    created = await harness.create_touch_point(member_id, session)
    _user, form = await member_of(harness, member_id)
    with caplog.at_level(logging.WARNING, logger="touchpoints.lifecycle"):
        status = await event(harness, uninstall_form(member_id, form["APPLICATION_TOKEN"]))
    # 2xx: Bitrix24 never retries, and the forger learns nothing.
    assert status == 200
    assert any("still accepts our tokens" in r.getMessage() for r in caplog.records)
    assert await stored(harness, member_id) is not None
    status, body = await harness.api("GET", f"/api/v1/touchpoints/{created['id']}", session)
    assert status == 200, body


async def test_bitrix24s_real_uninstall_still_deletes_everything(harness: Harness) -> None:
    member_id = await harness.install()
    deliveries = await harness.b24.uninstall(member_id)
    assert [d.status for d in deliveries] == [200]
    assert await stored(harness, member_id) is None


async def test_an_uninstall_bitrix24_cannot_confirm_is_retried_by_reconciliation(
    harness: Harness,
) -> None:
    member_id = await harness.install()
    # Bitrix24 is unreachable when the (real) uninstall arrives.
    harness.b24.inject("*", member_id=member_id, error="INTERNAL_SERVER_ERROR", times=None)
    harness.b24.inject("oauth.token", error="INTERNAL_SERVER_ERROR", status=503, times=None)
    deliveries = await harness.b24.uninstall(member_id)
    assert [d.status for d in deliveries] == [200]
    pending = await stored(harness, member_id)
    assert pending is not None
    assert pending.uninstall_requested_at is not None
    # Still unreachable: reconciliation keeps every row and tries again next time.
    await reconcile_all(
        storage=harness.storage, connector=harness.services.connector, clock=harness.b24.clock
    )
    assert await stored(harness, member_id) is not None
    harness.b24.clear_faults()
    summary = await reconcile_all(
        storage=harness.storage, connector=harness.services.connector, clock=harness.b24.clock
    )
    assert summary["uninstalled"] == 1
    assert await stored(harness, member_id) is None


async def test_a_forged_uninstall_flood_costs_at_most_the_abuse_budget(harness: Harness) -> None:
    member_id = await harness.install()
    _user, form = await member_of(harness, member_id)
    start_of_a_budget_window(harness)
    harness.b24.reset_counters()
    for _ in range(30):
        assert await event(harness, uninstall_form(member_id, form["APPLICATION_TOKEN"])) == 200
    # Two calls a check (app.info, and a refresh when refused): ten a minute in all.
    assert harness.b24.requests(member_id) + harness.b24.token_requests() <= 10
    portal = await stored(harness, member_id)
    assert portal is not None
    # Past the budget the uninstall waits for reconciliation, which finds it still installed.
    summary = await reconcile_all(
        storage=harness.storage, connector=harness.services.connector, clock=harness.b24.clock
    )
    assert summary["uninstalled"] == 0
    portal = await stored(harness, member_id)
    assert portal is not None
    assert portal.uninstall_requested_at is None


# ------------------------------------------------------------------ update and install


async def test_a_members_forged_update_cannot_replace_the_application_token(
    harness: Harness,
) -> None:
    member_id = await harness.install()
    user, form = await member_of(harness, member_id)
    chosen = secrets.token_hex(16)
    status = await event(
        harness,
        {
            "event": "ONAPPUPDATE",
            "data[VERSION]": "2",
            "auth[member_id]": member_id,
            "auth[application_token]": chosen,
            "auth[access_token]": form["AUTH_ID"],
            "auth[domain]": "portal.bitrix24.test",
        },
    )
    assert status in (401, 403)
    portal = await stored(harness, member_id)
    assert portal is not None
    assert portal.application_token.matches(harness.b24.portal(member_id).application_token)
    assert portal.previous_application_token is None
    # Bitrix24's own launches and uninstall still get through.
    await harness.session_for(member_id, user)
    await harness.b24.uninstall(member_id)
    assert await stored(harness, member_id) is None


async def test_a_real_update_rotates_the_token_and_the_old_one_lasts_until_the_new_is_used(
    harness: Harness,
) -> None:
    member_id = await harness.install()
    old = harness.b24.portal(member_id).application_token
    deliveries = await harness.b24.update_app(member_id, new_application_token=True)
    assert [d.status for d in deliveries] == [200]
    new = harness.b24.portal(member_id).application_token
    portal = await stored(harness, member_id)
    assert portal is not None
    assert portal.application_token.matches(new)
    # A launch rendered before the update still carries the old token.
    stale = harness.b24.frame_launch(member_id, 1)
    stale = stale._replace(form=dict(stale.form, APPLICATION_TOKEN=old))
    assert (await harness.post_frame("/b24/app", stale)).status == 200
    # Bitrix24 uses the new one: from then on the old one is refused.
    await harness.session_for(member_id, 1)
    stale = harness.b24.frame_launch(member_id, 1)
    stale = stale._replace(form=dict(stale.form, APPLICATION_TOKEN=old))
    assert (await harness.post_frame("/b24/app", stale)).status == 401


async def test_a_members_launch_posted_to_the_installer_keeps_the_admins_tokens(
    harness: Harness,
) -> None:
    member_id = await harness.install()
    before = await stored(harness, member_id)
    assert before is not None
    user = harness.b24.add_user(member_id, name="Mallory")
    launch = harness.b24.frame_launch(member_id, user)
    response = await harness.post_frame("/b24/install", launch)
    assert response.status == 403
    after = await stored(harness, member_id)
    assert after is not None
    assert after.tokens == before.tokens
    assert after.installed_by == 1
    # The same tokens as an ONAPPINSTALL event: refused just the same.
    status = await event(
        harness,
        {
            "event": "ONAPPINSTALL",
            "auth[member_id]": member_id,
            "auth[application_token]": launch.form["APPLICATION_TOKEN"],
            "auth[access_token]": launch.form["AUTH_ID"],
            "auth[refresh_token]": launch.form["REFRESH_ID"],
        },
    )
    assert status in (401, 403)
    again = await stored(harness, member_id)
    assert again is not None
    assert again.tokens == before.tokens


async def test_background_work_keeps_running_as_the_admin_after_a_swap_attempt(
    harness: Harness,
) -> None:
    member_id = await harness.install()
    admin_session = await harness.session_for(member_id, 1)
    colleague = harness.b24.add_user(member_id, name="Colleague", crm_access="own")
    created = await harness.create_touch_point(member_id, admin_session)
    launch = harness.b24.frame_launch(member_id, colleague)
    assert (await harness.post_frame("/b24/install", launch)).status == 403
    await reconcile_all(
        storage=harness.storage, connector=harness.services.connector, clock=harness.b24.clock
    )
    status, body = await harness.api("GET", f"/api/v1/touchpoints/{created['id']}", admin_session)
    assert status == 200
    assert body["status"] == "open"


# ------------------------------------------------------------------ activity events


async def test_a_forged_activity_delete_orphans_nothing(harness: Harness) -> None:
    member_id = await harness.install()
    session = await harness.session_for(member_id, 1)
    created = await harness.create_touch_point(member_id, session)
    _user, form = await member_of(harness, member_id)
    status = await event(
        harness,
        {
            "event": "ONCRMACTIVITYDELETE",
            "data[FIELDS][ID]": str(created["activity_id"]),
            "auth[member_id]": member_id,
            "auth[application_token]": form["APPLICATION_TOKEN"],
        },
    )
    assert status == 200
    await harness.services_drain()
    status, body = await harness.api("GET", f"/api/v1/touchpoints/{created['id']}", session)
    assert status == 200, body
    assert body["status"] == "open"
    # A real delete in Bitrix24 still orphans it.
    await harness.b24.ui_delete_activity(member_id, created["activity_id"])
    await harness.b24.drain_events()
    await harness.services_drain()
    status, body = await harness.api("GET", f"/api/v1/touchpoints/{created['id']}", session)
    assert status == 200, body
    assert body["status"] == "orphaned"


async def test_reconciliation_does_not_orphan_what_the_token_merely_cannot_see(
    harness: Harness,
) -> None:
    member_id = await harness.install()
    session = await harness.session_for(member_id, 1)
    created = await harness.create_touch_point(member_id, session)
    # The installing admin loses rights: lists leave the activity out, get says "denied".
    admin = harness.b24.portal(member_id).users[1]
    admin.admin = False
    admin.crm_access = "none"
    await reconcile_all(
        storage=harness.storage, connector=harness.services.connector, clock=harness.b24.clock
    )
    admin.admin = True
    admin.crm_access = "all"
    status, body = await harness.api("GET", f"/api/v1/touchpoints/{created['id']}", session)
    assert status == 200, body
    assert body["status"] == "open"


async def test_reconciliation_never_orphans_in_bulk(harness: Harness) -> None:
    member_id = await harness.install()
    session = await harness.session_for(member_id, 1)
    made = [await harness.create_touch_point(member_id, session) for _ in range(12)]
    activities = harness.b24.portal(member_id).activities
    # Eleven of twelve to-dos vanish without a single event: something is off, not a user.
    for item in made[:11]:
        del activities[item["activity_id"]]
    await reconcile_all(
        storage=harness.storage, connector=harness.services.connector, clock=harness.b24.clock
    )
    async with harness.storage.unit_of_work() as uow:
        portal = await uow.portals.get_by_member_id(member_id)
        assert portal is not None
        statuses = [
            (await uow.touch_points.get(portal.id, item["id"])).status  # type: ignore[union-attr]
            for item in made
        ]
    assert statuses == [Status.OPEN] * 12
    # One missing to-do among many is ordinary: it is orphaned.
    member2 = await harness.install()
    session2 = await harness.session_for(member2, 1)
    made2 = [await harness.create_touch_point(member2, session2) for _ in range(3)]
    del harness.b24.portal(member2).activities[made2[0]["activity_id"]]
    await reconcile_all(
        storage=harness.storage, connector=harness.services.connector, clock=harness.b24.clock
    )
    status, body = await harness.api("GET", f"/api/v1/touchpoints/{made2[0]['id']}", session2)
    assert status == 200, body
    assert body["status"] == "orphaned"


# ------------------------------------------------------------------ user tokens


async def test_a_token_issued_to_another_app_opens_nothing(harness: Harness) -> None:
    member_id = await harness.install()
    launch = harness.b24.frame_launch(member_id, 1, app="other.vendor.app")
    assert (await harness.post_frame("/b24/app", launch)).status == 401
    response = await harness.client.post(
        "/api/v1/session/renew",
        json={"auth_id": launch.form["AUTH_ID"], "member_id": member_id},
    )
    assert response.status == 401


async def test_junk_renewals_cost_at_most_the_budget_and_never_the_working_bucket(
    harness: Harness,
) -> None:
    member_id = await harness.install()
    session = await harness.session_for(member_id, 1)
    bucket = harness.services.connector.throttle.bucket(member_id)  # type: ignore[attr-defined]
    level_before = bucket.level()
    start_of_a_budget_window(harness)
    harness.b24.reset_counters()
    statuses = []
    for _ in range(40):
        response = await harness.client.post(
            "/api/v1/session/renew",
            json={"auth_id": secrets.token_hex(16), "member_id": member_id},
        )
        statuses.append(response.status)
        if response.status == 429:
            assert int(response.headers["Retry-After"]) >= 1
    assert set(statuses) == {401, 429}
    assert harness.b24.requests(member_id) <= 10
    # The portal's working bucket was never drawn from (it only drained); verified users
    # work on.
    assert bucket.level() <= level_before
    status, _ = await harness.api("GET", "/api/v1/board", session)
    assert status == 200
    # A new minute, a new budget.
    harness.b24.clock.advance(61)
    launch = harness.b24.frame_launch(member_id, 1)
    assert (await harness.post_frame("/b24/app", launch)).status == 200


async def test_a_refused_token_is_remembered_and_not_asked_again(harness: Harness) -> None:
    member_id = await harness.install()
    junk = secrets.token_hex(16)
    harness.b24.reset_counters()
    for _ in range(3):
        response = await harness.client.post(
            "/api/v1/session/renew", json={"auth_id": junk, "member_id": member_id}
        )
        assert response.status == 401
    assert harness.b24.requests(member_id) == 1


async def test_junk_installs_cost_at_most_the_budget_at_the_token_endpoint(
    harness: Harness,
) -> None:
    member_id = await harness.install()
    start_of_a_budget_window(harness)
    harness.b24.reset_counters()
    statuses = []
    for _ in range(30):
        launch = harness.b24.frame_launch(member_id, 1)
        form = dict(launch.form, REFRESH_ID=secrets.token_hex(16))
        response = await harness.client.post("/b24/install", params=launch.query, data=form)
        statuses.append(response.status)
    assert set(statuses) == {401, 429}
    # Each junk install takes two from its portal's ten (token endpoint, then profile).
    assert harness.b24.token_requests() <= 5


async def test_the_user_list_is_never_served_from_another_users_read(harness: Harness) -> None:
    member_id = await harness.install()
    seller = harness.b24.add_user(member_id, name="Seller")
    admin_session = await harness.session_for(member_id, 1)
    seller_session = await harness.session_for(member_id, seller)
    status, first = await harness.api("GET", "/api/v1/users", admin_session)
    assert status == 200
    newcomer = harness.b24.add_user(member_id, name="Newcomer")
    status, second = await harness.api("GET", "/api/v1/users", seller_session)
    assert status == 200
    assert newcomer in {u["id"] for u in second["users"]}
    assert newcomer not in {u["id"] for u in first["users"]}


async def test_a_forged_uninstall_on_an_unpaid_portal_deletes_nothing(harness: Harness) -> None:
    member_id = await harness.install()
    _user, form = await member_of(harness, member_id)
    # The subscription lapsed and the stored access token expired: refreshes answer
    # PAYMENT_REQUIRED, which means "installed but unpaid", not "uninstalled".
    harness.b24.set_payment_required(member_id)
    harness.b24.clock.advance(3600)
    assert await event(harness, uninstall_form(member_id, form["APPLICATION_TOKEN"])) == 200
    assert await stored(harness, member_id) is not None
