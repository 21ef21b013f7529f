"""What a touch-point can be bound to: the four entities or a smart process (DESIGN.md §3.7),
parsed from one spelling each and named the way Bitrix24 names it."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from touchpoints.domain.errors import InvalidValue
from touchpoints.domain.model import (
    OwnerType,
    SmartProcess,
    entity_type,
    entity_type_of_id,
    is_dynamic_type_id,
)
from touchpoints.domain.placements import detail_tab, has_timeline_menu, list_menu, menu_bindings

dynamic_ids = st.one_of(st.integers(128, 191), st.integers(1030, 2**31 - 1))


@given(dynamic_ids)
def test_a_smart_process_reads_back_from_its_spelling_and_its_type_id(type_id: int) -> None:
    kind = SmartProcess(type_id)

    assert entity_type(kind.value) == kind
    assert entity_type_of_id(type_id) == kind
    assert kind.value == f"dynamic_{type_id}"
    assert detail_tab(kind) == f"CRM_DYNAMIC_{type_id}_DETAIL_TAB"
    assert kind.card_path(5) == f"/crm/type/{type_id}/details/5/"


@pytest.mark.parametrize("kind", list(OwnerType))
def test_the_four_entities_keep_their_names(kind: OwnerType) -> None:
    assert entity_type(kind.value) is kind
    assert entity_type_of_id(kind.type_id) is kind
    assert kind.card_path(5) == f"/crm/{kind.value}/details/5/"


@pytest.mark.parametrize(
    "text",
    [
        "dynamic_",
        "dynamic_0128",
        "dynamic_127",
        "dynamic_192",
        "dynamic_1029",
        "dynamic_+1046",
        "dynamic_1046 ",
        "dynamic_١٠٤٦",  # Arabic-Indic digits are digits to str.isdigit, not to Bitrix24
        "dynamic_99999999999",
        "DYNAMIC_1046",
        "smart_1046",
        "quote",
        "",
    ],
)
def test_anything_else_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match=r"owner type|OwnerType|smart-process"):
        entity_type(text)


@pytest.mark.parametrize("type_id", [0, 5, 7, 8, 14, 31, 127, 192, 255, 1024, 1029])
def test_type_ids_of_other_kinds_are_not_smart_processes(type_id: int) -> None:
    assert not is_dynamic_type_id(type_id)
    with pytest.raises(InvalidValue):
        SmartProcess(type_id)


def test_a_smart_process_has_a_list_and_timeline_menu_and_loses_them_when_disabled() -> None:
    projects = SmartProcess(1046)

    bound = {b.code: b.bind for b in menu_bindings([OwnerType.DEAL, projects])}
    unbound = {b.code: b.bind for b in menu_bindings([OwnerType.DEAL], previous=[projects])}

    assert has_timeline_menu(projects)
    assert bound[list_menu(projects)] is True
    assert bound["CRM_DYNAMIC_1046_ACTIVITY_TIMELINE_MENU"] is True
    assert unbound[list_menu(projects)] is False
    assert unbound["CRM_DYNAMIC_1046_ACTIVITY_TIMELINE_MENU"] is False
    assert "CRM_DYNAMIC_1046_LIST_MENU" not in {b.code for b in menu_bindings([OwnerType.DEAL])}
