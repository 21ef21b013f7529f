"""The CRM port over REST: to-do writes, batched reads and their request counts, users, bindings."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta, timezone

import attrs
import pytest

from tests.unit.test_b24_support import FAST_RETRY, Scripted, local_env
from touchpoints.adapters.bitrix24.batch import Command, batch
from touchpoints.domain.crm import Activity, RecordCard, TodoSpec
from touchpoints.domain.model import OwnerRef, OwnerType, SmartProcess, TouchPointType
from touchpoints.ports.crm import (
    CrmError,
    CrmInvalidInput,
    CrmNotFound,
    CrmPermissionDenied,
    CrmUnavailable,
    Hidden,
    TodoChange,
)

PLUS2 = timezone(timedelta(hours=2))
DEAL_7 = OwnerRef(OwnerType.DEAL, 7)
# Thousands of commands per batch: these tests count requests, so they allow the production
# timeout rather than the short one that keeps failure tests fast.
BIG_READ_TIMEOUT_S = 20.0
BIG_READ_RETRY = attrs.evolve(FAST_RETRY, budget_s=25.0)


def spec(**overrides: object) -> TodoSpec:
    fields: dict[str, object] = {
        "owner": DEAL_7,
        "type": TouchPointType.CALL,
        "deadline": datetime(2026, 9, 1, 10, 0, tzinfo=PLUS2),
        "responsible_id": 17,
        "title": "Call back re: proposal",
        "description": "Ask about budget",
    }
    fields.update(overrides)
    return TodoSpec(**fields)  # type: ignore[arg-type]


# ---------------------------------------------------------------- to-do writes


async def test_create_todo_sends_the_documented_camel_case_params() -> None:
    async with local_env() as env:
        activity_id = await env.connector.as_app(env.portal).create_todo(
            spec(parent_activity_id=8800)
        )
        assert activity_id == 9001
        method, body = env.server.calls[0]
        assert method == "crm.activity.todo.add"
        body.pop("auth")
        assert body == {
            "ownerTypeId": 2,
            "ownerId": 7,
            "deadline": "2026-09-01T10:00:00+02:00",
            "title": "Call back re: proposal",
            "description": "Ask about budget",
            "responsibleId": 17,
            "parentActivityId": 8800,
        }


async def test_create_todo_without_a_parent_sends_no_parent() -> None:
    async with local_env() as env:
        await env.connector.as_app(env.portal).create_todo(spec())
        assert "parentActivityId" not in env.server.calls[0][1]


async def test_moving_reassigning_completing_and_deleting_a_todo() -> None:
    async with local_env() as env:
        crm = env.connector.as_app(env.portal)
        activity_id = await crm.create_todo(spec())
        new_deadline = datetime(2026, 9, 3, 8, 30, tzinfo=UTC)
        await crm.update_deadline(activity_id, DEAL_7, new_deadline)
        await crm.update_responsible(activity_id, DEAL_7, 23)
        await crm.complete(activity_id)
        row = env.server.activities[activity_id]
        assert (row["DEADLINE"], row["RESPONSIBLE_ID"], row["COMPLETED"]) == (
            "2026-09-03T08:30:00+00:00",
            "23",
            "Y",
        )
        calls = dict(env.server.calls[1:4])
        assert calls["crm.activity.todo.updateDeadline"]["ownerTypeId"] == 2
        assert calls["crm.activity.todo.updateResponsibleUser"]["responsibleId"] == 23
        assert calls["crm.activity.update"]["fields"] == {"COMPLETED": "Y"}
        await crm.delete_activity(activity_id)
        assert activity_id not in env.server.activities
        with pytest.raises(CrmNotFound):
            await crm.delete_activity(activity_id)


async def test_a_completion_bitrix24_answers_false_to_is_a_failure_not_a_success() -> None:
    async with local_env() as env:
        crm = env.connector.as_app(env.portal)
        activity_id = await crm.create_todo(spec())
        # The update page: "true if the activity was successfully updated, otherwise false".
        env.server.handlers["crm.activity.update"] = lambda params, token: False
        with pytest.raises(CrmError, match="not updated"):
            await crm.complete(activity_id)
        change = TodoChange(activity_id=activity_id, owner=DEAL_7, complete=True)
        failed = await crm.change_todos([change])
        assert list(failed) == [activity_id]
        assert failed[activity_id].code == "NOT_UPDATED"
        assert env.server.activities[activity_id]["COMPLETED"] == "N"


async def test_a_completed_todo_cannot_be_moved() -> None:
    async with local_env() as env:
        crm = env.connector.as_app(env.portal)
        activity_id = await crm.create_todo(spec())
        await crm.complete(activity_id)
        with pytest.raises(CrmInvalidInput):
            await crm.update_deadline(activity_id, DEAL_7, datetime(2026, 9, 9, tzinfo=UTC))


async def test_a_naive_deadline_is_refused_before_anything_is_sent() -> None:
    async with local_env() as env:
        crm = env.connector.as_app(env.portal)
        with pytest.raises(CrmInvalidInput):
            await crm.update_deadline(1, DEAL_7, datetime(2026, 9, 9))  # noqa: DTZ001
        assert env.server.calls == []


# ---------------------------------------------------------------- activities


@pytest.mark.parametrize(("count", "requests"), [(0, 0), (50, 1), (51, 1), (2500, 1), (2501, 2)])
async def test_activities_by_id_cost_ceil_m_over_2500_requests(count: int, requests: int) -> None:
    async with local_env(timeout_s=BIG_READ_TIMEOUT_S, retry=BIG_READ_RETRY) as env:
        ids = env.server.add_activities(count)
        found = await env.connector.as_app(env.portal).get_activities(ids)
        assert sorted(found) == ids
        assert len(env.server.calls) == requests == math.ceil(count / 2500)
        for _, body in env.server.calls:
            commands = body.get("cmd", {"one": None})
            assert len(commands) <= 50


async def test_activities_are_parsed_from_string_scalars() -> None:
    async with local_env(timeout_s=BIG_READ_TIMEOUT_S, retry=BIG_READ_RETRY) as env:
        (activity_id,) = env.server.add_activities(1, COMPLETED="Y", SETTINGS=[])
        # A quote (type 7) is not a kind we serve; a smart process (1046) is.
        (unowned,) = env.server.add_activities(1, OWNER_TYPE_ID="7", DEADLINE=None)
        (on_item,) = env.server.add_activities(1, OWNER_TYPE_ID="1046")
        found = await env.connector.as_app(env.portal).get_activities(
            [activity_id, unowned, on_item, 5]
        )
        assert found[activity_id] == Activity(
            id=activity_id,
            owner=DEAL_7,
            deadline=datetime(2026, 5, 20, 8, 0, tzinfo=UTC),
            responsible_id=5,
            completed=True,
            subject=f"Call {activity_id}",
            provider_id="CRM_TODO",
        )
        assert found[unowned].owner is None
        assert found[unowned].deadline is None
        assert found[on_item].owner == OwnerRef(SmartProcess(1046), 7)
        assert 5 not in found


@pytest.mark.parametrize(("count", "requests"), [(0, 1), (49, 1), (50, 2), (51, 2), (120, 3)])
async def test_find_todos_walks_an_id_cursor_without_counting(count: int, requests: int) -> None:
    async with local_env(timeout_s=BIG_READ_TIMEOUT_S, retry=BIG_READ_RETRY) as env:
        ids = env.server.add_activities(count)
        env.server.add_activities(3, COMPLETED="Y")
        env.server.add_activities(2, PROVIDER_ID="CRM_MEETING")
        todos = await env.connector.as_app(env.portal).find_todos(
            owner=None, created_after=datetime(2026, 5, 1, tzinfo=UTC)
        )
        assert [todo.id for todo in todos] == ids
        assert len(env.server.calls) == requests
        first = env.server.calls[0][1]
        assert first["start"] == -1
        assert first["filter"]["PROVIDER_ID"] == "CRM_TODO"
        assert first["filter"][">CREATED"] == "2026-05-01T00:00:00+00:00"


async def test_find_todos_of_one_record_filters_by_owner() -> None:
    async with local_env(timeout_s=BIG_READ_TIMEOUT_S, retry=BIG_READ_RETRY) as env:
        (mine,) = env.server.add_activities(1)
        env.server.add_activities(1, OWNER_ID="8")
        todos = await env.connector.as_app(env.portal).find_todos(
            owner=DEAL_7, created_after=datetime(2026, 5, 1, tzinfo=UTC)
        )
        assert [todo.id for todo in todos] == [mine]


# ---------------------------------------------------------------- records


@pytest.mark.parametrize(("count", "requests"), [(0, 0), (50, 1), (51, 1), (2500, 1), (2501, 2)])
async def test_records_by_id_cost_ceil_m_over_2500_requests(count: int, requests: int) -> None:
    async with local_env(timeout_s=BIG_READ_TIMEOUT_S, retry=BIG_READ_RETRY) as env:
        ids = env.server.add_items(2, count)
        refs = [OwnerRef(OwnerType.DEAL, item_id) for item_id in ids]
        cards = await env.connector.as_app(env.portal).read_records(refs)
        assert set(cards) == set(refs)
        assert all(isinstance(card, RecordCard) for card in cards.values())
        assert len(env.server.calls) == requests == math.ceil(count / 2500)


@pytest.mark.parametrize(
    ("cards", "requests"), [(0, 0), (1, 1), (1250, 1), (1251, 2), (2500, 2), (5000, 4)]
)
async def test_cards_read_records_and_todo_texts_in_the_same_batches(
    cards: int, requests: int
) -> None:
    """M cards on M records: 2M ids in lists of 50, 50 lists to a request."""
    async with local_env(timeout_s=BIG_READ_TIMEOUT_S, retry=BIG_READ_RETRY) as env:
        record_ids = env.server.add_items(2, cards)
        activity_ids = env.server.add_activities(cards, DESCRIPTION="Agenda")
        refs = [OwnerRef(OwnerType.DEAL, item_id) for item_id in record_ids]
        lookup = await env.connector.as_app(env.portal).read_cards(refs, activity_ids)
        assert all(isinstance(lookup.records[ref], RecordCard) for ref in refs)
        assert sorted(lookup.todos) == activity_ids
        assert all(text.description == "Agenda" for text in lookup.todos.values())
        assert len(env.server.calls) == requests == math.ceil(2 * cards / 2500)


async def test_records_the_user_may_not_read_come_back_hidden() -> None:
    async with local_env() as env:
        env.server.add_items(2, 3)
        env.server.hidden.add((2, 2))
        refs = [OwnerRef(OwnerType.DEAL, item_id) for item_id in (1, 2, 3, 99)]
        cards = await env.connector.as_app(env.portal).read_records(refs)
        assert cards[refs[1]] == Hidden(ref=refs[1])
        assert cards[refs[3]] == Hidden(ref=refs[3])
        assert cards[refs[0]] == RecordCard(
            ref=refs[0],
            title="Record 1",
            stage_id="NEW",
            amount=100.5,
            currency="EUR",
            assigned_by_id=1,
            closed=False,
        )


async def test_records_of_every_owner_type_share_the_batches() -> None:
    async with local_env() as env:
        for type_id in (1, 2, 3, 4):
            env.server.add_items(type_id, 30, name="Anna", lastName="Berg")
        refs = [OwnerRef(owner_type, i) for owner_type in OwnerType for i in range(1, 31)]
        cards = await env.connector.as_app(env.portal).read_records(refs)
        assert len(env.server.calls) == 1
        contact = cards[OwnerRef(OwnerType.CONTACT, 1)]
        assert isinstance(contact, RecordCard)
        assert contact.title == "Anna Berg"  # contacts have no title (§12.2)
        deal = cards[OwnerRef(OwnerType.DEAL, 1)]
        assert isinstance(deal, RecordCard)
        assert deal.title == "Record 1"


async def test_a_list_the_user_may_not_read_at_all_hides_its_records_only() -> None:
    async with local_env() as env:
        env.server.add_items(2, 120)
        env.server.script(
            "batch:crm.item.list",
            Scripted(json={"error": "ACCESS_DENIED", "error_description": ""}),
        )
        refs = [OwnerRef(OwnerType.DEAL, item_id) for item_id in range(1, 121)]
        cards = await env.connector.as_app(env.portal).read_records(refs)
        hidden = [ref.id for ref, card in cards.items() if isinstance(card, Hidden)]
        assert hidden == list(range(1, 51))
        assert sum(isinstance(card, RecordCard) for card in cards.values()) == 70


async def test_an_unexpected_command_failure_is_raised_not_swallowed() -> None:
    async with local_env() as env:
        env.server.add_items(2, 120)
        env.server.script(
            "batch:crm.item.list",
            Scripted(json={"error": "INTERNAL_SERVER_ERROR", "error_description": ""}),
        )
        refs = [OwnerRef(OwnerType.DEAL, item_id) for item_id in range(1, 121)]
        with pytest.raises(CrmUnavailable):
            await env.connector.as_app(env.portal).read_records(refs)


async def test_one_failing_batch_command_never_loses_the_others() -> None:
    async with local_env() as env:
        env.server.add_activities(2)
        client = env.connector.app_client(env.portal)
        reply = await batch(
            client,
            {
                "first": Command("profile"),
                "broken": Command("crm.activity.delete", {"id": 1}),
                "last": Command("crm.activity.list", {"start": 0}),
            },
            safe=False,
        )
        assert set(reply.results) == {"first", "last"}
        assert isinstance(reply.errors["broken"], CrmNotFound)
        assert reply.totals == {"last": 2}
        assert len(env.server.calls) == 1
        assert env.server.calls[0][1]["halt"] == 0


async def test_a_batch_of_more_than_fifty_commands_is_refused_locally() -> None:
    async with local_env() as env:
        client = env.connector.app_client(env.portal)
        with pytest.raises(ValueError, match="50"):
            await batch(client, {f"c{i}": Command("profile") for i in range(51)}, safe=True)
        assert env.server.calls == []


async def test_search_finds_contacts_by_first_or_last_name() -> None:
    async with local_env() as env:
        env.server.add_items(3, 3)
        env.server.items[3][1].update(name="Anna", lastName="Berg")
        env.server.items[3][2].update(name="Bernd", lastName="Kurz")
        env.server.items[3][3].update(name="Carl", lastName="Ober")
        found = await env.connector.as_app(env.portal).search_records(OwnerType.CONTACT, "ber")
        assert [card.ref.id for card in found] == [3, 2, 1]
        assert len(env.server.calls) == 1


async def test_search_finds_deals_by_title_up_to_the_limit() -> None:
    async with local_env() as env:
        env.server.add_items(2, 30)
        found = await env.connector.as_app(env.portal).search_records(
            OwnerType.DEAL, "Record 1", limit=5
        )
        assert [card.ref.id for card in found] == [19, 18, 17, 16, 15]
        assert await env.connector.as_app(env.portal).search_records(OwnerType.DEAL, "  ") == []


async def test_open_records_pages_through_open_deals_only() -> None:
    async with local_env() as env:
        env.server.add_items(2, 120)
        for item_id in range(1, 11):
            env.server.items[2][item_id]["closed"] = "Y"
        cards = await env.connector.as_app(env.portal).open_records(OwnerType.DEAL)
        assert [card.ref.id for card in cards] == list(range(11, 121))
        assert len(env.server.calls) == 3
        limited = await env.connector.as_app(env.portal).open_records(OwnerType.DEAL, limit=60)
        assert len(limited) == 60


async def test_open_leads_are_those_in_progress() -> None:
    async with local_env() as env:
        env.server.add_items(1, 4)
        env.server.items[1][2]["stageSemanticId"] = "S"
        env.server.items[1][3]["stageSemanticId"] = "F"
        cards = await env.connector.as_app(env.portal).open_records(OwnerType.LEAD)
        assert [card.ref.id for card in cards] == [1, 4]


# ---------------------------------------------------------------- users


async def test_current_user_reads_the_profile() -> None:
    async with local_env() as env:
        env.server.profile = {
            "ID": "17",
            "ADMIN": False,
            "NAME": "Anna",
            "LAST_NAME": "Berg",
            "TIME_ZONE": "",
        }
        user = await env.connector.as_app(env.portal).current_user()
        assert (user.id, user.is_admin, user.name, user.time_zone) == (17, False, "Anna Berg", "")


async def test_an_inactive_users_empty_profile_is_a_permission_failure() -> None:
    async with local_env() as env:
        env.server.profile = []  # type: ignore[assignment] - PHP's empty object
        with pytest.raises(CrmPermissionDenied):
            await env.connector.as_app(env.portal).current_user()


def _user(user_id: int, **fields: object) -> dict[str, object]:
    return {
        "ID": str(user_id),
        "ACTIVE": True,
        "NAME": f"User{user_id}",
        "LAST_NAME": "",
        "TIME_ZONE": "Europe/Berlin",
        "UF_DEPARTMENT": [3],
        "USER_TYPE": "employee",
        **fields,
    }


async def test_users_by_id_are_read_in_one_request_per_2500() -> None:
    async with local_env() as env:
        env.server.users = {i: _user(i) for i in range(1, 121)}
        env.server.users[5] = _user(5, ACTIVE=False, PERSONAL_PHOTO="https://x/p.png", TIME_ZONE="")
        users = await env.connector.as_app(env.portal).users([5, 7, 77, 5, 500])
        assert [user.id for user in users] == [5, 7, 77]
        assert users[0].active is False
        assert users[0].photo_url == "https://x/p.png"
        assert users[0].time_zone == ""
        assert users[1].department_ids == (3,)
        assert len(env.server.calls) == 1


# The dismissed employee counts towards the server's total: 49 + 1 fit one page.
@pytest.mark.parametrize(("count", "requests"), [(0, 1), (49, 1), (50, 2), (120, 2)])
async def test_all_active_employees_take_one_request_then_one_batch(
    count: int, requests: int
) -> None:
    async with local_env() as env:
        env.server.users = {i: _user(i) for i in range(1, count + 1)}
        env.server.users[1000] = _user(1000, ACTIVE=False)
        env.server.users[1001] = _user(1001, USER_TYPE="extranet")
        users = await env.connector.as_app(env.portal).users()
        assert [user.id for user in users] == list(range(1, count + 1))
        assert len(env.server.calls) == requests


async def test_departments_are_read_with_their_parents() -> None:
    async with local_env() as env:
        env.server.departments = [
            {"ID": "1", "NAME": "Company", "SORT": 500},
            {"ID": "3", "NAME": "Sales", "SORT": 500, "PARENT": "1"},
        ]
        departments = await env.connector.as_app(env.portal).departments()
        assert [(d.id, d.name, d.parent_id) for d in departments] == [
            (1, "Company", None),
            (3, "Sales", 1),
        ]


# ---------------------------------------------------------------- events and placements


async def test_binding_an_event_twice_is_not_an_error() -> None:
    async with local_env() as env:
        crm = env.connector.as_app(env.portal)
        await crm.bind_event("ONCRMACTIVITYUPDATE", "https://tp.example/b24/events")
        await crm.bind_event("ONCRMACTIVITYUPDATE", "https://tp.example/b24/events")
        assert env.server.events == {("ONCRMACTIVITYUPDATE", "https://tp.example/b24/events")}
        await crm.unbind_event("ONCRMACTIVITYUPDATE", "https://tp.example/b24/events")
        assert env.server.events == set()


async def test_binding_a_placement_again_replaces_rather_than_duplicates() -> None:
    async with local_env() as env:
        crm = env.connector.as_app(env.portal)
        for _ in range(2):
            await crm.bind_placement(
                "CRM_DEAL_DETAIL_TAB",
                "https://tp.example/b24/app",
                "Touch-points",
                {"ru": "Касания"},
            )
        assert env.server.placements == [
            ("CRM_DEAL_DETAIL_TAB", "https://tp.example/b24/app", "Touch-points")
        ]
        bind = next(body for method, body in env.server.calls if method == "placement.bind")
        assert bind["LANG_ALL"] == {"ru": {"TITLE": "Касания"}}
        await crm.unbind_placement("CRM_DEAL_DETAIL_TAB", "https://tp.example/b24/app")
        assert env.server.placements == []
