"""Row mappers: one ``asyncpg.Record`` of a table (``SELECT *``) to the domain value it stores."""

from __future__ import annotations

import asyncpg

from touchpoints.adapters.postgres.crypto import TokenCipher
from touchpoints.domain.model import OwnerRef, OwnerType, Status, TouchPoint, TouchPointType
from touchpoints.domain.portal import OAuthTokens, Portal, PortalStatus
from touchpoints.domain.settings import IntervalUnit, PortalSettings, UserPreferences
from touchpoints.ports.storage import DigestEntry, DigestState, Feedback, PendingTodo


def portal_from_row(row: asyncpg.Record, cipher: TokenCipher) -> Portal:
    """A ``portals`` row, its tokens decrypted with ``cipher``."""
    decrypt = cipher.decrypt
    previous = row["previous_application_token"]
    return Portal(
        id=row["id"],
        member_id=row["member_id"],
        client_endpoint=row["client_endpoint"],
        domain=row["domain"],
        application_token=decrypt(row["application_token"]),
        tokens=OAuthTokens(
            access_token=decrypt(row["access_token"]),
            refresh_token=decrypt(row["refresh_token"]),
            expires_at=row["token_expires_at"],
        ),
        status=PortalStatus(row["status"]),
        installed_by=row["installed_by"],
        scope=row["scope"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        previous_application_token=None if previous is None else decrypt(previous),
        app_id=row["app_id"],
        uninstall_requested_at=row["uninstall_requested_at"],
    )


def settings_from_row(row: asyncpg.Record) -> PortalSettings:
    """A ``settings`` row."""
    return PortalSettings.create(
        time_zone=row["time_zone"],
        enabled_entities=(OwnerType(value) for value in row["enabled_entities"]),
        default_interval=row["default_interval"],
        default_interval_unit=IntervalUnit(row["default_interval_unit"]),
        working_days=row["working_days"],
        holidays=row["holidays"],
        digest_hour=row["digest_hour"],
        team_viewers=row["team_viewers"],
        digest_default=row["digest_default"],
        reminder_minutes=row["reminder_minutes"],
    )


def preferences_from_row(row: asyncpg.Record) -> UserPreferences:
    """A ``user_preferences`` row (``user_id``, ``digest_enabled`` and ``language`` are read)."""
    return UserPreferences(
        user_id=row["user_id"],
        digest_enabled=row["digest_enabled"],
        language=row["language"],
        rollup_enabled=row["rollup_enabled"],
    )


def touch_point_from_row(row: asyncpg.Record) -> TouchPoint:
    """A ``touchpoints`` row."""
    return TouchPoint(
        id=row["id"],
        portal_id=row["portal_id"],
        activity_id=row["activity_id"],
        owner=OwnerRef(OwnerType(row["owner_type"]), row["owner_id"]),
        type=TouchPointType(row["type"]),
        status=Status(row["status"]),
        deadline=row["deadline"],
        responsible_id=row["responsible_id"],
        result_note=row["result_note"],
        previous_id=row["previous_id"],
        next_id=row["next_id"],
        created_by=row["created_by"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        completed_at=row["completed_at"],
        version=row["version"],
    )


def digest_entry_from_row(row: asyncpg.Record) -> DigestEntry:
    """A ``digest_log`` row."""
    return DigestEntry(
        portal_id=row["portal_id"],
        user_id=row["user_id"],
        local_day=row["local_day"],
        state=DigestState(row["state"]),
        claimed_at=row["claimed_at"],
        attempts=row["attempts"],
        message_id=row["message_id"],
    )


def feedback_from_row(row: asyncpg.Record) -> Feedback:
    """A ``feedback`` row."""
    return Feedback(
        id=row["id"],
        portal_id=row["portal_id"],
        user_id=row["user_id"],
        message=row["message"],
        email=row["email"],
        created_at=row["created_at"],
    )


def pending_todo_from_row(row: asyncpg.Record) -> PendingTodo:
    """A ``pending_todos`` row."""
    return PendingTodo(
        id=row["id"],
        portal_id=row["portal_id"],
        owner=OwnerRef(OwnerType(row["owner_type"]), row["owner_id"]),
        type=TouchPointType(row["type"]),
        deadline=row["deadline"],
        responsible_id=row["responsible_id"],
        created_by=row["created_by"],
        created_at=row["created_at"],
        previous_id=row["previous_id"],
        activity_id=row["activity_id"],
    )
