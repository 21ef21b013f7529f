"""The digest bot end to end: the app on real Postgres against the HTTP emulator of Bitrix24.

Registration at install and update, the actionable digest (send, update, old buttons
cleared), presses of "+1 working day" (moved, replayed, forged), and the fallback to system
notifications where the installation has no ``imbot`` scope.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import attrs
import pytest

from tests.fakes.b24_world import OUR_APP, BotChatMessage
from tests.fakes.bitrix24 import Bitrix24Emulator, EmulatorClock
from tests.integration.conftest import Harness
from touchpoints.domain.bot import SNOOZE_COMMAND
from touchpoints.domain.model import OwnerType
from touchpoints.domain.portal import Portal, PortalInstall
from touchpoints.domain.scheduling import add_working_days, current_local_day
from touchpoints.domain.settings import PortalSettings, UserPreferences
from touchpoints.entrypoints.catalogue import load_catalogue
from touchpoints.entrypoints.digest_job import board_link
from touchpoints.ports.digests import BotStatus, DigestState
from touchpoints.services.bot_digest import app_links
from touchpoints.services.digest import DigestSummary, run_digest_pass

pytestmark = pytest.mark.postgres

# Tuesday 2026-09-01, 09:05 in Berlin (CEST, +02:00): the default digest hour has come.
NOW = datetime(2026, 9, 1, 7, 5, tzinfo=UTC)
ZONE = "Europe/Berlin"
WITH_BOT = "crm,im,imbot,placement,user_brief,department"
WITHOUT_BOT = "crm,im,placement,user_brief,department"
REP, OTHER = 2, 3


@pytest.fixture
async def b24() -> AsyncIterator[Bitrix24Emulator]:
    async with Bitrix24Emulator(clock=EmulatorClock(NOW)) as emulator:
        yield emulator


async def portal_of(harness: Harness, member_id: str) -> Portal:
    async with harness.storage.unit_of_work() as uow:
        portal = await uow.portals.get_by_member_id(member_id)
    assert portal is not None
    return portal


async def site(harness: Harness, scope: str = WITH_BOT, *, admin_rollup: bool = False) -> str:
    """An installed portal with Rita (a rep) and Oleg (Russian); the installing admin's
    roll-up is off unless asked for, so that only the reps' digests go out."""
    member_id = await harness.install(user_time_zone=ZONE, scope=scope)
    harness.b24.add_user(member_id, REP, name="Rita")
    harness.b24.add_user(member_id, OTHER, name="Oleg", language="ru")
    if not admin_rollup:
        portal = await portal_of(harness, member_id)
        async with harness.storage.unit_of_work() as uow:
            await uow.preferences.put(
                portal.id, UserPreferences(user_id=1, rollup_enabled=False), now=NOW
            )
    return member_id


async def touch_point(
    harness: Harness, member_id: str, session: str, deadline: datetime, title: str
) -> dict[str, Any]:
    deal = harness.b24.add_record(member_id, OwnerType.DEAL, title=title, assigned_by_id=REP)
    status, body = await harness.api(
        "POST",
        "/api/v1/touchpoints",
        session,
        json={
            "owner": {"type": "deal", "id": deal.id},
            "type": "call",
            "deadline": deadline.isoformat(),
        },
    )
    assert status == 201, body
    return dict(body)


async def rep_with_a_due_touch_point(harness: Harness) -> tuple[str, str, dict[str, Any]]:
    """A site where the rep has one touch-point ("Fleet") due in three hours: the portal's
    member id, the rep's session and the touch-point."""
    member_id = await site(harness)
    session = await harness.session_for(member_id, REP)
    created = await touch_point(harness, member_id, session, NOW + timedelta(hours=3), "Fleet")
    return member_id, session, created


async def digest(harness: Harness, now: datetime) -> DigestSummary:
    return await run_digest_pass(
        storage=harness.storage,
        connector=harness.services.connector,
        messenger=harness.services.messenger,
        clock=_Fixed(now),
        board_url=board_link(harness.b24.client_id),
        catalogue=load_catalogue(),
        bots=harness.services.bots,
        links=app_links(harness.b24.client_id),
    )


class _Fixed:
    def __init__(self, now: datetime) -> None:
        self._now = now

    def now(self) -> datetime:
        return self._now


def chat(harness: Harness, member_id: str, user_id: int) -> list[BotChatMessage]:
    return harness.b24.bot_chat(member_id, user_id)


def commands(message: BotChatMessage) -> list[dict[str, Any]]:
    return [b for b in message.keyboard if b.get("COMMAND")]


# ------------------------------------------------------------------ registration


async def test_install_registers_one_webhook_bot_with_its_hidden_command(harness: Harness) -> None:
    member_id = await site(harness)
    bots = list(harness.b24.portal(member_id).chat_bots.values())
    assert [(b.code, b.event_mode, b.webhook_url) for b in bots] == [
        ("touchpoints", "webhook", f"{harness.base_url}/b24/bot")
    ]
    assert set(bots[0].commands) == {SNOOZE_COMMAND} == bots[0].hidden
    portal = await portal_of(harness, member_id)
    async with harness.storage.unit_of_work() as uow:
        stored = await uow.bots.get(portal.id)
    assert stored is not None
    assert (stored.status, stored.bot_id) == (BotStatus.REGISTERED, bots[0].id)


async def test_an_update_registers_the_same_bot_again_without_a_second_one(
    harness: Harness,
) -> None:
    member_id = await site(harness)
    before = dict(harness.b24.portal(member_id).chat_bots)
    deliveries = await harness.b24.update_app(member_id)
    assert [d.status for d in deliveries] == [200]
    after = harness.b24.portal(member_id).chat_bots
    assert list(after) == list(before)
    assert harness.b24.calls(member_id, "imbot.v2.Bot.register") == 2


async def test_an_update_brings_the_existing_bots_webhook_url_and_name_up_to_date(
    harness: Harness,
) -> None:
    member_id = await site(harness)
    [bot] = harness.b24.portal(member_id).chat_bots.values()
    current_url = bot.webhook_url
    # As an earlier release (another public URL, another name) left it in Bitrix24.
    bot.webhook_url, bot.name = "https://old.example/b24/bot", "Old name"

    deliveries = await harness.b24.update_app(member_id)

    assert [d.status for d in deliveries] == [200]
    [after] = harness.b24.portal(member_id).chat_bots.values()
    assert after.id == bot.id
    assert after.webhook_url == current_url
    assert after.name == "Touch-points"


async def test_an_update_keeps_the_app_code_of_a_portal_installed_before_it_was_kept(
    harness: Harness,
) -> None:
    member_id = await site(harness)
    before = await portal_of(harness, member_id)
    assert before.app_code == OUR_APP
    async with harness.storage.unit_of_work() as uow:
        # As an install of an earlier release left the row: no code.
        fields = {f.name: getattr(before, f.name) for f in attrs.fields(PortalInstall)}
        await uow.portals.replace_install(
            before.id, PortalInstall(**{**fields, "app_code": None}), now=NOW
        )
    assert (await portal_of(harness, member_id)).app_code is None

    deliveries = await harness.b24.update_app(member_id)

    assert [d.status for d in deliveries] == [200]
    assert (await portal_of(harness, member_id)).app_code == OUR_APP


async def test_without_imbot_the_bot_is_unavailable_and_the_digest_is_a_notification(
    harness: Harness,
) -> None:
    member_id = await site(harness, scope=WITHOUT_BOT)
    portal = await portal_of(harness, member_id)
    async with harness.storage.unit_of_work() as uow:
        stored = await uow.bots.get(portal.id)
    assert stored is not None
    assert (stored.status, stored.bot_id) == (BotStatus.UNAVAILABLE, None)
    session = await harness.session_for(member_id, REP)
    await touch_point(harness, member_id, session, NOW + timedelta(hours=2), "Fleet")
    summary = await digest(harness, NOW)
    assert summary.sent == 1
    assert chat(harness, member_id, REP) == []
    [notification] = harness.b24.inbox(member_id, REP)
    assert "Fleet" in notification.message
    status, me = await harness.api("GET", "/api/v1/me", session)
    assert status == 200
    assert me["portal"]["digest_channel"] == "notification"


# ------------------------------------------------------------------ the actionable digest


async def test_the_digest_is_one_bot_message_with_sections_and_buttons_per_item(
    harness: Harness,
) -> None:
    member_id = await site(harness)
    session = await harness.session_for(member_id, REP)
    late = await touch_point(harness, member_id, session, NOW - timedelta(days=1), "Late deal")
    soon = await touch_point(harness, member_id, session, NOW + timedelta(hours=3), "Soon deal")
    stalled = harness.b24.add_record(
        member_id, OwnerType.DEAL, title="Forgotten deal", assigned_by_id=REP
    )
    status, me = await harness.api("GET", "/api/v1/me", session)
    assert (status, me["portal"]["digest_channel"]) == (200, "bot")

    summary = await digest(harness, NOW)

    assert summary.sent == 1
    [message] = chat(harness, member_id, REP)
    text = message.text
    assert text.index("Overdue: 1") < text.index("Late deal") < text.index("Due today: 1")
    assert text.index("Soon deal") < text.index("No next step: 1") < text.index("Forgotten deal")
    assert not message.system
    links = [b["LINK"] for b in message.keyboard if b.get("LINK")]
    code = OUR_APP  # the portal's app.info CODE, not the client id
    assert f"/marketplace/view/{code}/?params[complete]={late['id']}" in links
    assert any(link.endswith(f"/crm/deal/details/{stalled.id}/") for link in links)
    assert [b["COMMAND_PARAMS"] for b in commands(message)] == [
        f"{late['id']}.1",
        f"{soon['id']}.1",
    ]
    assert {b["COMMAND"] for b in commands(message)} == {SNOOZE_COMMAND}
    assert chat(harness, member_id, OTHER) == []  # nothing due: no message


async def test_a_people_read_that_fails_while_the_deals_are_read_sends_nothing_until_a_retry(
    harness: Harness,
) -> None:
    member_id, _, _ = await rep_with_a_due_touch_point(harness)
    # user.get and the open deals go out together; the deal list answers late.
    harness.b24.inject("user.get", error="INTERNAL_SERVER_ERROR", times=None)
    harness.b24.inject("crm.item.list", delay=0.2)

    failed = await digest(harness, NOW)

    assert (failed.sent, failed.failed_portals) == (0, 1)
    assert chat(harness, member_id, REP) == []
    harness.b24.clear_faults()
    retried = await digest(harness, NOW + timedelta(minutes=5))
    assert retried.sent >= 1
    assert len(chat(harness, member_id, REP)) == 1


async def test_a_resend_after_a_crash_updates_the_kept_message_instead_of_sending_another(
    harness: Harness,
) -> None:
    member_id, _, _ = await rep_with_a_due_touch_point(harness)
    await digest(harness, NOW)
    portal = await portal_of(harness, member_id)
    # The pass crashed after the send and the kept id, before marking: the claim is failed.
    async with harness.storage.unit_of_work() as uow:
        await uow.digest_log.mark(portal.id, REP, NOW.date(), DigestState.FAILED)
        # ...so the portal's day was never settled either.
        await uow.digest_log.schedule(portal.id, next_at=None)

    summary = await digest(harness, NOW + timedelta(minutes=5))

    assert summary.sent == 1
    [message] = chat(harness, member_id, REP)
    assert message.updates == 1
    assert "Fleet" in message.text
    assert harness.b24.calls(member_id, "imbot.v2.Chat.Message.send") == 1


async def test_the_next_days_digest_takes_the_buttons_off_the_previous_message(
    harness: Harness,
) -> None:
    member_id, session, _ = await rep_with_a_due_touch_point(harness)
    await touch_point(harness, member_id, session, NOW + timedelta(days=1, hours=3), "Tomorrow")
    await digest(harness, NOW)
    await digest(harness, NOW + timedelta(days=1))
    first, second = chat(harness, member_id, REP)
    assert first.keyboard == []
    assert commands(second)
    assert "Tomorrow" in second.text


# ------------------------------------------------------------------ presses


async def rep_with_a_digest(harness: Harness) -> tuple[str, str, dict[str, Any], BotChatMessage]:
    """A site where the rep has one touch-point due today and its digest in their chat: the
    portal's member id, the rep's session, the touch-point and the bot message."""
    member_id, session, created = await rep_with_a_due_touch_point(harness)
    await digest(harness, NOW)
    [message] = chat(harness, member_id, REP)
    return member_id, session, created, message


async def test_a_press_moves_the_touch_point_one_working_day_as_its_user_and_says_so(
    harness: Harness,
) -> None:
    member_id, session, created, message = await rep_with_a_digest(harness)

    delivery = await harness.b24.press_bot_button(member_id, message.id, 0)

    assert delivery.status == 200, delivery.body
    status, moved = await harness.api("GET", f"/api/v1/touchpoints/{created['id']}", session)
    assert status == 200
    settings = PortalSettings.defaults(ZONE)
    expected = add_working_days(current_local_day(NOW, settings.zone), 1, settings)
    assert datetime.fromisoformat(moved["deadline"]).date() == expected
    activity = harness.b24.activity(member_id, created["activity_id"])
    assert activity is not None
    assert activity.deadline is not None
    assert activity.deadline.astimezone(settings.zone).date() == expected
    [redrawn] = chat(harness, member_id, REP)
    assert redrawn.id == message.id
    assert "✓ Moved" in redrawn.text
    assert "Fleet" in redrawn.text
    assert commands(redrawn) == []  # nothing is due today any more


async def test_a_replayed_press_moves_nothing_twice_and_shows_the_current_state(
    harness: Harness,
) -> None:
    member_id, session, created, message = await rep_with_a_digest(harness)
    original = list(message.keyboard)
    await harness.b24.press_bot_button(member_id, message.id, 0)
    _, once = await harness.api("GET", f"/api/v1/touchpoints/{created['id']}", session)
    # The same press again, as a replay of the first event would carry it.
    message.keyboard = original

    replay = await harness.b24.press_bot_button(member_id, message.id, 0)

    assert replay.status == 200
    assert '"changed"' in (replay.body or "")
    _, twice = await harness.api("GET", f"/api/v1/touchpoints/{created['id']}", session)
    assert twice["deadline"] == once["deadline"]
    assert "changed meanwhile" in chat(harness, member_id, REP)[0].text


async def test_a_press_by_another_member_on_someone_elses_message_changes_nothing(
    harness: Harness,
) -> None:
    member_id, session, created, message = await rep_with_a_digest(harness)
    text_before = message.text

    # Oleg posts a press of Rita's button with his own token (and Rita's id in data[user]).
    forged = await harness.b24.press_bot_button(member_id, message.id, 0, user_id=OTHER)

    assert forged.status == 200
    assert '"refused"' in (forged.body or "")
    _, unchanged = await harness.api("GET", f"/api/v1/touchpoints/{created['id']}", session)
    assert unchanged["deadline"] == created["deadline"]
    assert chat(harness, member_id, REP)[0].text == text_before


async def test_a_press_with_a_wrong_application_token_is_refused(harness: Harness) -> None:
    member_id, session, created, message = await rep_with_a_digest(harness)

    refused = await harness.b24.press_bot_button(member_id, message.id, 0, forged=True)

    assert refused.status == 403
    _, unchanged = await harness.api("GET", f"/api/v1/touchpoints/{created['id']}", session)
    assert unchanged["deadline"] == created["deadline"]


@pytest.mark.parametrize("as_json", [False, True], ids=["form", "json"])
async def test_a_press_whose_only_token_is_the_bot_blocks_runs_as_that_tokens_user(
    harness: Harness, as_json: bool
) -> None:
    member_id, session, created, message = await rep_with_a_digest(harness)

    # The v2 page's top-level auth has no token at all; the bot block carries Rita's.
    delivery = await harness.b24.press_bot_button(
        member_id, message.id, 0, bare_auth=True, bot_token_of=REP, as_json=as_json
    )

    assert delivery.status == 200, delivery.body
    assert '"moved"' in (delivery.body or "")
    _, moved = await harness.api("GET", f"/api/v1/touchpoints/{created['id']}", session)
    assert moved["deadline"] != created["deadline"]


@pytest.mark.parametrize(
    "press",
    [
        # Oleg's own token, with Rita named in data[user].
        {"user_id": OTHER, "named": REP},
        # The v2 payload whose only token is the admin's (the bot block's), Rita named.
        {"bare_auth": True},
    ],
    ids=["a-colleagues-token", "the-admins-bot-token"],
)
async def test_a_press_whose_token_is_not_its_named_users_is_refused_and_moves_nothing(
    harness: Harness, press: dict[str, Any]
) -> None:
    member_id, session, created, message = await rep_with_a_digest(harness)
    text_before = message.text

    refused = await harness.b24.press_bot_button(member_id, message.id, 0, **press)

    assert refused.status == 401, refused.body
    _, unchanged = await harness.api("GET", f"/api/v1/touchpoints/{created['id']}", session)
    assert unchanged["deadline"] == created["deadline"]
    assert chat(harness, member_id, REP)[0].text == text_before


# ------------------------------------------------------------------ the manager roll-up


async def test_a_team_viewer_gets_the_teams_roll_up_unless_they_turn_it_off(
    harness: Harness,
) -> None:
    member_id = await site(harness)
    portal = await portal_of(harness, member_id)
    async with harness.storage.unit_of_work() as uow:
        settings = await uow.settings.get(portal.id)
        assert settings is not None
        await uow.settings.put(portal.id, attrs.evolve(settings, team_viewers=(OTHER,)), now=NOW)
    rep = await harness.session_for(member_id, REP)
    await touch_point(harness, member_id, rep, NOW - timedelta(days=2), "Late")
    await touch_point(harness, member_id, rep, NOW + timedelta(hours=1), "Soon")
    harness.b24.add_record(member_id, OwnerType.DEAL, title="Idle", assigned_by_id=REP)
    viewer = await harness.session_for(member_id, OTHER)
    status, preferences = await harness.api("GET", "/api/v1/me/preferences", viewer)
    assert (status, preferences) == (200, {"digest_enabled": True, "rollup_enabled": True})

    await digest(harness, NOW)

    [rollup] = chat(harness, member_id, OTHER)
    assert "Команда: 1" in rollup.text  # Oleg reads Russian
    rep_link = f"/marketplace/view/{OUR_APP}/?params%5Bresponsible_id%5D={REP}"
    assert f"[url={rep_link}]Rita[/url]: просрочено 1 · сегодня 1 · без следующего шага 1" in (
        rollup.text
    )
    [own] = chat(harness, member_id, REP)
    assert "Команда" not in own.text
    assert "Team" not in own.text

    status, saved = await harness.api(
        "PUT",
        "/api/v1/me/preferences",
        viewer,
        json={"digest_enabled": True, "rollup_enabled": False},
    )
    assert (status, saved) == (200, {"digest_enabled": True, "rollup_enabled": False})
    # A PUT that leaves the roll-up out keeps it as it was.
    status, kept = await harness.api(
        "PUT", "/api/v1/me/preferences", viewer, json={"digest_enabled": True}
    )
    assert (status, kept["rollup_enabled"]) == (200, False)
    await digest(harness, NOW + timedelta(days=1))
    assert len(chat(harness, member_id, OTHER)) == 1  # nothing of his own, no roll-up: no message


async def test_a_rep_with_only_deals_without_a_next_step_is_named_in_the_roll_up(
    harness: Harness,
) -> None:
    member_id = await site(harness)
    await make_team_viewer(harness, member_id, OTHER)
    idle_rep = 4
    harness.b24.add_user(member_id, idle_rep, name="Sam")
    harness.b24.add_record(member_id, OwnerType.DEAL, title="Idle", assigned_by_id=idle_rep)
    rep = await harness.session_for(member_id, REP)
    await touch_point(harness, member_id, rep, NOW + timedelta(hours=1), "Soon")
    before = harness.b24.calls(member_id, "user.get")

    await digest(harness, NOW)

    [rollup] = chat(harness, member_id, OTHER)
    sams_link = f"/marketplace/view/{OUR_APP}/?params%5Bresponsible_id%5D={idle_rep}"
    assert f"[url={sams_link}]Sam[/url]: 0 overdue · 0 due today · 1 with no next step" in (
        rollup.text
    )
    assert f"#{idle_rep}" not in rollup.text
    # Sam was not among the people first named: one more user.get names him.
    assert harness.b24.calls(member_id, "user.get") - before == 2


async def test_two_concurrent_passes_send_each_user_one_bot_message(harness: Harness) -> None:
    member_id, _, _ = await rep_with_a_due_touch_point(harness)

    first, second = await asyncio.gather(digest(harness, NOW), digest(harness, NOW))

    # One pass leases the portal (Rita's digest; the admin has nothing); the other finds it
    # busy or settled and claims nobody.
    assert (first.sent + second.sent, first.already + second.already) == (1, 0)
    assert first.due + second.due == 1
    assert len(chat(harness, member_id, REP)) == 1
    assert harness.b24.calls(member_id, "imbot.v2.Chat.Message.send") == 1


# ------------------------------------------------------------------ the roll-up as its own message


async def make_team_viewer(harness: Harness, member_id: str, user_id: int) -> None:
    portal = await portal_of(harness, member_id)
    async with harness.storage.unit_of_work() as uow:
        settings = await uow.settings.get(portal.id)
        assert settings is not None
        await uow.settings.put(portal.id, attrs.evolve(settings, team_viewers=(user_id,)), now=NOW)


async def replay_after_crash(harness: Harness, member_id: str, *user_ids: int) -> None:
    """The pass crashed after its sends and kept ids, before marking: failed, unsettled."""
    portal = await portal_of(harness, member_id)
    async with harness.storage.unit_of_work() as uow:
        for user_id in user_ids:
            await uow.digest_log.mark(portal.id, user_id, NOW.date(), DigestState.FAILED)
        await uow.digest_log.schedule(portal.id, next_at=None)


async def test_a_managers_roll_up_is_a_second_message_sent_once_even_when_a_pass_is_replayed(
    harness: Harness,
) -> None:
    member_id = await site(harness)
    await make_team_viewer(harness, member_id, OTHER)
    rep = await harness.session_for(member_id, REP)
    await touch_point(harness, member_id, rep, NOW - timedelta(days=2), "Late")
    viewer = await harness.session_for(member_id, OTHER)
    await touch_point(harness, member_id, viewer, NOW + timedelta(hours=2), "Olegs own")

    summary = await digest(harness, NOW)

    assert summary.sent == 2  # Rita's digest; Oleg's digest and roll-up under one claim
    own, rollup = chat(harness, member_id, OTHER)
    assert "Olegs own" in own.text
    assert "Команда" not in own.text
    assert rollup.text.startswith("[b]Ваша команда на 01.09.2026[/b]")
    assert "Rita[/url]: просрочено 1 · сегодня 0" in rollup.text
    assert "Oleg[/url]: просрочено 0 · сегодня 1" in rollup.text
    assert rollup.keyboard == []  # links only: nothing to take off tomorrow
    assert harness.b24.calls(member_id, "imbot.v2.Chat.Message.send") == 3
    portal = await portal_of(harness, member_id)
    async with harness.storage.unit_of_work() as uow:
        entry = await uow.digest_log.get(portal.id, OTHER, NOW.date())
    assert entry is not None
    assert (entry.message_id, entry.rollup_message_id) == (own.id, rollup.id)

    await replay_after_crash(harness, member_id, OTHER)
    again = await digest(harness, NOW + timedelta(minutes=5))

    assert again.sent == 1
    assert [m.id for m in chat(harness, member_id, OTHER)] == [own.id, rollup.id]
    assert [m.updates for m in chat(harness, member_id, OTHER)] == [1, 1]
    assert harness.b24.calls(member_id, "imbot.v2.Chat.Message.send") == 3


async def test_a_manager_with_an_idle_team_and_nothing_of_their_own_gets_no_message(
    harness: Harness,
) -> None:
    member_id = await site(harness, admin_rollup=True)

    summary = await digest(harness, NOW)

    assert (summary.sent, summary.skipped) == (0, 1)
    assert chat(harness, member_id, 1) == []


async def test_without_imbot_the_roll_up_is_a_notification_of_its_own_that_a_resend_replaces(
    harness: Harness,
) -> None:
    member_id = await site(harness, scope=WITHOUT_BOT, admin_rollup=True)
    portal = await portal_of(harness, member_id)
    async with harness.storage.unit_of_work() as uow:
        await uow.preferences.put(portal.id, UserPreferences(user_id=1), now=NOW)
    rep = await harness.session_for(member_id, REP)
    await touch_point(harness, member_id, rep, NOW + timedelta(hours=2), "Fleet")
    harness.b24.add_record(member_id, OwnerType.DEAL, title="Idle", assigned_by_id=REP)

    await digest(harness, NOW)
    await replay_after_crash(harness, member_id, 1, REP)
    await digest(harness, NOW + timedelta(minutes=5))

    [rollup] = harness.b24.inbox(member_id, 1)
    assert rollup.tag == f"touchpoints.rollup.1.{NOW.date().isoformat()}"
    assert "Rita" in rollup.message
    assert "0 overdue · 1 due today · 1 with no next step" in rollup.message
    [own] = harness.b24.inbox(member_id, REP)
    assert "Fleet" in own.message


# ------------------------------------------------------------------ the bot deleted on the portal


async def test_a_forged_bot_deletion_is_checked_with_bitrix24_and_the_bot_kept(
    harness: Harness,
) -> None:
    member_id = await site(harness)
    portal = await portal_of(harness, member_id)
    [bot_id] = harness.b24.portal(member_id).chat_bots

    delivery = await harness.b24.delete_bot(member_id, bot_id, forged=True)

    assert delivery.status == 200
    assert harness.b24.calls(member_id, "imbot.v2.Bot.get") == 1
    async with harness.storage.unit_of_work() as uow:
        stored = await uow.bots.get(portal.id)
    assert stored is not None
    assert (stored.status, stored.bot_id) == (BotStatus.REGISTERED, bot_id)
    session = await harness.session_for(member_id, REP)
    await touch_point(harness, member_id, session, NOW + timedelta(hours=2), "Fleet")
    await digest(harness, NOW)
    assert len(chat(harness, member_id, REP)) == 1
    assert harness.b24.inbox(member_id, REP) == []


async def test_a_confirmed_bot_deletion_falls_back_to_notifications_until_an_update(
    harness: Harness,
) -> None:
    member_id = await site(harness)
    portal = await portal_of(harness, member_id)
    [bot_id] = harness.b24.portal(member_id).chat_bots
    session = await harness.session_for(member_id, REP)
    await touch_point(harness, member_id, session, NOW + timedelta(hours=2), "Fleet")
    await touch_point(harness, member_id, session, NOW + timedelta(days=1, hours=2), "Tomorrow")

    delivery = await harness.b24.delete_bot(member_id, bot_id)

    assert delivery.status == 200
    async with harness.storage.unit_of_work() as uow:
        stored = await uow.bots.get(portal.id)
    assert stored is not None
    assert (stored.status, stored.bot_id) == (BotStatus.DELETED, None)
    status, me = await harness.api("GET", "/api/v1/me", session)
    assert (status, me["portal"]["digest_channel"]) == (200, "notification")
    await digest(harness, NOW)
    [notification] = harness.b24.inbox(member_id, REP)
    assert "Fleet" in notification.message
    # A second delete event (a replay) finds nothing to forget and asks Bitrix24 nothing.
    calls = harness.b24.calls(member_id, "imbot.v2.Bot.get")
    response = await harness.client.post("/b24/bot", data=list(delivery.form))
    assert response.status == 200
    assert harness.b24.calls(member_id, "imbot.v2.Bot.get") == calls

    await harness.b24.update_app(member_id)

    [new_bot] = harness.b24.portal(member_id).chat_bots
    assert new_bot != bot_id
    async with harness.storage.unit_of_work() as uow:
        stored = await uow.bots.get(portal.id)
    assert stored is not None
    assert (stored.status, stored.bot_id) == (BotStatus.REGISTERED, new_bot)
    await digest(harness, NOW + timedelta(days=1))
    [message] = chat(harness, member_id, REP)
    assert "Tomorrow" in message.text


# ------------------------------------------------------------------ hand-overs in the digest


async def test_both_people_of_a_hand_over_are_told_and_the_owner_hears_of_the_return(
    harness: Harness,
) -> None:
    member_id = await site(harness)
    rita = await harness.session_for(member_id, REP)
    await harness.session_for(member_id, OTHER)  # Oleg opens the app in Russian
    await touch_point(harness, member_id, rita, NOW - timedelta(days=1), "Before the period")
    await touch_point(harness, member_id, rita, NOW + timedelta(hours=3), "Fleet")
    today = current_local_day(NOW, PortalSettings.defaults(ZONE).zone)
    last = add_working_days(today, 2, PortalSettings.defaults(ZONE))
    status, started = await harness.api(
        "POST",
        "/api/v1/handovers",
        rita,
        json={
            "from_user_id": REP,
            "to_user_id": OTHER,
            "first_day": today.isoformat(),
            "last_day": last.isoformat(),
        },
    )
    assert status == 201, started

    await digest(harness, NOW)

    [olegs] = chat(harness, member_id, OTHER)
    assert f"Замещение: Rita, до {last.strftime('%d.%m.%Y')} — вам переданы касания: 1" in (
        olegs.text
    )
    assert "Fleet" in olegs.text
    [ritas] = chat(harness, member_id, REP)
    assert f"Your touch-points are with Oleg until {last.isoformat()} (1 handed over)" in ritas.text

    status, ended = await harness.api(
        "DELETE", f"/api/v1/handovers/{started['handover']['id']}", rita
    )
    assert status == 200, ended
    await digest(harness, NOW + timedelta(days=1))

    ritas_next = chat(harness, member_id, REP)[-1]
    assert "Oleg no longer covers for you" in ritas_next.text
    assert "Fleet" in ritas_next.text
    assert chat(harness, member_id, OTHER) == [olegs]  # nothing of his own any more
    await digest(harness, NOW + timedelta(days=2))
    assert "no longer covers" not in chat(harness, member_id, REP)[-1].text


async def test_a_bot_deleted_while_its_event_was_lost_is_forgotten_by_the_next_digest(
    harness: Harness,
) -> None:
    member_id = await site(harness)
    portal = await portal_of(harness, member_id)
    [bot_id] = harness.b24.portal(member_id).chat_bots
    session = await harness.session_for(member_id, REP)
    await touch_point(harness, member_id, session, NOW + timedelta(hours=2), "Fleet")
    harness.b24.drop_events = True
    await harness.b24.delete_bot(member_id, bot_id)
    harness.b24.drop_events = False

    first = await digest(harness, NOW)

    assert (first.sent, first.failed) == (0, 1)
    async with harness.storage.unit_of_work() as uow:
        stored = await uow.bots.get(portal.id)
    assert stored is not None
    assert stored.status is BotStatus.DELETED

    second = await digest(harness, NOW + timedelta(minutes=5))

    assert second.sent == 1
    [notification] = harness.b24.inbox(member_id, REP)
    assert "Fleet" in notification.message
