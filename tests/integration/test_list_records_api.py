"""The list view's record columns end to end: each record's stage by name and its amount,
read live with the user's token through the HTTP Bitrix24 emulator, in at most one more
request than the titles alone."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from tests.integration.conftest import Harness
from touchpoints.domain.model import EntityType, OwnerRef, OwnerType

pytestmark = pytest.mark.postgres


async def create_on(
    harness: Harness, session: str, owner: OwnerRef, *, hours: float, **extra: Any
) -> int:
    deadline = harness.b24.clock.now().replace(microsecond=0) + timedelta(hours=hours)
    status, body = await harness.api(
        "POST",
        "/api/v1/touchpoints",
        session,
        json={
            "owner": {"type": owner.type.value, "id": owner.id},
            "type": "call",
            "deadline": deadline.isoformat(),
            **extra,
        },
    )
    assert status == 201, body
    return int(body["id"])


async def owners_listed(harness: Harness, session: str, query: str = "") -> dict[int, Any]:
    status, page = await harness.api("GET", f"/api/v1/touchpoints{query}", session)
    assert status == 200, page
    return {item["id"]: item["owner"] for item in page["items"]}


async def test_the_list_shows_each_records_stage_by_name_and_its_amount(
    harness: Harness,
) -> None:
    member_id = await harness.install()
    b24 = harness.b24
    alice = b24.add_user(member_id, name="Alice", crm_access="own")
    admin = await harness.session_for(member_id, 1)
    session = await harness.session_for(member_id, alice)

    def record(owner_type: EntityType, title: str, **fields: Any) -> OwnerRef:
        return b24.add_record(member_id, owner_type, title=title, assigned_by_id=alice, **fields)

    b24.add_stage(member_id, "DEAL_STAGE_2", "C2:NEGOTIATION", "Negotiation")
    export = record(
        OwnerType.DEAL,
        "Export",
        stage_id="C2:NEGOTIATION",
        category_id=2,
        opportunity=125_000.5,
        currency_id="EUR",
    )
    general = record(OwnerType.DEAL, "General", stage_id="PREPARATION", opportunity=4_000.0)
    lead = record(OwnerType.LEAD, "Lead", stage_id="IN_PROCESS", opportunity=900.0)
    contact = b24.add_record(member_id, OwnerType.CONTACT, name="Anna", assigned_by_id=alice)
    secret = b24.add_record(
        member_id,
        OwnerType.DEAL,
        title="Secret",
        stage_id="C2:NEGOTIATION",
        category_id=2,
        opportunity=9_000_000.0,
    )
    ids = {
        "export": await create_on(harness, session, export, hours=1),
        "general": await create_on(harness, session, general, hours=2),
        "lead": await create_on(harness, session, lead, hours=3),
        "contact": await create_on(harness, session, contact, hours=4),
        # The admin gives Alice a call on a deal she may not read.
        "secret": await create_on(harness, admin, secret, hours=5, responsible_id=alice),
    }

    before = b24.requests(member_id)
    owners = await owners_listed(harness, session)
    # Titles, texts, leads' and the general pipeline's stages share one batch; the other
    # pipeline's stages are known only from the rows and cost one more.
    assert b24.requests(member_id) - before == 2
    assert set(owners) == set(ids.values())

    def columns(name: str) -> tuple[Any, Any, Any]:
        owner = owners[ids[name]]
        return owner["stage"], owner["amount"], owner["currency"]

    assert columns("export") == ("Negotiation", 125_000.5, "EUR")
    assert columns("general") == ("Document preparation", 4_000.0, "USD")
    assert columns("lead") == ("In progress", 900.0, "USD")
    assert columns("contact") == (None, None, None)
    assert owners[ids["secret"]] == {"type": "deal", "id": secret.id, "title": None} | {
        "stage": None,
        "amount": None,
        "currency": None,
    }

    before = b24.requests(member_id)
    only_leads = await owners_listed(harness, session, "?owner_type=lead")
    assert b24.requests(member_id) - before == 1  # the stages ride in the titles' batch
    assert only_leads[ids["lead"]]["stage"] == "In progress"

    status, board = await harness.api("GET", "/api/v1/board", session)
    assert status == 200
    on_board = {item["id"]: item["owner"] for c in board["columns"] for item in c["items"]}
    # The board reads no stage directories; the amount comes with the title.
    assert (on_board[ids["export"]]["stage"], on_board[ids["export"]]["amount"]) == (
        None,
        125_000.5,
    )
