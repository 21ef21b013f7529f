"""The to-do writes of a change, as batch commands (§6, §11): deadline, responsible,
completion and deletion, each keyed so that no key looks like a list index."""

from __future__ import annotations

from datetime import datetime

from touchpoints.adapters.bitrix24.batch import Command
from touchpoints.adapters.bitrix24.wire import WireError, format_datetime
from touchpoints.domain.model import OwnerRef
from touchpoints.ports.crm import CrmError, CrmInvalidInput, TodoChange

_COMPLETION = "c"  # the key prefix of a completion command


def todo_commands(index: int, change: TodoChange) -> list[tuple[str, Command]]:
    """The commands of one change, keyed so that none looks like a list index (§6)."""
    owner = {"ownerTypeId": change.owner.type.type_id, "ownerId": change.owner.id}
    found: list[tuple[str, Command]] = []
    if change.deadline is not None:
        found.append(
            (
                f"d{index}",
                Command(
                    "crm.activity.todo.updateDeadline",
                    {"id": change.activity_id, **owner, "value": deadline_value(change.deadline)},
                ),
            )
        )
    if change.responsible_id is not None:
        found.append(
            (
                f"r{index}",
                Command(
                    "crm.activity.todo.updateResponsibleUser",
                    {"id": change.activity_id, **owner, "responsibleId": change.responsible_id},
                ),
            )
        )
    if change.complete:
        # As ``complete``: the deprecated update is the only documented way (§11.4).
        found.append(
            (
                f"{_COMPLETION}{index}",
                Command(
                    "crm.activity.update", {"id": change.activity_id, "fields": {"COMPLETED": "Y"}}
                ),
            )
        )
    if change.delete:
        found.append((f"x{index}", Command("crm.activity.delete", {"id": change.activity_id})))
    return found


def is_completion(key: str) -> bool:
    """Whether ``key`` is a completion command's (``todo_commands``' keys)."""
    return key.startswith(_COMPLETION)


def not_updated(activity_id: int) -> CrmError:
    """``crm.activity.update`` answered ``false``: the to-do is not completed (its page:
    true when updated, otherwise false)."""
    return CrmError(f"crm.activity.update: activity {activity_id} not updated", code="NOT_UPDATED")


def deadline_value(value: datetime) -> str:
    try:
        return format_datetime(value)
    except WireError as exc:
        raise CrmInvalidInput(str(exc), code="NAIVE_DATETIME") from exc


def owner_params(owner: OwnerRef) -> dict[str, int]:
    """The record a ``crm.activity.todo.*`` call names, as its camelCase parameters."""
    return {"ownerTypeId": owner.type.type_id, "ownerId": owner.id}
