"""The storage port: repositories behind one unit of work, every query scoped by portal."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from datetime import datetime
from typing import Protocol

import attrs

from touchpoints.domain.handover import Handover
from touchpoints.domain.listing import ListPosition
from touchpoints.domain.model import (
    EntityType,
    NewTouchPoint,
    OwnerRef,
    Status,
    TouchPoint,
    TouchPointType,
)
from touchpoints.domain.portal import OAuthTokens, Portal, PortalInstall, PortalStatus
from touchpoints.domain.secrets import Secret
from touchpoints.domain.settings import PortalSettings, UserPreferences
from touchpoints.domain.undo import UndoRecord
from touchpoints.ports.digests import BotRepository, DigestLogRepository
from touchpoints.ports.reports import ReportRepository

# ------------------------------------------------------------------ failures


class StorageError(Exception):
    """Root of the storage port's failures."""


class StorageUnavailable(StorageError):
    """The database cannot be reached or is restarting; retrying later may work."""


class ConcurrentUpdate(StorageError):
    """The row changed since it was read (optimistic concurrency); re-read and retry."""


class PortalExists(StorageError):
    """A portal with this ``member_id`` is already stored."""


class DuplicateActivity(StorageError):
    """A touch-point for this CRM activity is already stored in the portal."""


class InvalidReference(StorageError):
    """A link (chain, portal) points at a row that does not exist in this portal."""


# ------------------------------------------------------------------ query values


@attrs.frozen(kw_only=True)
class TouchPointFilter:
    """The filters a board and a list page share; None matches everything
    (``responsible_ids`` None: every user). Deadlines: from included, before excluded."""

    responsible_ids: frozenset[int] | None = None
    owner_type: EntityType | None = None
    type: TouchPointType | None = None
    deadline_from: datetime | None = None
    deadline_before: datetime | None = None


@attrs.frozen(kw_only=True)
class BoardQuery(TouchPointFilter):
    """What a board (or digest) asks for: open touch-points unless ``statuses`` says otherwise."""

    statuses: frozenset[Status] = frozenset({Status.OPEN})
    limit: int = 5_000


@attrs.frozen(kw_only=True)
class ListQuery(TouchPointFilter):
    """A list view page: ``TouchPointRepository.page``; ``statuses`` None: every status."""

    statuses: frozenset[Status] | None = None
    after: ListPosition | None = None
    limit: int = 50


@attrs.frozen(kw_only=True)
class Feedback:
    """A message a user sent from the in-app widget."""

    portal_id: int
    user_id: int
    message: str
    email: str | None
    created_at: datetime
    id: int | None = None


@attrs.frozen(kw_only=True)
class PendingTodo:
    """A to-do the app asked the CRM for and has not recorded yet (see ``PendingTodoRepository``)."""

    portal_id: int
    owner: OwnerRef
    type: TouchPointType
    deadline: datetime
    responsible_id: int
    created_by: int
    created_at: datetime
    previous_id: int | None = None
    activity_id: int | None = None
    id: int | None = None


# ------------------------------------------------------------------ repositories


class PortalRepository(Protocol):
    """Installations and their (encrypted at rest) tokens."""

    async def get(self, portal_id: int) -> Portal | None: ...

    async def get_by_member_id(self, member_id: str) -> Portal | None: ...

    async def get_with_settings(
        self, portal_id: int
    ) -> tuple[Portal, PortalSettings | None] | None:
        """The portal and its stored settings (None: never saved), in one read."""
        ...

    async def get_for_event(self, member_id: str, activity_id: int) -> tuple[Portal, bool] | None:
        """The portal of ``member_id`` and whether one of its touch-points tracks
        ``activity_id``, in one read (an activity event's verification and first question)."""
        ...

    async def create(self, install: PortalInstall, *, now: datetime) -> Portal:
        """Raises: PortalExists."""
        ...

    async def replace_install(
        self, portal_id: int, install: PortalInstall, *, now: datetime
    ) -> Portal:
        """A verified re-install: new endpoint, tokens and application token; status active."""
        ...

    async def lock(self, portal_id: int) -> Portal | None:
        """Lock the portal's row for the rest of this unit of work and return it fresh.

        Used so that one token refresh per portal runs at a time across all replicas.
        """
        ...

    async def update_tokens(
        self, portal_id: int, tokens: OAuthTokens, *, now: datetime
    ) -> None: ...

    async def set_application_token(
        self, portal_id: int, token: Secret, *, now: datetime
    ) -> None: ...

    async def set_status(self, portal_id: int, status: PortalStatus, *, now: datetime) -> None: ...

    async def rotate_application_token(
        self, portal_id: int, token: Secret, *, now: datetime
    ) -> None:
        """A verified rotation: ``token`` becomes current, the current one previous."""
        ...

    async def forget_previous_application_token(self, portal_id: int, *, now: datetime) -> None:
        """Bitrix24 has used the new token: the previous one is accepted no more."""
        ...

    async def set_app_id(
        self, portal_id: int, app_id: str, *, app_code: str | None = None, now: datetime
    ) -> None:
        """Our app's ``app.info`` ID on the portal, and its code when it was read too."""
        ...

    async def set_uninstall_requested(
        self, portal_id: int, at: datetime | None, *, now: datetime
    ) -> None:
        """Note (or clear, with None) an uninstall event still waiting for confirmation."""
        ...

    async def uninstall_requested(self) -> list[int]:
        """Portals whose uninstall event waits for Bitrix24 to confirm it, oldest first."""
        ...

    async def delete(self, portal_id: int) -> bool:
        """Delete the portal and, by cascade, every row of it. True when it existed."""
        ...

    async def list_ids(self, *, active_only: bool = True) -> list[int]: ...


class SettingsRepository(Protocol):
    async def get(self, portal_id: int) -> PortalSettings | None: ...

    async def put(self, portal_id: int, settings: PortalSettings, *, now: datetime) -> None: ...


class PreferencesRepository(Protocol):
    async def get(self, portal_id: int, user_id: int) -> UserPreferences:
        """A user's preferences; defaults when they never saved any."""
        ...

    async def put(self, portal_id: int, preferences: UserPreferences, *, now: datetime) -> None:
        """Store ``digest_enabled``; the remembered language is left as it is."""
        ...

    async def set_language(
        self, portal_id: int, user_id: int, language: str, *, now: datetime
    ) -> None:
        """Remember the user's UI language (``digest_enabled`` is left as it is)."""
        ...

    async def list(self, portal_id: int) -> list[UserPreferences]: ...


class TouchPointRepository(Protocol):
    async def add(self, new: NewTouchPoint) -> TouchPoint:
        """Raises: DuplicateActivity, InvalidReference (previous_id of another portal)."""
        ...

    async def get(self, portal_id: int, touch_point_id: int) -> TouchPoint | None: ...

    async def get_for_update(self, portal_id: int, touch_point_id: int) -> TouchPoint | None:
        """Read and lock the row until the unit of work ends."""
        ...

    async def by_activity(self, portal_id: int, activity_id: int) -> TouchPoint | None: ...

    async def by_activities(
        self, portal_id: int, activity_ids: Sequence[int]
    ) -> list[TouchPoint]: ...

    async def update(self, touch_point: TouchPoint) -> TouchPoint:
        """Store a changed touch-point read at ``touch_point.version``.

        Returns it with ``version + 1``. Raises: ConcurrentUpdate when the stored version
        moved on; InvalidReference when a chain link points outside the portal.
        """
        ...

    async def update_synced(
        self, portal_id: int, touch_points: Sequence[TouchPoint]
    ) -> list[TouchPoint]:
        """Store what the CRM decides of each touch-point (its status, deadline, responsible,
        ``completed_at`` and ``updated_at``), each read at its ``version``, in one statement.

        Returns those stored (``version + 1``) in id order; one whose stored version moved
        on, or that is gone, is left out (re-read it). Every other field stays as stored.
        """
        ...

    async def board(self, portal_id: int, query: BoardQuery) -> list[TouchPoint]:
        """Matching touch-points ordered by deadline, then id."""
        ...

    async def for_owner(self, portal_id: int, owner: OwnerRef) -> list[TouchPoint]:
        """Every touch-point of one CRM record, newest deadline first."""
        ...

    async def chain(self, portal_id: int, touch_point_id: int) -> list[TouchPoint]:
        """The whole chain ``touch_point_id`` belongs to, oldest first."""
        ...

    async def open_page(self, portal_id: int, *, after_id: int, limit: int) -> list[TouchPoint]:
        """Open touch-points with ``id > after_id`` in id order (reconciliation paging)."""
        ...

    async def in_period(self, portal_id: int, start: datetime, end: datetime) -> list[TouchPoint]:
        """Touch-points created, due or completed within ``[start, end)`` (reports)."""
        ...

    async def all(self, portal_id: int) -> list[TouchPoint]:
        """Every touch-point of the portal (data export)."""
        ...

    async def page(self, portal_id: int, query: ListQuery) -> list[TouchPoint]:
        """Matching touch-points after ``query.after`` by (deadline, id), at most ``limit``
        (the list view's keyset paging)."""
        ...

    async def by_ids(self, portal_id: int, touch_point_ids: Sequence[int]) -> list[TouchPoint]:
        """The portal's touch-points among ``touch_point_ids``, in id order (others' ids and
        unknown ones are left out)."""
        ...


class FeedbackRepository(Protocol):
    async def add(self, feedback: Feedback) -> Feedback: ...

    async def count_since(self, portal_id: int, user_id: int, since: datetime) -> int: ...

    async def for_portal(self, portal_id: int) -> list[Feedback]: ...

    async def since(self, since: datetime | None) -> list[Feedback]:
        """Operators' view across portals (``touchpoints feedback``)."""
        ...


class PendingTodoRepository(Protocol):
    """Attempts to create CRM to-dos, written before the call and removed once recorded.

    What stays behind is adopted or forgotten by reconciliation, so a to-do never exists
    only in the CRM without the app knowing to look for it.
    """

    async def add(self, pending: PendingTodo) -> PendingTodo: ...

    async def set_activity(self, portal_id: int, pending_id: int, activity_id: int) -> None: ...

    async def delete(self, portal_id: int, pending_id: int) -> None: ...

    async def older_than(
        self, portal_id: int, before: datetime, *, limit: int = 100
    ) -> list[PendingTodo]: ...


class AbuseBudget(Protocol):
    """Outbound calls spent on unverified requests, counted per key in shared windows.

    Every replica counts in the same rows, so a flood spread over replicas is bounded just
    the same (DESIGN.md §4, "Unauthenticated surface").
    """

    async def take(self, key: str, cost: int, *, limit: int, window_start: datetime) -> bool:
        """Spend ``cost`` from ``key``'s window; False (and nothing spent) beyond ``limit``."""
        ...

    async def refund(self, key: str, cost: int, *, window_start: datetime) -> None:
        """Give back what a request that turned out genuine spent in that window."""
        ...


class UndoRepository(Protocol):
    """Undo tokens (hashed) and what they restore, shared by every replica."""

    async def add(self, record: UndoRecord) -> UndoRecord:
        """Store a new record; also forgets the portal's records that expired a day ago."""
        ...

    async def get(self, portal_id: int, token_hash: bytes) -> UndoRecord | None: ...

    async def use(self, portal_id: int, record_id: int, *, now: datetime) -> bool:
        """Mark the record used; True for exactly one caller, however many race."""
        ...


class HandoverRepository(Protocol):
    """Hand-overs with return, until the pass that gives back their touch-points."""

    async def add(self, handover: Handover) -> Handover: ...

    async def get(self, portal_id: int, handover_id: int) -> Handover | None: ...

    async def for_portal(self, portal_id: int, *, open_only: bool) -> list[Handover]:
        """The portal's hand-overs, the latest first day first (``open_only``: not returned)."""
        ...

    async def for_digest(self, portal_id: int, *, returned_since: datetime) -> list[Handover]:
        """The portal's open hand-overs and those given back at or after
        ``returned_since``: what a digest tells about them."""
        ...

    async def mark_returned(self, portal_id: int, handover_id: int, *, now: datetime) -> bool:
        """Close a hand-over; True for exactly one caller, however many race."""
        ...


class UnitOfWork(Protocol):
    """One transaction: commits when the block ends normally, rolls back on an exception."""

    portals: PortalRepository
    settings: SettingsRepository
    preferences: PreferencesRepository
    touch_points: TouchPointRepository
    reports: ReportRepository
    digest_log: DigestLogRepository
    feedback: FeedbackRepository
    pending: PendingTodoRepository
    budget: AbuseBudget
    undo: UndoRepository
    handovers: HandoverRepository
    bots: BotRepository


class Storage(Protocol):
    """Opens units of work; the composition root owns its lifetime."""

    def unit_of_work(self) -> AbstractAsyncContextManager[UnitOfWork]: ...

    def reading(self) -> AbstractAsyncContextManager[UnitOfWork]:
        """Repositories for reads only, outside any transaction: each read sees what is
        committed when it runs (on Postgres one round trip each, no BEGIN or COMMIT).

        For request paths that read once, or a few times independently of each other; a
        write in such a block is a bug (the in-memory adapter refuses it).
        """
        ...

    def exclusive(self, name: str) -> AbstractAsyncContextManager[bool]:
        """A lock across every process on this database; yields False when another holds it.

        Background jobs (reconciliation) run in one replica at a time this way.
        """
        ...

    async def ping(self) -> None:
        """Raises: StorageUnavailable when the database is unreachable or not migrated."""
        ...
