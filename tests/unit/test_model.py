"""The touch-point lifecycle: every transition, every refusal, and chain links."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import attrs
import pytest

from tests.unit.factories import T0, touch_point
from touchpoints.domain.errors import ChainError, DomainError, InvalidTransition, InvalidValue
from touchpoints.domain.model import (
    NOTE_MAX,
    NewTouchPoint,
    OwnerRef,
    OwnerType,
    Status,
    TouchPoint,
    TouchPointType,
    check_chain,
    to_utc,
)
from touchpoints.domain.placements import detail_tab

LATER = T0 + timedelta(hours=1)
PLUS_3 = timezone(timedelta(hours=3))
NOT_OPEN = [Status.DONE, Status.CANCELLED, Status.ORPHANED]


def closed(status: Status, **overrides: object) -> TouchPoint:
    completed_at = T0 if status is Status.DONE else None
    return touch_point(status=status, completed_at=completed_at, **overrides)


def done(**overrides: object) -> TouchPoint:
    return closed(Status.DONE, **{"result_note": "called", **overrides})


# ------------------------------------------------------------------ owner and types


@pytest.mark.parametrize(
    ("owner_type", "type_id", "placement"),
    [
        (OwnerType.LEAD, 1, "CRM_LEAD_DETAIL_TAB"),
        (OwnerType.DEAL, 2, "CRM_DEAL_DETAIL_TAB"),
        (OwnerType.CONTACT, 3, "CRM_CONTACT_DETAIL_TAB"),
        (OwnerType.COMPANY, 4, "CRM_COMPANY_DETAIL_TAB"),
    ],
)
def test_owner_types_map_to_bitrix24_type_ids_and_placements(
    owner_type: OwnerType, type_id: int, placement: str
) -> None:
    assert owner_type.type_id == type_id
    assert OwnerType.from_type_id(type_id) is owner_type
    assert detail_tab(owner_type) == placement


@pytest.mark.parametrize("type_id", [0, 5, 7, 31, -1])
def test_an_owner_type_id_we_do_not_serve_is_refused(type_id: int) -> None:
    with pytest.raises(ValueError, match=f"unsupported owner type id {type_id}"):
        OwnerType.from_type_id(type_id)


def test_touch_point_type_codes_are_the_documented_ones() -> None:
    assert {kind.value for kind in TouchPointType} == {
        "call",
        "meeting",
        "email",
        "message",
        "visit",
        "other",
    }


@pytest.mark.parametrize("bad_id", [0, -3])
def test_an_owner_ref_needs_a_positive_id(bad_id: int) -> None:
    with pytest.raises(InvalidValue) as caught:
        OwnerRef(OwnerType.DEAL, bad_id)
    assert caught.value.errors == {"id": "must be a positive id"}


# ------------------------------------------------------------------ construction


def new_touch_point(**overrides: object) -> NewTouchPoint:
    fields: dict[str, object] = {
        "portal_id": 1,
        "activity_id": 100,
        "owner": OwnerRef(OwnerType.LEAD, 3),
        "type": TouchPointType.MEETING,
        "deadline": datetime(2026, 3, 3, 13, 0, tzinfo=PLUS_3),
        "responsible_id": 5,
        "created_by": 6,
        "created_at": datetime(2026, 3, 2, 11, 0, tzinfo=PLUS_3),
        "previous_id": 9,
    }
    fields.update(overrides)
    return NewTouchPoint(**fields)  # type: ignore[arg-type]


def test_a_new_touch_point_stores_its_instants_in_utc() -> None:
    new = new_touch_point()
    assert new.deadline == datetime(2026, 3, 3, 10, 0, tzinfo=UTC)
    assert new.deadline.tzinfo is UTC
    assert new.created_at == datetime(2026, 3, 2, 8, 0, tzinfo=UTC)


def test_a_numbered_touch_point_starts_open_with_the_new_ones_fields() -> None:
    stored = TouchPoint.from_new(new_touch_point(), 42)
    assert stored.id == 42
    assert stored.status is Status.OPEN
    assert stored.owner == OwnerRef(OwnerType.LEAD, 3)
    assert stored.type is TouchPointType.MEETING
    assert stored.responsible_id == 5
    assert stored.created_by == 6
    assert stored.updated_at == stored.created_at
    assert stored.previous_id == 9
    assert stored.next_id is None
    assert stored.completed_at is None
    assert stored.version == 1
    assert stored.is_open


@pytest.mark.parametrize(
    "field", ["portal_id", "activity_id", "responsible_id", "created_by", "previous_id"]
)
@pytest.mark.parametrize("bad_id", [0, -1])
def test_ids_of_a_new_touch_point_must_be_positive(field: str, bad_id: int) -> None:
    with pytest.raises(InvalidValue) as caught:
        new_touch_point(**{field: bad_id})
    assert caught.value.errors == {field: "must be a positive id"}


@pytest.mark.parametrize("field", ["deadline", "created_at"])
def test_naive_datetimes_are_refused_not_read_as_server_time(field: str) -> None:
    # Regression: the UTC converter used to run first and silently read naive values as
    # the server's local time, so the validator never saw them.
    with pytest.raises(InvalidValue) as caught:
        new_touch_point(**{field: datetime(2026, 3, 3, 10, 0)})  # noqa: DTZ001
    assert caught.value.errors == {field: "must carry a time zone offset"}


@pytest.mark.parametrize("field", ["deadline", "created_at", "updated_at", "completed_at"])
def test_a_touch_point_refuses_naive_datetimes(field: str) -> None:
    status = Status.DONE if field == "completed_at" else Status.OPEN
    completed_at = T0 if status is Status.DONE else None
    overrides: dict[str, object] = {"status": status, "completed_at": completed_at}
    overrides[field] = datetime(2026, 3, 3, 10, 0)  # noqa: DTZ001
    with pytest.raises(InvalidValue) as caught:
        touch_point(**overrides)
    assert caught.value.errors == {field: "must carry a time zone offset"}


def test_to_utc_converts_aware_values_and_leaves_naive_ones_for_the_validator() -> None:
    assert to_utc(datetime(2026, 1, 1, 3, 0, tzinfo=PLUS_3)) == datetime(2026, 1, 1, tzinfo=UTC)
    naive = datetime(2026, 1, 1)  # noqa: DTZ001
    assert to_utc(naive) is naive


@pytest.mark.parametrize("field", ["id", "portal_id", "activity_id", "next_id", "previous_id"])
def test_a_touch_point_needs_positive_ids(field: str) -> None:
    with pytest.raises(InvalidValue) as caught:
        touch_point(**{field: 0})
    assert caught.value.errors == {field: "must be a positive id"}


@pytest.mark.parametrize("link", ["previous_id", "next_id"])
def test_a_touch_point_cannot_follow_itself(link: str) -> None:
    with pytest.raises(ChainError, match="cannot follow itself") as caught:
        touch_point(id=10, **{link: 10})
    assert caught.value.touch_point_id == 10


def test_previous_and_next_cannot_be_the_same_touch_point() -> None:
    with pytest.raises(ChainError, match="previous and next cannot be the same"):
        done(previous_id=4, next_id=4)


def test_a_done_touch_point_needs_its_completion_instant() -> None:
    with pytest.raises(InvalidValue) as caught:
        touch_point(status=Status.DONE)
    assert caught.value.errors == {"completed_at": "is set exactly when the touch-point is done"}


@pytest.mark.parametrize("status", [Status.OPEN, Status.CANCELLED, Status.ORPHANED])
def test_only_a_done_touch_point_has_a_completion_instant(status: Status) -> None:
    with pytest.raises(InvalidValue, match="completed_at"):
        touch_point(status=status, completed_at=T0)


def test_a_result_note_longer_than_the_limit_is_refused() -> None:
    with pytest.raises(InvalidValue) as caught:
        done(result_note="x" * (NOTE_MAX + 1))
    assert caught.value.errors == {"result_note": f"must be at most {NOTE_MAX} characters"}


def test_touch_points_are_immutable_values() -> None:
    original = touch_point()
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        original.status = Status.DONE  # type: ignore[misc]
    assert original == touch_point()


# ------------------------------------------------------------------ transitions


def test_rescheduling_moves_the_deadline_and_stamps_the_change() -> None:
    original = touch_point()
    moved = original.reschedule(datetime(2026, 3, 5, 12, 0, tzinfo=PLUS_3), now=LATER)
    assert moved.deadline == datetime(2026, 3, 5, 9, 0, tzinfo=UTC)
    assert moved.updated_at == LATER
    assert moved.status is Status.OPEN
    assert original.deadline == datetime(2026, 3, 3, 10, 0, tzinfo=UTC)


def test_rescheduling_refuses_a_naive_deadline() -> None:
    with pytest.raises(InvalidValue, match="deadline"):
        touch_point().reschedule(datetime(2026, 3, 5, 12, 0), now=LATER)  # noqa: DTZ001


def test_reassigning_hands_the_touch_point_to_another_user() -> None:
    moved = touch_point().reassign(8, now=LATER)
    assert moved.responsible_id == 8
    assert moved.updated_at == LATER


def test_reassigning_to_a_non_positive_user_id_is_refused() -> None:
    with pytest.raises(InvalidValue) as caught:
        touch_point().reassign(0, now=LATER)
    assert caught.value.errors == {"responsible_id": "must be a positive id"}


def test_completing_records_the_trimmed_result_note_and_the_instant() -> None:
    completed = touch_point().complete("  Agreed on a demo \n", now=LATER)
    assert completed.status is Status.DONE
    assert completed.result_note == "Agreed on a demo"
    assert completed.completed_at == LATER
    assert completed.updated_at == LATER
    assert not completed.is_open


@pytest.mark.parametrize("note", ["", "   ", "\n\t"])
def test_completing_needs_a_result_note(note: str) -> None:
    with pytest.raises(InvalidValue) as caught:
        touch_point().complete(note, now=LATER)
    assert caught.value.errors == {"result_note": "must not be empty"}


def test_completing_with_an_overlong_note_is_refused() -> None:
    with pytest.raises(InvalidValue, match="result_note"):
        touch_point().complete("x" * (NOTE_MAX + 1), now=LATER)


def test_a_touch_point_cannot_be_completed_twice() -> None:
    completed = touch_point().complete("called", now=LATER)
    with pytest.raises(InvalidTransition) as caught:
        completed.complete("again", now=LATER)
    assert (caught.value.touch_point_id, caught.value.status, caught.value.action) == (
        10,
        "done",
        "complete",
    )
    assert str(caught.value) == "cannot complete touch-point 10: it is done"


def test_cancelling_drops_an_open_touch_point() -> None:
    cancelled = touch_point().cancel(now=LATER)
    assert cancelled.status is Status.CANCELLED
    assert cancelled.updated_at == LATER
    assert cancelled.completed_at is None


@pytest.mark.parametrize("status", NOT_OPEN)
@pytest.mark.parametrize(
    ("action", "call"),
    [
        ("reschedule", lambda tp: tp.reschedule(T0 + timedelta(days=3), now=LATER)),
        ("reassign", lambda tp: tp.reassign(8, now=LATER)),
        ("complete", lambda tp: tp.complete("note", now=LATER)),
        ("cancel", lambda tp: tp.cancel(now=LATER)),
    ],
)
def test_only_open_touch_points_can_be_moved_reassigned_completed_or_cancelled(
    status: Status, action: str, call: object
) -> None:
    with pytest.raises(InvalidTransition) as caught:
        call(closed(status))  # type: ignore[operator]
    assert caught.value.action == action
    assert caught.value.status == status.value


def test_an_open_touch_point_whose_activity_was_deleted_becomes_orphaned() -> None:
    orphaned = touch_point().mark_orphaned(now=LATER)
    assert orphaned.status is Status.ORPHANED
    assert orphaned.updated_at == LATER


@pytest.mark.parametrize("status", NOT_OPEN)
def test_marking_orphaned_leaves_finished_touch_points_as_they_are(status: Status) -> None:
    finished = closed(status)
    assert finished.mark_orphaned(now=LATER) is finished


# ------------------------------------------------------------------ chains


def test_a_done_touch_point_links_to_its_follow_up() -> None:
    linked = done().link_follow_up(11, now=LATER)
    assert linked.next_id == 11
    assert linked.updated_at == LATER


def test_linking_the_same_follow_up_again_changes_nothing() -> None:
    linked = done(next_id=11)
    assert linked.link_follow_up(11, now=LATER) is linked


def test_a_chain_never_forks() -> None:
    with pytest.raises(ChainError) as caught:
        done(next_id=11).link_follow_up(12, now=LATER)
    assert str(caught.value) == "touch-point 10: already followed by 11"


@pytest.mark.parametrize("status", [Status.OPEN, Status.CANCELLED, Status.ORPHANED])
def test_only_a_done_touch_point_gets_a_follow_up(status: Status) -> None:
    with pytest.raises(InvalidTransition) as caught:
        closed(status).link_follow_up(11, now=LATER)
    assert caught.value.action == "link a follow-up to"


def test_a_follow_up_cannot_be_the_touch_point_itself_or_its_predecessor() -> None:
    with pytest.raises(ChainError, match="cannot follow itself"):
        done().link_follow_up(10, now=LATER)
    with pytest.raises(ChainError, match="previous and next"):
        done(previous_id=9).link_follow_up(9, now=LATER)


def chain_of(*ids: int) -> list[TouchPoint]:
    links = []
    for index, tp_id in enumerate(ids):
        previous_id = ids[index - 1] if index > 0 else None
        next_id = ids[index + 1] if index + 1 < len(ids) else None
        if next_id is None:
            links.append(touch_point(id=tp_id, previous_id=previous_id))
        else:
            links.append(done(id=tp_id, previous_id=previous_id, next_id=next_id))
    return links


@pytest.mark.parametrize("ids", [(), (1,), (1, 2), (3, 1, 2, 7)])
def test_a_straight_chain_passes_the_check(ids: tuple[int, ...]) -> None:
    check_chain(chain_of(*ids))


def test_a_chain_with_a_wrong_next_link_is_refused() -> None:
    first, second, third = chain_of(1, 2, 3)
    with pytest.raises(ChainError) as caught:
        check_chain([first, third])
    assert str(caught.value) == "touch-point 1: is not linked to 3"
    assert second.id == 2


def test_a_chain_whose_back_link_points_elsewhere_is_refused() -> None:
    first, second = chain_of(1, 2)
    with pytest.raises(ChainError, match="is not linked to 2"):
        check_chain([first, attrs.evolve(second, previous_id=5)])


def test_a_looping_chain_is_refused() -> None:
    a = done(id=1, previous_id=3, next_id=2)
    b = done(id=2, previous_id=1, next_id=3)
    c = done(id=3, previous_id=2, next_id=1)
    with pytest.raises(ChainError) as caught:
        check_chain([a, b, c, a])
    assert str(caught.value) == "touch-point 1: appears twice: the chain loops"


# ------------------------------------------------------------------ CRM sync


@pytest.mark.parametrize("status", [Status.CANCELLED, Status.ORPHANED])
def test_cancelled_and_orphaned_touch_points_ignore_the_crm(status: Status) -> None:
    final = closed(status)
    synced = final.sync_from_crm(
        deadline=T0 + timedelta(days=9), responsible_id=8, completed=True, now=LATER
    )
    assert synced is final


def test_syncing_an_unchanged_activity_returns_the_same_value() -> None:
    original = touch_point()
    synced = original.sync_from_crm(
        deadline=original.deadline.astimezone(PLUS_3),
        responsible_id=original.responsible_id,
        completed=False,
        now=LATER,
    )
    assert synced is original


def test_syncing_takes_the_crm_deadline_and_responsible() -> None:
    synced = touch_point().sync_from_crm(
        deadline=T0 + timedelta(days=4), responsible_id=8, completed=False, now=LATER
    )
    assert synced.deadline == T0 + timedelta(days=4)
    assert synced.responsible_id == 8
    assert synced.status is Status.OPEN
    assert synced.updated_at == LATER


def test_an_activity_completed_in_the_crm_completes_the_touch_point_without_a_note() -> None:
    original = touch_point()
    synced = original.sync_from_crm(
        deadline=original.deadline, responsible_id=5, completed=True, now=LATER
    )
    assert synced.status is Status.DONE
    assert synced.completed_at == LATER
    assert synced.result_note is None
    assert synced.updated_at == LATER


def test_a_done_touch_point_keeps_its_completion_instant_when_synced_again() -> None:
    completed = done()
    synced = completed.sync_from_crm(
        deadline=completed.deadline, responsible_id=5, completed=True, now=LATER
    )
    assert synced is completed


def test_an_activity_reopened_in_the_crm_reopens_the_touch_point() -> None:
    completed = done()
    synced = completed.sync_from_crm(
        deadline=completed.deadline, responsible_id=5, completed=False, now=LATER
    )
    assert synced.status is Status.OPEN
    assert synced.completed_at is None
    assert synced.updated_at == LATER


# ------------------------------------------------------------------ text and errors


def test_invalid_value_lists_every_field_in_name_order() -> None:
    error = InvalidValue({"b": "second", "a": "first"})
    assert str(error) == "a: first; b: second"


def test_domain_errors_say_themselves_with_their_fields_and_the_root_with_its_message() -> None:
    assert str(InvalidTransition(7, "done", "move")) == "cannot move touch-point 7: it is done"
    assert str(ChainError(7, "it already has a follow-up {x}")) == (
        "touch-point 7: it already has a follow-up {x}"
    )
    assert str(DomainError("no template: the message as given")) == (
        "no template: the message as given"
    )
