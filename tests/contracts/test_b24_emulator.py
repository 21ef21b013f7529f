"""The Bitrix24 emulator answers over real HTTP as BITRIX24.md documents Bitrix24 (§20)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, quote

import aiohttp
import attrs
import pytest
from aiohttp import web
from hypothesis import given
from hypothesis import strategies as st

from tests.fakes.b24_wire import flatten_form, parse_bracket_pairs, parse_query
from tests.fakes.bitrix24 import (
    Bitrix24Emulator,
    EmulatorClock,
    RateLimit,
    encode_batch_command,
)
from touchpoints.domain.model import OwnerRef, OwnerType

DEADLINE = "2026-09-01T10:00:00+02:00"


@attrs.frozen
class Installed:
    member_id: str
    endpoint: str
    token: str
    refresh: str


@pytest.fixture
async def frozen() -> AsyncIterator[Bitrix24Emulator]:
    clock = EmulatorClock(datetime(2026, 5, 4, 9, 0, tzinfo=UTC), frozen=True)
    async with Bitrix24Emulator(clock=clock) as emulator:
        yield emulator


def install(b24: Bitrix24Emulator, *, time_zone: str = "Europe/Berlin") -> Installed:
    launch = b24.install(time_zone=time_zone)
    member_id = launch.form["member_id"]
    return Installed(
        member_id=member_id,
        endpoint=b24.portal_endpoint(member_id),
        token=launch.form["AUTH_ID"],
        refresh=launch.form["REFRESH_ID"],
    )


@pytest.fixture
def portal(b24: Bitrix24Emulator) -> Installed:
    return install(b24)


async def call(
    http: aiohttp.ClientSession, endpoint: str, method: str, token: str | None, **params: Any
) -> tuple[int, dict[str, Any]]:
    body = dict(params)
    if token is not None:
        body["auth"] = token
    async with http.post(endpoint + method, json=body) as response:
        return response.status, await response.json()


def user_token(b24: Bitrix24Emulator, member_id: str, user_id: int) -> str:
    return b24.issue_tokens(member_id, user_id).access_token


async def refresh(
    b24: Bitrix24Emulator, http: aiohttp.ClientSession, token: str, **overrides: str
) -> tuple[int, dict[str, Any]]:
    query = {
        "grant_type": "refresh_token",
        "client_id": b24.client_id,
        "client_secret": b24.client_secret,
        "refresh_token": token,
        **overrides,
    }
    async with http.get(b24.oauth_url, params=query) as response:
        return response.status, await response.json()


# ------------------------------------------------------------------ envelopes and transport


async def test_a_successful_call_answers_result_and_a_time_block(
    http: aiohttp.ClientSession, portal: Installed
) -> None:
    status, body = await call(http, portal.endpoint, "profile", portal.token)
    assert status == 200
    assert body["result"]["ID"] == "1"
    assert body["result"]["ADMIN"] is True
    time_block = body["time"]
    assert {"start", "finish", "duration", "processing", "date_start", "date_finish"} <= set(
        time_block
    )
    assert "operating" in time_block
    assert time_block["date_start"].endswith(("+01:00", "+02:00"))  # the portal's zone


async def test_methods_answer_at_the_bare_and_the_json_suffixed_path(
    http: aiohttp.ClientSession, portal: Installed
) -> None:
    bare = await call(http, portal.endpoint, "user.admin", portal.token)
    suffixed = await call(http, portal.endpoint, "user.admin.json", portal.token)
    assert bare[0] == suffixed[0] == 200
    assert bare[1]["result"] is suffixed[1]["result"] is True


async def test_form_bodies_with_bracket_keys_and_auth_in_the_query_are_accepted(
    b24: Bitrix24Emulator, http: aiohttp.ClientSession, portal: Installed
) -> None:
    deal = b24.add_record(portal.member_id, OwnerType.DEAL, title="Form deal")
    form = flatten_form({"filter": {"@id": [deal.id]}, "select": ["id", "title"]})
    form.append(("entityTypeId", "2"))
    async with http.post(
        portal.endpoint + "crm.item.list", params={"auth": portal.token}, data=form
    ) as response:
        body = await response.json()
    assert response.status == 200
    assert body["result"]["items"] == [{"id": deal.id, "title": "Form deal"}]


async def test_a_token_only_works_at_its_own_portals_endpoint(
    b24: Bitrix24Emulator, http: aiohttp.ClientSession, portal: Installed
) -> None:
    other = install(b24)
    assert other.endpoint != portal.endpoint
    status, body = await call(http, other.endpoint, "profile", portal.token)
    assert (status, body["error"]) == (401, "NO_AUTH_FOUND")


async def test_a_call_without_a_token_is_no_auth_found(
    http: aiohttp.ClientSession, portal: Installed
) -> None:
    status, body = await call(http, portal.endpoint, "profile", None)
    assert (status, body["error"]) == (401, "NO_AUTH_FOUND")


async def test_an_unknown_method_is_method_not_found(
    http: aiohttp.ClientSession, portal: Installed
) -> None:
    status, body = await call(http, portal.endpoint, "crm.nothing.here", portal.token)
    assert (status, body["error"]) == (404, "ERROR_METHOD_NOT_FOUND")


async def test_a_method_outside_the_granted_scope_is_insufficient_scope(
    b24: Bitrix24Emulator, http: aiohttp.ClientSession, portal: Installed
) -> None:
    b24.set_scope(portal.member_id, "crm")
    narrow = user_token(b24, portal.member_id, 1)
    status, body = await call(http, portal.endpoint, "im.notify.system.add", narrow, USER_ID=1)
    assert (status, body["error"]) == (403, "insufficient_scope")


async def test_an_access_token_expires_after_an_hour(
    frozen: Bitrix24Emulator, http: aiohttp.ClientSession
) -> None:
    portal = install(frozen)
    frozen.clock.advance(3599)
    assert (await call(http, portal.endpoint, "profile", portal.token))[0] == 200
    frozen.clock.advance(1)
    status, body = await call(http, portal.endpoint, "profile", portal.token)
    assert (status, body["error"]) == (401, "expired_token")


async def test_an_inactive_users_profile_is_an_empty_array(
    b24: Bitrix24Emulator, http: aiohttp.ClientSession, portal: Installed
) -> None:
    b24.add_user(portal.member_id, 7, name="Gone", active=False)
    _status, body = await call(
        http, portal.endpoint, "profile", user_token(b24, portal.member_id, 7)
    )
    assert body["result"] == []


# ------------------------------------------------------------------ legacy and typed shapes


async def test_legacy_activity_replies_carry_strings_and_empty_objects_as_arrays(
    b24: Bitrix24Emulator, http: aiohttp.ClientSession, portal: Installed
) -> None:
    deal = b24.add_record(portal.member_id, OwnerType.DEAL, title="Deal")
    _status, added = await call(
        http,
        portal.endpoint,
        "crm.activity.todo.add",
        portal.token,
        ownerTypeId=2,
        ownerId=deal.id,
        deadline=DEADLINE,
        title="Call back",
    )
    activity_id = added["result"]["id"]
    assert isinstance(activity_id, int)
    _status, body = await call(
        http, portal.endpoint, "crm.activity.get", portal.token, id=activity_id
    )
    row = body["result"]
    assert row["ID"] == str(activity_id)
    assert (row["OWNER_TYPE_ID"], row["OWNER_ID"]) == ("2", str(deal.id))
    assert (row["PROVIDER_ID"], row["TYPE_ID"], row["COMPLETED"]) == ("CRM_TODO", "6", "N")
    assert row["SUBJECT"] == "Call back"
    assert row["DEADLINE"] == DEADLINE
    assert row["SETTINGS"] == []
    assert row["ORIGIN_ID"] is None


@pytest.mark.parametrize(
    ("method", "params", "text"),
    [
        ("crm.activity.get", {"id": 999}, "Activity is not found"),
        ("crm.activity.update", {"id": 999, "fields": {"COMPLETED": "Y"}}, "Not found"),
        ("crm.activity.delete", {"id": 999}, "Not found"),
        ("crm.deal.get", {"id": 999}, "Not found"),
    ],
)
async def test_legacy_errors_have_an_empty_code_a_text_and_http_400(
    http: aiohttp.ClientSession, portal: Installed, method: str, params: dict[str, Any], text: str
) -> None:
    status, body = await call(http, portal.endpoint, method, portal.token, **params)
    assert status == 400
    assert body == {"error": "", "error_description": text}


async def test_crm_item_replies_are_typed_camel_case_and_legacy_lists_are_strings(
    b24: Bitrix24Emulator, http: aiohttp.ClientSession, portal: Installed
) -> None:
    deal = b24.add_record(
        portal.member_id,
        OwnerType.DEAL,
        title="Typed",
        opportunity=19999.99,
        currency_id="EUR",
        assigned_by_id=1,
    )
    _status, item = await call(
        http, portal.endpoint, "crm.item.get", portal.token, entityTypeId=2, id=deal.id
    )
    fields = item["result"]["item"]
    assert (fields["id"], fields["opportunity"], fields["assignedById"]) == (deal.id, 19999.99, 1)
    assert (fields["currencyId"], fields["closed"], fields["stageSemanticId"]) == ("EUR", "N", "P")
    _status, legacy = await call(
        http, portal.endpoint, "crm.deal.list", portal.token, FILTER={"ID": deal.id}
    )
    row = legacy["result"][0]
    assert (row["ID"], row["OPPORTUNITY"], row["ASSIGNED_BY_ID"]) == (str(deal.id), "19999.99", "1")


async def test_crm_item_list_refuses_a_field_it_cannot_filter_by(
    http: aiohttp.ClientSession, portal: Installed
) -> None:
    status, body = await call(
        http, portal.endpoint, "crm.item.list", portal.token, entityTypeId=3, filter={"title": "x"}
    )
    assert (status, body["error"]) == (400, "INVALID_ARG_VALUE")


# ------------------------------------------------------------------ to-dos


async def test_completed_todos_refuse_todo_updates_but_complete_via_activity_update(
    b24: Bitrix24Emulator, http: aiohttp.ClientSession, portal: Installed
) -> None:
    deal = b24.add_record(portal.member_id, OwnerType.DEAL)
    _s, added = await call(
        http,
        portal.endpoint,
        "crm.activity.todo.add",
        portal.token,
        ownerTypeId=2,
        ownerId=deal.id,
        deadline=DEADLINE,
    )
    ident = {"id": added["result"]["id"], "ownerTypeId": 2, "ownerId": deal.id}
    moved = await call(
        http,
        portal.endpoint,
        "crm.activity.todo.updateDeadline",
        portal.token,
        **ident,
        value="2026-09-02T11:00:00+02:00",
    )
    assert moved[0] == 200
    assert moved[1]["result"] == {"id": ident["id"]}
    done = await call(
        http,
        portal.endpoint,
        "crm.activity.update",
        portal.token,
        id=ident["id"],
        fields={"COMPLETED": "Y"},
    )
    assert done[1]["result"] is True
    refused = await call(
        http,
        portal.endpoint,
        "crm.activity.todo.updateDeadline",
        portal.token,
        **ident,
        value=DEADLINE,
    )
    assert (refused[0], refused[1]["error"]) == (400, "CAN_NOT_UPDATE_COMPLETED_TODO")
    reassigned = await call(
        http,
        portal.endpoint,
        "crm.activity.todo.updateResponsibleUser",
        portal.token,
        **ident,
        responsibleId=1,
    )
    assert reassigned[1]["error"] == "CAN_NOT_UPDATE_RESPONSIBLE_USER_COMPLETED_TODO"
    activity = b24.activity(portal.member_id, ident["id"])
    assert activity is not None
    assert activity.completed
    assert activity.deadline == datetime(2026, 9, 2, 9, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("params", "error"),
    [
        ({"ownerTypeId": 2, "deadline": DEADLINE}, "100"),
        ({"ownerTypeId": 2, "ownerId": 999, "deadline": DEADLINE}, "NOT_FOUND"),
        ({"ownerTypeId": 2, "ownerId": 1, "deadline": "next tuesday"}, "WRONG_DATETIME_FORMAT"),
        (
            {"ownerTypeId": 2, "ownerId": 1, "deadline": DEADLINE, "responsibleId": 0},
            "INVALID_ARG_VALUE",
        ),
    ],
)
async def test_todo_add_refuses_bad_input_with_documented_codes(
    b24: Bitrix24Emulator,
    http: aiohttp.ClientSession,
    portal: Installed,
    params: dict[str, Any],
    error: str,
) -> None:
    b24.add_record(portal.member_id, OwnerType.DEAL)
    status, body = await call(
        http, portal.endpoint, "crm.activity.todo.add", portal.token, **params
    )
    assert (status, body["error"]) == (400, error)


async def test_todo_add_needs_edit_rights_on_the_owner(
    b24: Bitrix24Emulator, http: aiohttp.ClientSession, portal: Installed
) -> None:
    deal = b24.add_record(portal.member_id, OwnerType.DEAL)
    b24.add_user(portal.member_id, 5, crm_access="none")
    b24.grant(portal.member_id, 5, deal, read=True)
    reader = user_token(b24, portal.member_id, 5)
    params = {"ownerTypeId": 2, "ownerId": deal.id, "deadline": DEADLINE}
    status, body = await call(http, portal.endpoint, "crm.activity.todo.add", reader, **params)
    assert (status, body["error"]) == (400, "ACCESS_DENIED")
    b24.grant(portal.member_id, 5, deal, edit=True)
    assert (await call(http, portal.endpoint, "crm.activity.todo.add", reader, **params))[0] == 200


async def test_activity_list_filters_by_ids_owner_completion_and_bindings(
    b24: Bitrix24Emulator, http: aiohttp.ClientSession, portal: Installed
) -> None:
    deal = b24.add_record(portal.member_id, OwnerType.DEAL)
    lead = b24.add_record(portal.member_id, OwnerType.LEAD)
    when = datetime(2026, 9, 1, 8, tzinfo=UTC)
    on_deal = b24.add_activity(portal.member_id, deal, deadline=when, responsible_id=1)
    done = b24.add_activity(portal.member_id, deal, deadline=when, responsible_id=1, completed=True)
    on_lead = b24.add_activity(portal.member_id, lead, deadline=when, responsible_id=1)

    async def ids(flt: dict[str, Any]) -> list[str]:
        _s, body = await call(
            http, portal.endpoint, "crm.activity.list", portal.token, filter=flt, select=["ID"]
        )
        return [row["ID"] for row in body["result"]]

    assert await ids({"@ID": [on_deal, on_lead]}) == [str(on_deal), str(on_lead)]
    assert await ids({"ID": [done]}) == [str(done)]
    assert await ids({">ID": on_deal}) == [str(done), str(on_lead)]
    assert await ids({"OWNER_TYPE_ID": 2, "OWNER_ID": deal.id, "COMPLETED": "N"}) == [str(on_deal)]
    assert await ids({"BINDINGS": [{"OWNER_TYPE_ID": 1}]}) == [str(on_lead)]
    assert await ids({"PROVIDER_ID": "CRM_TODO", "RESPONSIBLE_ID": 2}) == []


# ------------------------------------------------------------------ paging


@pytest.mark.parametrize(("rows", "pages"), [(0, [0]), (50, [50]), (51, [50, 1])])
async def test_lists_page_by_fifty_with_next_only_when_more_rows_exist(
    b24: Bitrix24Emulator,
    http: aiohttp.ClientSession,
    portal: Installed,
    rows: int,
    pages: list[int],
) -> None:
    for _ in range(rows):
        b24.add_record(portal.member_id, OwnerType.COMPANY, title="Co")
    seen, start = [], 0
    for expected in pages:
        _s, body = await call(
            http, portal.endpoint, "crm.item.list", portal.token, entityTypeId=4, start=start
        )
        assert len(body["result"]["items"]) == expected
        assert body["total"] == rows
        seen.extend(item["id"] for item in body["result"]["items"])
        start = body.get("next", -1)
    assert start == -1  # the last page has no `next`
    assert seen == list(range(1, rows + 1))


async def test_start_minus_one_skips_the_count_for_id_cursor_paging(
    b24: Bitrix24Emulator, http: aiohttp.ClientSession, portal: Installed
) -> None:
    for _ in range(51):
        b24.add_record(portal.member_id, OwnerType.LEAD, title="Lead")
    last, pages = 0, []
    while True:
        _s, body = await call(
            http,
            portal.endpoint,
            "crm.item.list",
            portal.token,
            entityTypeId=1,
            start=-1,
            order={"id": "ASC"},
            filter={">id": last},
        )
        assert body["total"] == 0
        assert "next" not in body
        items = body["result"]["items"]
        pages.append(len(items))
        if len(items) < 50:
            break
        last = items[-1]["id"]
    assert pages == [50, 1]


# ------------------------------------------------------------------ permissions


async def test_records_a_user_may_not_read_are_left_out_of_lists_silently(
    b24: Bitrix24Emulator, http: aiohttp.ClientSession, portal: Installed
) -> None:
    b24.add_user(portal.member_id, 5, crm_access="own")
    mine = b24.add_record(portal.member_id, OwnerType.DEAL, assigned_by_id=5)
    theirs = b24.add_record(portal.member_id, OwnerType.DEAL, assigned_by_id=1)
    shared = b24.add_record(portal.member_id, OwnerType.DEAL, assigned_by_id=1)
    b24.grant(portal.member_id, 5, shared)
    token = user_token(b24, portal.member_id, 5)
    _s, body = await call(
        http,
        portal.endpoint,
        "crm.item.list",
        token,
        entityTypeId=2,
        filter={"@id": [mine.id, theirs.id, shared.id]},
    )
    assert [item["id"] for item in body["result"]["items"]] == [mine.id, shared.id]
    assert body["total"] == 2
    status, denied = await call(
        http, portal.endpoint, "crm.item.get", token, entityTypeId=2, id=theirs.id
    )
    assert (status, denied["error"]) == (400, "ACCESS_DENIED")
    assert (await call(http, portal.endpoint, "crm.item.list", portal.token, entityTypeId=2))[1][
        "total"
    ] == 3  # the admin sees everything


# ------------------------------------------------------------------ batch


async def test_batch_keeps_each_commands_result_and_error_apart_with_http_200(
    b24: Bitrix24Emulator, http: aiohttp.ClientSession, portal: Installed
) -> None:
    deal = b24.add_record(portal.member_id, OwnerType.DEAL, title="One")
    status, body = await call(
        http,
        portal.endpoint,
        "batch",
        portal.token,
        halt=0,
        cmd={
            "item": encode_batch_command("crm.item.get", {"entityTypeId": 2, "id": deal.id}),
            "missing": "crm.activity.get?id=404",
            "deals": "crm.deal.list?select[]=ID",
        },
    )
    assert status == 200
    result = body["result"]
    assert result["result"]["item"]["item"]["title"] == "One"
    assert result["result_error"] == {
        "missing": {"error": "", "error_description": "Activity is not found"}
    }
    assert result["result_total"] == {"deals": 1}
    assert result["result_next"] == []  # empty parts are PHP's []
    assert set(result["result_time"]) == {"item", "deals"}
    assert body["time"]["operating"] == 0


async def test_batch_substitutes_earlier_results_into_later_commands(
    b24: Bitrix24Emulator, http: aiohttp.ClientSession, portal: Installed
) -> None:
    b24.add_department(portal.member_id, 3, "Sales")
    b24.portal(portal.member_id).users[1].departments = (3,)
    _s, body = await call(
        http,
        portal.endpoint,
        "batch",
        portal.token,
        cmd={
            "me": "user.current",
            "dept": "department.get?ID=$result[me][UF_DEPARTMENT][0]",
            "mine": "crm.activity.list?filter[RESPONSIBLE_ID]=$result[me][ID]",
        },
    )
    result = body["result"]
    assert result["result_error"] == []
    assert result["result"]["dept"] == [{"ID": "3", "NAME": "Sales", "SORT": 500}]
    assert result["result"]["mine"] == []


async def test_batch_halt_stops_at_the_first_failing_command(
    http: aiohttp.ClientSession, portal: Installed
) -> None:
    _s, body = await call(
        http,
        portal.endpoint,
        "batch",
        portal.token,
        halt=1,
        cmd={"a": "user.admin", "b": "crm.activity.get?id=1", "c": "profile"},
    )
    result = body["result"]
    assert list(result["result"]) == ["a"]
    assert list(result["result_error"]) == ["b"]


async def test_batch_refuses_more_than_fifty_commands_and_nested_batches(
    http: aiohttp.ClientSession, portal: Installed
) -> None:
    too_long = {f"c{i}": "user.admin" for i in range(51)}
    status, body = await call(http, portal.endpoint, "batch", portal.token, cmd=too_long)
    assert (status, body["error"]) == (400, "ERROR_BATCH_LENGTH_EXCEEDED")
    _s, nested = await call(
        http, portal.endpoint, "batch", portal.token, cmd={"inner": "batch?cmd[x]=profile"}
    )
    assert nested["result"]["result_error"]["inner"]["error"] == "ERROR_BATCH_METHOD_NOT_ALLOWED"


async def test_batch_with_numbered_commands_answers_arrays_as_php_does(
    http: aiohttp.ClientSession, portal: Installed
) -> None:
    _s, body = await call(
        http, portal.endpoint, "batch", portal.token, cmd=["user.admin", "user.admin"]
    )
    assert body["result"]["result"] == [True, True]


# ------------------------------------------------------------------ OAuth


async def test_a_refresh_rotates_the_pair_and_the_used_refresh_token_dies(
    b24: Bitrix24Emulator, http: aiohttp.ClientSession, portal: Installed
) -> None:
    status, grant = await refresh(b24, http, portal.refresh)
    assert status == 200
    assert grant["client_endpoint"] == portal.endpoint
    assert grant["member_id"] == portal.member_id
    assert grant["domain"] == "oauth.bitrix.info"
    assert grant["scope"] == b24.scope
    assert (grant["expires_in"], grant["user_id"]) == (3600, 1)
    assert "expires" in grant
    assert grant["refresh_token"] != portal.refresh
    assert (await call(http, portal.endpoint, "profile", grant["access_token"]))[0] == 200
    status, again = await refresh(b24, http, portal.refresh)
    assert (status, again["error"]) == (400, "invalid_grant")
    assert (await refresh(b24, http, grant["refresh_token"]))[0] == 200
    assert b24.token_requests("refresh_token", portal.member_id) == 2


async def test_the_token_endpoint_checks_the_client_secret(
    b24: Bitrix24Emulator, http: aiohttp.ClientSession, portal: Installed
) -> None:
    status, body = await refresh(b24, http, portal.refresh, client_secret="wrong")
    assert (status, body["error"]) == (401, "invalid_client")
    assert (await refresh(b24, http, portal.refresh))[0] == 200  # not consumed by the failure


async def test_an_authorization_code_is_single_use_and_its_reply_lacks_expires(
    b24: Bitrix24Emulator, http: aiohttp.ClientSession, portal: Installed
) -> None:
    code = b24.authorization_code(portal.member_id, 1)
    query = {
        "grant_type": "authorization_code",
        "client_id": b24.client_id,
        "client_secret": b24.client_secret,
        "code": code,
    }
    async with http.get(b24.oauth_url, params=query) as response:
        grant = await response.json()
    assert response.status == 200
    assert "expires" not in grant
    assert "user_id" not in grant
    async with http.get(b24.oauth_url, params=query) as response:
        assert (await response.json())["error"] == "invalid_grant"


async def test_a_portal_that_must_pay_cannot_refresh(
    b24: Bitrix24Emulator, http: aiohttp.ClientSession, portal: Installed
) -> None:
    b24.set_payment_required(portal.member_id)
    _status, body = await refresh(b24, http, portal.refresh)
    assert body["error"] == "PAYMENT_REQUIRED"


async def test_the_auth_server_tells_the_trusted_app_status(
    b24: Bitrix24Emulator, http: aiohttp.ClientSession, portal: Installed
) -> None:
    status, body = await call(http, b24.server_endpoint, "app.info", portal.token)
    assert status == 200
    assert (body["result"]["STATUS"], body["result"]["INSTALLED"]) == ("F", False)
    await b24.install_finish(portal.member_id)
    assert (await call(http, portal.endpoint, "app.info", portal.token))[1]["result"]["INSTALLED"]


# ------------------------------------------------------------------ limits and faults


async def test_the_leaky_bucket_refuses_past_the_burst_counts_a_batch_once_and_drains(
    frozen: Bitrix24Emulator, http: aiohttp.ClientSession
) -> None:
    portal = install(frozen)
    frozen.set_rate_limit(portal.member_id, RateLimit(burst=3, per_second=2))
    batch = {f"c{i}": "user.admin" for i in range(50)}
    assert (await call(http, portal.endpoint, "batch", portal.token, cmd=batch))[0] == 200
    for _ in range(2):
        assert (await call(http, portal.endpoint, "user.admin", portal.token))[0] == 200
    status, body = await call(http, portal.endpoint, "user.admin", portal.token)
    assert (status, body["error"]) == (503, "QUERY_LIMIT_EXCEEDED")
    frozen.clock.advance(0.5)  # drains one request at 2/s
    assert (await call(http, portal.endpoint, "user.admin", portal.token))[0] == 200
    assert (await call(http, portal.endpoint, "user.admin", portal.token))[0] == 503


async def test_the_call_after_the_operating_limit_is_crossed_gets_429(
    frozen: Bitrix24Emulator, http: aiohttp.ClientSession
) -> None:
    portal = install(frozen)
    frozen.operating_limit = 10.0
    frozen.set_method_cost("crm.item.list", 6.0)
    params = {"entityTypeId": 2}
    first = await call(http, portal.endpoint, "crm.item.list", portal.token, **params)
    second = await call(http, portal.endpoint, "crm.item.list", portal.token, **params)
    assert first[0] == second[0] == 200  # the call that crosses the limit still finishes
    assert second[1]["time"]["operating"] >= 12
    assert second[1]["time"]["operating_reset_at"] == int(frozen.clock.time() // 60 * 60 + 600)
    status, body = await call(http, portal.endpoint, "crm.item.list", portal.token, **params)
    assert (status, body["error"]) == (429, "OPERATION_TIME_LIMIT")
    assert (await call(http, portal.endpoint, "user.admin", portal.token))[0] == 200
    frozen.clock.advance(601)
    assert (await call(http, portal.endpoint, "crm.item.list", portal.token, **params))[0] == 200


async def test_an_injected_error_answers_its_documented_status_then_wears_off(
    b24: Bitrix24Emulator, http: aiohttp.ClientSession, portal: Installed
) -> None:
    fault = b24.inject("user.admin", error="QUERY_LIMIT_EXCEEDED", times=1)
    status, body = await call(http, portal.endpoint, "user.admin", portal.token)
    assert (status, body["error"]) == (503, "QUERY_LIMIT_EXCEEDED")
    assert (await call(http, portal.endpoint, "user.admin", portal.token))[0] == 200
    assert fault.hits == 1


async def test_an_injected_error_inside_a_batch_fails_only_that_command(
    b24: Bitrix24Emulator, http: aiohttp.ClientSession, portal: Installed
) -> None:
    b24.inject("profile", error="INTERNAL_SERVER_ERROR")
    status, body = await call(
        http, portal.endpoint, "batch", portal.token, cmd={"p": "profile", "a": "user.admin"}
    )
    assert status == 200
    assert body["result"]["result_error"]["p"]["error"] == "INTERNAL_SERVER_ERROR"
    assert body["result"]["result"] == {"a": True}


async def test_a_dropped_connection_reaches_the_client_as_a_disconnect(
    b24: Bitrix24Emulator, http: aiohttp.ClientSession, portal: Installed
) -> None:
    b24.inject("profile", drop=True)
    with pytest.raises(aiohttp.ServerDisconnectedError):
        await call(http, portal.endpoint, "profile", portal.token)


async def test_a_late_reply_still_runs_the_write_before_the_client_gives_up(
    b24: Bitrix24Emulator, http: aiohttp.ClientSession, portal: Installed
) -> None:
    deal = b24.add_record(portal.member_id, OwnerType.DEAL)
    b24.inject("crm.activity.todo.add", delay=5.0)
    with pytest.raises(TimeoutError):
        async with http.post(
            portal.endpoint + "crm.activity.todo.add",
            json={"auth": portal.token, "ownerTypeId": 2, "ownerId": deal.id, "deadline": DEADLINE},
            timeout=aiohttp.ClientTimeout(total=0.2),
        ):
            pass
    assert len(b24.portal(portal.member_id).activities) == 1


async def test_a_raw_proxy_error_page_can_be_injected(
    b24: Bitrix24Emulator, http: aiohttp.ClientSession, portal: Installed
) -> None:
    b24.inject("profile", raw_body="<html>Bad Gateway</html>")
    async with http.post(portal.endpoint + "profile", json={"auth": portal.token}) as response:
        assert response.status == 502
        assert response.content_type == "text/html"


async def test_a_latency_knob_slows_every_request(
    b24: Bitrix24Emulator, http: aiohttp.ClientSession, portal: Installed
) -> None:
    b24.latency = 0.05
    started = asyncio.get_running_loop().time()
    await call(http, portal.endpoint, "user.admin", portal.token)
    assert asyncio.get_running_loop().time() - started >= 0.05


async def test_counters_tell_http_requests_from_method_calls(
    b24: Bitrix24Emulator, http: aiohttp.ClientSession, portal: Installed
) -> None:
    await call(http, portal.endpoint, "batch", portal.token, cmd=["user.admin"] * 3)
    await call(http, portal.endpoint, "profile", portal.token)
    assert b24.requests(portal.member_id) == 2
    assert b24.requests(portal.member_id, "batch") == 1
    assert b24.calls(portal.member_id, "user.admin") == 3
    assert [r.method for r in b24.log] == ["batch", "profile"]
    assert b24.log[0].commands == ("user.admin",) * 3
    assert all("auth" not in r.params for r in b24.log)


async def test_a_renamed_portal_redirects_its_old_endpoint(
    b24: Bitrix24Emulator, http: aiohttp.ClientSession, portal: Installed
) -> None:
    b24.change_domain(portal.member_id, "renamed.bitrix24.test")
    async with http.post(
        portal.endpoint + "profile", json={"auth": portal.token}, allow_redirects=False
    ) as response:
        assert response.status == 302
        assert response.headers["Location"] == b24.portal_endpoint(portal.member_id) + "profile"


# ------------------------------------------------------------------ events


@attrs.define
class Receiver:
    """A local event handler that records every form POST it gets."""

    url: str
    posts: list[dict[str, Any]]
    arrived: asyncio.Event


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    posts: list[dict[str, Any]] = []
    arrived = asyncio.Event()

    async def handle(request: web.Request) -> web.Response:
        assert request.content_type == "application/x-www-form-urlencoded"
        form = await request.post()
        posts.append(parse_bracket_pairs((k, str(v)) for k, v in form.items()))
        arrived.set()
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_post("/b24/events", handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    yield Receiver(f"http://{host}:{port}/b24/events", posts, arrived)
    await runner.cleanup()


async def bind(http: aiohttp.ClientSession, portal: Installed, event: str, handler: str) -> None:
    status, body = await call(
        http, portal.endpoint, "event.bind", portal.token, event=event, handler=handler
    )
    assert (status, body["result"]) == (200, True)


async def test_rest_changes_reach_bound_handlers_as_form_posts_once_installed(
    b24: Bitrix24Emulator, http: aiohttp.ClientSession, portal: Installed, receiver: Receiver
) -> None:
    deal = b24.add_record(portal.member_id, OwnerType.DEAL)
    await bind(http, portal, "ONCRMACTIVITYADD", receiver.url)
    params = {"ownerTypeId": 2, "ownerId": deal.id, "deadline": DEADLINE}
    await call(http, portal.endpoint, "crm.activity.todo.add", portal.token, **params)
    assert await b24.drain_events() == []  # not installed yet: nothing is delivered
    await b24.install_finish(portal.member_id)
    _s, added = await call(http, portal.endpoint, "crm.activity.todo.add", portal.token, **params)
    deliveries = await b24.drain_events()
    assert [d.status for d in deliveries] == [200]
    (post,) = receiver.posts
    assert post["event"] == "ONCRMACTIVITYADD"
    assert post["data"] == {"FIELDS": {"ID": str(added["result"]["id"])}}
    auth = post["auth"]
    assert auth["member_id"] == portal.member_id
    assert auth["application_token"] == b24.portal(portal.member_id).application_token
    assert auth["client_endpoint"] == portal.endpoint
    assert "refresh_token" not in auth
    assert (await call(http, portal.endpoint, "profile", auth["access_token"]))[0] == 200


async def test_ui_changes_fire_update_and_delete_events_and_robots_send_no_tokens(
    b24: Bitrix24Emulator, http: aiohttp.ClientSession, portal: Installed, receiver: Receiver
) -> None:
    deal = b24.add_record(portal.member_id, OwnerType.DEAL)
    await bind(http, portal, "ONCRMACTIVITYUPDATE", receiver.url)
    await bind(http, portal, "ONCRMACTIVITYDELETE", receiver.url)
    await b24.install_finish(portal.member_id)
    b24.add_user(portal.member_id, 4)
    activity_id = b24.add_activity(
        portal.member_id, deal, deadline=datetime(2026, 9, 1, tzinfo=UTC), responsible_id=1
    )
    later = datetime(2026, 9, 3, tzinfo=UTC)
    await b24.ui_update_activity(portal.member_id, activity_id, deadline=later, user_id=4)
    await b24.ui_update_activity(portal.member_id, activity_id, completed=True, robot=True)
    await b24.ui_delete_activity(portal.member_id, activity_id, user_id=4)
    assert [p["event"] for p in receiver.posts] == [
        "ONCRMACTIVITYUPDATE",
        "ONCRMACTIVITYUPDATE",
        "ONCRMACTIVITYDELETE",
    ]
    assert "access_token" in receiver.posts[0]["auth"]
    assert "access_token" not in receiver.posts[1]["auth"]
    assert b24.activity(portal.member_id, activity_id) is None


async def test_binding_the_same_handler_twice_is_handler_already_exists(
    http: aiohttp.ClientSession, portal: Installed, receiver: Receiver
) -> None:
    await bind(http, portal, "ONCRMACTIVITYUPDATE", receiver.url)
    status, body = await call(
        http,
        portal.endpoint,
        "event.bind",
        portal.token,
        event="onCrmActivityUpdate",
        handler=receiver.url,
    )
    assert (status, body["error"]) == (400, "ERROR_HANDLER_ALREADY_EXIST")
    unknown = await call(
        http, portal.endpoint, "event.bind", portal.token, event="ONNOTHING", handler=receiver.url
    )
    assert unknown[1]["error"] == "ERROR_EVENT_NOT_FOUND"
    _s, listed = await call(http, portal.endpoint, "event.get", portal.token)
    assert listed["result"] == [
        {"event": "ONCRMACTIVITYUPDATE", "handler": receiver.url, "auth_type": "0", "offline": 0}
    ]
    _s, unbound = await call(http, portal.endpoint, "event.unbind", portal.token)
    assert unbound["result"] == {"count": 1}


async def test_uninstall_revokes_tokens_drops_bindings_and_posts_a_tokenless_onappuninstall(
    b24: Bitrix24Emulator, http: aiohttp.ClientSession, portal: Installed, receiver: Receiver
) -> None:
    await bind(http, portal, "ONAPPUNINSTALL", receiver.url)
    await call(http, portal.endpoint, "app.option.set", portal.token, options={"k": "v"})
    await b24.install_finish(portal.member_id)
    (delivery,) = await b24.uninstall(portal.member_id, clean=False)
    assert delivery.status == 200
    (post,) = receiver.posts
    assert post["event"] == "ONAPPUNINSTALL"
    assert post["data"] == {"LANGUAGE_ID": "en", "CLEAN": "0"}
    assert set(post["auth"]) == {
        "domain",
        "server_endpoint",
        "client_endpoint",
        "member_id",
        "application_token",
    }
    assert (await call(http, portal.endpoint, "profile", portal.token))[0] == 401
    status, body = await refresh(b24, http, portal.refresh)
    assert (status, body["error"]) == (401, "invalid_client")
    assert b24.event_bindings(portal.member_id) == []
    assert b24.options(portal.member_id) == {"k": "v"}  # kept without CLEAN


async def test_install_finish_posts_onappinstall_with_a_refresh_token(
    receiver: Receiver,
) -> None:
    async with Bitrix24Emulator(install_handler_url=receiver.url) as b24:
        portal = install(b24)
        (delivery,) = await b24.install_finish(portal.member_id)
    assert delivery.status == 200
    (post,) = receiver.posts
    assert post["event"] == "ONAPPINSTALL"
    assert post["data"] == {"VERSION": "1", "ACTIVE": "Y", "INSTALLED": "Y", "LANGUAGE_ID": "en"}
    assert {"access_token", "refresh_token", "application_token"} <= set(post["auth"])


async def test_send_event_can_forge_the_application_token_or_leave_auth_out(
    b24: Bitrix24Emulator, portal: Installed, receiver: Receiver
) -> None:
    real = b24.portal(portal.member_id).application_token
    await b24.send_event(receiver.url, "ONCRMACTIVITYUPDATE", portal.member_id, {"ID": 9})
    await b24.send_event(
        receiver.url, "ONCRMACTIVITYUPDATE", portal.member_id, {"ID": 9}, forged=True
    )
    await b24.send_event(receiver.url, "ONCRMACTIVITYDELETE", "f" * 32, {"ID": 9})
    await b24.send_event(
        receiver.url, "ONCRMACTIVITYDELETE", portal.member_id, {"ID": 9}, without_auth=True
    )
    first, forged, stranger, bare = receiver.posts
    assert first["auth"]["application_token"] == real
    assert first["data"]["FIELDS"]["ID"] == "9"
    assert forged["auth"]["application_token"] != real
    assert stranger["auth"]["member_id"] == "f" * 32
    assert "auth" not in bare


async def test_placements_are_admin_only_and_listed_with_empty_options_for_tabs(
    b24: Bitrix24Emulator, http: aiohttp.ClientSession, portal: Installed
) -> None:
    params = {
        "PLACEMENT": "CRM_DEAL_DETAIL_TAB",
        "HANDLER": "http://127.0.0.1:9/b24/app",
        "TITLE": "Touch-points",
        "LANG_ALL": {"en": {"TITLE": "Touch-points"}},
    }
    b24.add_user(portal.member_id, 6)
    status, body = await call(
        http, portal.endpoint, "placement.bind", user_token(b24, portal.member_id, 6), **params
    )
    assert (status, body["error"]) == (403, "ACCESS_DENIED")
    assert (await call(http, portal.endpoint, "placement.bind", portal.token, **params))[0] == 200
    bad = await call(
        http, portal.endpoint, "placement.bind", portal.token, **{**params, "PLACEMENT": "NOPE"}
    )
    assert bad[1]["error"] == "ERROR_PLACEMENT_NOT_FOUND"
    _s, listed = await call(http, portal.endpoint, "placement.get", portal.token)
    (row,) = listed["result"]
    assert (row["placement"], row["options"], row["title"]) == (
        "CRM_DEAL_DETAIL_TAB",
        [],
        "Touch-points",
    )
    _s, unbound = await call(
        http, portal.endpoint, "placement.unbind", portal.token, PLACEMENT="CRM_DEAL_DETAIL_TAB"
    )
    assert unbound["result"] == {"count": 1}


@pytest.mark.parametrize(
    ("code", "bound"),
    [
        ("CRM_LEAD_ACTIVITY_TIMELINE_MENU", True),
        ("CRM_DEAL_ACTIVITY_TIMELINE_MENU", True),
        ("CRM_DYNAMIC_183_ACTIVITY_TIMELINE_MENU", True),
        ("CRM_CONTACT_ACTIVITY_TIMELINE_MENU", False),
        ("CRM_COMPANY_ACTIVITY_TIMELINE_MENU", False),
        ("CRM_COMPANY_LIST_MENU", True),
        ("CRM_DYNAMIC_183_LIST_MENU", True),
        ("CRM_ANALYTICS_MENU", True),
    ],
)
async def test_only_documented_menu_placements_can_be_bound(
    http: aiohttp.ClientSession, portal: Installed, code: str, bound: bool
) -> None:
    status, body = await call(
        http,
        portal.endpoint,
        "placement.bind",
        portal.token,
        PLACEMENT=code,
        HANDLER="http://127.0.0.1:9/b24/app",
        TITLE="Touch-point",
    )
    if bound:
        assert (status, body["result"]) == (200, True)
    else:
        assert (status, body["error"]) == (400, "ERROR_PLACEMENT_NOT_FOUND")


async def bound(http: aiohttp.ClientSession, portal: Installed, *codes: str) -> None:
    for code in codes:
        await call(
            http,
            portal.endpoint,
            "placement.bind",
            portal.token,
            PLACEMENT=code,
            HANDLER="http://127.0.0.1:9/b24/app",
        )


async def test_menu_launches_carry_the_documented_placement_options(
    b24: Bitrix24Emulator, http: aiohttp.ClientSession, portal: Installed
) -> None:
    await bound(
        http,
        portal,
        "CRM_LEAD_ACTIVITY_TIMELINE_MENU",
        "CRM_DEAL_ACTIVITY_TIMELINE_MENU",
        "CRM_DEAL_LIST_MENU",
        "CRM_ANALYTICS_MENU",
    )
    deal = b24.add_record(portal.member_id, OwnerType.DEAL, title="Fleet")
    lead = b24.add_record(portal.member_id, OwnerType.LEAD, title="Inbound")
    soon = b24.clock.now() + timedelta(days=1)
    on_deal = b24.add_activity(portal.member_id, deal, deadline=soon, responsible_id=1)
    on_lead = b24.add_activity(portal.member_id, lead, deadline=soon, responsible_id=1)

    _q, timeline = b24.placement_launch(
        portal.member_id,
        1,
        "CRM_DEAL_ACTIVITY_TIMELINE_MENU",
        record_id=deal.id,
        activity_id=on_deal,
    )
    _q, lead_timeline = b24.placement_launch(
        portal.member_id,
        1,
        "CRM_LEAD_ACTIVITY_TIMELINE_MENU",
        record_id=lead.id,
        activity_id=on_lead,
    )
    _q, row = b24.placement_launch(portal.member_id, 1, "CRM_DEAL_LIST_MENU", record_id=deal.id)
    _q, analytics = b24.placement_launch(portal.member_id, 1, "CRM_ANALYTICS_MENU")

    assert timeline["PLACEMENT"] == "CRM_DEAL_ACTIVITY_TIMELINE_MENU"
    assert json.loads(timeline["PLACEMENT_OPTIONS"]) == {
        "ENTITY_ID": str(deal.id),
        "ASSOCIATED_ENTITY_ID": str(on_deal),
        "ASSOCIATED_ENTITY_TYPE_ID": "6",
        "URI": f"/crm/deal/details/{deal.id}/",
    }
    assert set(json.loads(lead_timeline["PLACEMENT_OPTIONS"])) == {
        "ENTITY_ID",
        "TYPE_ID",
        "TYPE_CATEGORY_ID",
        "ASSOCIATED_ENTITY_ID",
        "ASSOCIATED_ENTITY_TYPE_ID",
        "TIMELINE_ITEM_ID",
        "URI",
    }
    assert json.loads(row["PLACEMENT_OPTIONS"]) == {"ID": str(deal.id), "URI": "/crm/deal/list/"}
    assert json.loads(analytics["PLACEMENT_OPTIONS"]) == {"URI": "/crm/analytics/"}
    assert "\\/crm\\/" in row["PLACEMENT_OPTIONS"]  # PHP's json_encode escapes slashes


async def test_an_unbound_menu_or_a_foreign_activity_is_never_launched(
    b24: Bitrix24Emulator, http: aiohttp.ClientSession, portal: Installed
) -> None:
    await bound(http, portal, "CRM_DEAL_ACTIVITY_TIMELINE_MENU")
    deal = b24.add_record(portal.member_id, OwnerType.DEAL, title="Fleet")
    other = b24.add_record(portal.member_id, OwnerType.DEAL, title="Other")
    activity = b24.add_activity(portal.member_id, other, deadline=b24.clock.now(), responsible_id=1)

    with pytest.raises(ValueError, match="not bound"):
        b24.placement_launch(portal.member_id, 1, "CRM_DEAL_LIST_MENU", record_id=deal.id)
    with pytest.raises(ValueError, match="timeline"):
        b24.placement_launch(
            portal.member_id,
            1,
            "CRM_DEAL_ACTIVITY_TIMELINE_MENU",
            record_id=deal.id,
            activity_id=activity,
        )


# ------------------------------------------------------------------ frames, users, IM


def test_a_frame_launch_carries_the_documented_query_and_form_fields(
    b24: Bitrix24Emulator, portal: Installed
) -> None:
    b24.add_user(portal.member_id, 8, language="de")
    query, form = b24.frame_launch(
        portal.member_id, 8, "CRM_DEAL_DETAIL_TAB", {"ID": "314", "URI": "/crm/deal/details/314/"}
    )
    assert set(query) == {"DOMAIN", "PROTOCOL", "LANG", "APP_SID"}
    assert query["LANG"] == "de"
    assert form["PLACEMENT"] == "CRM_DEAL_DETAIL_TAB"
    assert json.loads(form["PLACEMENT_OPTIONS"]) == {"ID": "314", "URI": "/crm/deal/details/314/"}
    assert form["APPLICATION_TOKEN"] == b24.portal(portal.member_id).application_token
    assert form["AUTH_EXPIRES"] == "3600"
    _query, default = b24.frame_launch(portal.member_id, 8)
    assert default["PLACEMENT_OPTIONS"] == "[]"
    _query, forged = b24.frame_launch(portal.member_id, 8, forged=True)
    assert forged["APPLICATION_TOKEN"] != form["APPLICATION_TOKEN"]


async def test_user_get_takes_filters_at_the_top_level_or_under_filter(
    b24: Bitrix24Emulator, http: aiohttp.ClientSession, portal: Installed
) -> None:
    b24.add_user(portal.member_id, 2, name="Anna", time_zone="Europe/Berlin", departments=[3])
    b24.add_user(portal.member_id, 3, name="Ben", active=False, photo="https://img/ben.png")
    _s, top = await call(http, portal.endpoint, "user.get", portal.token, ACTIVE=True)
    assert [u["ID"] for u in top["result"]] == ["1", "2"]
    _s, under = await call(http, portal.endpoint, "user.get", portal.token, FILTER={"ID": [2, 3]})
    anna, ben = under["result"]
    assert (anna["ACTIVE"], anna["TIME_ZONE"], anna["UF_DEPARTMENT"]) == (
        True,
        "Europe/Berlin",
        [3],
    )
    assert "EMAIL" not in anna  # user_brief has no e-mail
    assert (ben["ACTIVE"], ben["PERSONAL_PHOTO"]) == (False, "https://img/ben.png")
    _s, dept = await call(http, portal.endpoint, "user.get", portal.token, UF_DEPARTMENT=3)
    assert [u["ID"] for u in dept["result"]] == ["2"]


async def test_a_notification_with_the_same_tag_replaces_the_earlier_one(
    b24: Bitrix24Emulator, http: aiohttp.ClientSession, portal: Installed
) -> None:
    b24.add_user(portal.member_id, 2)
    for text in ("first", "  second  "):
        status, body = await call(
            http,
            portal.endpoint,
            "im.notify.system.add",
            portal.token,
            USER_ID=2,
            MESSAGE=text,
            TAG="digest.2.2026-09-01",
            ATTACH=[{"LINK": {"NAME": "Open board", "LINK": "https://example.test/"}}],
        )
        assert status == 200
        assert isinstance(body["result"], int)
    (notification,) = b24.inbox(portal.member_id, 2)
    assert notification.message == "second"
    assert notification.author_id is None
    assert notification.attach == [
        {"LINK": {"NAME": "Open board", "LINK": "https://example.test/"}}
    ]
    _s, nobody = await call(
        http, portal.endpoint, "im.notify.system.add", portal.token, USER_ID=99, MESSAGE="hi"
    )
    assert nobody["result"] is False


@pytest.mark.parametrize(
    ("params", "error"),
    [
        ({"USER_ID": 0, "MESSAGE": "hi"}, "USER_ID_EMPTY"),
        ({"USER_ID": 1, "MESSAGE": "   "}, "MESSAGE_EMPTY"),
        ({"USER_ID": 1, "MESSAGE": "hi", "ATTACH": [{"MESSAGE": "x" * 60_001}]}, "ATTACH_OVERSIZE"),
        ({"USER_ID": 1, "MESSAGE": "hi", "ATTACH": "{not json"}, "ATTACH_ERROR"),
    ],
)
async def test_notifications_are_validated_as_documented(
    http: aiohttp.ClientSession, portal: Installed, params: dict[str, Any], error: str
) -> None:
    status, body = await call(http, portal.endpoint, "im.notify.system.add", portal.token, **params)
    assert (status, body["error"]) == (400, error)


async def test_app_options_are_admin_only_to_set_and_readable_by_anyone(
    b24: Bitrix24Emulator, http: aiohttp.ClientSession, portal: Installed
) -> None:
    _s, empty = await call(http, portal.endpoint, "app.option.get", portal.token)
    assert empty["result"] == []
    b24.add_user(portal.member_id, 2)
    user = user_token(b24, portal.member_id, 2)
    denied = await call(http, portal.endpoint, "app.option.set", user, options={"a": 1})
    assert denied[0] == 403
    await call(http, portal.endpoint, "app.option.set", portal.token, options={"a": 1})
    assert (await call(http, portal.endpoint, "app.option.get", user, option="a"))[1]["result"] == 1
    assert (await call(http, portal.endpoint, "app.option.get", user, option="b"))[1][
        "result"
    ] is None


async def test_a_deleted_owner_takes_its_activities_along(
    b24: Bitrix24Emulator, portal: Installed
) -> None:
    deal = b24.add_record(portal.member_id, OwnerType.DEAL)
    activity_id = b24.add_activity(
        portal.member_id, deal, deadline=datetime.now(UTC) + timedelta(days=1), responsible_id=1
    )
    b24.delete_record(portal.member_id, deal)
    assert b24.activity(portal.member_id, activity_id) is None
    assert OwnerRef(OwnerType.DEAL, deal.id) not in {
        r.ref for r in b24.portal(portal.member_id).records.values()
    }


async def test_a_stalled_method_never_answers_and_the_emulator_still_closes(
    http: aiohttp.ClientSession,
) -> None:
    async with Bitrix24Emulator() as b24:
        portal = install(b24)
        b24.inject("profile", stall=True)
        with pytest.raises(TimeoutError):
            async with http.post(
                portal.endpoint + "profile",
                json={"auth": portal.token},
                timeout=aiohttp.ClientTimeout(total=0.2),
            ):
                pass


async def test_the_token_endpoint_can_be_made_to_fail(
    b24: Bitrix24Emulator, http: aiohttp.ClientSession, portal: Installed
) -> None:
    b24.inject("oauth.token", error="temporarily_unavailable", status=503)
    status, body = await refresh(b24, http, portal.refresh)
    assert (status, body["error"]) == (503, "temporarily_unavailable")
    assert (await refresh(b24, http, portal.refresh))[0] == 200


async def test_one_portals_bucket_does_not_limit_another(
    frozen: Bitrix24Emulator, http: aiohttp.ClientSession
) -> None:
    frozen.rate_limit = RateLimit(burst=1, per_second=1)
    first, second = install(frozen), install(frozen)
    assert (await call(http, first.endpoint, "user.admin", first.token))[0] == 200
    assert (await call(http, first.endpoint, "user.admin", first.token))[0] == 503
    assert (await call(http, second.endpoint, "user.admin", second.token))[0] == 200


async def test_dropped_events_are_recorded_but_never_posted(
    b24: Bitrix24Emulator, portal: Installed, receiver: Receiver
) -> None:
    b24.drop_events = True
    delivery = await b24.send_event(
        receiver.url, "ONCRMACTIVITYUPDATE", portal.member_id, {"ID": 1}
    )
    assert delivery.dropped
    assert receiver.posts == []
    assert b24.deliveries == [delivery]


async def test_an_update_drops_event_bindings_and_may_rotate_the_application_token(
    b24: Bitrix24Emulator, http: aiohttp.ClientSession, portal: Installed, receiver: Receiver
) -> None:
    await bind(http, portal, "ONAPPUPDATE", receiver.url)
    await b24.install_finish(portal.member_id)
    old_token = b24.portal(portal.member_id).application_token
    (delivery,) = await b24.update_app(portal.member_id, new_application_token=True)
    assert delivery.status == 200
    (post,) = receiver.posts
    assert post["data"] == {"VERSION": "2", "PREVIOUS_VERSION": "1", "LANGUAGE_ID": "en"}
    assert post["auth"]["application_token"] == b24.portal(portal.member_id).application_token
    assert post["auth"]["application_token"] != old_token
    assert b24.event_bindings(portal.member_id) == []


async def test_a_reinstall_brings_a_new_application_token_and_fresh_admin_tokens(
    b24: Bitrix24Emulator, http: aiohttp.ClientSession, portal: Installed
) -> None:
    await b24.install_finish(portal.member_id)
    old_token = b24.portal(portal.member_id).application_token
    with pytest.raises(ValueError, match="already installed"):
        b24.install(portal.member_id)
    await b24.uninstall(portal.member_id)
    launch = b24.install(portal.member_id)
    assert launch.form["APPLICATION_TOKEN"] != old_token
    assert (await call(http, portal.endpoint, "profile", launch.form["AUTH_ID"]))[0] == 200


async def test_event_test_sends_onapptest_with_the_query(
    b24: Bitrix24Emulator, http: aiohttp.ClientSession, portal: Installed, receiver: Receiver
) -> None:
    await bind(http, portal, "ONAPPTEST", receiver.url)
    await b24.install_finish(portal.member_id)
    _s, body = await call(http, portal.endpoint, "event.test", portal.token, any="thing")
    assert body["result"] == 1
    await b24.drain_events()
    assert receiver.posts[0]["data"] == {"QUERY": {"any": "thing"}}


async def test_a_todo_added_in_the_ui_announces_itself(
    b24: Bitrix24Emulator, http: aiohttp.ClientSession, portal: Installed, receiver: Receiver
) -> None:
    await bind(http, portal, "ONCRMACTIVITYADD", receiver.url)
    await b24.install_finish(portal.member_id)
    lead = b24.add_record(portal.member_id, OwnerType.LEAD)
    activity_id = await b24.ui_add_todo(
        portal.member_id, lead, deadline=datetime(2026, 9, 1, tzinfo=UTC), responsible_id=1
    )
    assert receiver.posts[0]["data"]["FIELDS"]["ID"] == str(activity_id)


async def test_crm_status_list_reads_one_stage_directory_in_sort_order_as_strings(
    b24: Bitrix24Emulator, http: aiohttp.ClientSession, portal: Installed
) -> None:
    b24.add_stage(portal.member_id, "DEAL_STAGE_3", "C3:NEW", "Fresh")
    b24.add_stage(portal.member_id, "DEAL_STAGE_3", "C3:WON", "Signed", semantics="S")
    b24.add_stage(portal.member_id, "DEAL_STAGE_3", "C3:NEW", "First call")  # a rename
    status, body = await call(
        http,
        portal.endpoint,
        "crm.status.list",
        portal.token,
        order={"SORT": "ASC"},
        filter={"ENTITY_ID": "DEAL_STAGE_3"},
    )
    assert status == 200
    rows = body["result"]
    assert [(row["STATUS_ID"], row["NAME"]) for row in rows] == [
        ("C3:NEW", "First call"),
        ("C3:WON", "Signed"),
    ]
    assert body["total"] == 2
    assert "next" not in body
    assert (rows[0]["CATEGORY_ID"], rows[0]["SORT"], rows[0]["SEMANTICS"]) == ("3", "10", None)
    assert (rows[1]["SEMANTICS"], rows[1]["EXTRA"]["SEMANTICS"]) == ("S", "success")
    _status, general = await call(
        http, portal.endpoint, "crm.status.list", portal.token, filter={"ENTITY_ID": "DEAL_STAGE"}
    )
    assert general["result"][0]["STATUS_ID"] == "NEW"
    assert {row["ENTITY_ID"] for row in general["result"]} == {"DEAL_STAGE"}


_QUERY_PIECES = st.sampled_from(
    ["&", "=", "+", "%", "%2", "%ZZ", "%5B", "%5C", "%D0", "%9A", "\\", "\\x4", "a", "é"]
)


@given(
    st.lists(st.tuples(st.text(), st.text())).map(
        lambda pairs: "&".join(f"{quote(k, safe='')}={quote(v, safe='')}" for k, v in pairs)
    )
    | st.lists(_QUERY_PIECES | st.text(max_size=3)).map("".join)
)
def test_the_emulators_query_parser_reads_what_parse_qsl_reads(query: str) -> None:
    assert parse_query(query) == parse_qsl(query, keep_blank_values=True)
