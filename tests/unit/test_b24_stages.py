"""Stage names and amounts from Bitrix24's rows: which directory names a record's stages, and
what ``crm.status.list`` and typed item rows say (BITRIX24.md §12)."""

from __future__ import annotations

from typing import Any

import pytest

from touchpoints.adapters.bitrix24.rows import parse_item, parse_stage_names, stage_directory
from touchpoints.domain.model import EntityType, OwnerType, SmartProcess

# The shape of the docs' crm.status.list reply: legacy strings, nulls where unset.
STATUS_ROWS: list[dict[str, Any]] = [
    {
        "ID": "101",
        "ENTITY_ID": "DEAL_STAGE",
        "STATUS_ID": "NEW",
        "NAME": "New",
        "NAME_INIT": "New",
        "SORT": "10",
        "SYSTEM": "Y",
        "CATEGORY_ID": None,
        "COLOR": "#39A8EF",
        "SEMANTICS": None,
        "EXTRA": {"SEMANTICS": "process", "COLOR": "#39A8EF"},
    },
    {
        "ID": "131",
        "ENTITY_ID": "DEAL_STAGE_3",
        "STATUS_ID": "C3:NEGOTIATION",
        "NAME": " Negotiation ",
        "SORT": "20",
        "CATEGORY_ID": "3",
        "SEMANTICS": None,
    },
    {"ID": "132", "ENTITY_ID": "DEAL_STAGE_3", "STATUS_ID": "C3:EMPTY", "NAME": ""},
    {"ID": "133", "ENTITY_ID": "", "STATUS_ID": "ORPHAN", "NAME": "No directory"},
    {"ID": "134", "ENTITY_ID": "STATUS", "STATUS_ID": None, "NAME": "No code"},
]


def test_stage_names_are_keyed_by_directory_and_code_and_blank_rows_are_dropped() -> None:
    assert parse_stage_names(STATUS_ROWS) == {
        ("DEAL_STAGE", "NEW"): "New",
        ("DEAL_STAGE_3", "C3:NEGOTIATION"): "Negotiation",
    }


@pytest.mark.parametrize(
    ("owner_type", "row", "directory"),
    [
        (OwnerType.LEAD, {"stageId": "IN_PROCESS"}, "STATUS"),
        (OwnerType.DEAL, {"stageId": "NEW", "categoryId": 0}, "DEAL_STAGE"),
        (OwnerType.DEAL, {"stageId": "NEW"}, "DEAL_STAGE"),
        (OwnerType.DEAL, {"stageId": "C3:NEW", "categoryId": 3}, "DEAL_STAGE_3"),
        (SmartProcess(1046), {"stageId": "DT1046_7:NEW", "categoryId": 7}, "DYNAMIC_1046_STAGE_7"),
        (OwnerType.DEAL, {"stageId": "", "categoryId": 3}, None),
        (OwnerType.CONTACT, {"stageId": "NEW"}, None),
        (OwnerType.COMPANY, {"stageId": "NEW"}, None),
    ],
)
def test_a_records_stages_are_named_by_its_kind_and_pipeline(
    owner_type: EntityType, row: dict[str, Any], directory: str | None
) -> None:
    assert stage_directory(owner_type, row) == directory


def test_only_leads_deals_and_smart_process_items_carry_a_stage_and_an_amount() -> None:
    row = {"id": 7, "title": "Acme", "stageId": "NEW", "opportunity": 1500.5, "currencyId": "EUR"}
    for staged in (OwnerType.LEAD, OwnerType.DEAL, SmartProcess(1046)):
        card = parse_item(staged, row)
        assert (card.stage_id, card.amount, card.currency) == ("NEW", 1500.5, "EUR")
        assert card.stage_name is None  # names come from the stage directories only
    for plain in (OwnerType.CONTACT, OwnerType.COMPANY):
        card = parse_item(plain, {**row, "revenue": 9000, "name": "Anna"})
        assert (card.stage_id, card.amount, card.currency) == (None, None, None)
