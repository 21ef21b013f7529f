"""The CRM port: what the services need from a portal's Bitrix24, in domain terms."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Protocol

import attrs

from touchpoints.domain.crm import (
    Activity,
    AppInfo,
    CurrentUser,
    Department,
    RecordCard,
    SmartProcessInfo,
    TodoSpec,
    TodoText,
    UserInfo,
)
from touchpoints.domain.model import EntityType, OwnerRef
from touchpoints.domain.placements import MenuBinding
from touchpoints.domain.portal import OAuthTokens, Portal
from touchpoints.domain.secrets import Secret

# ------------------------------------------------------------------ failures


class CrmError(Exception):
    """Root of the CRM port's failures. ``code`` is Bitrix24's error code when there is one."""

    def __init__(self, message: str, *, code: str = "") -> None:
        super().__init__(message)
        self.code = code


class CrmPermissionDenied(CrmError):
    """The user (or the app's scope) may not do this in the CRM."""


class CrmNotFound(CrmError):
    """The record or activity does not exist (or is no longer there)."""


class CrmInvalidInput(CrmError):
    """Bitrix24 refused the values (e.g. a completed to-do cannot be moved)."""


class CrmUnavailable(CrmError):
    """Network failure, 5xx, or still rate limited after the retry budget."""


class CrmRateLimited(CrmUnavailable):
    """``QUERY_LIMIT_EXCEEDED`` / ``OPERATION_TIME_LIMIT`` after retries."""


class CrmTimeout(CrmUnavailable):
    """Bitrix24 did not answer within the call's time limit; a write may or may not have run."""


class CrmAuthExpired(CrmError):
    """A user's frame token expired; the browser must renew its session."""


class PortalGone(CrmError):
    """Uninstalled, deleted, payment required, or refresh refused: stop calling this portal."""


# ------------------------------------------------------------------ values


@attrs.frozen(kw_only=True)
class Hidden:
    """A record the user may not read (or that no longer exists): shown without a title."""

    ref: OwnerRef


RecordLookup = Mapping[OwnerRef, RecordCard | Hidden]


@attrs.frozen(kw_only=True)
class CardLookup:
    """What board cards show of the CRM: owner records, and the texts of the to-dos the
    user may read (an activity id missing from ``todos`` is hidden or gone)."""

    records: RecordLookup
    todos: Mapping[int, TodoText]


@attrs.frozen(kw_only=True)
class TodoChange:
    """One to-do write of a batch (``Crm.change_todos``): move it and/or hand it over,
    complete it, or delete it."""

    activity_id: int
    owner: OwnerRef
    deadline: datetime | None = None
    responsible_id: int | None = None
    complete: bool = False
    delete: bool = False


@attrs.frozen(kw_only=True)
class TokenGrant:
    """The token endpoint's reply: the only trusted source of a portal's identity (DESIGN §4)."""

    member_id: str
    client_endpoint: str
    domain: str
    tokens: OAuthTokens
    scope: str = ""
    user_id: int | None = None


# ------------------------------------------------------------------ ports


class Crm(Protocol):
    """One portal's CRM as one user (a frame token) or as the app (the installer's tokens)."""

    async def create_todo(self, spec: TodoSpec) -> int:
        """Create a to-do; returns the activity id. Not retried: it is unsafe to repeat."""
        ...

    async def update_deadline(
        self, activity_id: int, owner: OwnerRef, deadline: datetime
    ) -> None: ...

    async def update_responsible(self, activity_id: int, owner: OwnerRef, user_id: int) -> None: ...

    async def complete(self, activity_id: int) -> None: ...

    async def delete_activity(self, activity_id: int) -> None: ...

    async def change_todos(self, changes: Sequence[TodoChange]) -> dict[int, CrmError]:
        """Many to-do writes at once: ``batch`` requests of at most 50 commands, one after
        another, paced by the portal's rate budget. Returns the failures by activity id; an
        id not in the result was written.

        Not retried (unsafe to repeat). Once a request as a whole fails (unavailable, timed
        out, auth expired), its changes and every later one fail with that error: after a
        timeout they may or may not have run, and the CRM's events converge our rows.
        """
        ...

    async def get_activities(self, activity_ids: Sequence[int]) -> dict[int, Activity]:
        """Activities by id; an id missing from the result is deleted or not visible."""
        ...

    async def missing_activities(self, activity_ids: Sequence[int]) -> set[int]:
        """The ids Bitrix24 explicitly answers "not found" for, one ``crm.activity.get`` each.

        Absence from a list page proves nothing (permissions, paging); only this answer lets
        a touch-point be marked orphaned (DESIGN.md §4).
        """
        ...

    async def find_todos(
        self, *, owner: OwnerRef | None, created_after: datetime
    ) -> list[Activity]:
        """Open CRM to-dos (optionally of one record) created after an instant (reconciliation)."""
        ...

    async def read_records(self, refs: Iterable[OwnerRef]) -> RecordLookup:
        """Board cards for records, batched (ceil(M/2500) requests for M records)."""
        ...

    async def read_cards(
        self, refs: Iterable[OwnerRef], activity_ids: Iterable[int], *, stages: bool = False
    ) -> CardLookup:
        """Owner records and to-do texts in one batched round: list calls of up to 50 ids,
        50 to a request, so M records and N to-dos cost about ceil((M + N) / 2500) requests.

        ``stages``: also the visible records' stage names (``RecordCard.stage_name``), at
        the cost of at most one more request (the list view)."""
        ...

    async def search_records(
        self, owner_type: EntityType, text: str, *, limit: int = 20
    ) -> list[RecordCard]: ...

    async def open_records(self, owner_type: EntityType, *, limit: int = 500) -> list[RecordCard]:
        """Open deals or leads the user can see (coverage report)."""
        ...

    async def smart_processes(self) -> list[SmartProcessInfo]:
        """The portal's smart-process types, by ``entityTypeId``: ``crm.type.list`` for CRM
        admins, ``crm.enum.ownertype`` (names only, open to any user) for everyone else."""
        ...

    async def current_user(self) -> CurrentUser: ...

    async def app_info(self) -> AppInfo:
        """``app.info`` with this client's token: which app the token was issued to."""
        ...

    async def users(self, user_ids: Iterable[int] | None = None) -> list[UserInfo]:
        """Users by id, or every active employee when ``user_ids`` is None."""
        ...

    async def departments(self) -> list[Department]: ...

    async def bind_event(self, event: str, handler: str) -> None:
        """Idempotent: an existing binding is not an error."""
        ...

    async def unbind_event(self, event: str, handler: str) -> None: ...

    async def bind_placement(
        self, placement: str, handler: str, title: str, lang_all: Mapping[str, str]
    ) -> None:
        """Idempotent: an existing binding of this handler is replaced, not duplicated."""
        ...

    async def unbind_placement(self, placement: str, handler: str) -> None:
        """``handler`` ``""``: every handler of ours bound to ``placement``."""
        ...

    async def bind_placements(self, handler: str, placements: Sequence[MenuBinding]) -> None:
        """Bind (``MenuBinding.bind``) or unbind each placement for ``handler``, idempotently
        like ``bind_placement``, in as few requests as possible."""
        ...


class CrmConnector(Protocol):
    """Makes ``Crm`` clients: as a user (frame token) or as the app (stored tokens)."""

    def as_user(self, portal: Portal, access_token: Secret, *, verifying: bool = False) -> Crm:
        """The CRM as the token's user. ``verifying``: checking a token from an unverified
        request, which must not spend the portal's working rate-limit budget nor retry."""
        ...

    def as_app(self, portal: Portal) -> Crm:
        """Uses the portal's stored tokens, refreshing them (one refresh per portal at a time)."""
        ...

    async def revalidate(self, portal: Portal) -> None:
        """Refresh the stored tokens now, also for a portal marked ``needs_reauth``.

        Confirms whether Bitrix24 still honours our installation (uninstall checks). The
        rotated pair is stored before use; a portal whose refresh works is active again.

        Raises: PortalGone (the token endpoint refused; the portal is marked needs_reauth),
        CrmUnavailable, CrmTimeout.
        """
        ...


class OAuthServer(Protocol):
    """The Bitrix24 authorization server (``TOUCHPOINTS_B24_OAUTH_URL``)."""

    async def refresh(self, refresh_token: Secret) -> TokenGrant:
        """Redeem a refresh token. Raises: PortalGone (invalid_grant/invalid_client/PAYMENT_REQUIRED), CrmUnavailable."""
        ...
