"""Which view a frame launch opens: ``PLACEMENT`` and its ``PLACEMENT_OPTIONS`` read strictly
(DESIGN.md §3.7, BITRIX24.md §22.2).

``PLACEMENT_OPTIONS`` is a JSON string whose ids are decimal strings. A placement that needs
an id and gets none, or a malformed one, is refused with a message for a person; an unknown
placement opens the board, as before.
"""

from __future__ import annotations

import re
from typing import Any

import attrs

from touchpoints.domain.model import OwnerType, is_dynamic_type_id
from touchpoints.domain.placements import (
    ANALYTICS_MENU,
    APP_LINK,
    TIMELINE_MENU_OWNERS,
    detail_tab,
    list_menu,
    timeline_menu,
)
from touchpoints.entrypoints.inputs import JsonRefused, loads_bounded, parse_id

__all__ = ["APP_LINK", "APP_LINK_KEYS", "Launch", "PlacementRefused", "read_launch"]

# Bitrix24's own entity type id of an activity, sent as ASSOCIATED_ENTITY_TYPE_ID by the
# timeline menu (BITRIX24.md §22.2.3).
ACTIVITY_ENTITY_TYPE_ID = 6
# The ``params`` keys of the links the digest puts into messages (DESIGN.md §3.7).
APP_LINK_KEYS = ("complete", "responsible_id")
_BOARD = frozenset({"DEFAULT", "LEFT_MENU"})
_TABS = {detail_tab(owner_type): owner_type for owner_type in OwnerType}
_LISTS = {list_menu(owner_type): owner_type for owner_type in OwnerType}
_TIMELINES = {timeline_menu(owner_type): owner_type for owner_type in TIMELINE_MENU_OWNERS}
# A smart process's number is read from the code, CRM_DYNAMIC_<entityTypeId>_... (BITRIX24.md
# §22.2.4); one spelling per type, as in ``entity_type``.
_DYNAMIC = re.compile(
    r"CRM_DYNAMIC_([1-9][0-9]{2,9})_(DETAIL_TAB|LIST_MENU|ACTIVITY_TIMELINE_MENU)"
)


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
    if code == APP_LINK:
        return _app_link(raw_options)
    dynamic = _dynamic_kind(code)
    if code in _TABS or code in _LISTS or dynamic in ("DETAIL_TAB", "LIST_MENU"):
        options = _options(raw_options)
        record_id = _id(options, "ID", "CRM record")
        return Launch(placement=code, options={"ID": str(record_id)})
    if code in _TIMELINES or dynamic == "ACTIVITY_TIMELINE_MENU":
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


def _app_link(raw: str | None) -> Launch:
    """A link into the app (BITRIX24.md §22.1.11): exactly one of ``complete`` (a touch-point
    whose complete dialog opens) or ``responsible_id`` (the rep whose board opens); the
    ``URI`` Bitrix24 adds is ignored, and any other key is refused."""
    options = _options(raw)
    extra = set(options) - {*APP_LINK_KEYS, "URI"}
    given = [key for key in APP_LINK_KEYS if key in options]
    if extra or len(given) != 1:
        raise PlacementRefused("This link into Touch-points is not one we made.")
    key = given[0]
    what = "touch-point" if key == "complete" else "person"
    return Launch(placement=APP_LINK, options={key: str(_id(options, key, what))})


def _dynamic_kind(code: str) -> str | None:
    """``DETAIL_TAB``, ``LIST_MENU`` or ``ACTIVITY_TIMELINE_MENU`` of a smart process's code."""
    match = _DYNAMIC.fullmatch(code)
    if match is None or not is_dynamic_type_id(int(match.group(1))):
        return None
    return match.group(2)


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
