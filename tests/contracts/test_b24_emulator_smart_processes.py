"""The emulator's smart processes as BITRIX24.md §22.3 documents them: ``crm.type.list`` for
CRM admins only (``result.types``, ``entityTypeId``), ``crm.enum.ownertype`` for anyone (types
as ``DYNAMIC_<entityTypeId>``), items through ``crm.item.*`` by ``entityTypeId``, to-dos on an
item with ``ownerTypeId`` = ``entityTypeId``."""

from __future__ import annotations

import aiohttp
import pytest

from tests.contracts.test_b24_emulator import DEADLINE, Installed, call, install, user_token
from tests.fakes.bitrix24 import Bitrix24Emulator

PROJECTS = 1046


@pytest.fixture
def portal(b24: Bitrix24Emulator) -> Installed:
    return install(b24)


async def test_the_type_list_answers_admins_with_entity_type_ids(
    b24: Bitrix24Emulator, http: aiohttp.ClientSession, portal: Installed
) -> None:
    b24.add_smart_process(portal.member_id, PROJECTS, "Projects")

    status, body = await call(http, portal.endpoint, "crm.type.list", portal.token)

    assert status == 200, body
    (row,) = body["result"]["types"]
    assert (row["entityTypeId"], row["title"]) == (PROJECTS, "Projects")
    assert body["total"] == 1


async def test_the_type_list_refuses_a_member_who_is_no_crm_admin(
    b24: Bitrix24Emulator, http: aiohttp.ClientSession, portal: Installed
) -> None:
    b24.add_smart_process(portal.member_id, PROJECTS, "Projects")
    rep = b24.add_user(portal.member_id, name="Rep")

    status, body = await call(
        http, portal.endpoint, "crm.type.list", user_token(b24, portal.member_id, rep)
    )

    assert (status, body["error"]) == (400, "ACCESS_DENIED")


async def test_the_owner_type_enum_names_smart_processes_for_anyone(
    b24: Bitrix24Emulator, http: aiohttp.ClientSession, portal: Installed
) -> None:
    b24.add_smart_process(portal.member_id, PROJECTS, "Projects")
    rep = b24.add_user(portal.member_id, name="Rep")

    status, body = await call(
        http, portal.endpoint, "crm.enum.ownertype", user_token(b24, portal.member_id, rep)
    )

    assert status == 200, body
    rows = {row["SYMBOL_CODE"]: row for row in body["result"]}
    assert rows["DYNAMIC_1046"]["ID"] == PROJECTS
    assert rows["DYNAMIC_1046"]["NAME"] == "Projects"
    assert rows["DEAL"]["ID"] == 2


async def test_items_of_a_smart_process_are_listed_by_entity_type_id(
    b24: Bitrix24Emulator, http: aiohttp.ClientSession, portal: Installed
) -> None:
    b24.add_smart_process(portal.member_id, PROJECTS, "Projects")
    item = b24.add_record(portal.member_id, PROJECTS, title="Roll-out")

    status, body = await call(
        http,
        portal.endpoint,
        "crm.item.list",
        portal.token,
        entityTypeId=PROJECTS,
        filter={"@id": [item.id]},
        select=["id", "title"],
    )
    unknown_status, unknown = await call(
        http, portal.endpoint, "crm.item.list", portal.token, entityTypeId=1050
    )

    assert status == 200, body
    assert body["result"]["items"] == [{"id": item.id, "title": "Roll-out"}]
    assert (unknown_status, unknown["error"]) == (400, "NOT_FOUND")


async def test_a_todo_is_added_on_a_smart_process_item(
    b24: Bitrix24Emulator, http: aiohttp.ClientSession, portal: Installed
) -> None:
    b24.add_smart_process(portal.member_id, PROJECTS, "Projects")
    item = b24.add_record(portal.member_id, PROJECTS, title="Roll-out")

    status, body = await call(
        http,
        portal.endpoint,
        "crm.activity.todo.add",
        portal.token,
        ownerTypeId=PROJECTS,
        ownerId=item.id,
        deadline=DEADLINE,
        title="Kick-off",
    )

    assert status == 200, body
    activity = b24.activity(portal.member_id, int(body["result"]["id"]))
    assert activity is not None
    assert (activity.owner_type_id, activity.owner_id) == (PROJECTS, item.id)
