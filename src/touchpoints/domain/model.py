"""Touch-points and their lifecycle: open → done | cancelled | orphaned, linked into chains."""

from __future__ import annotations

import enum
import itertools
from datetime import UTC, datetime

import attrs

from touchpoints.domain.checks import require_aware
from touchpoints.domain.constraints import Id
from touchpoints.domain.errors import ChainError, InvalidTransition, InvalidValue
from touchpoints.domain.limits import NOTE_MAX


class OwnerType(enum.Enum):
    """The CRM record kinds a touch-point can be bound to (BITRIX24.md §11.1)."""

    LEAD = "lead"
    DEAL = "deal"
    CONTACT = "contact"
    COMPANY = "company"

    # Members are singletons compared by identity, so the identity hash agrees with ``==``;
    # it is computed in C, where Enum's own hashes the member's name in Python on every
    # dict lookup of an ``OwnerRef`` (a board looks up hundreds per render).
    __hash__ = object.__hash__

    @property
    def type_id(self) -> int:
        """Bitrix24's ``OWNER_TYPE_ID`` / ``entityTypeId``."""
        return _OWNER_TYPE_IDS[self]

    @classmethod
    def from_type_id(cls, type_id: int) -> OwnerType:
        """Raises: ValueError for an owner type id we do not serve."""
        for owner_type, known in _OWNER_TYPE_IDS.items():
            if known == type_id:
                return owner_type
        raise ValueError(f"unsupported owner type id {type_id}")

    @property
    def label_key(self) -> str:
        """The message catalogue's key of this kind's name ("Deal")."""
        return f"owner.{self.value}"

    def card_path(self, record_id: int) -> str:
        """The record's card in the portal, ``/crm/deal/details/12/`` (BITRIX24.md §16.1)."""
        return f"/crm/{self.value}/details/{record_id}/"


_OWNER_TYPE_IDS = {
    OwnerType.LEAD: 1,
    OwnerType.DEAL: 2,
    OwnerType.CONTACT: 3,
    OwnerType.COMPANY: 4,
}

_DYNAMIC_PREFIX = "dynamic_"
SMART_PROCESS_LABEL = "owner.smart_process"
_DYNAMIC_ID_MAX = 2**31 - 1


def is_dynamic_type_id(type_id: int) -> bool:
    """Whether Bitrix24 numbers smart-process types so: 128-191 on older portals, 1030 and
    up on newer ones (192-255 are suspended types, 1024 a system quasi-type; BITRIX24.md
    §11.1, §22.3)."""
    return 128 <= type_id < 192 or 1030 <= type_id <= _DYNAMIC_ID_MAX


def _dynamic_id(_instance: object, attribute: attrs.Attribute[int], value: int) -> None:
    if isinstance(value, bool) or not is_dynamic_type_id(value):
        raise InvalidValue({attribute.name: "is not a smart-process entityTypeId"})


@attrs.frozen
class SmartProcess:
    """A smart-process type (a dynamic CRM entity), known by its ``entityTypeId``
    (DESIGN.md §3.7, BITRIX24.md §22.3). Quacks like ``OwnerType`` where both serve."""

    entity_type_id: int = attrs.field(validator=_dynamic_id)

    @property
    def value(self) -> str:
        """The JSON and database spelling, ``dynamic_<entityTypeId>``."""
        return f"{_DYNAMIC_PREFIX}{self.entity_type_id}"

    @property
    def name(self) -> str:
        """Bitrix24's symbol code, as in placement codes (``DYNAMIC_1046``)."""
        return f"DYNAMIC_{self.entity_type_id}"

    @property
    def type_id(self) -> int:
        return self.entity_type_id

    @property
    def label_key(self) -> str:
        return SMART_PROCESS_LABEL

    def card_path(self, record_id: int) -> str:
        """``/crm/type/<entityTypeId>/details/<id>/`` (BITRIX24.md §22.3)."""
        return f"/crm/type/{self.entity_type_id}/details/{record_id}/"


EntityType = OwnerType | SmartProcess
"""What a touch-point can be bound to: one of the four entities or a smart process."""


def entity_type(value: str) -> EntityType:
    """Parses ``lead``/``deal``/``contact``/``company`` or ``dynamic_<entityTypeId>``.

    Linear in the value; raises ValueError for anything else (``dynamic_0128`` included:
    one spelling per type).
    """
    if value.startswith(_DYNAMIC_PREFIX):
        digits = value[len(_DYNAMIC_PREFIX) :]
        if not (0 < len(digits) <= 10 and digits.isascii() and digits.isdigit()):
            raise ValueError(f"not an owner type: {value[:40]!r}")
        if digits[0] == "0" or not is_dynamic_type_id(int(digits)):
            raise ValueError(f"not a smart-process entityTypeId: {digits}")
        return SmartProcess(int(digits))
    return OwnerType(value)


def entity_type_of_id(type_id: int) -> EntityType:
    """The entity a Bitrix24 ``OWNER_TYPE_ID`` / ``entityTypeId`` names.

    Raises: ValueError for a type we do not serve (quotes, invoices, ...).
    """
    if is_dynamic_type_id(type_id):
        return SmartProcess(type_id)
    return OwnerType.from_type_id(type_id)


class TouchPointType(enum.Enum):
    """Our own type code of a planned contact."""

    CALL = "call"
    MEETING = "meeting"
    EMAIL = "email"
    MESSAGE = "message"
    VISIT = "visit"
    OTHER = "other"


class Status(enum.Enum):
    """Where a touch-point stands.

    ``orphaned`` means its CRM activity was deleted outside the app.
    """

    OPEN = "open"
    DONE = "done"
    CANCELLED = "cancelled"
    ORPHANED = "orphaned"


def _positive(_instance: object, attribute: attrs.Attribute[int], value: int) -> None:
    if value <= 0:
        raise InvalidValue({attribute.name: "must be a positive id"})


def _optional_positive(
    _instance: object, attribute: attrs.Attribute[int | None], value: int | None
) -> None:
    if value is not None and value <= 0:
        raise InvalidValue({attribute.name: "must be a positive id"})


def _aware(_instance: object, attribute: attrs.Attribute[datetime], value: datetime) -> None:
    require_aware(attribute.name, value)


def _optional_aware(
    _instance: object, attribute: attrs.Attribute[datetime | None], value: datetime | None
) -> None:
    require_aware(attribute.name, value)


def _note(_instance: object, attribute: attrs.Attribute[str | None], value: str | None) -> None:
    if value is not None and len(value) > NOTE_MAX:
        raise InvalidValue({attribute.name: f"must be at most {NOTE_MAX} characters"})


def to_utc(value: datetime) -> datetime:
    """Normalise an aware datetime to UTC; a naive one is returned unchanged.

    attrs runs converters before validators, so the ``_aware`` validator can only refuse a
    naive value that the converter left naive (``astimezone`` would read it as server time).
    """
    if value.tzinfo is None or value.utcoffset() is None:
        return value
    return value.astimezone(UTC)


@attrs.frozen
class OwnerRef:
    """The CRM record a touch-point belongs to."""

    type: EntityType
    id: Id = attrs.field(validator=_positive)


# ``slots=False``: touch-points keep their fields in a dict, which ``trusted`` fills in one
# step from a stored row (a board reads 200 per render); the bases follow, as a slot in a
# base would shadow the dict's entry.
@attrs.frozen(kw_only=True, slots=False)
class _Planned:
    """What a touch-point holds from its creation on: its portal, its CRM to-do and record,
    the kind of contact, when and whose, who planned it when, and what it follows up."""

    portal_id: int = attrs.field(validator=_positive)
    activity_id: int = attrs.field(validator=_positive)
    owner: OwnerRef
    type: TouchPointType
    deadline: datetime = attrs.field(validator=_aware, converter=to_utc)
    responsible_id: int = attrs.field(validator=_positive)
    created_by: int = attrs.field(validator=_positive)
    created_at: datetime = attrs.field(validator=_aware, converter=to_utc)
    previous_id: int | None = attrs.field(default=None, validator=_optional_positive)


@attrs.frozen(kw_only=True, slots=False)
class NewTouchPoint(_Planned):
    """A touch-point whose CRM to-do exists but which storage has not numbered yet."""


@attrs.frozen(kw_only=True, slots=False)
class TouchPoint(_Planned):
    """A planned contact with a client, backed by one CRM to-do activity.

    Transitions return a new value (``attrs.evolve``) and raise ``InvalidTransition``
    when the current status forbids them. ``version`` increases with every stored change
    so that two concurrent edits cannot silently overwrite each other.
    """

    id: int = attrs.field(validator=_positive)
    status: Status
    updated_at: datetime = attrs.field(validator=_aware, converter=to_utc)
    result_note: str | None = attrs.field(default=None, validator=_note)
    next_id: int | None = attrs.field(default=None, validator=_optional_positive)
    completed_at: datetime | None = attrs.field(
        default=None,
        validator=_optional_aware,
        converter=attrs.converters.optional(to_utc),
    )
    version: int = 1

    def __attrs_post_init__(self) -> None:
        if self.id in (self.previous_id, self.next_id):
            raise ChainError(self.id, "a touch-point cannot follow itself")
        if self.previous_id is not None and self.previous_id == self.next_id:
            raise ChainError(self.id, "previous and next cannot be the same touch-point")
        if (self.status is Status.DONE) != (self.completed_at is not None):
            raise InvalidValue({"completed_at": "is set exactly when the touch-point is done"})

    @classmethod
    def from_new(cls, new: NewTouchPoint, touch_point_id: int) -> TouchPoint:
        """The stored form of ``new`` once storage has given it an id: open, unchanged since."""
        return cls(
            id=touch_point_id,
            status=Status.OPEN,
            updated_at=new.created_at,
            **attrs.asdict(new, recurse=False),
        )

    @property
    def is_open(self) -> bool:
        return self.status is Status.OPEN

    def _require_open(self, action: str) -> None:
        if not self.is_open:
            raise InvalidTransition(self.id, self.status.value, action)

    def reschedule(self, deadline: datetime, *, now: datetime) -> TouchPoint:
        """Move the deadline of an open touch-point."""
        self._require_open("reschedule")
        return attrs.evolve(self, deadline=deadline, updated_at=now)

    def reassign(self, responsible_id: int, *, now: datetime) -> TouchPoint:
        """Hand an open touch-point to another user."""
        self._require_open("reassign")
        return attrs.evolve(self, responsible_id=responsible_id, updated_at=now)

    def complete(self, result_note: str, *, now: datetime) -> TouchPoint:
        """Record the result of an open touch-point; it cannot be completed twice.

        Raises:
            InvalidValue: the result note is blank or too long.
        """
        note = result_note.strip()
        if not note:
            raise InvalidValue({"result_note": "must not be empty"})
        self._require_open("complete")
        return attrs.evolve(
            self, status=Status.DONE, result_note=note, completed_at=now, updated_at=now
        )

    def cancel(self, *, now: datetime) -> TouchPoint:
        """Drop an open touch-point that will not happen."""
        self._require_open("cancel")
        return attrs.evolve(self, status=Status.CANCELLED, updated_at=now)

    def mark_orphaned(self, *, now: datetime) -> TouchPoint:
        """Its CRM activity was deleted; done, cancelled and orphaned ones stay as they are."""
        if not self.is_open:
            return self
        return attrs.evolve(self, status=Status.ORPHANED, updated_at=now)

    def link_follow_up(self, next_id: int, *, now: datetime) -> TouchPoint:
        """Point a completed touch-point at its follow-up.

        Raises:
            ChainError: it already has a different follow-up (a chain never forks).
            InvalidTransition: it is not done.
        """
        if self.next_id == next_id:
            return self
        if self.next_id is not None:
            raise ChainError(self.id, f"already followed by {self.next_id}")
        if self.status is not Status.DONE:
            raise InvalidTransition(self.id, self.status.value, "link a follow-up to")
        return attrs.evolve(self, next_id=next_id, updated_at=now)

    def sync_from_crm(
        self, *, deadline: datetime, responsible_id: int, completed: bool, now: datetime
    ) -> TouchPoint:
        """Converge to the CRM activity's current state (events and reconciliation).

        The CRM is the source of truth for deadline, responsible and completion while the
        touch-point is open or done; cancelled and orphaned ones are final. Returns ``self``
        when nothing changed, so callers can skip the write.
        """
        if self.status in (Status.CANCELLED, Status.ORPHANED):
            return self
        status = Status.DONE if completed else Status.OPEN
        completed_at = (self.completed_at or now) if completed else None
        changed = attrs.evolve(
            self,
            deadline=deadline,
            responsible_id=responsible_id,
            status=status,
            completed_at=completed_at,
        )
        if changed == self:
            return self
        return attrs.evolve(changed, updated_at=now)


def check_chain(chain: list[TouchPoint]) -> None:
    """Check that ``chain`` (oldest first) is one straight line of links.

    Raises:
        ChainError: a link points elsewhere, or an id repeats (a cycle).
    """
    seen: set[int] = set()
    for earlier, later in itertools.pairwise(chain):
        if earlier.next_id != later.id or later.previous_id != earlier.id:
            raise ChainError(earlier.id, f"is not linked to {later.id}")
    for touch_point in chain:
        if touch_point.id in seen:
            raise ChainError(touch_point.id, "appears twice: the chain loops")
        seen.add(touch_point.id)
