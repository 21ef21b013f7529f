"""In-memory storage with the Postgres adapter's semantics, for tests and the demo portal.

Each unit of work is a transaction: its writes are kept aside (reads see the committed
state overlaid with its own writes, like Postgres' READ COMMITTED) and applied at once when
the block ends normally, or dropped on an exception. Writes take per-row locks held until
the unit of work ends, as Postgres' row locks are, so concurrent units of work on the same
rows queue up, and optimistic version checks and claims see the winner's commit. Deleting
a portal cascades to every row of it. The contract suite in tests/contracts runs the same
tests against this and ``PostgresStorage``.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import AsyncIterator, Callable, Hashable, Iterator, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

import attrs

from touchpoints.domain.errors import ChainError, InvalidValue
from touchpoints.domain.model import NewTouchPoint, OwnerRef, OwnerType, Status, TouchPoint
from touchpoints.domain.portal import OAuthTokens, Portal, PortalInstall, PortalStatus
from touchpoints.domain.reports import Metrics, Report, ReportFilter, compute_report
from touchpoints.domain.secrets import Secret
from touchpoints.domain.settings import PortalSettings, UserPreferences
from touchpoints.ports.storage import (
    AbuseBudget,
    BoardQuery,
    ConcurrentUpdate,
    DigestEntry,
    DigestLogRepository,
    DigestState,
    DuplicateActivity,
    Feedback,
    FeedbackRepository,
    InvalidReference,
    PendingTodo,
    PendingTodoRepository,
    PortalExists,
    PortalRepository,
    PreferencesRepository,
    ReportQuery,
    SettingsRepository,
    StorageUnavailable,
    TouchPointRepository,
    UnitOfWork,
)

# The limits the Postgres schema enforces with CHECK constraints (migrations/0001).
MEMBER_ID_MAX = 255
CLIENT_ENDPOINT_MAX = 2048
DOMAIN_MAX = 255
SCOPE_MAX = 4096
FEEDBACK_MESSAGE_MAX = 5000
LANGUAGE_MAX = 16
EMAIL_MIN, EMAIL_MAX = 3, 320

# Postgres aborts one side of a deadlock; here a lock wait this long is reported the same way.
LOCK_WAIT_S = 10.0

_DELETED: Any = object()

_PORTALS = "portals"
_SETTINGS = "settings"
_PREFERENCES = "preferences"
_TOUCH_POINTS = "touch_points"
_DIGEST = "digest"
_FEEDBACK = "feedback"
_PENDING = "pending_todos"
_CHILD_TABLES = (_SETTINGS, _PREFERENCES, _TOUCH_POINTS, _DIGEST, _FEEDBACK, _PENDING)


# ------------------------------------------------------------------ input checks


def _utc(field: str, value: datetime) -> datetime:
    """Postgres' timestamptz keeps the instant only; a naive datetime is refused."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise InvalidValue({field: "must carry a time zone offset"})
    return value.astimezone(UTC)


def _utc_or_none(field: str, value: datetime | None) -> datetime | None:
    return None if value is None else _utc(field, value)


def _now(value: datetime) -> datetime:
    return _utc("now", value)


def _text(field: str, value: str | None, *, minimum: int = 0, maximum: int | None = None) -> None:
    """What Postgres refuses in a text column: NUL characters, and our length CHECKs."""
    if value is None:
        return
    if "\x00" in value:
        raise InvalidValue({field: "must not contain NUL characters"})
    if len(value) < minimum or (maximum is not None and len(value) > maximum):
        raise InvalidValue({field: "is out of the allowed range"})


def _positive(field: str, value: int | None) -> None:
    if value is not None and value <= 0:
        raise InvalidValue({field: "must be a positive id"})


def _check_install(install: PortalInstall) -> None:
    _text("member_id", install.member_id, minimum=1, maximum=MEMBER_ID_MAX)
    _text("client_endpoint", install.client_endpoint, minimum=1, maximum=CLIENT_ENDPOINT_MAX)
    _text("domain", install.domain, maximum=DOMAIN_MAX)
    _text("scope", install.scope, maximum=SCOPE_MAX)
    _positive("installed_by", install.installed_by)
    _utc("expires_at", install.tokens.expires_at)


def _utc_tokens(tokens: OAuthTokens) -> OAuthTokens:
    return attrs.evolve(tokens, expires_at=_utc("expires_at", tokens.expires_at))


# ------------------------------------------------------------------ state and locks


@attrs.define
class _Committed:
    """The committed rows, one dict per table."""

    tables: dict[str, dict[Hashable, Any]] = attrs.Factory(
        lambda: {name: {} for name in (_PORTALS, *_CHILD_TABLES)}
    )
    portal_ids: Iterator[int] = attrs.Factory(lambda: itertools.count(1))
    touch_point_ids: Iterator[int] = attrs.Factory(lambda: itertools.count(1))
    feedback_ids: Iterator[int] = attrs.Factory(lambda: itertools.count(1))
    pending_ids: Iterator[int] = attrs.Factory(lambda: itertools.count(1))
    # The abuse budget is not portal data: no cascade, and it counts outside transactions
    # exactly as its own unit of work does on Postgres.
    budget: dict[str, tuple[datetime, int]] = attrs.Factory(dict)


def _portal_of(table: str, key: Hashable, value: Any) -> int:
    if table == _SETTINGS:
        assert isinstance(key, int)
        return key
    if table in (_PREFERENCES, _DIGEST):
        assert isinstance(key, tuple)
        portal_id: int = key[0]
        return portal_id
    owned: int = value.portal_id
    return owned


@attrs.define
class _RowLock:
    lock: asyncio.Lock = attrs.Factory(asyncio.Lock)
    users: int = 0


class _Transaction:
    """One unit of work's private writes and the row locks it holds."""

    def __init__(self, storage: MemoryStorage) -> None:
        self._storage = storage
        self._committed = storage._state
        self._writes: dict[tuple[str, Hashable], Any] = {}
        self._held: list[Hashable] = []

    # -- locks

    async def lock(self, key: Hashable) -> None:
        if key in self._held:
            return
        locks = self._storage._locks
        row_lock = locks.setdefault(key, _RowLock())
        row_lock.users += 1
        try:
            await asyncio.wait_for(row_lock.lock.acquire(), LOCK_WAIT_S)
        except TimeoutError as exc:
            self._forget(key, row_lock)
            raise ConcurrentUpdate(f"gave up waiting for a lock on {key!r}") from exc
        except BaseException:
            self._forget(key, row_lock)
            raise
        self._held.append(key)

    def _forget(self, key: Hashable, row_lock: _RowLock) -> None:
        row_lock.users -= 1
        if row_lock.users == 0:
            del self._storage._locks[key]

    def release(self) -> None:
        locks = self._storage._locks
        for key in reversed(self._held):
            row_lock = locks[key]
            row_lock.lock.release()
            self._forget(key, row_lock)
        self._held.clear()

    # -- reads through the overlay

    def get(self, table: str, key: Hashable) -> Any:
        value = self._writes.get((table, key), None)
        if (table, key) not in self._writes:
            value = self._committed.tables[table].get(key)
        if value is None or value is _DELETED:
            return None
        if table != _PORTALS and self.get(_PORTALS, _portal_of(table, key, value)) is None:
            return None  # its portal was deleted in this unit of work: cascaded
        return value

    def items(self, table: str) -> list[tuple[Hashable, Any]]:
        """Every visible row of ``table`` with its key."""
        keys = set(self._committed.tables[table])
        keys.update(key for written, key in self._writes if written == table)
        return [(key, value) for key in keys if (value := self.get(table, key)) is not None]

    def values(self, table: str, portal_id: int | None = None) -> list[Any]:
        """Every visible row of ``table``, or of one portal in it."""
        return [
            value
            for key, value in self.items(table)
            if portal_id is None or _portal_of(table, key, value) == portal_id
        ]

    def portal_exists(self, portal_id: int) -> bool:
        return self.get(_PORTALS, portal_id) is not None

    def require_portal(self, portal_id: int) -> None:
        if not self.portal_exists(portal_id):
            raise InvalidReference(f"no portal {portal_id}")

    # -- writes

    def put(self, table: str, key: Hashable, value: Any) -> None:
        self._writes[(table, key)] = value

    def delete(self, table: str, key: Hashable) -> None:
        self._writes[(table, key)] = _DELETED

    def commit(self) -> None:
        """Apply every write at once (no await: nothing interleaves)."""
        tables = self._committed.tables
        deleted_portals: set[int] = set()
        for (table, key), value in self._writes.items():
            if table != _PORTALS:
                continue
            if value is _DELETED:
                if tables[_PORTALS].pop(key, None) is not None:
                    assert isinstance(key, int)
                    deleted_portals.add(key)
            else:
                tables[_PORTALS][key] = value
        for (table, key), value in self._writes.items():
            if table == _PORTALS:
                continue
            if value is _DELETED:
                tables[table].pop(key, None)
            elif _portal_of(table, key, value) in tables[_PORTALS]:
                tables[table][key] = value
            # else: its portal was deleted by a unit of work that committed first.
        if deleted_portals:
            for table in _CHILD_TABLES:
                rows = tables[table]
                for key in [
                    k for k, v in rows.items() if _portal_of(table, k, v) in deleted_portals
                ]:
                    del rows[key]
        self._writes.clear()


# ------------------------------------------------------------------ repositories


class MemoryPortals:
    def __init__(self, tx: _Transaction) -> None:
        self._tx = tx

    async def get(self, portal_id: int) -> Portal | None:
        portal: Portal | None = self._tx.get(_PORTALS, portal_id)
        return portal

    async def get_by_member_id(self, member_id: str) -> Portal | None:
        return next(
            (p for p in self._tx.values(_PORTALS) if p.member_id == member_id),
            None,
        )

    async def _require_unique_member(self, member_id: str, portal_id: int | None) -> None:
        await self._tx.lock(("member", member_id))
        existing = await self.get_by_member_id(member_id)
        if existing is not None and existing.id != portal_id:
            raise PortalExists("a portal with this member_id is already stored")

    async def create(self, install: PortalInstall, *, now: datetime) -> Portal:
        _check_install(install)
        now = _now(now)
        await self._require_unique_member(install.member_id, None)
        portal = Portal(
            id=next(self._tx._committed.portal_ids),
            member_id=install.member_id,
            client_endpoint=install.client_endpoint,
            domain=install.domain,
            application_token=install.application_token,
            tokens=_utc_tokens(install.tokens),
            installed_by=install.installed_by,
            scope=install.scope,
            app_id=install.app_id,
            created_at=now,
            updated_at=now,
        )
        self._tx.put(_PORTALS, portal.id, portal)
        return portal

    async def replace_install(
        self, portal_id: int, install: PortalInstall, *, now: datetime
    ) -> Portal:
        _check_install(install)
        now = _now(now)
        current = await self.lock(portal_id)
        if current is None:
            raise InvalidReference(f"no portal {portal_id}")
        if install.member_id != current.member_id:
            await self._require_unique_member(install.member_id, portal_id)
        portal = attrs.evolve(
            current,
            member_id=install.member_id,
            client_endpoint=install.client_endpoint,
            domain=install.domain,
            application_token=install.application_token,
            tokens=_utc_tokens(install.tokens),
            installed_by=install.installed_by,
            scope=install.scope,
            app_id=install.app_id,
            status=PortalStatus.ACTIVE,
            previous_application_token=None,
            uninstall_requested_at=None,
            updated_at=now,
        )
        self._tx.put(_PORTALS, portal_id, portal)
        return portal

    async def lock(self, portal_id: int) -> Portal | None:
        await self._tx.lock(("portal", portal_id))
        return await self.get(portal_id)

    async def _change(self, portal_id: int, now: datetime, **changes: Any) -> None:
        now = _now(now)
        current = await self.lock(portal_id)
        if current is not None:
            self._tx.put(_PORTALS, portal_id, attrs.evolve(current, updated_at=now, **changes))

    async def update_tokens(self, portal_id: int, tokens: OAuthTokens, *, now: datetime) -> None:
        await self._change(portal_id, now, tokens=_utc_tokens(tokens))

    async def set_application_token(self, portal_id: int, token: Secret, *, now: datetime) -> None:
        await self._change(portal_id, now, application_token=token)

    async def set_status(self, portal_id: int, status: PortalStatus, *, now: datetime) -> None:
        await self._change(portal_id, now, status=status)

    async def rotate_application_token(
        self, portal_id: int, token: Secret, *, now: datetime
    ) -> None:
        current = await self.get(portal_id)
        if current is not None:
            await self._change(
                portal_id,
                now,
                application_token=token,
                previous_application_token=current.application_token,
            )

    async def forget_previous_application_token(self, portal_id: int, *, now: datetime) -> None:
        current = await self.get(portal_id)
        if current is not None and current.previous_application_token is not None:
            await self._change(portal_id, now, previous_application_token=None)

    async def set_app_id(self, portal_id: int, app_id: str, *, now: datetime) -> None:
        _text("app_id", app_id, minimum=1, maximum=255)
        await self._change(portal_id, now, app_id=app_id)

    async def set_uninstall_requested(
        self, portal_id: int, at: datetime | None, *, now: datetime
    ) -> None:
        await self._change(portal_id, now, uninstall_requested_at=_utc_or_none("at", at))

    async def uninstall_requested(self) -> list[int]:
        waiting = [p for p in self._tx.values(_PORTALS) if p.uninstall_requested_at is not None]
        return [p.id for p in sorted(waiting, key=lambda p: (p.uninstall_requested_at, p.id))]

    async def delete(self, portal_id: int) -> bool:
        current = await self.lock(portal_id)
        if current is None:
            return False
        await self._tx.lock(("member", current.member_id))
        self._tx.delete(_PORTALS, portal_id)
        return True

    async def list_ids(self, *, active_only: bool = True) -> list[int]:
        return sorted(p.id for p in self._tx.values(_PORTALS) if p.is_active or not active_only)


class MemorySettings:
    def __init__(self, tx: _Transaction) -> None:
        self._tx = tx

    async def get(self, portal_id: int) -> PortalSettings | None:
        settings: PortalSettings | None = self._tx.get(_SETTINGS, portal_id)
        return settings

    async def put(self, portal_id: int, settings: PortalSettings, *, now: datetime) -> None:
        _now(now)
        await self._tx.lock(("settings", portal_id))
        self._tx.require_portal(portal_id)
        self._tx.put(_SETTINGS, portal_id, settings)


class MemoryPreferences:
    def __init__(self, tx: _Transaction) -> None:
        self._tx = tx

    async def get(self, portal_id: int, user_id: int) -> UserPreferences:
        stored: UserPreferences | None = self._tx.get(_PREFERENCES, (portal_id, user_id))
        return stored if stored is not None else UserPreferences(user_id=user_id)

    async def put(self, portal_id: int, preferences: UserPreferences, *, now: datetime) -> None:
        _now(now)
        _positive("user_id", preferences.user_id)
        key = (portal_id, preferences.user_id)
        await self._tx.lock(("preferences", *key))
        self._tx.require_portal(portal_id)
        stored: UserPreferences | None = self._tx.get(_PREFERENCES, key)
        language = stored.language if stored is not None else None
        self._tx.put(_PREFERENCES, key, attrs.evolve(preferences, language=language))

    async def set_language(
        self, portal_id: int, user_id: int, language: str, *, now: datetime
    ) -> None:
        _now(now)
        _positive("user_id", user_id)
        _text("language", language, minimum=2, maximum=LANGUAGE_MAX)
        key = (portal_id, user_id)
        await self._tx.lock(("preferences", *key))
        self._tx.require_portal(portal_id)
        stored: UserPreferences | None = self._tx.get(_PREFERENCES, key)
        current = stored if stored is not None else UserPreferences(user_id=user_id)
        self._tx.put(_PREFERENCES, key, attrs.evolve(current, language=language))

    async def list(self, portal_id: int) -> list[UserPreferences]:
        rows: list[UserPreferences] = self._tx.values(_PREFERENCES, portal_id)
        return sorted(rows, key=lambda p: p.user_id)


def _sorted(rows: list[TouchPoint], key: Callable[[TouchPoint], Any]) -> list[TouchPoint]:
    return sorted(rows, key=key)


def _has_figures(metrics: Metrics) -> bool:
    """Every other figure counts a subset of these."""
    return any(
        (metrics.created, metrics.completed, metrics.cancelled, metrics.orphaned, metrics.overdue)
    )


class MemoryTouchPoints:
    def __init__(self, tx: _Transaction) -> None:
        self._tx = tx

    def _of(self, portal_id: int) -> list[TouchPoint]:
        rows: list[TouchPoint] = self._tx.values(_TOUCH_POINTS, portal_id)
        return rows

    def _in_portal(self, portal_id: int, touch_point_id: int) -> TouchPoint | None:
        tp: TouchPoint | None = self._tx.get(_TOUCH_POINTS, touch_point_id)
        return tp if tp is not None and tp.portal_id == portal_id else None

    async def _check_links(self, tp: TouchPoint | NewTouchPoint, self_id: int | None) -> None:
        """Chain links name touch-points of the same portal; no two share a link (no fork)."""
        links = {"previous_id": tp.previous_id}
        if isinstance(tp, TouchPoint):
            links["next_id"] = tp.next_id
        for field, linked in links.items():
            if linked is None:
                continue
            await self._tx.lock((field, tp.portal_id, linked))
            if self._in_portal(tp.portal_id, linked) is None:
                raise InvalidReference(f"{field} {linked} is not a touch-point of this portal")
            taken = any(
                getattr(other, field) == linked and other.id != self_id
                for other in self._of(tp.portal_id)
            )
            if taken:
                raise ChainError(self_id or linked, "the linked touch-point is already chained")

    def _check_text(self, tp: TouchPoint) -> None:
        _text("result_note", tp.result_note)

    async def add(self, new: NewTouchPoint) -> TouchPoint:
        self._tx.require_portal(new.portal_id)
        await self._tx.lock(("activity", new.portal_id, new.activity_id))
        if await self.by_activity(new.portal_id, new.activity_id) is not None:
            raise DuplicateActivity("a touch-point for this activity is already stored")
        await self._check_links(new, None)
        tp = TouchPoint.from_new(new, next(self._tx._committed.touch_point_ids))
        self._tx.put(_TOUCH_POINTS, tp.id, tp)
        return tp

    async def get(self, portal_id: int, touch_point_id: int) -> TouchPoint | None:
        return self._in_portal(portal_id, touch_point_id)

    async def get_for_update(self, portal_id: int, touch_point_id: int) -> TouchPoint | None:
        await self._tx.lock(("touch_point", touch_point_id))
        return self._in_portal(portal_id, touch_point_id)

    async def by_activity(self, portal_id: int, activity_id: int) -> TouchPoint | None:
        return next((tp for tp in self._of(portal_id) if tp.activity_id == activity_id), None)

    async def by_activities(self, portal_id: int, activity_ids: Sequence[int]) -> list[TouchPoint]:
        wanted = set(activity_ids)
        return _sorted(
            [tp for tp in self._of(portal_id) if tp.activity_id in wanted], lambda tp: tp.id
        )

    async def update(self, touch_point: TouchPoint) -> TouchPoint:
        tp = touch_point
        self._check_text(tp)
        await self._tx.lock(("touch_point", tp.id))
        current = self._in_portal(tp.portal_id, tp.id)
        if current is None:
            raise InvalidReference(f"no touch-point {tp.id} in portal {tp.portal_id}")
        if current.version != tp.version:
            raise ConcurrentUpdate(f"touch-point {tp.id} changed since version {tp.version}")
        if tp.activity_id != current.activity_id:
            await self._tx.lock(("activity", tp.portal_id, tp.activity_id))
            other = await self.by_activity(tp.portal_id, tp.activity_id)
            if other is not None and other.id != tp.id:
                raise DuplicateActivity("a touch-point for this activity is already stored")
        await self._check_links(tp, tp.id)
        stored = attrs.evolve(
            tp,
            created_by=current.created_by,
            created_at=current.created_at,
            version=current.version + 1,
        )
        self._tx.put(_TOUCH_POINTS, tp.id, stored)
        return stored

    async def board(self, portal_id: int, query: BoardQuery) -> list[TouchPoint]:
        start = _utc_or_none("deadline_from", query.deadline_from)
        end = _utc_or_none("deadline_before", query.deadline_before)
        if query.limit < 0:
            raise InvalidValue({"limit": "must not be negative"})
        rows = [
            tp
            for tp in self._of(portal_id)
            if tp.status in query.statuses
            and (query.responsible_ids is None or tp.responsible_id in query.responsible_ids)
            and (start is None or tp.deadline >= start)
            and (end is None or tp.deadline < end)
            and (query.owner_type is None or tp.owner.type is query.owner_type)
            and (query.type is None or tp.type is query.type)
        ]
        return _sorted(rows, lambda tp: (tp.deadline, tp.id))[: query.limit]

    async def for_owner(self, portal_id: int, owner: OwnerRef) -> list[TouchPoint]:
        rows = [tp for tp in self._of(portal_id) if tp.owner == owner]
        return _sorted(rows, lambda tp: (tp.deadline, tp.id))[::-1]

    async def chain(self, portal_id: int, touch_point_id: int) -> list[TouchPoint]:
        start = self._in_portal(portal_id, touch_point_id)
        if start is None:
            return []
        rows = self._of(portal_id)
        found = {start.id: start}
        frontier = [start]
        while frontier:
            current = frontier.pop()
            for tp in rows:
                linked = tp.id in (current.previous_id, current.next_id) or current.id in (
                    tp.previous_id,
                    tp.next_id,
                )
                if linked and tp.id not in found:
                    found[tp.id] = tp
                    frontier.append(tp)
        return _sorted(list(found.values()), lambda tp: (tp.created_at, tp.id))

    async def open_page(self, portal_id: int, *, after_id: int, limit: int) -> list[TouchPoint]:
        if limit < 0:
            raise InvalidValue({"limit": "must not be negative"})
        rows = [tp for tp in self._of(portal_id) if tp.status is Status.OPEN and tp.id > after_id]
        return _sorted(rows, lambda tp: tp.id)[:limit]

    async def in_period(self, portal_id: int, start: datetime, end: datetime) -> list[TouchPoint]:
        low, high = _utc("start", start), _utc("end", end)

        def within(moment: datetime | None) -> bool:
            return moment is not None and low <= moment < high

        rows = [
            tp
            for tp in self._of(portal_id)
            if within(tp.created_at) or within(tp.deadline) or within(tp.completed_at)
        ]
        return _sorted(rows, lambda tp: (tp.deadline, tp.id))

    async def all(self, portal_id: int) -> list[TouchPoint]:
        return _sorted(self._of(portal_id), lambda tp: tp.id)

    async def report(self, portal_id: int, query: ReportQuery) -> Report:
        _now(query.now)
        report = compute_report(
            self._of(portal_id),
            period=query.period,
            now=query.now,
            time_zone=query.time_zone,
            report_filter=query.report_filter,
            users=query.users,
            closed_records=query.closed_records,
        )
        # The domain gives a row to every responsible user of the touch-points it is given;
        # the port promises rows only for requested users and those with a figure.
        users = {
            user_id: metrics
            for user_id, metrics in report.users.items()
            if user_id in query.users or _has_figures(metrics)
        }
        return attrs.evolve(report, users=users)

    async def unfollowed_owners(
        self,
        portal_id: int,
        start: datetime,
        end: datetime,
        report_filter: ReportFilter,
        *,
        limit: int,
    ) -> list[OwnerRef]:
        low, high = _utc("start", start), _utc("end", end)
        if limit < 0:
            raise InvalidValue({"limit": "must not be negative"})
        latest: dict[OwnerRef, datetime] = {}
        for tp in self._of(portal_id):
            if (
                tp.status is Status.DONE
                and tp.completed_at is not None
                and low <= tp.completed_at < high
                and tp.next_id is None
                and report_filter.matches(tp)
            ):
                latest[tp.owner] = max(latest.get(tp.owner, tp.completed_at), tp.completed_at)
        ordered = sorted(latest, key=lambda ref: (-latest[ref].timestamp(), ref.type.value, ref.id))
        return ordered[:limit]

    async def owners_with_open(
        self, portal_id: int, owner_type: OwnerType, owner_ids: Sequence[int]
    ) -> set[int]:
        wanted = set(owner_ids)
        return {
            tp.owner.id
            for tp in self._of(portal_id)
            if tp.is_open and tp.owner.type is owner_type and tp.owner.id in wanted
        }

    async def in_period_matching(
        self,
        portal_id: int,
        start: datetime,
        end: datetime,
        report_filter: ReportFilter,
        *,
        limit: int,
    ) -> list[TouchPoint]:
        low, high = _utc("start", start), _utc("end", end)
        if limit < 0:
            raise InvalidValue({"limit": "must not be negative"})

        def within(moment: datetime | None) -> bool:
            return moment is not None and low <= moment < high

        rows = [
            tp
            for tp in self._of(portal_id)
            if report_filter.matches(tp)
            and (
                within(tp.created_at)
                or within(tp.deadline)
                or within(tp.completed_at)
                or (tp.status in (Status.CANCELLED, Status.ORPHANED) and within(tp.updated_at))
            )
        ]
        return _sorted(rows, lambda tp: (tp.deadline, tp.id))[:limit]


class MemoryDigestLog:
    def __init__(self, tx: _Transaction) -> None:
        self._tx = tx

    async def claim(
        self, portal_id: int, user_id: int, local_day: date, *, now: datetime, stale_after_s: float
    ) -> bool:
        now = _now(now)
        _positive("user_id", user_id)
        if stale_after_s < 0:
            raise InvalidValue({"stale_after_s": "must not be negative"})
        key = (portal_id, user_id, local_day)
        await self._tx.lock(("digest", *key))
        self._tx.require_portal(portal_id)
        entry: DigestEntry | None = self._tx.get(_DIGEST, key)
        if entry is None:
            claimed = DigestEntry(
                portal_id=portal_id,
                user_id=user_id,
                local_day=local_day,
                state=DigestState.PENDING,
                claimed_at=now,
            )
        elif entry.state is DigestState.FAILED or (
            entry.state is DigestState.PENDING
            and entry.claimed_at < now - timedelta(seconds=stale_after_s)
        ):
            claimed = attrs.evolve(
                entry, state=DigestState.PENDING, claimed_at=now, attempts=entry.attempts + 1
            )
        else:
            return False
        self._tx.put(_DIGEST, key, claimed)
        return True

    async def mark(self, portal_id: int, user_id: int, local_day: date, state: DigestState) -> None:
        key = (portal_id, user_id, local_day)
        await self._tx.lock(("digest", *key))
        entry: DigestEntry | None = self._tx.get(_DIGEST, key)
        if entry is not None:
            self._tx.put(_DIGEST, key, attrs.evolve(entry, state=state))

    async def get(self, portal_id: int, user_id: int, local_day: date) -> DigestEntry | None:
        entry: DigestEntry | None = self._tx.get(_DIGEST, (portal_id, user_id, local_day))
        return entry


class MemoryFeedback:
    def __init__(self, tx: _Transaction) -> None:
        self._tx = tx

    async def add(self, feedback: Feedback) -> Feedback:
        created_at = _utc("created_at", feedback.created_at)
        _positive("user_id", feedback.user_id)
        _text("message", feedback.message, minimum=1, maximum=FEEDBACK_MESSAGE_MAX)
        _text("email", feedback.email, minimum=EMAIL_MIN, maximum=EMAIL_MAX)
        self._tx.require_portal(feedback.portal_id)
        stored = attrs.evolve(
            feedback, id=next(self._tx._committed.feedback_ids), created_at=created_at
        )
        self._tx.put(_FEEDBACK, stored.id, stored)
        return stored

    async def count_since(self, portal_id: int, user_id: int, since: datetime) -> int:
        start = _utc("since", since)
        rows: list[Feedback] = self._tx.values(_FEEDBACK, portal_id)
        return sum(1 for f in rows if f.user_id == user_id and f.created_at >= start)

    async def for_portal(self, portal_id: int) -> list[Feedback]:
        rows: list[Feedback] = self._tx.values(_FEEDBACK, portal_id)
        return sorted(rows, key=lambda f: (f.created_at, f.id or 0))

    async def since(self, since: datetime | None) -> list[Feedback]:
        start = _utc_or_none("since", since)
        rows: list[Feedback] = self._tx.values(_FEEDBACK)
        return sorted(
            (f for f in rows if start is None or f.created_at >= start),
            key=lambda f: (f.created_at, f.id or 0),
        )


class MemoryPendingTodos:
    def __init__(self, tx: _Transaction) -> None:
        self._tx = tx

    async def add(self, pending: PendingTodo) -> PendingTodo:
        _utc("deadline", pending.deadline)
        _utc("created_at", pending.created_at)
        for name in ("responsible_id", "created_by"):
            _positive(name, getattr(pending, name))
        self._tx.require_portal(pending.portal_id)
        if pending.previous_id is not None and (
            self._tx.get(_TOUCH_POINTS, pending.previous_id) is None
            or self._tx.get(_TOUCH_POINTS, pending.previous_id).portal_id != pending.portal_id
        ):
            raise InvalidReference(f"no touch-point {pending.previous_id} in this portal")
        stored = attrs.evolve(pending, id=next(self._tx._committed.pending_ids))
        self._tx.put(_PENDING, stored.id, stored)
        return stored

    def _mine(self, portal_id: int, pending_id: int) -> PendingTodo | None:
        row: PendingTodo | None = self._tx.get(_PENDING, pending_id)
        return row if row is not None and row.portal_id == portal_id else None

    async def set_activity(self, portal_id: int, pending_id: int, activity_id: int) -> None:
        _positive("activity_id", activity_id)
        row = self._mine(portal_id, pending_id)
        if row is not None:
            self._tx.put(_PENDING, pending_id, attrs.evolve(row, activity_id=activity_id))

    async def delete(self, portal_id: int, pending_id: int) -> None:
        if self._mine(portal_id, pending_id) is not None:
            self._tx.delete(_PENDING, pending_id)

    async def older_than(
        self, portal_id: int, before: datetime, *, limit: int = 100
    ) -> list[PendingTodo]:
        cutoff = _utc("before", before)
        rows: list[PendingTodo] = self._tx.values(_PENDING, portal_id)
        ordered = sorted(
            (r for r in rows if r.created_at < cutoff), key=lambda r: (r.created_at, r.id or 0)
        )
        return ordered[:limit]


class MemoryAbuseBudget:
    def __init__(self, tx: _Transaction) -> None:
        self._rows = tx._committed.budget

    async def take(self, key: str, cost: int, *, limit: int, window_start: datetime) -> bool:
        start = _utc("window_start", window_start)
        _text("key", key, minimum=1, maximum=128)
        if cost > limit:
            return False
        current_start, used = self._rows.get(key, (start, 0))
        if current_start < start:
            current_start, used = start, 0
        if used + cost > limit:
            return False
        self._rows[key] = (current_start, used + cost)
        return True

    async def refund(self, key: str, cost: int, *, window_start: datetime) -> None:
        start = _utc("window_start", window_start)
        row = self._rows.get(key)
        if row is not None and row[0] == start:
            self._rows[key] = (start, max(0, row[1] - cost))


# ------------------------------------------------------------------ unit of work and storage


class MemoryUnitOfWork:
    """The repositories of one in-memory transaction."""

    portals: PortalRepository
    settings: SettingsRepository
    preferences: PreferencesRepository
    touch_points: TouchPointRepository
    digest_log: DigestLogRepository
    feedback: FeedbackRepository
    pending: PendingTodoRepository
    budget: AbuseBudget

    def __init__(self, tx: _Transaction) -> None:
        self.portals = MemoryPortals(tx)
        self.settings = MemorySettings(tx)
        self.preferences = MemoryPreferences(tx)
        self.touch_points = MemoryTouchPoints(tx)
        self.digest_log = MemoryDigestLog(tx)
        self.feedback = MemoryFeedback(tx)
        self.pending = MemoryPendingTodos(tx)
        self.budget = MemoryAbuseBudget(tx)


class MemoryStorage:
    """The storage port in memory (tests, the demo portal).

    ``simulate_outage(True)`` makes it answer like an unreachable database, so callers'
    503 and readiness paths can be tested without stopping Postgres.
    """

    def __init__(self) -> None:
        self._state = _Committed()
        self._locks: dict[Hashable, _RowLock] = {}
        self._exclusive: set[str] = set()
        self._down = False

    def simulate_outage(self, down: bool = True) -> None:
        self._down = down

    def _check_up(self) -> None:
        if self._down:
            raise StorageUnavailable("the (simulated) database is unreachable")

    @contextlib.asynccontextmanager
    async def unit_of_work(self) -> AsyncIterator[UnitOfWork]:
        """One transaction: commits when the block ends normally, rolls back on an exception."""
        self._check_up()
        tx = _Transaction(self)
        try:
            yield MemoryUnitOfWork(tx)
            self._check_up()
            tx.commit()
        finally:
            tx.release()

    @contextlib.asynccontextmanager
    async def exclusive(self, name: str) -> AsyncIterator[bool]:
        """Yields whether this caller holds the named lock for the block (one process here)."""
        self._check_up()
        if name in self._exclusive:
            yield False
            return
        self._exclusive.add(name)
        try:
            yield True
        finally:
            self._exclusive.discard(name)

    async def ping(self) -> None:
        """Raises: StorageUnavailable while an outage is simulated."""
        self._check_up()

    async def close(self) -> None:
        """Nothing to release; here so both adapters close alike."""

    def __repr__(self) -> str:
        return f"<MemoryStorage portals={len(self._state.tables[_PORTALS])}>"
