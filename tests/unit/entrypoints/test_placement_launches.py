"""Which view a frame launch opens, from PLACEMENT and PLACEMENT_OPTIONS read strictly."""

from __future__ import annotations

import json

import pytest

from touchpoints.domain.model import OwnerType
from touchpoints.domain.placements import ANALYTICS_MENU, menu_bindings
from touchpoints.entrypoints.placements import Launch, PlacementRefused, read_launch

# PLACEMENT_OPTIONS as the docs show them (BITRIX24.md §22.2.3).
LEAD_TIMELINE = (
    '{"ENTITY_ID":"6591","TYPE_ID":"1","TYPE_CATEGORY_ID":"6","ASSOCIATED_ENTITY_ID":"1523",'
    '"ASSOCIATED_ENTITY_TYPE_ID":"6","TIMELINE_ITEM_ID":"29937"}'
)
DEAL_TIMELINE = '{"ENTITY_ID":"3463","ASSOCIATED_ENTITY_ID":"1517","ASSOCIATED_ENTITY_TYPE_ID":"6"}'


def test_the_documented_timeline_menu_options_name_the_record_and_the_todo() -> None:
    assert read_launch("CRM_LEAD_ACTIVITY_TIMELINE_MENU", LEAD_TIMELINE) == Launch(
        placement="CRM_LEAD_ACTIVITY_TIMELINE_MENU", options={"ID": "6591", "ACTIVITY_ID": "1523"}
    )
    assert read_launch("crm_deal_activity_timeline_menu", DEAL_TIMELINE).options == {
        "ID": "3463",
        "ACTIVITY_ID": "1517",
    }


@pytest.mark.parametrize("owner_type", list(OwnerType))
def test_a_list_menu_and_a_tab_carry_their_records_id(owner_type: OwnerType) -> None:
    options = json.dumps({"ID": "42", "URI": f"/crm/{owner_type.value}/list/"})
    for code in (f"CRM_{owner_type.name}_LIST_MENU", f"CRM_{owner_type.name}_DETAIL_TAB"):
        assert read_launch(code, options) == Launch(placement=code, options={"ID": "42"})


def test_the_analytics_menu_and_the_left_menu_need_no_options() -> None:
    assert read_launch(ANALYTICS_MENU, '{"URI":"/crm/analytics/"}') == Launch(
        placement=ANALYTICS_MENU
    )
    assert read_launch("LEFT_MENU", "[]") == Launch(placement="LEFT_MENU")
    assert read_launch(None, None) == Launch(placement="DEFAULT")


def test_an_unknown_placement_opens_the_board() -> None:
    for code in ("CRM_QUOTE_DETAIL_TAB", "CRM_CONTACT_ACTIVITY_TIMELINE_MENU", "x" * 10_000):
        assert read_launch(code, '{"ID":"1"}') == Launch(placement="DEFAULT")


@pytest.mark.parametrize(
    ("placement", "options"),
    [
        ("CRM_DEAL_ACTIVITY_TIMELINE_MENU", '{"ENTITY_ID":"3463"}'),
        ("CRM_DEAL_ACTIVITY_TIMELINE_MENU", '{"ASSOCIATED_ENTITY_ID":"1517"}'),
        ("CRM_DEAL_ACTIVITY_TIMELINE_MENU", '{"ENTITY_ID":"1","ASSOCIATED_ENTITY_ID":"-5"}'),
        (
            "CRM_DEAL_ACTIVITY_TIMELINE_MENU",
            '{"ENTITY_ID":"1","ASSOCIATED_ENTITY_ID":"2","ASSOCIATED_ENTITY_TYPE_ID":"1"}',
        ),
        ("CRM_LEAD_ACTIVITY_TIMELINE_MENU", "[]"),
        ("CRM_DEAL_LIST_MENU", ""),
        ("CRM_DEAL_LIST_MENU", None),
        ("CRM_DEAL_LIST_MENU", '{"ID":"²"}'),
        ("CRM_DEAL_LIST_MENU", '{"ID":true}'),
        ("CRM_DEAL_LIST_MENU", '{"ID":"1 OR 1=1"}'),
        ("CRM_DEAL_LIST_MENU", '{"ID":["1","2"]}'),
        ("CRM_COMPANY_LIST_MENU", "[" * 10_000),
        ("CRM_CONTACT_DETAIL_TAB", '{"ID": "7"' + "\\" * 100),
        ("CRM_CONTACT_DETAIL_TAB", "not json"),
    ],
)
def test_missing_or_malformed_ids_are_refused_with_a_message(
    placement: str, options: str | None
) -> None:
    with pytest.raises(PlacementRefused, match=r"Bitrix24|to-dos"):
        read_launch(placement, options)


def test_numeric_ids_are_read_like_strings() -> None:
    launch = read_launch(
        "CRM_DEAL_ACTIVITY_TIMELINE_MENU", '{"ENTITY_ID":3463,"ASSOCIATED_ENTITY_ID":1517}'
    )
    assert launch.options == {"ID": "3463", "ACTIVITY_ID": "1517"}


def test_disabled_entities_lose_their_menus_and_analytics_stays() -> None:
    bindings = {b.code: b.bind for b in menu_bindings({OwnerType.DEAL, OwnerType.COMPANY})}
    assert bindings == {
        "CRM_LEAD_ACTIVITY_TIMELINE_MENU": False,
        "CRM_LEAD_LIST_MENU": False,
        "CRM_DEAL_ACTIVITY_TIMELINE_MENU": True,
        "CRM_DEAL_LIST_MENU": True,
        "CRM_CONTACT_LIST_MENU": False,
        "CRM_COMPANY_LIST_MENU": True,
        ANALYTICS_MENU: True,
    }
