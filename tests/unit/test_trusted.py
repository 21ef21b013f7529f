"""``trusted``: values from sources we already trust, built without running validators again."""

from __future__ import annotations

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.unit.factories import touch_point
from touchpoints.domain.crm import RecordCard
from touchpoints.domain.errors import InvalidValue
from touchpoints.domain.model import OwnerRef, OwnerType, TouchPoint
from touchpoints.domain.trusted import dict_backed, trusted
from touchpoints.entrypoints.replies import OwnerReply


def fields_of(value: object) -> dict[str, object]:
    return attrs.asdict(value, recurse=False)  # type: ignore[arg-type]


@given(
    point_id=st.integers(min_value=1, max_value=2**31),
    owner_id=st.integers(min_value=1, max_value=2**31),
    owner_type=st.sampled_from(OwnerType),
    note=st.none() | st.text(max_size=50),
)
def test_a_trusted_value_equals_the_validated_one_with_the_same_fields(
    point_id: int, owner_id: int, owner_type: OwnerType, note: str | None
) -> None:
    checked = touch_point(id=point_id, owner=OwnerRef(owner_type, owner_id), result_note=note)

    built = trusted(TouchPoint, fields_of(checked))

    assert type(built) is TouchPoint
    assert built == checked
    assert hash(built) == hash(checked)
    assert fields_of(built) == fields_of(checked)


def test_inherited_fields_and_defaults_are_set_like_any_other() -> None:
    # TouchPoint takes most of its fields from a base class; RecordCard has defaults.
    card = RecordCard(ref=OwnerRef(OwnerType.DEAL, 7), title="Acme")

    assert trusted(RecordCard, fields_of(card)) == card
    assert trusted(TouchPoint, fields_of(touch_point())).version == 1


def test_no_validator_runs_so_only_trusted_sources_may_use_it() -> None:
    with pytest.raises(InvalidValue, match="positive"):
        OwnerRef(OwnerType.DEAL, 0)

    unchecked = trusted(OwnerRef, {"type": OwnerType.DEAL, "id": 0})

    assert unchecked.id == 0


def test_every_field_must_be_given() -> None:
    # A slotted class names the missing field; a dict-backed one also refuses a key too many.
    with pytest.raises(KeyError, match="id"):
        trusted(OwnerRef, {"type": OwnerType.DEAL})
    with pytest.raises(KeyError, match="8 fields"):
        trusted(RecordCard, {"ref": OwnerRef(OwnerType.DEAL, 7)})
    with pytest.raises(KeyError, match="8 fields"):
        trusted(
            RecordCard,
            {**fields_of(RecordCard(ref=OwnerRef(OwnerType.DEAL, 7), title="A")), "extra": 1},
        )


def test_a_dict_backed_class_keeps_the_dict_it_is_given() -> None:
    values = fields_of(RecordCard(ref=OwnerRef(OwnerType.DEAL, 7), title="Acme"))

    card = trusted(RecordCard, values)

    assert dict_backed(RecordCard)
    assert not dict_backed(OwnerRef)
    assert card.__dict__ is values
    assert card == RecordCard(ref=OwnerRef(OwnerType.DEAL, 7), title="Acme")


def test_the_value_stays_frozen() -> None:
    reply = trusted(
        OwnerReply,
        {
            "type": OwnerType.DEAL,
            "id": 7,
            "title": "Acme",
            "stage": None,
            "amount": 1.0,
            "currency": "EUR",
        },
    )

    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        reply.title = "Other"  # type: ignore[misc]
    assert (reply.title, reply.amount) == ("Acme", 1.0)
