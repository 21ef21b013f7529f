"""The storage port's repositories as hand-written SQL on one asyncpg connection."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime

import asyncpg
import attrs

from touchpoints.adapters.postgres.crypto import TokenCipher
from touchpoints.adapters.postgres.db import Db, require_aware
from touchpoints.adapters.postgres.reports import PostgresReports
from touchpoints.domain.errors import InvalidValue
from touchpoints.domain.model import (
    NewTouchPoint,
    OwnerRef,
    OwnerType,
    Status,
    TouchPoint,
    TouchPointType,
)
from touchpoints.domain.portal import OAuthTokens, Portal, PortalInstall, PortalStatus
from touchpoints.domain.reports import Report, ReportFilter
from touchpoints.domain.secrets import Secret
from touchpoints.domain.settings import IntervalUnit, PortalSettings, UserPreferences
from touchpoints.ports.storage import (
    BoardQuery,
    ConcurrentUpdate,
    DigestEntry,
    DigestState,
    Feedback,
    InvalidReference,
    PendingTodo,
    ReportQuery,
)


def _affected(status: str) -> int:
    """The row count of an ``UPDATE n`` / ``DELETE n`` command tag."""
    return int(status.rsplit(" ", 1)[-1])


# ------------------------------------------------------------------ portals


class PostgresPortals:
    """Portals with their tokens encrypted by ``TokenCipher`` before they reach the database."""

    def __init__(self, db: Db, cipher: TokenCipher) -> None:
        self._db = db
        self._cipher = cipher

    def _portal(self, row: asyncpg.Record | None) -> Portal | None:
        if row is None:
            return None
        decrypt = self._cipher.decrypt
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
            previous_application_token=(
                None
                if row["previous_application_token"] is None
                else decrypt(row["previous_application_token"])
            ),
            app_id=row["app_id"],
            uninstall_requested_at=row["uninstall_requested_at"],
        )

    def _install_args(self, install: PortalInstall, now: datetime) -> tuple[object, ...]:
        require_aware("now", now)
        require_aware("expires_at", install.tokens.expires_at)
        encrypt = self._cipher.encrypt
        return (
            install.member_id,
            install.client_endpoint,
            install.domain,
            encrypt(install.tokens.access_token),
            encrypt(install.tokens.refresh_token),
            encrypt(install.application_token),
            install.tokens.expires_at,
            install.installed_by,
            install.scope,
            now,
            install.app_id,
        )

    async def get(self, portal_id: int) -> Portal | None:
        return self._portal(
            await self._db.fetchrow("SELECT * FROM portals WHERE id = $1", portal_id)
        )

    async def get_by_member_id(self, member_id: str) -> Portal | None:
        return self._portal(
            await self._db.fetchrow("SELECT * FROM portals WHERE member_id = $1", member_id)
        )

    async def create(self, install: PortalInstall, *, now: datetime) -> Portal:
        row = await self._db.fetchrow(
            """
            INSERT INTO portals (
                member_id, client_endpoint, domain, access_token, refresh_token,
                application_token, token_expires_at, installed_by, scope, created_at, updated_at,
                app_id
            )
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10, $11)
            RETURNING *
            """,
            *self._install_args(install, now),
        )
        portal = self._portal(row)
        assert portal is not None  # INSERT ... RETURNING always answers a row
        return portal

    async def replace_install(
        self, portal_id: int, install: PortalInstall, *, now: datetime
    ) -> Portal:
        row = await self._db.fetchrow(
            """
            UPDATE portals SET
                member_id = $2, client_endpoint = $3, domain = $4, access_token = $5,
                refresh_token = $6, application_token = $7, token_expires_at = $8,
                installed_by = $9, scope = $10, updated_at = $11, app_id = $12,
                status = 'active', previous_application_token = NULL,
                uninstall_requested_at = NULL
            WHERE id = $1
            RETURNING *
            """,
            portal_id,
            *self._install_args(install, now),
        )
        portal = self._portal(row)
        if portal is None:
            raise InvalidReference(f"no portal {portal_id}")
        return portal

    async def lock(self, portal_id: int) -> Portal | None:
        # FOR NO KEY UPDATE, not FOR UPDATE: it excludes other lockers and writers of the row
        # just the same, but does not block the FOR KEY SHARE locks that foreign-key checks
        # take, so inserts of the portal's touch-points go on during a token refresh.
        return self._portal(
            await self._db.fetchrow(
                "SELECT * FROM portals WHERE id = $1 FOR NO KEY UPDATE", portal_id
            )
        )

    async def update_tokens(self, portal_id: int, tokens: OAuthTokens, *, now: datetime) -> None:
        require_aware("now", now)
        require_aware("expires_at", tokens.expires_at)
        await self._db.execute(
            """
            UPDATE portals
            SET access_token = $2, refresh_token = $3, token_expires_at = $4, updated_at = $5
            WHERE id = $1
            """,
            portal_id,
            self._cipher.encrypt(tokens.access_token),
            self._cipher.encrypt(tokens.refresh_token),
            tokens.expires_at,
            now,
        )

    async def set_application_token(self, portal_id: int, token: Secret, *, now: datetime) -> None:
        require_aware("now", now)
        await self._db.execute(
            "UPDATE portals SET application_token = $2, updated_at = $3 WHERE id = $1",
            portal_id,
            self._cipher.encrypt(token),
            now,
        )

    async def set_status(self, portal_id: int, status: PortalStatus, *, now: datetime) -> None:
        require_aware("now", now)
        await self._db.execute(
            "UPDATE portals SET status = $2, updated_at = $3 WHERE id = $1",
            portal_id,
            status.value,
            now,
        )

    async def rotate_application_token(
        self, portal_id: int, token: Secret, *, now: datetime
    ) -> None:
        require_aware("now", now)
        await self._db.execute(
            """
            UPDATE portals
            SET previous_application_token = application_token, application_token = $2,
                updated_at = $3
            WHERE id = $1
            """,
            portal_id,
            self._cipher.encrypt(token),
            now,
        )

    async def forget_previous_application_token(self, portal_id: int, *, now: datetime) -> None:
        require_aware("now", now)
        await self._db.execute(
            "UPDATE portals SET previous_application_token = NULL, updated_at = $2"
            " WHERE id = $1 AND previous_application_token IS NOT NULL",
            portal_id,
            now,
        )

    async def set_app_id(self, portal_id: int, app_id: str, *, now: datetime) -> None:
        require_aware("now", now)
        await self._db.execute(
            "UPDATE portals SET app_id = $2, updated_at = $3 WHERE id = $1",
            portal_id,
            app_id,
            now,
        )

    async def set_uninstall_requested(
        self, portal_id: int, at: datetime | None, *, now: datetime
    ) -> None:
        require_aware("now", now)
        require_aware("at", at)
        await self._db.execute(
            "UPDATE portals SET uninstall_requested_at = $2, updated_at = $3 WHERE id = $1",
            portal_id,
            at,
            now,
        )

    async def uninstall_requested(self) -> list[int]:
        rows = await self._db.fetch(
            "SELECT id FROM portals WHERE uninstall_requested_at IS NOT NULL"
            " ORDER BY uninstall_requested_at, id"
        )
        return [row["id"] for row in rows]

    async def delete(self, portal_id: int) -> bool:
        # Every other table references portals ON DELETE CASCADE (migrations/0001).
        return _affected(await self._db.execute("DELETE FROM portals WHERE id = $1", portal_id)) > 0

    async def list_ids(self, *, active_only: bool = True) -> list[int]:
        if active_only:
            rows = await self._db.fetch(
                "SELECT id FROM portals WHERE status = 'active' ORDER BY id"
            )
        else:
            rows = await self._db.fetch("SELECT id FROM portals ORDER BY id")
        return [row["id"] for row in rows]

    async def reencrypt_all(self) -> int:
        """Re-encrypt every portal's tokens under the current key; return how many portals."""
        rows = await self._db.fetch(
            "SELECT id, access_token, refresh_token, application_token,"
            " previous_application_token FROM portals ORDER BY id FOR NO KEY UPDATE"
        )
        rotate = self._cipher.rotate
        for row in rows:
            previous = row["previous_application_token"]
            await self._db.execute(
                """
                UPDATE portals SET access_token = $2, refresh_token = $3, application_token = $4,
                    previous_application_token = $5
                WHERE id = $1
                """,
                row["id"],
                rotate(row["access_token"]),
                rotate(row["refresh_token"]),
                rotate(row["application_token"]),
                None if previous is None else rotate(previous),
            )
        return len(rows)


# ------------------------------------------------------------------ settings and preferences


class PostgresSettings:
    def __init__(self, db: Db) -> None:
        self._db = db

    async def get(self, portal_id: int) -> PortalSettings | None:
        row = await self._db.fetchrow("SELECT * FROM settings WHERE portal_id = $1", portal_id)
        if row is None:
            return None
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
        )

    async def put(self, portal_id: int, settings: PortalSettings, *, now: datetime) -> None:
        require_aware("now", now)
        await self._db.execute(
            """
            INSERT INTO settings (
                portal_id, time_zone, enabled_entities, default_interval, default_interval_unit,
                working_days, holidays, digest_hour, team_viewers, digest_default, updated_at
            )
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
            ON CONFLICT (portal_id) DO UPDATE SET
                time_zone = EXCLUDED.time_zone,
                enabled_entities = EXCLUDED.enabled_entities,
                default_interval = EXCLUDED.default_interval,
                default_interval_unit = EXCLUDED.default_interval_unit,
                working_days = EXCLUDED.working_days,
                holidays = EXCLUDED.holidays,
                digest_hour = EXCLUDED.digest_hour,
                team_viewers = EXCLUDED.team_viewers,
                digest_default = EXCLUDED.digest_default,
                updated_at = EXCLUDED.updated_at
            """,
            portal_id,
            settings.time_zone,
            sorted(entity.value for entity in settings.enabled_entities),
            settings.default_interval,
            settings.default_interval_unit.value,
            sorted(settings.working_days),
            sorted(settings.holidays),
            settings.digest_hour,
            sorted(settings.team_viewers),
            settings.digest_default,
            now,
        )


class PostgresPreferences:
    def __init__(self, db: Db) -> None:
        self._db = db

    async def get(self, portal_id: int, user_id: int) -> UserPreferences:
        row = await self._db.fetchrow(
            "SELECT user_id, digest_enabled, language FROM user_preferences"
            " WHERE portal_id = $1 AND user_id = $2",
            portal_id,
            user_id,
        )
        if row is None:
            return UserPreferences(user_id=user_id)
        return _preferences(row)

    async def set_language(
        self, portal_id: int, user_id: int, language: str, *, now: datetime
    ) -> None:
        require_aware("now", now)
        await self._db.execute(
            """
            INSERT INTO user_preferences (portal_id, user_id, language, updated_at)
            VALUES ($1, $2, $3, $4)
            ON CONFLICT (portal_id, user_id) DO UPDATE
            SET language = EXCLUDED.language, updated_at = EXCLUDED.updated_at
            """,
            portal_id,
            user_id,
            language,
            now,
        )

    async def put(self, portal_id: int, preferences: UserPreferences, *, now: datetime) -> None:
        require_aware("now", now)
        await self._db.execute(
            """
            INSERT INTO user_preferences (portal_id, user_id, digest_enabled, updated_at)
            VALUES ($1, $2, $3, $4)
            ON CONFLICT (portal_id, user_id) DO UPDATE
            SET digest_enabled = EXCLUDED.digest_enabled, updated_at = EXCLUDED.updated_at
            """,
            portal_id,
            preferences.user_id,
            preferences.digest_enabled,
            now,
        )

    async def list(self, portal_id: int) -> list[UserPreferences]:
        rows = await self._db.fetch(
            "SELECT user_id, digest_enabled, language FROM user_preferences WHERE portal_id = $1"
            " ORDER BY user_id",
            portal_id,
        )
        return [_preferences(row) for row in rows]


def _preferences(row: asyncpg.Record) -> UserPreferences:
    return UserPreferences(
        user_id=row["user_id"], digest_enabled=row["digest_enabled"], language=row["language"]
    )


# ------------------------------------------------------------------ touch-points


def _touch_point(row: asyncpg.Record) -> TouchPoint:
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


def _status_list(statuses: frozenset[Status]) -> str:
    # Literal enum values (never caller text), so the planner can match the partial indexes
    # on status = 'open' even in a generic plan.
    return ", ".join(f"'{status.value}'" for status in sorted(statuses, key=lambda s: s.value))


class PostgresTouchPoints:
    def __init__(self, db: Db) -> None:
        self._db = db

    async def _one(self, query: str, *args: object) -> TouchPoint | None:
        row = await self._db.fetchrow(query, *args)
        return None if row is None else _touch_point(row)

    async def _many(self, query: str, *args: object) -> list[TouchPoint]:
        return [_touch_point(row) for row in await self._db.fetch(query, *args)]

    async def add(self, new: NewTouchPoint) -> TouchPoint:
        row = await self._db.fetchrow(
            """
            INSERT INTO touchpoints (
                portal_id, activity_id, owner_type, owner_id, type, deadline, responsible_id,
                created_by, created_at, updated_at, previous_id
            )
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9, $10)
            RETURNING *
            """,
            new.portal_id,
            new.activity_id,
            new.owner.type.value,
            new.owner.id,
            new.type.value,
            new.deadline,
            new.responsible_id,
            new.created_by,
            new.created_at,
            new.previous_id,
            chain_id=new.previous_id,
        )
        assert row is not None  # INSERT ... RETURNING always answers a row
        return _touch_point(row)

    async def get(self, portal_id: int, touch_point_id: int) -> TouchPoint | None:
        return await self._one(
            "SELECT * FROM touchpoints WHERE portal_id = $1 AND id = $2",
            portal_id,
            touch_point_id,
        )

    async def get_for_update(self, portal_id: int, touch_point_id: int) -> TouchPoint | None:
        # FOR NO KEY UPDATE: exclusive against other lockers and writers of the row, yet
        # lets a follow-up that references it (a FOR KEY SHARE check) be inserted.
        return await self._one(
            """
            SELECT * FROM touchpoints
            WHERE portal_id = $1 AND id = $2
            FOR NO KEY UPDATE
            """,
            portal_id,
            touch_point_id,
        )

    async def by_activity(self, portal_id: int, activity_id: int) -> TouchPoint | None:
        return await self._one(
            "SELECT * FROM touchpoints WHERE portal_id = $1 AND activity_id = $2",
            portal_id,
            activity_id,
        )

    async def by_activities(self, portal_id: int, activity_ids: Sequence[int]) -> list[TouchPoint]:
        if not activity_ids:
            return []
        return await self._many(
            """
            SELECT * FROM touchpoints
            WHERE portal_id = $1 AND activity_id = ANY($2::bigint[])
            ORDER BY id
            """,
            portal_id,
            list(activity_ids),
        )

    async def update(self, touch_point: TouchPoint) -> TouchPoint:
        tp = touch_point
        row = await self._db.fetchrow(
            """
            UPDATE touchpoints SET
                activity_id = $3, owner_type = $4, owner_id = $5, type = $6, status = $7,
                deadline = $8, responsible_id = $9, result_note = $10, previous_id = $11,
                next_id = $12, updated_at = $13, completed_at = $14, version = version + 1
            WHERE portal_id = $1 AND id = $2 AND version = $15
            RETURNING *
            """,
            tp.portal_id,
            tp.id,
            tp.activity_id,
            tp.owner.type.value,
            tp.owner.id,
            tp.type.value,
            tp.status.value,
            tp.deadline,
            tp.responsible_id,
            tp.result_note,
            tp.previous_id,
            tp.next_id,
            tp.updated_at,
            tp.completed_at,
            tp.version,
            chain_id=tp.id,
        )
        if row is not None:
            return _touch_point(row)
        exists = await self._db.fetchval(
            "SELECT 1 FROM touchpoints WHERE portal_id = $1 AND id = $2", tp.portal_id, tp.id
        )
        if exists is None:
            raise InvalidReference(f"no touch-point {tp.id} in portal {tp.portal_id}")
        raise ConcurrentUpdate(f"touch-point {tp.id} changed since version {tp.version}")

    async def board(self, portal_id: int, query: BoardQuery) -> list[TouchPoint]:
        require_aware("deadline_from", query.deadline_from)
        require_aware("deadline_before", query.deadline_before)
        if query.limit < 0:
            raise InvalidValue({"limit": "must not be negative"})
        if not query.statuses or query.responsible_ids == frozenset():
            return []
        # Only the filters that are set become SQL: each shape gets its own plan, and
        # "$n IS NULL OR ..." would keep the planner from using the indexes.
        where = ["portal_id = $1", f"status IN ({_status_list(query.statuses)})"]
        args: list[object] = [portal_id]

        def param(value: object) -> str:
            args.append(value)
            return f"${len(args)}"

        if query.responsible_ids is not None:
            where.append(f"responsible_id = ANY({param(sorted(query.responsible_ids))}::bigint[])")
        if query.deadline_from is not None:
            where.append(f"deadline >= {param(query.deadline_from)}")
        if query.deadline_before is not None:
            where.append(f"deadline < {param(query.deadline_before)}")
        if query.owner_type is not None:
            where.append(f"owner_type = {param(query.owner_type.value)}")
        if query.type is not None:
            where.append(f"type = {param(query.type.value)}")
        limit = param(query.limit)
        # Only fixed fragments, enum literals and $n placeholders are joined here.
        sql = f"SELECT * FROM touchpoints WHERE {' AND '.join(where)} ORDER BY deadline, id LIMIT {limit}"  # noqa: S608
        return await self._many(sql, *args)

    async def for_owner(self, portal_id: int, owner: OwnerRef) -> list[TouchPoint]:
        return await self._many(
            """
            SELECT * FROM touchpoints
            WHERE portal_id = $1 AND owner_type = $2 AND owner_id = $3
            ORDER BY deadline DESC, id DESC
            """,
            portal_id,
            owner.type.value,
            owner.id,
        )

    async def chain(self, portal_id: int, touch_point_id: int) -> list[TouchPoint]:
        # Follow links both ways (a follow-up names its previous before the previous names
        # it back). UNION, not UNION ALL, so a corrupt loop still terminates.
        return await self._many(
            """
            WITH RECURSIVE linked (id, previous_id, next_id) AS (
                SELECT id, previous_id, next_id FROM touchpoints
                WHERE portal_id = $1 AND id = $2
              UNION
                SELECT t.id, t.previous_id, t.next_id
                FROM linked l
                JOIN touchpoints t
                  ON t.portal_id = $1
                 AND (t.id = l.previous_id OR t.id = l.next_id
                      OR t.previous_id = l.id OR t.next_id = l.id)
            )
            SELECT * FROM touchpoints
            WHERE portal_id = $1 AND id IN (SELECT id FROM linked)
            ORDER BY created_at, id
            """,
            portal_id,
            touch_point_id,
        )

    async def open_page(self, portal_id: int, *, after_id: int, limit: int) -> list[TouchPoint]:
        if limit < 0:
            raise InvalidValue({"limit": "must not be negative"})
        return await self._many(
            """
            SELECT * FROM touchpoints
            WHERE portal_id = $1 AND status = 'open' AND id > $2
            ORDER BY id
            LIMIT $3
            """,
            portal_id,
            after_id,
            limit,
        )

    async def in_period(self, portal_id: int, start: datetime, end: datetime) -> list[TouchPoint]:
        require_aware("start", start)
        require_aware("end", end)
        return await self._many(
            """
            SELECT * FROM touchpoints
            WHERE portal_id = $1
              AND ((created_at >= $2 AND created_at < $3)
                   OR (deadline >= $2 AND deadline < $3)
                   OR (completed_at >= $2 AND completed_at < $3))
            ORDER BY deadline, id
            """,
            portal_id,
            start,
            end,
        )

    async def all(self, portal_id: int) -> list[TouchPoint]:
        return await self._many(
            "SELECT * FROM touchpoints WHERE portal_id = $1 ORDER BY id", portal_id
        )

    # Reports: the SQL lives in reports.py.

    async def report(self, portal_id: int, query: ReportQuery) -> Report:
        return await PostgresReports(self._db).report(portal_id, query)

    async def unfollowed_owners(
        self,
        portal_id: int,
        start: datetime,
        end: datetime,
        report_filter: ReportFilter,
        *,
        limit: int,
    ) -> list[OwnerRef]:
        return await PostgresReports(self._db).unfollowed_owners(
            portal_id, start, end, report_filter, limit=limit
        )

    async def owners_with_open(
        self, portal_id: int, owner_type: OwnerType, owner_ids: Sequence[int]
    ) -> set[int]:
        return await PostgresReports(self._db).owners_with_open(portal_id, owner_type, owner_ids)

    async def in_period_matching(
        self,
        portal_id: int,
        start: datetime,
        end: datetime,
        report_filter: ReportFilter,
        *,
        limit: int,
    ) -> list[TouchPoint]:
        rows = await PostgresReports(self._db).in_period_matching(
            portal_id, start, end, report_filter, limit=limit
        )
        return [_touch_point(row) for row in rows]


# ------------------------------------------------------------------ digest log and feedback


def _digest(row: asyncpg.Record) -> DigestEntry:
    return DigestEntry(
        portal_id=row["portal_id"],
        user_id=row["user_id"],
        local_day=row["local_day"],
        state=DigestState(row["state"]),
        claimed_at=row["claimed_at"],
        attempts=row["attempts"],
    )


class PostgresDigestLog:
    def __init__(self, db: Db) -> None:
        self._db = db

    async def claim(
        self, portal_id: int, user_id: int, local_day: date, *, now: datetime, stale_after_s: float
    ) -> bool:
        require_aware("now", now)
        if stale_after_s < 0:
            raise InvalidValue({"stale_after_s": "must not be negative"})
        # One atomic statement: a concurrent claimer of the same key waits for this row and
        # then re-checks the WHERE against what we wrote, so exactly one of them wins.
        won = await self._db.fetchval(
            """
            INSERT INTO digest_log AS d (portal_id, user_id, local_day, state, claimed_at)
            VALUES ($1, $2, $3, 'pending', $4)
            ON CONFLICT (portal_id, user_id, local_day) DO UPDATE
            SET state = 'pending', claimed_at = EXCLUDED.claimed_at, attempts = d.attempts + 1
            WHERE d.state = 'failed'
               OR (d.state = 'pending'
                   AND d.claimed_at < EXCLUDED.claimed_at - make_interval(secs => $5))
            RETURNING true
            """,
            portal_id,
            user_id,
            local_day,
            now,
            float(stale_after_s),
        )
        return won is True

    async def mark(self, portal_id: int, user_id: int, local_day: date, state: DigestState) -> None:
        await self._db.execute(
            """
            UPDATE digest_log SET state = $4
            WHERE portal_id = $1 AND user_id = $2 AND local_day = $3
            """,
            portal_id,
            user_id,
            local_day,
            state.value,
        )

    async def get(self, portal_id: int, user_id: int, local_day: date) -> DigestEntry | None:
        row = await self._db.fetchrow(
            """
            SELECT portal_id, user_id, local_day, state, claimed_at, attempts FROM digest_log
            WHERE portal_id = $1 AND user_id = $2 AND local_day = $3
            """,
            portal_id,
            user_id,
            local_day,
        )
        return None if row is None else _digest(row)


def _feedback(row: asyncpg.Record) -> Feedback:
    return Feedback(
        id=row["id"],
        portal_id=row["portal_id"],
        user_id=row["user_id"],
        message=row["message"],
        email=row["email"],
        created_at=row["created_at"],
    )


class PostgresFeedback:
    def __init__(self, db: Db) -> None:
        self._db = db

    async def add(self, feedback: Feedback) -> Feedback:
        require_aware("created_at", feedback.created_at)
        new_id = await self._db.fetchval(
            """
            INSERT INTO feedback (portal_id, user_id, message, email, created_at)
            VALUES ($1, $2, $3, $4, $5)
            RETURNING id
            """,
            feedback.portal_id,
            feedback.user_id,
            feedback.message,
            feedback.email,
            feedback.created_at,
        )
        return attrs.evolve(feedback, id=new_id)

    async def count_since(self, portal_id: int, user_id: int, since: datetime) -> int:
        require_aware("since", since)
        count = await self._db.fetchval(
            """
            SELECT count(*) FROM feedback
            WHERE portal_id = $1 AND user_id = $2 AND created_at >= $3
            """,
            portal_id,
            user_id,
            since,
        )
        return int(count)

    async def for_portal(self, portal_id: int) -> list[Feedback]:
        rows = await self._db.fetch(
            "SELECT * FROM feedback WHERE portal_id = $1 ORDER BY created_at, id",
            portal_id,
        )
        return [_feedback(row) for row in rows]

    async def since(self, since: datetime | None) -> list[Feedback]:
        require_aware("since", since)
        if since is None:
            rows = await self._db.fetch("SELECT * FROM feedback ORDER BY created_at, id")
        else:
            rows = await self._db.fetch(
                "SELECT * FROM feedback WHERE created_at >= $1 ORDER BY created_at, id",
                since,
            )
        return [_feedback(row) for row in rows]


def _pending(row: asyncpg.Record) -> PendingTodo:
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


class PostgresPendingTodos:
    def __init__(self, db: Db) -> None:
        self._db = db

    async def add(self, pending: PendingTodo) -> PendingTodo:
        require_aware("deadline", pending.deadline)
        require_aware("created_at", pending.created_at)
        new_id = await self._db.fetchval(
            """
            INSERT INTO pending_todos (
                portal_id, owner_type, owner_id, type, deadline, responsible_id, created_by,
                previous_id, activity_id, created_at
            ) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
            RETURNING id
            """,
            pending.portal_id,
            pending.owner.type.value,
            pending.owner.id,
            pending.type.value,
            pending.deadline,
            pending.responsible_id,
            pending.created_by,
            pending.previous_id,
            pending.activity_id,
            pending.created_at,
        )
        return attrs.evolve(pending, id=new_id)

    async def set_activity(self, portal_id: int, pending_id: int, activity_id: int) -> None:
        await self._db.execute(
            "UPDATE pending_todos SET activity_id = $3 WHERE portal_id = $1 AND id = $2",
            portal_id,
            pending_id,
            activity_id,
        )

    async def delete(self, portal_id: int, pending_id: int) -> None:
        await self._db.execute(
            "DELETE FROM pending_todos WHERE portal_id = $1 AND id = $2", portal_id, pending_id
        )

    async def older_than(
        self, portal_id: int, before: datetime, *, limit: int = 100
    ) -> list[PendingTodo]:
        require_aware("before", before)
        rows = await self._db.fetch(
            """
            SELECT * FROM pending_todos
            WHERE portal_id = $1 AND created_at < $2
            ORDER BY created_at, id
            LIMIT $3
            """,
            portal_id,
            before,
            limit,
        )
        return [_pending(row) for row in rows]
