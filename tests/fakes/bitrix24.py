"""An HTTP-level emulator of Bitrix24 (portals, OAuth server, events) for tests and benchmarks."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import secrets
import time
from collections import Counter
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any, NamedTuple
from urllib.parse import urlencode

import aiohttp
import attrs
from aiohttp import web

from tests.fakes import b24_bots
from tests.fakes.b24_methods import METHODS, Call, MethodSpec, Reply
from tests.fakes.b24_wire import (
    RestError,
    flatten_form,
    format_datetime,
    get_ci,
    parse_bracket_pairs,
    parse_query,
    php_array,
    php_str,
    to_flag,
)
from tests.fakes.b24_world import (
    ACCESS_TOKEN_TTL,
    AUTH_CODE_TTL,
    OUR_APP,
    REFRESH_TOKEN_TTL,
    AccessToken,
    ActivityRecord,
    AuthCode,
    BotChatMessage,
    CrmAccess,
    CrmRecord,
    Department,
    EmulatorClock,
    EventBinding,
    ImMessage,
    PlacementBinding,
    PortalState,
    RateLimit,
    RefreshToken,
    StageEntry,
    TokenPair,
    User,
)
from touchpoints.domain.model import OwnerRef, OwnerType, SmartProcess, entity_type_of_id

__all__ = [
    "Bitrix24Emulator",
    "Delivery",
    "EmulatorClock",
    "Fault",
    "FrameLaunch",
    "ImMessage",
    "RateLimit",
    "RequestRecord",
    "TokenPair",
]

log = logging.getLogger(__name__)

# A Market app: its client id is not its code (app.info CODE, OUR_APP), which links use.
DEFAULT_CLIENT_ID = "app.touchpoints.emulated"
DEFAULT_CLIENT_SECRET = "emulated-client-secret-0123456789"  # a test fixture, not a secret
DEFAULT_SCOPE = "crm,im,placement,user_brief,department"
BATCH_MAX = 50  # §6
OPERATING_WINDOW = 600.0  # ten one-minute buckets (§7.2)

# Documented HTTP statuses, used when a fault names only the error code (§4.3).
DOCUMENTED_STATUS = {
    "expired_token": 401,
    "NO_AUTH_FOUND": 401,
    "insufficient_scope": 403,
    "INVALID_CREDENTIALS": 403,
    "user_access_error": 403,
    "ACCESS_DENIED": 403,
    "WRONG_AUTH_TYPE": 403,
    "QUERY_LIMIT_EXCEEDED": 503,
    "OVERLOAD_LIMIT": 503,
    "OPERATION_TIME_LIMIT": 429,
    "INVALID_REQUEST": 400,
    "ERROR_BATCH_LENGTH_EXCEEDED": 400,
    "ERROR_BATCH_METHOD_NOT_ALLOWED": 405,
    "ERROR_METHOD_NOT_FOUND": 404,
    "INTERNAL_SERVER_ERROR": 500,
    "ERROR_UNEXPECTED_ANSWER": 500,
    "PORTAL_DELETED": 500,
}
_DESCRIPTIONS = {
    "expired_token": "The access token provided has expired.",
    "NO_AUTH_FOUND": "Wrong authorization data",
    "insufficient_scope": "The request requires higher privileges than provided by the access token",
    "QUERY_LIMIT_EXCEEDED": "Too many requests",
    "OVERLOAD_LIMIT": "REST API is blocked due to overload.",
    "OPERATION_TIME_LIMIT": "Method is blocked due to operation time limit.",
    "INTERNAL_SERVER_ERROR": "Internal server error",
    "PORTAL_DELETED": "Portal was deleted",
}
# The token endpoint's statuses are not documented (BITRIX24.md §21.4); RFC 6749 style here.
DEFAULT_OAUTH_STATUS = {
    "invalid_request": 400,
    "invalid_grant": 400,
    "invalid_client": 401,
    "PAYMENT_REQUIRED": 400,
    "insufficient_scope": 403,
}

_RESULT_REF = re.compile(r"\$result\[([^\]]*)\]((?:\[[^\]]*\])*)")


# ------------------------------------------------------------------ public records


class FrameLaunch(NamedTuple):
    """What Bitrix24 POSTs to a frame (§10.1): ``query`` goes in the URL, ``form`` in the body."""

    query: dict[str, str]
    form: dict[str, str]


@attrs.frozen(kw_only=True)
class Delivery:
    """One event POST the emulator made (or dropped) and how the handler answered."""

    url: str
    event: str
    member_id: str
    status: int | None
    body: str = ""
    error: str | None = None
    dropped: bool = False
    form: tuple[tuple[str, str], ...] = attrs.field(default=(), repr=False)


@attrs.define(kw_only=True)
class Fault:
    """An injected failure for ``method`` (``"*"``: any REST method, ``"oauth.token"``: the
    token endpoint). ``times=None`` keeps it forever; ``hits`` counts how often it fired."""

    method: str
    member_id: str | None = None
    error: str | None = None
    description: str = ""
    status: int = 400
    delay: float = 0.0
    stall: bool = False
    drop: bool = False
    raw_body: str | None = None
    times: int | None = 1
    hits: int = 0

    @property
    def active(self) -> bool:
        return self.times is None or self.hits < self.times


@attrs.frozen(kw_only=True)
class RequestRecord:
    """One HTTP request to the emulator (``auth`` and secrets left out)."""

    at: float
    member_id: str | None
    method: str
    status: int
    error: str | None
    duration: float
    user_id: int | None = None
    params: Mapping[str, Any] = attrs.field(factory=dict, repr=False)
    commands: tuple[str, ...] = ()


class _Dropped(Exception):
    """Close the connection without an answer."""


# ------------------------------------------------------------------ the emulator


class Bitrix24Emulator:
    """Multi-portal Bitrix24 + its OAuth server, served over HTTP on loopback.

    It answers as /work/shared/BITRIX24.md documents Bitrix24 (§20 is the checklist), not as a
    convenient mock: legacy string scalars, empty-code errors, PHP-shaped batch replies, rotation
    of refresh tokens, a leaky bucket. Typical use::

        async with Bitrix24Emulator() as b24:
            query, form = b24.install(time_zone="Europe/Berlin")   # the installer's frame POST
            member_id = form["member_id"]
            deal = b24.add_record(member_id, OwnerType.DEAL, title="Fleet")
            ...  # point the app at b24.oauth_url; it learns b24.portal_endpoint(member_id)
            await b24.install_finish(member_id)                    # BX24.installFinish()
            b24.inject("crm.item.list", error="QUERY_LIMIT_EXCEEDED", times=2)
            assert b24.requests(member_id, "batch") == 1

    World building: ``add_portal``, ``add_user``, ``add_department``, ``add_record``, ``grant``,
    ``add_activity``. Lifecycle: ``install``, ``install_finish``, ``frame_launch``, ``update_app``,
    ``uninstall``, ``delete_portal``, ``change_domain``. Events: ``send_event``, ``ui_add_todo``,
    ``ui_update_activity``, ``ui_delete_activity``, ``drain_events``, ``deliveries``. Knobs:
    ``inject``, ``latency``, ``rate_limit``/``set_rate_limit``, ``operating_limit``/
    ``set_method_cost``, ``event_delay``, ``drop_events``, ``clock``. Reading: ``requests``,
    ``calls``, ``token_requests``, ``log``, ``inbox``, ``options``, ``event_bindings``,
    ``placement_bindings``, ``activity``, ``portal``.

    Every knob is a constructor argument and (where it makes sense) a public attribute that
    tests may change while it runs: ``latency``, ``event_delay``, ``drop_events``,
    ``rate_limit``, ``operating_limit``.
    """

    def __init__(
        self,
        *,
        client_id: str = DEFAULT_CLIENT_ID,
        client_secret: str = DEFAULT_CLIENT_SECRET,
        scope: str = DEFAULT_SCOPE,
        clock: EmulatorClock | None = None,
        rate_limit: RateLimit | None = None,
        operating_limit: float | None = None,
        latency: float = 0.0,
        event_delay: float = 0.0,
        drop_events: bool = False,
        event_timeout: float = 10.0,
        install_handler_url: str | None = None,
        reject_local_handlers: bool = False,
        new_application_token_on_reinstall: bool = True,
        delete_activities_with_owner: bool = True,
        oauth_error_status: Mapping[str, int] | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.client_id = client_id
        self.client_secret = client_secret
        self.scope = scope
        self.clock = clock or EmulatorClock()
        self.rate_limit = rate_limit
        self.operating_limit = operating_limit
        self.latency = latency
        self.event_delay = event_delay
        self.drop_events = drop_events
        self.event_timeout = event_timeout
        self.install_handler_url = install_handler_url
        self.reject_local_handlers = reject_local_handlers
        self.new_application_token_on_reinstall = new_application_token_on_reinstall
        self.delete_activities_with_owner = delete_activities_with_owner
        self.oauth_error_status = {**DEFAULT_OAUTH_STATUS, **(oauth_error_status or {})}
        self._host = host
        self._port = port
        self._portals: dict[str, PortalState] = {}
        self._by_domain: dict[str, PortalState] = {}
        self._moved: dict[str, PortalState] = {}
        self._access: dict[str, AccessToken] = {}
        self._refresh: dict[str, RefreshToken] = {}
        self._revoked_refresh: dict[str, str] = {}
        self._codes: dict[str, AuthCode] = {}
        self._faults: list[Fault] = []
        self._method_cost: dict[str, float] = {}
        self._operating: dict[tuple[str, str], dict[int, float]] = {}
        self._http: Counter[tuple[str, str]] = Counter()
        self._calls: Counter[tuple[str, str]] = Counter()
        self._oauth: Counter[tuple[str, str]] = Counter()
        self._tasks: set[asyncio.Task[Delivery]] = set()
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None
        self._closing = asyncio.Event()
        self._base_url = ""
        self.log: list[RequestRecord] = []
        self.deliveries: list[Delivery] = []
        self.internal_errors: list[str] = []

    # -------------------------------------------------------------- lifecycle

    async def __aenter__(self) -> Bitrix24Emulator:
        await self.start()
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.close()

    async def start(self) -> None:
        """Listen on ``host:port`` (port 0 picks a free one)."""
        app = web.Application()
        app.router.add_route("*", "/oauth/token/", self._handle_oauth)
        app.router.add_route("*", "/oauth/token", self._handle_oauth)
        app.router.add_route("*", "/rest/{method}", self._handle_server_rest)
        app.router.add_route("*", "/{domain}/rest/{method}", self._handle_rest)
        self._closing = asyncio.Event()
        self._runner = web.AppRunner(
            app, handler_cancellation=True, access_log=None, shutdown_timeout=1.0
        )
        await self._runner.setup()
        site = web.TCPSite(self._runner, self._host, self._port)
        await site.start()
        host, port = self._runner.addresses[0][:2]
        self._base_url = f"http://{host}:{port}"
        self._session = aiohttp.ClientSession()

    async def close(self) -> None:
        """Stop serving; pending event deliveries are given a moment, then cancelled."""
        self._closing.set()
        if self._tasks:
            _done, pending = await asyncio.wait(list(self._tasks), timeout=1.0)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        if self._session is not None:
            await self._session.close()
            self._session = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    # -------------------------------------------------------------- addresses

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT``."""
        return self._base_url

    @property
    def oauth_url(self) -> str:
        """The token endpoint, for ``TOUCHPOINTS_B24_OAUTH_URL``."""
        return f"{self._base_url}/oauth/token/"

    @property
    def server_endpoint(self) -> str:
        """The auth server's REST base (serves ``app.info``)."""
        return f"{self._base_url}/rest/"

    def portal_endpoint(self, member_id: str) -> str:
        """The portal's ``client_endpoint``: ``http://127.0.0.1:PORT/<domain>/rest/``."""
        return f"{self._base_url}/{self.portal(member_id).domain}/rest/"

    # -------------------------------------------------------------- world building

    def portal(self, member_id: str) -> PortalState:
        """The live state of a portal (users, records, activities, bindings, options...)."""
        try:
            return self._portals[member_id]
        except KeyError:
            raise KeyError(f"no emulated portal {member_id!r}") from None

    @property
    def portals(self) -> Mapping[str, PortalState]:
        return self._portals

    def add_portal(
        self,
        member_id: str | None = None,
        *,
        domain: str | None = None,
        time_zone: str = "UTC",
        language: str = "en",
        scope: str | None = None,
        status: str = "F",
        rate_limit: RateLimit | None = None,
    ) -> str:
        """Create a portal (not installed yet); returns its ``member_id``."""
        member_id = member_id or secrets.token_hex(16)
        if member_id in self._portals:
            raise ValueError(f"portal {member_id} exists")
        domain = domain or f"portal-{len(self._portals) + 1}.bitrix24.test"
        if domain in self._by_domain:
            raise ValueError(f"domain {domain} is taken")
        portal = PortalState(
            member_id=member_id,
            domain=domain,
            time_zone=time_zone,
            language=language,
            application_token=secrets.token_hex(16),
            scope=scope or self.scope,
            status=status,
            rate_limit=rate_limit,
        )
        self._portals[member_id] = portal
        self._by_domain[domain] = portal
        return member_id

    def add_user(
        self,
        member_id: str,
        user_id: int | None = None,
        *,
        name: str = "",
        last_name: str = "",
        admin: bool = False,
        active: bool = True,
        time_zone: str = "",
        departments: Iterable[int] = (),
        photo: str | None = None,
        email: str = "",
        crm_access: CrmAccess = "all",
        user_type: str = "employee",
        language: str = "en",
    ) -> int:
        """Add (or replace) a user; returns the id. ``crm_access``: all / own / none."""
        portal = self.portal(member_id)
        if user_id is None:
            user_id = portal.seq("user")
        portal.bump_seq("user", user_id)
        portal.users[user_id] = User(
            id=user_id,
            name=name or f"User {user_id}",
            last_name=last_name,
            admin=admin,
            active=active,
            time_zone=time_zone,
            departments=tuple(departments),
            photo=photo,
            email=email,
            crm_access=crm_access,
            user_type=user_type,
            language=language,
        )
        return user_id

    def add_department(
        self,
        member_id: str,
        department_id: int,
        name: str,
        *,
        parent: int | None = None,
        head: int | None = None,
        sort: int = 500,
    ) -> int:
        portal = self.portal(member_id)
        portal.departments[department_id] = Department(
            id=department_id, name=name, parent=parent, head=head, sort=sort
        )
        return department_id

    def add_record(
        self,
        member_id: str,
        owner_type: OwnerType | SmartProcess | int,
        *,
        record_id: int | None = None,
        title: str = "",
        name: str = "",
        last_name: str = "",
        stage_id: str | None = None,
        opportunity: float = 0.0,
        currency_id: str = "USD",
        assigned_by_id: int = 1,
        closed: bool = False,
        category_id: int = 0,
        company_type: str = "CUSTOMER",
    ) -> OwnerRef:
        """Add a lead/deal/contact/company or a smart process's item; returns its reference."""
        portal = self.portal(member_id)
        etype = owner_type if isinstance(owner_type, int) else owner_type.type_id
        key = f"record:{etype}"
        if record_id is None:
            record_id = portal.seq(key)
        portal.bump_seq(key, record_id)
        now = self.clock.now()
        default_stage = {1: "NEW", 2: "NEW"}.get(etype)
        portal.records[(etype, record_id)] = CrmRecord(
            entity_type_id=etype,
            id=record_id,
            title=title,
            name=name,
            last_name=last_name,
            stage_id=stage_id or default_stage,
            opportunity=opportunity,
            currency_id=currency_id,
            assigned_by_id=assigned_by_id,
            closed=closed,
            category_id=category_id,
            company_type=company_type,
            created=now,
            updated=now,
        )
        return OwnerRef(entity_type_of_id(etype), record_id)

    def add_stage(
        self,
        member_id: str,
        entity_id: str,
        status_id: str,
        name: str,
        *,
        semantics: str | None = None,
    ) -> None:
        """Add a stage to a directory (``crm.status.add``), or rename one already there
        (``crm.status.update``): ``DEAL_STAGE_<categoryId>`` with ``C<categoryId>:`` codes,
        ``DYNAMIC_<entityTypeId>_STAGE_<categoryId>`` with ``DT<entityTypeId>_<categoryId>:``
        codes (BITRIX24.md §12.2)."""
        portal = self.portal(member_id)
        for index, entry in enumerate(portal.stages):
            if (entry.entity_id, entry.status_id) == (entity_id, status_id):
                portal.stages[index] = attrs.evolve(entry, name=name, semantics=semantics)
                return
        same = [entry for entry in portal.stages if entry.entity_id == entity_id]
        category = re.fullmatch(r"(?:DEAL_STAGE|DYNAMIC_\d+_STAGE)_(\d+)", entity_id)
        portal.stages.append(
            StageEntry(
                id=1000 + len(portal.stages),
                entity_id=entity_id,
                status_id=status_id,
                name=name,
                sort=10 * (len(same) + 1),
                semantics=semantics,
                category_id=int(category.group(1)) if category else None,
            )
        )

    def add_smart_process(self, member_id: str, entity_type_id: int, title: str) -> SmartProcess:
        """Add a smart-process type (``crm.type.add``); its items come from ``add_record``."""
        self.portal(member_id).smart_processes[entity_type_id] = title
        return SmartProcess(entity_type_id)

    def delete_record(self, member_id: str, ref: OwnerRef) -> None:
        """Delete a record; its activities go too unless ``delete_activities_with_owner`` is off
        (undocumented either way, BITRIX24.md §21.24). No events are sent."""
        portal = self.portal(member_id)
        key = (ref.type.type_id, ref.id)
        portal.records.pop(key, None)
        if self.delete_activities_with_owner:
            portal.activities = {
                i: a for i, a in portal.activities.items() if key not in a.bindings
            }

    def grant(
        self, member_id: str, user_id: int, ref: OwnerRef, *, read: bool = True, edit: bool = False
    ) -> None:
        """Let a user read (and optionally edit) one record beyond their ``crm_access``."""
        portal = self.portal(member_id)
        key = (user_id, ref.type.type_id, ref.id)
        if edit:
            portal.grants[key] = "edit"
        elif read:
            portal.grants[key] = "read"
        else:
            portal.grants.pop(key, None)

    def add_activity(
        self,
        member_id: str,
        owner: OwnerRef,
        *,
        deadline: datetime,
        responsible_id: int,
        subject: str = "",
        description: str = "",
        completed: bool = False,
        provider_id: str = "CRM_TODO",
        type_id: int = 6,
        author_id: int | None = None,
        created: datetime | None = None,
        extra_bindings: Iterable[OwnerRef] = (),
    ) -> int:
        """Seed an activity quietly (no events); returns its id."""
        portal = self.portal(member_id)
        now = created or self.clock.now()
        owner_key = (owner.type.type_id, owner.id)
        activity = ActivityRecord(
            id=portal.seq("activity"),
            owner_type_id=owner_key[0],
            owner_id=owner_key[1],
            bindings=[owner_key, *((r.type.type_id, r.id) for r in extra_bindings)],
            type_id=type_id,
            provider_id=provider_id,
            provider_type_id="TODO" if provider_id == "CRM_TODO" else provider_id,
            subject=subject,
            description=description,
            start_time=deadline,
            end_time=deadline,
            deadline=deadline,
            completed=completed,
            responsible_id=responsible_id,
            author_id=author_id or responsible_id,
            editor_id=author_id or responsible_id,
            created=now,
            last_updated=now,
        )
        portal.activities[activity.id] = activity
        return activity.id

    def activity(self, member_id: str, activity_id: int) -> ActivityRecord | None:
        return self.portal(member_id).activities.get(activity_id)

    def inbox(self, member_id: str, user_id: int) -> list[ImMessage]:
        """The user's IM notifications, oldest first (a TAG resend replaced the earlier one)."""
        return [m for m in self.portal(member_id).inbox if m.user_id == user_id]

    def options(self, member_id: str) -> dict[str, Any]:
        return dict(self.portal(member_id).options)

    def event_bindings(self, member_id: str) -> list[EventBinding]:
        return list(self.portal(member_id).event_bindings)

    def placement_bindings(self, member_id: str) -> list[PlacementBinding]:
        return list(self.portal(member_id).placement_bindings)

    # -------------------------------------------------------------- tokens

    def token_app(self, token: object) -> str:
        record = self._access.get(token) if isinstance(token, str) else None
        return OUR_APP if record is None else record.app

    def issue_tokens(self, member_id: str, user_id: int, *, app: str = OUR_APP) -> TokenPair:
        """A fresh access/refresh pair for a user, as a frame launch would bring.

        ``app`` names another app installed on the portal: its tokens work on the portal,
        ``app.info`` reports that app, and our client secret cannot refresh them.
        """
        portal = self.portal(member_id)
        if user_id not in portal.users:
            raise KeyError(f"no user {user_id} on portal {member_id}")
        now = self.clock.time()
        access = secrets.token_hex(32)
        refresh = secrets.token_hex(32)
        self._access[access] = AccessToken(
            token=access,
            member_id=member_id,
            user_id=user_id,
            expires_at=now + ACCESS_TOKEN_TTL,
            scope=portal.scope,
            app=app,
        )
        if app != OUR_APP:
            return TokenPair(access_token=access, refresh_token=refresh)
        self._refresh[refresh] = RefreshToken(
            token=refresh,
            member_id=member_id,
            user_id=user_id,
            expires_at=now + REFRESH_TOKEN_TTL,
            scope=portal.scope,
        )
        return TokenPair(access_token=access, refresh_token=refresh)

    def authorization_code(self, member_id: str, user_id: int) -> str:
        """A single-use code living 30 s, as the full OAuth redirect would carry (§2.2)."""
        self.portal(member_id)
        code = secrets.token_hex(16)
        self._codes[code] = AuthCode(
            code=code,
            member_id=member_id,
            user_id=user_id,
            expires_at=self.clock.time() + AUTH_CODE_TTL,
        )
        return code

    def expire_access_tokens(self, member_id: str | None = None) -> None:
        """Make every current access token (of one portal) expired, as an hour passing would."""
        now = self.clock.time()
        for token in self._access.values():
            if member_id is None or token.member_id == member_id:
                token.expires_at = min(token.expires_at, now - 1)

    def revoke_tokens(self, member_id: str) -> None:
        """Kill every access and refresh token of a portal (as uninstall does)."""
        self._access = {k: v for k, v in self._access.items() if v.member_id != member_id}
        for token, record in list(self._refresh.items()):
            if record.member_id == member_id:
                self._revoked_refresh[token] = member_id
                del self._refresh[token]

    def set_payment_required(self, member_id: str, required: bool = True) -> None:
        """Token refreshes answer ``PAYMENT_REQUIRED`` while set (§2.3)."""
        self.portal(member_id).payment_required = required

    def set_scope(self, member_id: str, scope: str) -> None:
        """Change the scope granted to tokens issued from now on (``insufficient_scope`` tests)."""
        self.portal(member_id).scope = scope

    def valid_refresh_tokens(self, member_id: str) -> int:
        """How many refresh tokens of the portal are still redeemable."""
        now = self.clock.time()
        return sum(
            1 for r in self._refresh.values() if r.member_id == member_id and r.expires_at > now
        )

    # -------------------------------------------------------------- faults, limits, counters

    def inject(
        self,
        method: str,
        *,
        member_id: str | None = None,
        error: str | None = None,
        description: str | None = None,
        status: int | None = None,
        delay: float = 0.0,
        stall: bool = False,
        drop: bool = False,
        raw_body: str | None = None,
        times: int | None = 1,
    ) -> Fault:
        """Make ``method`` fail: an error reply (status defaults to the documented one), a
        reply held back ``delay`` seconds after the method ran, a ``stall`` (never answers),
        a dropped connection, or a non-JSON ``raw_body`` (e.g. a proxy's 502 page)."""
        if status is None:
            status = DOCUMENTED_STATUS.get(error or "", 502 if raw_body is not None else 400)
        fault = Fault(
            method=method if method in {"*", "oauth.token"} else method.lower(),
            member_id=member_id,
            error=error,
            description=description
            if description is not None
            else _DESCRIPTIONS.get(error or "", ""),
            status=status,
            delay=delay,
            stall=stall,
            drop=drop,
            raw_body=raw_body,
            times=times,
        )
        self._faults.append(fault)
        return fault

    def clear_faults(self) -> None:
        self._faults.clear()

    def set_method_cost(self, method: str, seconds: float) -> None:
        """Pretend each call of ``method`` takes ``seconds`` of server time (``operating``)."""
        self._method_cost[method.lower()] = seconds

    def set_rate_limit(self, member_id: str, limit: RateLimit | None) -> None:
        """Per-portal leaky bucket (None: use the emulator-wide ``rate_limit``)."""
        portal = self.portal(member_id)
        portal.rate_limit = limit
        portal.bucket_level = 0.0
        portal.bucket_at = self.clock.time()

    def requests(self, member_id: str | None = None, method: str | None = None) -> int:
        """HTTP requests to portal endpoints (a batch is one request, method ``batch``)."""
        return _count(self._http, member_id, method)

    def calls(self, member_id: str | None = None, method: str | None = None) -> int:
        """Method executions, counting each command inside a batch."""
        return _count(self._calls, member_id, method)

    def token_requests(self, grant_type: str | None = None, member_id: str | None = None) -> int:
        """Requests to the token endpoint (``member_id`` is known once the grant resolved)."""
        return sum(
            n
            for (grant, member), n in self._oauth.items()
            if (grant_type is None or grant == grant_type)
            and (member_id is None or member == member_id)
        )

    def reset_counters(self) -> None:
        self._http.clear()
        self._calls.clear()
        self._oauth.clear()
        self.log.clear()

    # -------------------------------------------------------------- install lifecycle (§8)

    def install(
        self,
        member_id: str | None = None,
        *,
        domain: str | None = None,
        admin_id: int = 1,
        admin_name: str = "Admin",
        time_zone: str = "UTC",
        user_time_zone: str = "",
        language: str = "en",
        scope: str | None = None,
    ) -> FrameLaunch:
        """Install the app by an admin: creates the portal and admin when missing, issues the
        admin's tokens and returns the installer's frame POST (§10.1). The portal stays
        ``INSTALLED=false`` (no events) until ``install_finish``."""
        if member_id is None or member_id not in self._portals:
            member_id = self.add_portal(
                member_id, domain=domain, time_zone=time_zone, language=language, scope=scope
            )
        portal = self.portal(member_id)
        if portal.installed:
            raise ValueError("already installed: uninstall first, or use update_app")
        if admin_id not in portal.users:
            self.add_user(
                member_id, admin_id, name=admin_name, admin=True, time_zone=user_time_zone
            )
        elif not portal.users[admin_id].admin:
            raise ValueError(f"user {admin_id} is not an admin")
        if portal.uninstalled:
            portal.uninstalled = False
            if self.new_application_token_on_reinstall:  # unclear in the docs (§21.20)
                portal.application_token = secrets.token_hex(16)
        if scope is not None:
            portal.scope = scope
        portal.installed_by = admin_id
        return self.frame_launch(member_id, admin_id)

    async def install_finish(
        self, member_id: str, *, send_install_event: bool = True
    ) -> list[Delivery]:
        """``BX24.installFinish()``: INSTALLED=true, then ONAPPINSTALL to its handlers (bound
        ones and ``install_handler_url``). The docs leave this order unclear (§21.1)."""
        portal = self.portal(member_id)
        portal.installed = True
        if not send_install_event:
            return []
        targets = [(b.handler, b.id) for b in portal.event_bindings if b.event == "ONAPPINSTALL"]
        if self.install_handler_url and self.install_handler_url not in {t for t, _ in targets}:
            targets.append((self.install_handler_url, 0))
        data = {
            "VERSION": str(portal.app_version),
            "ACTIVE": "Y",
            "INSTALLED": "Y",
            "LANGUAGE_ID": portal.language,
        }
        user_id = portal.installed_by or _first_admin(portal)
        return [
            await self._deliver(
                url,
                self._event_form(
                    portal, "ONAPPINSTALL", data, handler_id=hid, user_id=user_id, refresh=True
                ),
                "ONAPPINSTALL",
                member_id,
            )
            for url, hid in targets
        ]

    async def update_app(
        self,
        member_id: str,
        *,
        version: int | None = None,
        new_application_token: bool = False,
        drop_event_bindings: bool = True,
    ) -> list[Delivery]:
        """A new app version: ONAPPUPDATE (maybe with a rotated ``application_token``) to the
        ONAPPUPDATE handlers, and the app's event bindings dropped (§8.3)."""
        portal = self.portal(member_id)
        previous = portal.app_version
        portal.app_version = version or previous + 1
        if new_application_token:
            portal.application_token = secrets.token_hex(16)
        targets = [(b.handler, b.id) for b in portal.event_bindings if b.event == "ONAPPUPDATE"]
        if drop_event_bindings:
            portal.event_bindings.clear()
        data = {
            "VERSION": str(portal.app_version),
            "PREVIOUS_VERSION": str(previous),
            "LANGUAGE_ID": portal.language,
        }
        user_id = portal.installed_by or _first_admin(portal)
        return [
            await self._deliver(
                url,
                self._event_form(portal, "ONAPPUPDATE", data, handler_id=hid, user_id=user_id),
                "ONAPPUPDATE",
                member_id,
            )
            for url, hid in targets
        ]

    async def uninstall(self, member_id: str, clean: bool = True) -> list[Delivery]:
        """Uninstall: revoke every token, drop event and placement bindings (options too when
        ``clean``), then POST ONAPPUNINSTALL (no tokens in it) to its handlers (§8.4)."""
        portal = self.portal(member_id)
        targets = [(b.handler, b.id) for b in portal.event_bindings if b.event == "ONAPPUNINSTALL"]
        portal.installed = False
        portal.uninstalled = True
        self.revoke_tokens(member_id)
        portal.event_bindings.clear()
        portal.placement_bindings.clear()
        if clean:
            portal.options.clear()
        data = {"LANGUAGE_ID": portal.language, "CLEAN": "1" if clean else "0"}
        return [
            await self._deliver(
                url,
                self._event_form(
                    portal, "ONAPPUNINSTALL", data, handler_id=hid, user_id=None, minimal=True
                ),
                "ONAPPUNINSTALL",
                member_id,
            )
            for url, hid in targets
        ]

    def delete_portal(self, member_id: str) -> None:
        """The portal is gone: REST answers ``PORTAL_DELETED`` (500), refreshes ``invalid_client``."""
        self.portal(member_id).deleted = True

    def change_domain(self, member_id: str, new_domain: str) -> None:
        """The owner renamed the portal: the old endpoint answers 302 to the new one (§1)."""
        portal = self.portal(member_id)
        if new_domain in self._by_domain:
            raise ValueError(f"domain {new_domain} is taken")
        del self._by_domain[portal.domain]
        self._moved[portal.domain] = portal
        portal.domain = new_domain
        self._by_domain[new_domain] = portal

    def frame_launch(
        self,
        member_id: str,
        user_id: int,
        placement: str = "DEFAULT",
        options: Mapping[str, Any] | None = None,
        *,
        forged: bool = False,
        lang: str | None = None,
        app: str = OUR_APP,
    ) -> FrameLaunch:
        """The POST Bitrix24 makes when ``user_id`` opens the app or a placement (§10.1).

        ``options`` becomes the ``PLACEMENT_OPTIONS`` JSON string (``[]`` when empty, as PHP
        encodes it); ``forged`` swaps in a wrong ``APPLICATION_TOKEN``; ``app`` issues the
        tokens to another app of the portal (as that app's own frame would carry them).
        """
        portal = self.portal(member_id)
        pair = self.issue_tokens(member_id, user_id, app=app)
        query = {
            "DOMAIN": portal.domain,
            "PROTOCOL": "1",
            "LANG": lang or portal.users[user_id].language or portal.language,
            "APP_SID": secrets.token_hex(16),
        }
        form = {
            "AUTH_ID": pair.access_token,
            "AUTH_EXPIRES": str(int(ACCESS_TOKEN_TTL)),
            "REFRESH_ID": pair.refresh_token,
            "SERVER_ENDPOINT": self.server_endpoint,
            "APPLICATION_TOKEN": secrets.token_hex(16) if forged else portal.application_token,
            "APPLICATION_SCOPE": portal.scope,
            "member_id": member_id,
            "status": portal.status,
            "PLACEMENT": placement,
            "PLACEMENT_OPTIONS": _php_json(dict(options) if options else []),
        }
        return FrameLaunch(query, form)

    def placement_launch(
        self,
        member_id: str,
        user_id: int,
        placement: str,
        *,
        record_id: int | None = None,
        activity_id: int | None = None,
        **kwargs: Any,
    ) -> FrameLaunch:
        """A user opening one of our bound CRM placements, with ``PLACEMENT_OPTIONS`` as the
        docs show them (BITRIX24.md §22.2.3): ``ENTITY_ID`` and ``ASSOCIATED_ENTITY_ID`` (a
        timeline item's activity) for a timeline menu, ``ID`` for a list row or a card tab,
        only ``URI`` for the analytics menu.

        Bitrix24 offers only bound placements, and a timeline menu only on an activity of
        that record: anything else is a test's mistake (``ValueError``). Other keyword
        arguments go to ``frame_launch``.
        """
        portal = self.portal(member_id)
        code = placement.upper()
        if not any(binding.placement == code for binding in portal.placement_bindings):
            raise ValueError(f"{code} is not bound on this portal")
        options: dict[str, str]
        if code.endswith("_ACTIVITY_TIMELINE_MENU"):
            activity = portal.activities.get(activity_id or 0)
            if activity is None or record_id is None:
                raise ValueError("a timeline menu opens on an existing activity of a record")
            if (activity.owner_type_id, record_id) not in activity.bindings:
                raise ValueError("the activity is not in this record's timeline")
            options = {
                "ENTITY_ID": str(record_id),
                "ASSOCIATED_ENTITY_ID": str(activity.id),
                "ASSOCIATED_ENTITY_TYPE_ID": "6",
            }
            if code.startswith("CRM_LEAD_"):  # the lead example carries the timeline keys too
                options |= {
                    "TYPE_ID": "1",
                    "TYPE_CATEGORY_ID": "6",
                    "TIMELINE_ITEM_ID": str(portal.seq("timeline_item")),
                }
            options["URI"] = f"/crm/{_entity_path(code)}/details/{record_id}/"
        elif code.endswith(("_LIST_MENU", "_DETAIL_TAB")):
            if record_id is None:
                raise ValueError("a list row or a card tab is about one record")
            page = "list/" if code.endswith("_LIST_MENU") else f"details/{record_id}/"
            options = {"ID": str(record_id), "URI": f"/crm/{_entity_path(code)}/{page}"}
        elif code == "CRM_ANALYTICS_MENU":
            options = {"URI": "/crm/analytics/"}
        else:
            raise ValueError(f"{code} is not a CRM placement this emulator launches")
        return self.frame_launch(member_id, user_id, code, options, **kwargs)

    def app_link_launch(
        self, member_id: str, user_id: int, link: str, **kwargs: Any
    ) -> FrameLaunch:
        """A user opening a link into our app found in a message, as Bitrix24 resolves it
        (BITRIX24.md §22.1.11): ``/marketplace/view/<client_id>/?params[key]=val`` opens the
        ``REST_APP_URI`` handler with the ``params`` keys plus ``URI`` in ``PLACEMENT_OPTIONS``.

        A link to another app, one without that placement bound, or not of that form is a
        test's mistake (``ValueError``). Other keyword arguments go to ``frame_launch``.
        """
        path, _, query = link.partition("?")
        if path.rstrip("/") != f"/marketplace/view/{self.client_id}":
            raise ValueError(f"{link} is not a link into this app")
        portal = self.portal(member_id)
        if not any(b.placement == "REST_APP_URI" for b in portal.placement_bindings):
            raise ValueError("REST_APP_URI is not bound on this portal")
        options: dict[str, str] = {}
        for key, value in parse_query(query):
            match = re.fullmatch(r"params\[([^\]]+)\]", key)
            if match is None:
                raise ValueError(f"{key} is not a params key")
            options[match.group(1)] = value
        options["URI"] = link
        return self.frame_launch(member_id, user_id, "REST_APP_URI", options, **kwargs)

    # -------------------------------------------------------------- events (§9)

    async def send_event(
        self,
        handler_url: str,
        event: str,
        member_id: str,
        fields: Mapping[str, Any] | None = None,
        *,
        forged: bool = False,
        application_token: str | None = None,
        user_id: int | None = None,
        data: Mapping[str, Any] | None = None,
        with_tokens: bool = True,
        without_auth: bool = False,
    ) -> Delivery:
        """POST one event to ``handler_url`` now, form-encoded with bracket keys (§9.2).

        ``fields`` go under ``data[FIELDS]`` (``data`` replaces the whole data block). The
        ONAPPINSTALL / ONAPPUPDATE / ONAPPUNINSTALL shapes of §8 are built when ``data`` is
        not given. ``forged`` sends a wrong ``application_token``; ``application_token``
        sends exactly that value; an unknown ``member_id`` is sent as is; ``without_auth``
        leaves the ``auth`` block out; ``with_tokens=False`` is a robot's change.
        """
        event = event.upper()
        portal = self._portals.get(member_id) or self._stranger(member_id)
        if data is None:
            data = self._default_event_data(portal, event, fields)
        user = user_id if user_id is not None else portal.installed_by or _first_admin(portal)
        token = application_token
        if token is None and forged:
            token = secrets.token_hex(16)
        handler_id = next(
            (b.id for b in portal.event_bindings if b.event == event and b.handler == handler_url),
            0,
        )
        form = self._event_form(
            portal,
            event,
            data,
            handler_id=handler_id,
            user_id=user if with_tokens and portal.users else None,
            refresh=event == "ONAPPINSTALL",
            minimal=event == "ONAPPUNINSTALL",
            application_token=token,
            without_auth=without_auth,
        )
        return await self._deliver(handler_url, form, event, member_id)

    def bot_chat(self, member_id: str, user_id: int) -> list[BotChatMessage]:
        """The messages bots posted in ``user_id``'s personal chats, oldest first."""
        messages = self.portal(member_id).bot_messages.values()
        return sorted((m for m in messages if m.user_id == user_id), key=lambda m: m.id)

    async def press_bot_button(
        self,
        member_id: str,
        message_id: int,
        button: int,
        *,
        user_id: int | None = None,
        forged: bool = False,
        language: str = "en",
        bare_auth: bool = False,
        bot_token_of: int | None = None,
        named: int | None = None,
        as_json: bool = False,
    ) -> Delivery:
        """``user_id`` (the chat's owner by default) presses the ``button``-th COMMAND
        button of a bot message: ONIMBOTV2COMMANDADD to the bot's webhook (§22.1.8, §22.1.10).

        The top-level ``auth`` carries the presser's own tokens; ``data[user]`` names them
        too (a form field, which the app must not trust). ``forged`` sends a wrong
        ``application_token``. ``bare_auth`` sends the top-level ``auth`` as the v2 page's
        example has it (``domain`` and ``application_token`` only), so the only token is the
        bot block's: the installing admin's, or ``bot_token_of``'s. ``named`` puts another
        user in ``data[user]``. ``as_json`` (with ``bare_auth``) posts the event as JSON, as
        the bot platform's handler example reads it.
        """
        portal = self.portal(member_id)
        message = portal.bot_messages[message_id]
        bot = portal.chat_bots[message.bot_id]
        commands = [b for b in message.keyboard if b.get("COMMAND")]
        pressed = commands[button]
        presser = message.user_id if user_id is None else user_id
        command = php_str(pressed["COMMAND"]).lstrip("/")
        bot_pair = self.issue_tokens(
            member_id,
            bot_token_of
            if bot_token_of is not None
            else portal.installed_by or _first_admin(portal),
        )
        data = {
            "bot": {
                "id": str(bot.id),
                "code": bot.code,
                "auth": {
                    "access_token": bot_pair.access_token,
                    "expires_in": str(int(ACCESS_TOKEN_TTL)),
                    "member_id": member_id,
                    "user_id": str(bot.id),
                    "application_token": portal.application_token,
                },
            },
            "command": {
                "id": str(bot.commands[command]),
                "command": f"/{command}",
                "params": b24_bots.keyboard_param(pressed),
                "context": "keyboard",
            },
            "message": {
                "id": str(message.id),
                "chatId": str(message.user_id),
                "authorId": str(bot.id),
                "text": message.text,
                "isSystem": "0",
            },
            "chat": {"id": str(message.user_id), "dialogId": str(presser), "type": "private"},
            "user": {"id": str(presser if named is None else named), "active": "1", "bot": "0"},
            "language": language,
        }
        application_token = secrets.token_hex(16) if forged else None
        if not bare_auth:
            form = self._event_form(
                portal,
                "ONIMBOTV2COMMANDADD",
                data,
                handler_id=0,
                user_id=presser,
                application_token=application_token,
            )
            return await self._deliver(bot.webhook_url, form, "ONIMBOTV2COMMANDADD", member_id)
        event = {
            "event": "ONIMBOTV2COMMANDADD",
            "data": data,
            "ts": str(int(self.clock.time())),
            "auth": {
                "domain": portal.domain,
                "application_token": application_token or portal.application_token,
            },
        }
        return await self._deliver(
            bot.webhook_url,
            flatten_form(event),
            "ONIMBOTV2COMMANDADD",
            member_id,
            json_body=event if as_json else None,
        )

    async def delete_bot(self, member_id: str, bot_id: int, *, forged: bool = False) -> Delivery:
        """An admin deletes the bot in Bitrix24: it is gone, with its chats, and
        ONIMBOTV2DELETE (``data[bot]``, §22.1.9) goes to its webhook as its last event.

        ``forged``: an ordinary member posts the same event (with the portal's real
        application token, which every member can read) while the bot stays.
        """
        portal = self.portal(member_id)
        bot = portal.chat_bots[bot_id]
        if not forged:
            del portal.chat_bots[bot_id]
            for message_id in [m.id for m in portal.bot_messages.values() if m.bot_id == bot_id]:
                del portal.bot_messages[message_id]
        actor = portal.installed_by or _first_admin(portal)
        data = {"bot": {"id": str(bot.id), "code": bot.code, "auth": {"member_id": member_id}}}
        form = self._event_form(portal, "ONIMBOTV2DELETE", data, handler_id=0, user_id=actor)
        return await self._deliver(bot.webhook_url, form, "ONIMBOTV2DELETE", member_id)

    async def drain_events(self) -> list[Delivery]:
        """Wait for every queued event delivery; returns the deliveries made meanwhile."""
        before = len(self.deliveries)
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)
        return self.deliveries[before:]

    # -------------------------------------------------------------- changes made in the UI

    async def ui_add_todo(
        self,
        member_id: str,
        owner: OwnerRef,
        *,
        deadline: datetime,
        responsible_id: int,
        title: str = "",
        user_id: int | None = None,
        robot: bool = False,
        wait: bool = True,
    ) -> int:
        """A user (or a robot) adds a to-do in Bitrix24; ONCRMACTIVITYADD goes out."""
        activity_id = self.add_activity(
            member_id,
            owner,
            deadline=deadline,
            responsible_id=responsible_id,
            subject=title,
            author_id=user_id or responsible_id,
        )
        await self._ui_event(
            member_id=member_id,
            event="ONCRMACTIVITYADD",
            activity_id=activity_id,
            user_id=user_id,
            robot=robot,
            wait=wait,
        )
        return activity_id

    async def ui_update_activity(
        self,
        member_id: str,
        activity_id: int,
        *,
        user_id: int | None = None,
        deadline: datetime | None = None,
        responsible_id: int | None = None,
        completed: bool | None = None,
        subject: str | None = None,
        robot: bool = False,
        wait: bool = True,
    ) -> list[Delivery]:
        """Change an activity as a user would in the UI; ONCRMACTIVITYUPDATE goes out."""
        portal = self.portal(member_id)
        activity = portal.activities[activity_id]
        if deadline is not None:
            activity.deadline = activity.start_time = activity.end_time = deadline
        if responsible_id is not None:
            activity.responsible_id = responsible_id
        if completed is not None:
            activity.completed = completed
        if subject is not None:
            activity.subject = subject
        acting = user_id or portal.installed_by or activity.responsible_id
        activity.editor_id = acting
        activity.last_updated = self.clock.now()
        return await self._ui_event(
            member_id=member_id,
            event="ONCRMACTIVITYUPDATE",
            activity_id=activity_id,
            user_id=acting,
            robot=robot,
            wait=wait,
        )

    async def ui_delete_activity(
        self,
        member_id: str,
        activity_id: int,
        *,
        user_id: int | None = None,
        robot: bool = False,
        wait: bool = True,
    ) -> list[Delivery]:
        """Delete an activity in the UI; ONCRMACTIVITYDELETE goes out."""
        portal = self.portal(member_id)
        activity = portal.activities.pop(activity_id)
        acting = user_id or portal.installed_by or activity.responsible_id
        return await self._ui_event(
            member_id=member_id,
            event="ONCRMACTIVITYDELETE",
            activity_id=activity_id,
            user_id=acting,
            robot=robot,
            wait=wait,
        )

    async def _ui_event(
        self,
        *,
        member_id: str,
        event: str,
        activity_id: int,
        user_id: int | None,
        robot: bool,
        wait: bool,
    ) -> list[Delivery]:
        portal = self.portal(member_id)
        acting = user_id or portal.installed_by or _first_admin(portal)
        tasks = self._queue_event(
            portal, event, {"FIELDS": {"ID": str(activity_id)}}, acting, robot=robot
        )
        if not wait or not tasks:
            return []
        return list(await asyncio.gather(*tasks))

    # -------------------------------------------------------------- the Core protocol

    def now(self) -> datetime:
        return self.clock.now()

    def activity_changed(
        self, portal: PortalState, event: str, activity_id: int, user_id: int
    ) -> None:
        self._queue_event(portal, event, {"FIELDS": {"ID": str(activity_id)}}, user_id)

    def app_test(self, portal: PortalState, query: Mapping[str, Any], user_id: int) -> None:
        self._queue_event(portal, "ONAPPTEST", {"QUERY": dict(query)}, user_id)

    # -------------------------------------------------------------- event plumbing

    def _queue_event(
        self,
        portal: PortalState,
        event: str,
        data: Mapping[str, Any],
        acting_user: int,
        *,
        robot: bool = False,
    ) -> list[asyncio.Task[Delivery]]:
        # No events reach the app before installation is finished (§8.2, §9.3).
        if not portal.installed:
            return []
        tasks = []
        for binding in portal.event_bindings:
            if binding.event != event or binding.offline:
                continue
            user = None if robot else (binding.auth_type or acting_user)
            form = self._event_form(portal, event, data, handler_id=binding.id, user_id=user)
            task = asyncio.get_running_loop().create_task(
                self._deliver(binding.handler, form, event, portal.member_id, self.event_delay)
            )
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
            tasks.append(task)
        return tasks

    def _event_form(
        self,
        portal: PortalState,
        event: str,
        data: Mapping[str, Any],
        *,
        handler_id: int,
        user_id: int | None,
        refresh: bool = False,
        minimal: bool = False,
        application_token: str | None = None,
        without_auth: bool = False,
    ) -> list[tuple[str, str]]:
        auth: dict[str, Any] = {}
        if user_id is not None and not minimal and user_id in portal.users:
            pair = self.issue_tokens(portal.member_id, user_id)
            auth["access_token"] = pair.access_token
            auth["expires_in"] = str(int(ACCESS_TOKEN_TTL))
            if refresh:  # only install-like events carry a refresh token (§9.2)
                auth["refresh_token"] = pair.refresh_token
        if not minimal:
            auth["scope"] = portal.scope
        auth["domain"] = portal.domain
        auth["server_endpoint"] = self.server_endpoint
        if not minimal:
            auth["status"] = portal.status
        auth["client_endpoint"] = (
            self.portal_endpoint(portal.member_id)
            if portal.member_id in self._portals
            else f"{self._base_url}/{portal.domain}/rest/"
        )
        auth["member_id"] = portal.member_id
        auth["application_token"] = (
            application_token if application_token is not None else portal.application_token
        )
        form: dict[str, Any] = {
            "event": event,
            "event_handler_id": str(handler_id),
            "data": data,
            "ts": str(int(self.clock.time())),
        }
        if not without_auth:
            form["auth"] = auth
        return flatten_form(form)

    def _default_event_data(
        self, portal: PortalState, event: str, fields: Mapping[str, Any] | None
    ) -> dict[str, Any]:
        if event == "ONAPPINSTALL":
            return {
                "VERSION": str(portal.app_version),
                "ACTIVE": "Y",
                "INSTALLED": "Y",
                "LANGUAGE_ID": portal.language,
            }
        if event == "ONAPPUPDATE":
            return {
                "VERSION": str(portal.app_version),
                "PREVIOUS_VERSION": str(max(portal.app_version - 1, 1)),
                "LANGUAGE_ID": portal.language,
            }
        if event == "ONAPPUNINSTALL":
            return {"LANGUAGE_ID": portal.language, "CLEAN": "1"}
        return {"FIELDS": {k: php_str(v) for k, v in (fields or {}).items()}}

    def _stranger(self, member_id: str) -> PortalState:
        """A portal nobody installed, for forged events with an unknown ``member_id``."""
        return PortalState(
            member_id=member_id,
            domain="unknown.bitrix24.test",
            application_token=secrets.token_hex(16),
            scope=self.scope,
        )

    async def _deliver(
        self,
        url: str,
        form: list[tuple[str, str]],
        event: str,
        member_id: str,
        delay: float = 0.0,
        *,
        json_body: Mapping[str, Any] | None = None,
    ) -> Delivery:
        """POST one event; no retries whatever happens (§9.3). ``json_body``: the same
        event as a JSON document instead of the form (``form`` is then what it flattens to)."""
        if delay:
            await self._sleep(delay)
        if self.drop_events:
            delivery = Delivery(
                url=url,
                event=event,
                member_id=member_id,
                status=None,
                dropped=True,
                form=tuple(form),
            )
        else:
            assert self._session is not None, "start the emulator first"
            try:
                payload: dict[str, Any] = (
                    {"data": form} if json_body is None else {"json": json_body}
                )
                async with self._session.post(
                    url, timeout=aiohttp.ClientTimeout(total=self.event_timeout), **payload
                ) as response:
                    body = await response.text()
                    delivery = Delivery(
                        url=url,
                        event=event,
                        member_id=member_id,
                        status=response.status,
                        body=body,
                        form=tuple(form),
                    )
            except (aiohttp.ClientError, TimeoutError) as exc:
                delivery = Delivery(
                    url=url,
                    event=event,
                    member_id=member_id,
                    status=None,
                    error=type(exc).__name__,
                    form=tuple(form),
                )
        self.deliveries.append(delivery)
        return delivery

    async def _sleep(self, seconds: float) -> None:
        """Sleep, but wake up when the emulator closes."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._closing.wait(), timeout=seconds)

    # -------------------------------------------------------------- HTTP: portal REST

    async def _handle_rest(self, request: web.Request) -> web.StreamResponse:
        domain = request.match_info["domain"]
        method = request.match_info["method"].lower().removesuffix(".json")
        portal = self._by_domain.get(domain)
        if portal is None:
            moved = self._moved.get(domain)
            if moved is not None:
                location = f"{self.portal_endpoint(moved.member_id)}{request.match_info['method']}"
                if request.query_string:
                    location += f"?{request.query_string}"
                raise web.HTTPFound(location)
            return web.Response(status=404, text="portal not found")
        started = self.clock.time()
        clock_start = time.perf_counter()
        self._http[(portal.member_id, method)] += 1
        params: dict[str, Any] = {}
        user: User | None = None
        commands: tuple[str, ...] = ()
        try:
            params = await _read_params(request)
            if self.latency:
                await self._sleep(self.latency)
            fault = self._take_fault(portal.member_id, method, top_level=True)
            if fault is not None and fault.drop:
                raise _Dropped
            if fault is not None and fault.stall:
                await self._closing.wait()
                raise _Dropped
            if portal.deleted:
                raise _rest_error("PORTAL_DELETED")
            if not self._admit(portal):
                raise _rest_error("QUERY_LIMIT_EXCEEDED")
            user, scopes = self._authenticate(portal, params)
            if fault is not None and fault.error is not None:
                raise RestError(fault.error, fault.description, fault.status)
            if method == "batch":
                commands, status, body = await self._batch(portal, user, scopes, params, started)
            else:
                status = 200
                body = self._single(
                    portal=portal,
                    user=user,
                    scopes=scopes,
                    method=method,
                    params=params,
                    started=started,
                )
            if fault is not None and fault.raw_body is not None:
                await self._hold(fault)
                self._record(
                    portal=portal,
                    method=method,
                    status=fault.status,
                    error="raw",
                    clock_start=clock_start,
                    user=user,
                    params=params,
                    commands=commands,
                )
                return web.Response(
                    status=fault.status, text=fault.raw_body, content_type="text/html"
                )
            await self._hold(fault)
        except RestError as exc:
            status, body = exc.status, exc.body()
        except _Dropped:
            self._record(
                portal=portal,
                method=method,
                status=0,
                error="dropped",
                clock_start=clock_start,
                user=user,
                params=params,
                commands=commands,
            )
            if request.transport is not None:
                request.transport.abort()
            return web.Response()
        self._record(
            portal=portal,
            method=method,
            status=status,
            error=body.get("error"),
            clock_start=clock_start,
            user=user,
            params=params,
            commands=commands,
        )
        return web.json_response(body, status=status)

    async def _hold(self, fault: Fault | None) -> None:
        if fault is not None and fault.delay:
            await self._sleep(fault.delay)

    def _authenticate(
        self, portal: PortalState, params: Mapping[str, Any]
    ) -> tuple[User, frozenset[str]]:
        token = params.get("auth")
        if not isinstance(token, str) or not token:
            raise _rest_error("NO_AUTH_FOUND")
        record = self._access.get(token)
        if record is None or record.member_id != portal.member_id:
            raise _rest_error("NO_AUTH_FOUND")
        if self.clock.time() >= record.expires_at:
            raise _rest_error("expired_token")
        user = portal.users.get(record.user_id)
        if user is None:
            raise _rest_error("NO_AUTH_FOUND")
        return user, frozenset(s.strip() for s in record.scope.split(",") if s.strip())

    def _admit(self, portal: PortalState) -> bool:
        """The leaky bucket (§7.1): up to ``burst`` requests, draining ``per_second``."""
        limit = portal.rate_limit or self.rate_limit
        if limit is None:
            return True
        now = self.clock.time()
        drained = (now - portal.bucket_at) * limit.per_second if portal.bucket_at else 0.0
        portal.bucket_level = max(0.0, portal.bucket_level - drained)
        portal.bucket_at = now
        if portal.bucket_level + 1 > limit.burst:
            return False
        portal.bucket_level += 1
        return True

    def _single(
        self,
        *,
        portal: PortalState,
        user: User,
        scopes: frozenset[str],
        method: str,
        params: dict[str, Any],
        started: float,
    ) -> dict[str, Any]:
        reply, processing = self._execute(portal, user, scopes, method, params)
        body: dict[str, Any] = {"result": reply.result}
        if reply.total is not None:
            body["total"] = reply.total
        if reply.next is not None:
            body["next"] = reply.next
        body["time"] = self._time_block(portal, started, processing, method)
        return body

    def _execute(
        self,
        portal: PortalState,
        user: User,
        scopes: frozenset[str],
        method: str,
        params: dict[str, Any],
    ) -> tuple[Reply, float]:
        self._calls[(portal.member_id, method)] += 1
        spec = _METHOD_INDEX.get(method)
        if spec is None:
            raise _rest_error("ERROR_METHOD_NOT_FOUND", "Method not found!")
        if spec.scopes and not scopes & set(spec.scopes):
            raise _rest_error("insufficient_scope")
        self._check_operating(portal, method)
        clock_start = time.perf_counter()
        try:
            reply = spec.handler(
                Call(
                    core=self, portal=portal, user=user, scopes=scopes, params=params, method=method
                )
            )
        except RestError:
            raise
        except Exception as exc:
            self.internal_errors.append(f"{method}: {type(exc).__name__}: {exc}")
            log.exception("emulator method %s failed", method)
            raise _rest_error("INTERNAL_SERVER_ERROR") from exc
        finally:
            processing = time.perf_counter() - clock_start + self._method_cost.get(method, 0.0)
            self._spend_operating(portal, method, processing)
        return reply, processing

    # -------------------------------------------------------------- operating time (§7.2)

    def _operating_state(self, portal: PortalState, method: str) -> tuple[float, int | None]:
        buckets = self._operating.get((portal.member_id, method), {})
        now = self.clock.time()
        live = {m: s for m, s in buckets.items() if m * 60 + OPERATING_WINDOW > now}
        if not live:
            return 0.0, None
        return sum(live.values()), int(min(live) * 60 + OPERATING_WINDOW)

    def _check_operating(self, portal: PortalState, method: str) -> None:
        if self.operating_limit is None:
            return
        spent, _reset = self._operating_state(portal, method)
        if spent >= self.operating_limit:
            raise _rest_error("OPERATION_TIME_LIMIT")

    def _spend_operating(self, portal: PortalState, method: str, seconds: float) -> None:
        minute = int(self.clock.time() // 60)
        buckets = self._operating.setdefault((portal.member_id, method), {})
        buckets[minute] = buckets.get(minute, 0.0) + seconds

    def _time_block(
        self, portal: PortalState, started: float, processing: float, method: str | None
    ) -> dict[str, Any]:
        finished = self.clock.time()
        zone = portal.zone
        block: dict[str, Any] = {
            "start": started,
            "finish": finished,
            "duration": finished - started,
            "processing": processing,
            "date_start": format_datetime(datetime.fromtimestamp(started, zone), zone),
            "date_finish": format_datetime(datetime.fromtimestamp(finished, zone), zone),
        }
        if method is None:
            block["operating"] = 0  # the outer batch is not counted (§6)
            return block
        spent, reset_at = self._operating_state(portal, method)
        if reset_at is not None:
            block["operating_reset_at"] = reset_at
        block["operating"] = spent
        return block

    # -------------------------------------------------------------- batch (§6)

    async def _batch(
        self,
        portal: PortalState,
        user: User,
        scopes: frozenset[str],
        params: Mapping[str, Any],
        started: float,
    ) -> tuple[tuple[str, ...], int, dict[str, Any]]:
        raw = get_ci(params, "cmd")
        commands: Mapping[str, Any]
        if isinstance(raw, list):
            commands = {str(i): c for i, c in enumerate(raw)}
        elif isinstance(raw, Mapping):
            commands = {str(k): c for k, c in raw.items()}
        else:
            commands = {}
        if len(commands) > BATCH_MAX:
            raise RestError("ERROR_BATCH_LENGTH_EXCEEDED", "Max batch length exceeded", 400)
        halt = to_flag(get_ci(params, "halt"))
        results: dict[str, Any] = {}
        errors: dict[str, Any] = {}
        totals: dict[str, Any] = {}
        nexts: dict[str, Any] = {}
        times: dict[str, Any] = {}
        names: list[str] = []
        for key, command in commands.items():
            sub_started = self.clock.time()
            try:
                if not isinstance(command, str):
                    raise RestError("INVALID_REQUEST", "Command must be a string", 400)
                name, _, query = command.partition("?")
                method = name.strip().lower().removesuffix(".json")
                names.append(method)
                if method == "batch":
                    raise _rest_error(
                        "ERROR_BATCH_METHOD_NOT_ALLOWED", "Method is not allowed for batch usage"
                    )
                fault = self._take_fault(portal.member_id, method, top_level=False)
                if fault is not None:
                    if fault.drop:
                        raise _Dropped
                    if fault.stall:
                        await self._closing.wait()
                        raise _Dropped
                    await self._hold(fault)
                    if fault.error is not None:
                        raise RestError(fault.error, fault.description, fault.status)
                sub_params = _batch_params(query, results)
                reply, processing = self._execute(portal, user, scopes, method, sub_params)
            except RestError as exc:
                errors[key] = exc.body()
                if halt:
                    break
                continue
            results[key] = reply.result
            if reply.total is not None:
                totals[key] = reply.total
            if reply.next is not None:
                nexts[key] = reply.next
            times[key] = self._time_block(portal, sub_started, processing, method)
        body = {
            "result": {
                "result": php_array(results),
                "result_error": php_array(errors),
                "result_total": php_array(totals),
                "result_next": php_array(nexts),
                "result_time": php_array(times),
            },
            "time": self._time_block(portal, started, 0.0, None),
        }
        return tuple(names), 200, body

    # -------------------------------------------------------------- HTTP: the auth server

    async def _handle_oauth(self, request: web.Request) -> web.StreamResponse:
        params = {**request.query}
        if request.method == "POST" and request.content_type in {
            "application/x-www-form-urlencoded",
            "multipart/form-data",
        }:
            form = await request.post()
            params.update({k: v for k, v in form.items() if isinstance(v, str)})
        grant = params.get("grant_type", "")
        clock_start = time.perf_counter()
        member_id = ""
        try:
            fault = self._take_fault(None, "oauth.token", top_level=True)
            if fault is not None and (fault.drop or fault.stall):
                if fault.stall:
                    await self._closing.wait()
                raise _Dropped
            await self._hold(fault)
            if fault is not None and fault.raw_body is not None:
                return web.Response(
                    status=fault.status, text=fault.raw_body, content_type="text/html"
                )
            if fault is not None and fault.error is not None:
                raise RestError(fault.error, fault.description, fault.status)
            member_id, body = self._grant(params)
            status = 200
        except RestError as exc:
            status = self.oauth_error_status.get(exc.code, exc.status)
            body = exc.body()
        except _Dropped:
            if request.transport is not None:
                request.transport.abort()
            return web.Response()
        finally:
            self._oauth[(grant, member_id)] += 1
        self.log.append(
            RequestRecord(
                at=self.clock.time(),
                member_id=member_id or None,
                method="oauth.token",
                status=status,
                error=body.get("error"),
                duration=time.perf_counter() - clock_start,
                params={"grant_type": grant},
            )
        )
        return web.json_response(body, status=status)

    def _grant(self, params: Mapping[str, str]) -> tuple[str, dict[str, Any]]:
        grant = params.get("grant_type", "")
        if not grant or not params.get("client_id"):
            raise RestError("invalid_request", "Invalid request", 400)
        if not (
            secrets.compare_digest(params.get("client_id", ""), self.client_id)
            and secrets.compare_digest(params.get("client_secret", ""), self.client_secret)
        ):
            raise RestError("invalid_client", "Invalid client", 401)
        now = self.clock.time()
        if grant == "refresh_token":
            token = params.get("refresh_token", "")
            revoked_for = self._revoked_refresh.get(token)
            if revoked_for is not None:
                # Uninstalled: "app not installed on the portal" (§2.3; unclear, §21.20).
                raise RestError("invalid_client", "Application not installed", 401)
            record = self._refresh.get(token)
            if record is None or record.expires_at <= now:
                raise RestError("invalid_grant", "Invalid grant", 400)
            portal = self._portals[record.member_id]
            if portal.deleted or portal.uninstalled:
                raise RestError("invalid_client", "Application not installed", 401)
            if portal.payment_required:
                raise RestError("PAYMENT_REQUIRED", "Payment required", 400)
            # Rotation: the used refresh token dies at once (the safe reading of §21.3).
            del self._refresh[token]
            pair = self.issue_tokens(record.member_id, record.user_id)
            reply = self._token_reply(portal, pair)
            reply["expires"] = int(now + ACCESS_TOKEN_TTL)
            reply["user_id"] = record.user_id
            return portal.member_id, reply
        if grant == "authorization_code":
            code = self._codes.pop(params.get("code", ""), None)
            if code is None or code.expires_at <= now:
                raise RestError("invalid_grant", "Invalid grant", 400)
            portal = self._portals[code.member_id]
            if portal.deleted or portal.uninstalled:
                raise RestError("invalid_client", "Application not installed", 401)
            if portal.payment_required:
                raise RestError("PAYMENT_REQUIRED", "Payment required", 400)
            pair = self.issue_tokens(code.member_id, code.user_id)
            return portal.member_id, self._token_reply(portal, pair)
        raise RestError("invalid_request", f"Unsupported grant_type {grant}", 400)

    def _token_reply(self, portal: PortalState, pair: TokenPair) -> dict[str, Any]:
        """§2.3: ``domain`` is the auth server's, ``scope`` comma-separated."""
        return {
            "access_token": pair.access_token,
            "expires_in": int(ACCESS_TOKEN_TTL),
            "scope": portal.scope,
            "domain": "oauth.bitrix.info",
            "server_endpoint": self.server_endpoint,
            "status": portal.status,
            "client_endpoint": self.portal_endpoint(portal.member_id),
            "member_id": portal.member_id,
            "refresh_token": pair.refresh_token,
        }

    async def _handle_server_rest(self, request: web.Request) -> web.StreamResponse:
        """The auth server's REST: only ``app.info``, the trusted status (§2.3, §19.6)."""
        method = request.match_info["method"].lower().removesuffix(".json")
        started = self.clock.time()
        try:
            params = await _read_params(request)
            if method != "app.info":
                raise _rest_error("ERROR_METHOD_NOT_FOUND", "Method not found!")
            token = params.get("auth")
            record = self._access.get(token) if isinstance(token, str) else None
            if record is None:
                raise _rest_error("NO_AUTH_FOUND")
            if self.clock.time() >= record.expires_at:
                raise _rest_error("expired_token")
            portal = self._portals[record.member_id]
            user = portal.users[record.user_id]
            scopes = frozenset(record.scope.split(","))
            body = self._single(
                portal=portal,
                user=user,
                scopes=scopes,
                method="app.info",
                params=params,
                started=started,
            )
            return web.json_response(body)
        except RestError as exc:
            return web.json_response(exc.body(), status=exc.status)

    # -------------------------------------------------------------- bookkeeping

    def _take_fault(self, member_id: str | None, method: str, *, top_level: bool) -> Fault | None:
        for fault in self._faults:
            if not fault.active:
                continue
            if fault.member_id is not None and fault.member_id != member_id:
                continue
            wildcard = fault.method == "*" and method not in {"batch", "oauth.token"}
            if fault.method == method or wildcard:
                if method == "batch" and not top_level:
                    continue
                fault.hits += 1
                return fault
        return None

    def _record(
        self,
        *,
        portal: PortalState,
        method: str,
        status: int,
        error: Any,
        clock_start: float,
        user: User | None,
        params: Mapping[str, Any],
        commands: tuple[str, ...],
    ) -> None:
        self.log.append(
            RequestRecord(
                at=self.clock.time(),
                member_id=portal.member_id,
                method=method,
                status=status,
                error=None if error is None else str(error),
                duration=time.perf_counter() - clock_start,
                user_id=user.id if user else None,
                params={k: v for k, v in params.items() if k != "auth"},
                commands=commands,
            )
        )


# ------------------------------------------------------------------ helpers

_METHOD_INDEX: dict[str, MethodSpec] = {name.lower(): spec for name, spec in METHODS.items()}


def _rest_error(code: str, description: str | None = None) -> RestError:
    return RestError(code, description or _DESCRIPTIONS.get(code, code), DOCUMENTED_STATUS[code])


def _count(counter: Counter[tuple[str, str]], member_id: str | None, method: str | None) -> int:
    wanted = method.lower() if method else None
    return sum(
        n
        for (member, name), n in counter.items()
        if (member_id is None or member == member_id) and (wanted is None or name == wanted)
    )


def _entity_path(code: str) -> str:
    """``CRM_DEAL_LIST_MENU`` → ``deal``; ``CRM_DYNAMIC_183_…`` → ``type/183``."""
    parts = code.split("_")
    return f"type/{parts[2]}" if parts[1] == "DYNAMIC" else parts[1].lower()


def _first_admin(portal: PortalState) -> int:
    return next((u.id for u in portal.users.values() if u.admin), 0)


def _php_json(value: Any) -> str:
    """``json_encode`` as PHP does it: compact, slashes escaped."""
    return json.dumps(value, separators=(",", ":")).replace("/", "\\/")


async def _read_params(request: web.Request) -> dict[str, Any]:
    """Query and body parameters merged (body wins): JSON, form or multipart (§3)."""
    params = parse_bracket_pairs(request.query.items())
    if request.method != "POST" or not request.body_exists:
        return params
    if request.content_type == "application/json":
        text = await request.text()
        if text.strip():
            try:
                data = json.loads(text)
            except ValueError as exc:
                raise RestError("INVALID_REQUEST", "Invalid JSON body", 400) from exc
            if isinstance(data, dict):
                params.update(data)
    elif request.content_type in {"application/x-www-form-urlencoded", "multipart/form-data"}:
        form = await request.post()
        params.update(parse_bracket_pairs((k, v) for k, v in form.items() if isinstance(v, str)))
    return params


def _batch_params(query: str, results: Mapping[str, Any]) -> dict[str, Any]:
    """A batch command's query with ``$result[cmd][field]...`` put in (§6)."""
    pairs: list[tuple[str, str]] = []
    for key, value in parse_query(query):
        whole = _RESULT_REF.fullmatch(value)
        if whole is not None:
            found, resolved = _resolve(whole, results)
            if found and isinstance(resolved, list | dict):
                pairs.extend(flatten_form({key: resolved}))
                continue
        pairs.append((key, _RESULT_REF.sub(lambda m: _substitute(m, results), value)))
    return parse_bracket_pairs(pairs)


def _resolve(match: re.Match[str], results: Mapping[str, Any]) -> tuple[bool, Any]:
    if match.group(1) not in results:
        return False, None
    node: Any = results[match.group(1)]
    for part in re.findall(r"\[([^\]]*)\]", match.group(2)):
        if isinstance(node, Mapping) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return False, None
    return True, node


def _substitute(match: re.Match[str], results: Mapping[str, Any]) -> str:
    found, value = _resolve(match, results)
    if not found:
        return match.group(0)  # unresolvable references stay as written (undocumented)
    if isinstance(value, list | dict):
        return json.dumps(value)
    return php_str(value)


def encode_batch_command(method: str, params: Mapping[str, Any]) -> str:
    """``method?bracket=query`` for a batch ``cmd`` entry (handy for tests)."""
    return f"{method}?{urlencode(flatten_form(params))}"
