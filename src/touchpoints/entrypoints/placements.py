"""Which view a frame launch opens: ``PLACEMENT`` and its ``PLACEMENT_OPTIONS`` read strictly
(DESIGN.md §3.7, BITRIX24.md §22.2).

``PLACEMENT_OPTIONS`` is a JSON string whose ids are decimal strings. A placement that needs
an id and gets none, or a malformed one, is refused with a message for a person; an unknown
placement opens the board, as before.
"""

from __future__ import annotations

from typing import Any

import attrs

from touchpoints.domain.model import OwnerType
from touchpoints.domain.placements import (
    ANALYTICS_MENU,
    TIMELINE_MENU_OWNERS,
    list_menu,
    timeline_menu,
)
from touchpoints.entrypoints.inputs import JsonRefused, loads_bounded, parse_id

# Bitrix24's own entity type id of an activity, sent as ASSOCIATED_ENTITY_TYPE_ID by the
# timeline menu (BITRIX24.md §22.2.3).
ACTIVITY_ENTITY_TYPE_ID = 6
_BOARD = frozenset({"DEFAULT", "LEFT_MENU"})
_TABS = {owner_type.placement: owner_type for owner_type in OwnerType}
_LISTS = {list_menu(owner_type): owner_type for owner_type in OwnerType}
_TIMELINES = {timeline_menu(owner_type): owner_type for owner_type in TIMELINE_MENU_OWNERS}


class PlacementRefused(ValueError):
    """The launch names a placement whose options are missing or malformed."""


@attrs.frozen(kw_only=True)
class Launch:
    """What the page is told: the placement code and its options, ids as decimal strings."""

    placement: str
    options: dict[str, str] = attrs.field(factory=dict)


def read_launch(placement: str | None, raw_options: str | None) -> Launch:
    """The view a launch opens.

    Raises:
        PlacementRefused: a record's or to-do's placement without a valid id.
    """
    code = (placement or "DEFAULT").strip().upper()
    if code in _BOARD:
        return Launch(placement=code)
    if code == ANALYTICS_MENU:
        return Launch(placement=code)  # only URI comes with it
    if code in _TABS or code in _LISTS:
        options = _options(raw_options)
        record_id = _id(options, "ID", "CRM record")
        return Launch(placement=code, options={"ID": str(record_id)})
    if code in _TIMELINES:
        options = _options(raw_options)
        record_id = _id(options, "ENTITY_ID", "CRM record")
        activity_id = _id(options, "ASSOCIATED_ENTITY_ID", "to-do")
        kind = options.get("ASSOCIATED_ENTITY_TYPE_ID")
        if kind is not None and _number(kind) != ACTIVITY_ENTITY_TYPE_ID:
            raise PlacementRefused("Touch-points works with to-dos only; this item is not one.")
        return Launch(
            placement=code, options={"ID": str(record_id), "ACTIVITY_ID": str(activity_id)}
        )
    return Launch(placement="DEFAULT")


def _options(raw: str | None) -> dict[str, Any]:
    if not raw:
        raise PlacementRefused("Bitrix24 did not say which record this page is for.")
    try:
        data = loads_bounded(raw)
    except JsonRefused:
        data = None
    if not isinstance(data, dict):
        raise PlacementRefused("Bitrix24 sent this page's details in a form we cannot read.")
    return data


def _number(raw: object) -> int | None:
    if isinstance(raw, int) and not isinstance(raw, bool):
        raw = str(raw)
    return parse_id(raw)


def _id(options: dict[str, Any], key: str, what: str) -> int:
    value = _number(options.get(key))
    if value is None:
        raise PlacementRefused(f"Bitrix24 did not say which {what} this page is for.")
    return value
