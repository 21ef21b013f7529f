"""Row mappers: one ``asyncpg.Record`` of a table (``SELECT *``) to the domain value it stores."""

from __future__ import annotations

from typing import Any

import asyncpg
import attrs

from touchpoints.adapters.postgres.crypto import TokenCipher
from touchpoints.domain import model
from touchpoints.domain.portal import OAuthTokens, Portal, PortalStatus
from touchpoints.domain.settings import IntervalUnit, PortalSettings, UserPreferences
from touchpoints.domain.trusted import trusted
from touchpoints.ports.digests import DigestEntry, DigestState
from touchpoints.ports.storage import Feedback, PendingTodo


def _columns(
    cls: type[attrs.AttrsInstance], row: asyncpg.Record, **converted: object
) -> dict[str, Any]:
    """``cls``'s fields as keyword arguments: each the column of its name, but those ``converted``."""
    columns = {
        field.name: row[field.name] for field in attrs.fields(cls) if field.name not in converted
    }
    return {**columns, **converted}


def owner_from_row(row: asyncpg.Record) -> model.OwnerRef:
    """The CRM record a row's ``owner_type`` and ``owner_id`` name."""
    return model.OwnerRef(model.entity_type(row["owner_type"]), row["owner_id"])


def portal_from_row(row: asyncpg.Record, cipher: TokenCipher) -> Portal:
    """A ``portals`` row, its tokens decrypted with ``cipher``."""
    decrypt = cipher.decrypt
    previous = row["previous_application_token"]
    return Portal(
        **_columns(
            Portal,
            row,
            application_token=decrypt(row["application_token"]),
            tokens=OAuthTokens(
                access_token=decrypt(row["access_token"]),
                refresh_token=decrypt(row["refresh_token"]),
                expires_at=row["token_expires_at"],
            ),
            status=PortalStatus(row["status"]),
            previous_application_token=None if previous is None else decrypt(previous),
        )
    )


def settings_from_row(row: asyncpg.Record) -> PortalSettings:
    """A ``settings`` row (``create`` takes the fields' names)."""
    return PortalSettings.create(
        **_columns(
            PortalSettings,
            row,
            enabled_entities=(model.entity_type(value) for value in row["enabled_entities"]),
            default_interval_unit=IntervalUnit(row["default_interval_unit"]),
        )
    )


def preferences_from_row(row: asyncpg.Record) -> UserPreferences:
    """A ``user_preferences`` row (``user_id``, ``digest_enabled`` and ``language`` are read)."""
    return UserPreferences(**_columns(UserPreferences, row))


# Enum members by stored value: a dict lookup, not ``Enum.__call__`` (a board reads 200 rows).
_TYPES: dict[str, model.TouchPointType] = {member.value: member for member in model.TouchPointType}
_STATUSES: dict[str, model.Status] = {member.value: member for member in model.Status}
_ENTITY_TYPES: dict[str, model.EntityType] = {member.value: member for member in model.OwnerType}


def touch_point_from_row(row: asyncpg.Record) -> model.TouchPoint:
    """A ``touchpoints`` row, trusted: it was validated before it was stored and the table's
    constraints hold it (times are ``timestamptz``, hence aware and read back in UTC)."""
    values = dict(row.items())
    stored_type = values.pop("owner_type")
    owner_type = _ENTITY_TYPES.get(stored_type) or model.entity_type(stored_type)
    values["owner"] = trusted(model.OwnerRef, {"type": owner_type, "id": values.pop("owner_id")})
    values["type"] = _TYPES[values["type"]]
    values["status"] = _STATUSES[values["status"]]
    return trusted(model.TouchPoint, values)


def digest_entry_from_row(row: asyncpg.Record) -> DigestEntry:
    """A ``digest_log`` row."""
    return DigestEntry(**_columns(DigestEntry, row, state=DigestState(row["state"])))


def feedback_from_row(row: asyncpg.Record) -> Feedback:
    """A ``feedback`` row."""
    return Feedback(**_columns(Feedback, row))


def pending_todo_from_row(row: asyncpg.Record) -> PendingTodo:
    """A ``pending_todos`` row."""
    return PendingTodo(
        **_columns(
            PendingTodo, row, owner=owner_from_row(row), type=model.TouchPointType(row["type"])
        )
    )
