"""What the CRM tells us, as frozen values with the defaults adapters rely on."""

from __future__ import annotations

from datetime import UTC, datetime

import attrs
import pytest

from touchpoints.domain.crm import (
    Activity,
    CurrentUser,
    Department,
    RecordCard,
    TodoSpec,
    UserInfo,
)
from touchpoints.domain.model import OwnerRef, OwnerType, TouchPointType

DEAL = OwnerRef(OwnerType.DEAL, 7)


def test_a_first_to_do_has_no_parent_and_no_description() -> None:
    spec = TodoSpec(
        owner=DEAL,
        type=TouchPointType.CALL,
        deadline=datetime(2026, 3, 3, 10, 0, tzinfo=UTC),
        responsible_id=5,
        title="Call back",
    )
    assert spec.parent_activity_id is None
    assert spec.description == ""


def test_an_activity_may_have_lost_its_owner_and_deadline() -> None:
    activity = Activity(id=1, owner=None, deadline=None, responsible_id=5, completed=False)
    assert (activity.subject, activity.provider_id) == ("", "")


def test_users_without_a_profile_zone_report_an_empty_one() -> None:
    # Bitrix24 leaves TIME_ZONE empty when a user never set it (BITRIX24.md §17).
    user = UserInfo(id=5, name="Anna")
    assert user.time_zone == ""
    assert user.active
    assert user.department_ids == ()
    assert CurrentUser(id=5, is_admin=False).time_zone == ""


def test_record_cards_and_departments_are_immutable() -> None:
    card = RecordCard(ref=DEAL, title="ACME")
    assert not card.closed
    department = Department(id=1, name="Sales")
    assert department.parent_id is None
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        card.title = "other"  # type: ignore[misc]
