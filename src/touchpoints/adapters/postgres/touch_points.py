"""Touch-points on Postgres: every query scoped by portal, updates checked against the version read."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Literal

from touchpoints.adapters.postgres.db import PostgresRepository
from touchpoints.adapters.postgres.rows import touch_point_from_row
from touchpoints.domain.checks import require_aware, require_not_negative
from touchpoints.domain.model import NewTouchPoint, OwnerRef, Status, TouchPoint
from touchpoints.ports.storage import BoardQuery, ConcurrentUpdate, InvalidReference, ListQuery


def _status_list(statuses: frozenset[Status]) -> str:
    # Literal enum values (never caller text), so the planner can match the partial indexes
    # on status = 'open' even in a generic plan.
    return ", ".join(f"'{status.value}'" for status in sorted(statuses, key=lambda s: s.value))


class PostgresTouchPoints(PostgresRepository):
    async def _one(self, query: str, *args: object) -> TouchPoint | None:
        row = await self._db.fetchrow(query, *args)
        return None if row is None else touch_point_from_row(row)

    async def _many(self, query: str, *args: object) -> list[TouchPoint]:
        return [touch_point_from_row(row) for row in await self._db.fetch(query, *args)]

    async def _any_of(
        self, column: Literal["id", "activity_id"], portal_id: int, values: Sequence[int]
    ) -> list[TouchPoint]:
        """The portal's touch-points whose ``column`` is one of ``values``, in id order."""
        if not values:
            return []
        return await self._many(
            f"SELECT * FROM touchpoints WHERE portal_id = $1 AND {column} = ANY($2::bigint[])"  # noqa: S608
            " ORDER BY id",
            portal_id,
            sorted(set(values)),
        )

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
        return touch_point_from_row(row)

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
        return await self._any_of("activity_id", portal_id, activity_ids)

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
            return touch_point_from_row(row)
        exists = await self._db.fetchval(
            "SELECT 1 FROM touchpoints WHERE portal_id = $1 AND id = $2", tp.portal_id, tp.id
        )
        if exists is None:
            raise InvalidReference(f"no touch-point {tp.id} in portal {tp.portal_id}")
        raise ConcurrentUpdate(f"touch-point {tp.id} changed since version {tp.version}")

    async def update_synced(
        self, portal_id: int, touch_points: Sequence[TouchPoint]
    ) -> list[TouchPoint]:
        mine = [tp for tp in touch_points if tp.portal_id == portal_id]
        if not mine:
            return []
        for tp in mine:
            require_aware("deadline", tp.deadline)
            require_aware("updated_at", tp.updated_at)
            require_aware("completed_at", tp.completed_at)
        return await self._many(
            """
            WITH stored AS (
            UPDATE touchpoints t SET
                status = u.status, deadline = u.deadline, responsible_id = u.responsible_id,
                completed_at = u.completed_at, updated_at = u.updated_at,
                version = t.version + 1
            FROM unnest(
                $2::bigint[], $3::integer[], $4::text[], $5::timestamptz[], $6::bigint[],
                $7::timestamptz[], $8::timestamptz[]
            ) AS u (id, version, status, deadline, responsible_id, completed_at, updated_at)
            WHERE t.portal_id = $1 AND t.id = u.id AND t.version = u.version
            RETURNING t.*
            )
            SELECT * FROM stored ORDER BY id
            """,
            portal_id,
            [tp.id for tp in mine],
            [tp.version for tp in mine],
            [tp.status.value for tp in mine],
            [tp.deadline for tp in mine],
            [tp.responsible_id for tp in mine],
            [tp.completed_at for tp in mine],
            [tp.updated_at for tp in mine],
        )

    async def board(self, portal_id: int, query: BoardQuery) -> list[TouchPoint]:
        return await self._filtered(portal_id, query)

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
        require_not_negative("limit", limit)
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

    async def page(self, portal_id: int, query: ListQuery) -> list[TouchPoint]:
        require_aware("after", query.after.deadline if query.after else None)
        return await self._filtered(portal_id, query)

    async def _filtered(self, portal_id: int, query: BoardQuery | ListQuery) -> list[TouchPoint]:
        """A board's or a list page's rows, by deadline then id.

        Only the filters that are set become SQL: each shape gets its own plan, and
        "$n IS NULL OR ..." would keep the planner from using the indexes. A list page's
        keyset condition is a row comparison, which the (portal_id, deadline, id) indexes
        of 0006 answer.
        """
        require_aware("deadline_from", query.deadline_from)
        require_aware("deadline_before", query.deadline_before)
        require_not_negative("limit", query.limit)
        if query.statuses == frozenset() or query.responsible_ids == frozenset():
            return []
        where = ["portal_id = $1"]
        args: list[object] = [portal_id]

        def param(value: object) -> str:
            args.append(value)
            return f"${len(args)}"

        if query.statuses is not None:
            where.append(f"status IN ({_status_list(query.statuses)})")
        filters: tuple[tuple[str, object], ...] = (
            (
                "responsible_id = ANY({}::bigint[])",
                None if query.responsible_ids is None else sorted(query.responsible_ids),
            ),
            ("deadline >= {}", query.deadline_from),
            ("deadline < {}", query.deadline_before),
            ("owner_type = {}", None if query.owner_type is None else query.owner_type.value),
            ("type = {}", None if query.type is None else query.type.value),
        )
        for condition, value in filters:
            if value is not None:
                where.append(condition.format(param(value)))
        if isinstance(query, ListQuery) and query.after is not None:
            deadline, after_id = param(query.after.deadline), param(query.after.id)
            where.append(f"(deadline, id) > ({deadline}::timestamptz, {after_id}::bigint)")
        limit = param(query.limit)
        # Only fixed fragments, enum literals and $n placeholders are joined here.
        sql = f"SELECT * FROM touchpoints WHERE {' AND '.join(where)} ORDER BY deadline, id LIMIT {limit}"  # noqa: S608
        return await self._many(sql, *args)

    async def by_ids(self, portal_id: int, touch_point_ids: Sequence[int]) -> list[TouchPoint]:
        return await self._any_of("id", portal_id, touch_point_ids)
