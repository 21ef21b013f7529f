"""Translation of asyncpg and socket errors into the storage port's (and domain's) errors."""

from __future__ import annotations

import asyncpg
import asyncpg.exceptions as pg

from touchpoints.domain.errors import ChainError, InvalidValue
from touchpoints.ports.storage import (
    ConcurrentUpdate,
    DuplicateActivity,
    InvalidReference,
    PortalExists,
    StorageError,
    StorageUnavailable,
)

# Everything a driver call may raise that we know how to translate.
DRIVER_ERRORS: tuple[type[BaseException], ...] = (
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
    asyncpg.InternalClientError,
    OSError,
    TimeoutError,
)

# Class 08 (connection exception), 57 (operator intervention: admin/crash shutdown, "the
# database system is starting up", statement timeout) and 53 (insufficient resources: too
# many connections, disk full) all mean: not now, maybe later.
_UNAVAILABLE = (
    OSError,
    TimeoutError,
    pg.PostgresConnectionError,
    pg.OperatorInterventionError,
    pg.InsufficientResourcesError,
    pg.CannotConnectNowError,
)

_TABLE_PREFIXES = (
    "portals_",
    "settings_",
    "user_preferences_",
    "touchpoints_",
    "digest_log_",
    "feedback_",
    "pending_todos_",
)
_CHECK_SUFFIXES = ("_length", "_valid", "_positive", "_range", "_count")

# Unique constraints that encode "a chain never forks" (migrations/0001).
CHAIN_CONSTRAINTS = frozenset({"touchpoints_previous_key", "touchpoints_next_key"})


def _field_of(constraint: str | None) -> str:
    """``feedback_message_length`` -> ``message``: our CHECK constraints are named that way."""
    name = constraint or "value"
    for prefix in _TABLE_PREFIXES:
        if name.startswith(prefix):
            name = name.removeprefix(prefix)
            break
    for suffix in _CHECK_SUFFIXES:
        if name.endswith(suffix):
            return name.removesuffix(suffix)
    return name


def translate(
    exc: BaseException, *, connection_closed: bool, chain_id: int | None = None
) -> Exception | None:
    """The port error that ``exc`` means, or None when it is not ours to translate (a bug).

    ``chain_id`` names the touch-point a chain-fork violation is reported against.
    """
    if isinstance(exc, _UNAVAILABLE):
        return StorageUnavailable("the database is unreachable or restarting")
    if isinstance(exc, asyncpg.InternalClientError):
        # The protocol was left mid-operation, typically by a backend the server killed.
        return StorageUnavailable("the database connection is in an unusable state")
    if isinstance(exc, asyncpg.InterfaceError):
        # "connection is closed" and friends; other interface errors are programming bugs.
        if connection_closed:
            return StorageUnavailable("the database connection was lost")
        return None
    if isinstance(exc, pg.UniqueViolationError):
        constraint = exc.constraint_name
        if constraint == "portals_member_id_key":
            return PortalExists("a portal with this member_id is already stored")
        if constraint == "touchpoints_activity_key":
            return DuplicateActivity("a touch-point for this activity is already stored")
        if constraint in CHAIN_CONSTRAINTS:
            return ChainError(chain_id or 0, "the linked touch-point is already chained")
        return StorageError(f"unique constraint {constraint} violated")
    if isinstance(exc, pg.ForeignKeyViolationError):
        return InvalidReference(
            f"a reference does not exist in this portal ({exc.constraint_name})"
        )
    if isinstance(exc, pg.CheckViolationError):
        return InvalidValue({_field_of(exc.constraint_name): "is out of the allowed range"})
    if isinstance(exc, pg.NotNullViolationError):
        return InvalidValue({exc.column_name or "value": "is required"})
    if isinstance(exc, pg.DataError):
        # Out-of-range numbers, NUL characters, over-long values. The driver's message may
        # quote the value, so it is not passed on.
        return InvalidValue({"value": "cannot be stored (out of range or not valid text)"})
    if isinstance(exc, pg.TransactionRollbackError):
        # Serialization failures and deadlocks: another transaction got there first.
        return ConcurrentUpdate("a concurrent transaction changed the same rows; retry")
    if isinstance(exc, pg.UndefinedTableError):
        return StorageUnavailable("the database schema is missing: run `touchpoints migrate`")
    return None
