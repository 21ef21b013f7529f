"""Helpers for the Bitrix24 adapter's tests: a tiny local portal server and a clock.

Holds no tests itself. The server answers as BITRIX24.md describes for the methods the
adapter uses, and lets a test inject failures (scripted replies, delays, a strict leaky
bucket) and count requests. It is deliberately small: the contract suite runs the adapter
against the full emulator in tests/fakes.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import itertools
import json
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl

import aiohttp
import attrs
from aiohttp import web
from aiohttp.test_utils import TestServer

from touchpoints.adapters.bitrix24.connector import BitrixConnector
from touchpoints.adapters.bitrix24.oauth import BitrixOAuthServer
from touchpoints.adapters.bitrix24.throttle import BucketLimits, RetryPolicy, Throttle
from touchpoints.adapters.memory.storage import MemoryStorage
from touchpoints.domain.portal import OAuthTokens, Portal, PortalInstall
from touchpoints.domain.secrets import Secret

CLIENT_ID = "app.local.1"
CLIENT_SECRET = "client-secret-9f8e7d6c5b4a"
MEMBER_ID = "0f3c1d2e3f4a5b6c7d8e9f0a1b2c3d4e"
T0 = datetime(2026, 5, 14, 8, 0, tzinfo=UTC)
FAST_RETRY = RetryPolicy(max_attempts=4, base_delay_s=0.01, max_delay_s=0.05, budget_s=5.0)


class Fail(Exception):
    """Raised by a method handler: answered as an error envelope."""

    def __init__(self, status: int, code: str, description: str = "") -> None:
        super().__init__(code)
        self.status = status
        self.code = code
        self.description = description


@attrs.define
class Scripted:
    """A one-shot reply for the next call of a method (``None`` json sends ``text``)."""

    status: int = 200
    json: Any = None
    text: str = ""
    delay_s: float = 0.0
    headers: dict[str, str] = attrs.Factory(dict)
    drop: bool = False  # close the connection without an answer


class MutableClock:
    """A Clock the test moves by hand."""

    def __init__(self, now: datetime = T0) -> None:
        self._now = now

    def now(self) -> datetime:
        return self._now

    def advance(self, **delta: float) -> None:
        self._now += timedelta(**delta)


def nest(pairs: list[tuple[str, str]]) -> dict[str, Any]:
    """PHP-style bracket keys (``filter[@ID][0]=1``) into nested dicts and lists."""
    root: dict[str, Any] = {}
    for key, value in pairs:
        head, _, rest = key.partition("[")
        parts = [head] + ([p.rstrip("]") for p in ("[" + rest).split("[")[1:]] if rest else [])
        node = root
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
    return _lists(root)


def _lists(node: Any) -> Any:
    if isinstance(node, dict):
        converted = {key: _lists(value) for key, value in node.items()}
        if converted and all(key.isdigit() for key in converted):
            return [converted[key] for key in sorted(converted, key=int)]
        return converted
    return node


def _ci(params: dict[str, Any], name: str) -> Any:
    for key, value in params.items():
        if key.lower() == name.lower():
            return value
    return None


def _int(value: Any) -> int:
    return int(str(value))


class LocalPortal:
    """A local Bitrix24 portal plus token endpoint, on 127.0.0.1 with a random port."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []  # (method, JSON body) per HTTP request
        self.headers: list[dict[str, str]] = []
        self.oauth_requests: list[dict[str, str]] = []
        self.scripts: dict[str, deque[Scripted]] = {}
        self.handlers: dict[str, Callable[[dict[str, Any], str], Any]] = {}
        self.latency_s = 0.0
        self.bucket: BucketLimits | None = None
        self._level = 0.0
        self._level_at = time.monotonic()
        self.refused = 0
        # Runs while a call is being handled (a coroutine is awaited): what the portal
        # "sees" of the app's state at that moment.
        self.before_call: Callable[[str, str], Any] | None = None
        # tokens
        self.access: dict[str, int] = {}  # valid access token -> user id
        self.expired: set[str] = set()
        self.refresh: dict[str, int] = {}  # valid refresh token -> user id
        self.oauth_error: str | None = None
        self.issued: list[str] = []  # every token ever handed out, for leak checks
        self.oauth_script: deque[Scripted] = deque()
        self.oauth_delay_s = 0.0
        self.token_clock: Callable[[], datetime] = lambda: T0  # "now" of the auth server
        self._serial = itertools.count(1)
        # data
        self.items: dict[int, dict[int, dict[str, Any]]] = {1: {}, 2: {}, 3: {}, 4: {}}
        self.hidden: set[tuple[int, int]] = set()
        self.activities: dict[int, dict[str, Any]] = {}
        self.users: dict[int, dict[str, Any]] = {}
        self.departments: list[dict[str, Any]] = []
        self.profile: dict[str, Any] = {"ID": "1", "ADMIN": True, "NAME": "Ann", "TIME_ZONE": ""}
        self.events: set[tuple[str, str]] = set()
        self.placements: list[tuple[str, str, str]] = []
        self.notifications: list[dict[str, Any]] = []
        self._activity_ids = itertools.count(9001)
        self._server: TestServer | None = None
        self._install_handlers()

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/rest/{method}", self._rest)
        app.router.add_post("/old/rest/{method}", self._moved)
        app.router.add_get("/oauth/token/", self._oauth)
        self._server = TestServer(app, host="127.0.0.1")
        await self._server.start_server()

    async def close(self) -> None:
        if self._server is not None:
            await self._server.close()

    @property
    def base(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.port}"

    @property
    def endpoint(self) -> str:
        return self.base + "/rest/"

    @property
    def oauth_url(self) -> str:
        return self.base + "/oauth/token/"

    def methods(self) -> list[str]:
        return [method for method, _ in self.calls]

    # ------------------------------------------------------------------ tokens

    def issue(self, user_id: int = 1, *, lifetime_s: int = 3600, now: datetime = T0) -> OAuthTokens:
        serial = next(self._serial)
        access, refresh = f"acc-{serial:04d}-{'x' * 24}", f"ref-{serial:04d}-{'y' * 24}"
        self.access[access] = user_id
        self.refresh[refresh] = user_id
        self.issued.extend([access, refresh])
        return OAuthTokens(
            access_token=Secret(access),
            refresh_token=Secret(refresh),
            expires_at=now + timedelta(seconds=lifetime_s),
        )

    def expire(self, token: Secret) -> None:
        self.access.pop(token.reveal(), None)
        self.expired.add(token.reveal())

    def install(self, tokens: OAuthTokens) -> PortalInstall:
        """What a verified install of this portal stores."""
        return PortalInstall(
            member_id=MEMBER_ID,
            client_endpoint=self.endpoint,
            domain="127.0.0.1",
            application_token=Secret("app-token-abcdef123456"),
            tokens=tokens,
            installed_by=1,
        )

    # ------------------------------------------------------------------ HTTP

    def script(self, method: str, *replies: Scripted) -> None:
        self.scripts.setdefault(method, deque()).extend(replies)

    def _refuse_by_bucket(self) -> bool:
        if self.bucket is None:
            return False
        now = time.monotonic()
        self._level = max(0.0, self._level - (now - self._level_at) * self.bucket.drain_per_s)
        self._level_at = now
        # Documented rule: refused while the counter is above X (BITRIX24.md §7.1).
        if self._level > self.bucket.burst + 1e-9:
            self.refused += 1
            return True
        self._level += 1
        return False

    async def _moved(self, request: web.Request) -> web.Response:
        raise web.HTTPFound(location=f"/rest/{request.match_info['method']}")

    async def _rest(self, request: web.Request) -> web.Response:
        method = request.match_info["method"].removesuffix(".json")
        body = await request.json()
        self.calls.append((method, dict(body)))
        self.headers.append(dict(request.headers))
        if self.latency_s:
            await asyncio.sleep(self.latency_s)
        if self._refuse_by_bucket():
            return _error(503, "QUERY_LIMIT_EXCEEDED", "Too many requests")
        queue = self.scripts.get(method)
        if queue:
            scripted = queue.popleft()
            if scripted.delay_s:
                await asyncio.sleep(scripted.delay_s)
            if scripted.drop:
                assert request.transport is not None
                request.transport.close()
                return web.Response()
            if scripted.json is None:
                return web.Response(
                    status=scripted.status, text=scripted.text, headers=scripted.headers
                )
            return web.json_response(
                scripted.json, status=scripted.status, headers=scripted.headers
            )
        token = str(body.pop("auth", ""))
        if token in self.expired:
            return _error(401, "expired_token", "The access token provided has expired")
        if token not in self.access:
            return _error(401, "NO_AUTH_FOUND", "Wrong authorization data")
        if self.before_call is not None:
            outcome = self.before_call(method, token)
            if inspect.isawaitable(outcome):
                await outcome
        try:
            if method == "batch":
                return web.json_response(self._batch(body, token))
            result = self._dispatch(method, body, token)
        except Fail as fail:
            return _error(fail.status, fail.code, fail.description)
        return web.json_response(_envelope(result))

    def _dispatch(self, method: str, params: dict[str, Any], token: str) -> Any:
        handler = self.handlers.get(method)
        if handler is None:
            raise Fail(404, "ERROR_METHOD_NOT_FOUND", "Method not found!")
        return handler(params, token)

    def _batch(self, body: dict[str, Any], token: str) -> dict[str, Any]:
        results: dict[str, Any] = {}
        errors: dict[str, Any] = {}
        totals: dict[str, Any] = {}
        nexts: dict[str, Any] = {}
        commands = body["cmd"]
        if len(commands) > 50:
            raise Fail(400, "ERROR_BATCH_LENGTH_EXCEEDED", "Max batch length exceeded")
        for key, command in commands.items():
            method, _, query = command.partition("?")
            params = nest(parse_qsl(query, keep_blank_values=True))
            queue = self.scripts.get(f"batch:{method}")
            if queue:
                scripted = queue.popleft()
                errors[key] = scripted.json
                continue
            try:
                result = self._dispatch(method, params, token)
            except Fail as fail:
                errors[key] = {"error": fail.code, "error_description": fail.description}
                continue
            if isinstance(result, Paged):
                totals[key] = result.total
                if result.next is not None:
                    nexts[key] = result.next
                result = result.rows
            results[key] = result
        return {
            "result": {
                "result": results or [],
                "result_error": errors or [],
                "result_total": totals or [],
                "result_next": nexts or [],
                "result_time": [],
            },
            "time": _time(),
        }

    async def _oauth(self, request: web.Request) -> web.Response:
        query = dict(request.query)
        self.oauth_requests.append(query)
        if self.oauth_delay_s:
            await asyncio.sleep(self.oauth_delay_s)
        if self.oauth_script:
            scripted = self.oauth_script.popleft()
            await asyncio.sleep(scripted.delay_s)
            if scripted.json is None:
                return web.Response(status=scripted.status, text=scripted.text)
            return web.json_response(scripted.json, status=scripted.status)
        if self.oauth_error:
            return web.json_response(
                {"error": self.oauth_error, "error_description": "refused"}, status=400
            )
        if query.get("client_id") != CLIENT_ID or query.get("client_secret") != CLIENT_SECRET:
            return web.json_response({"error": "invalid_client"}, status=401)
        old = query.get("refresh_token", "")
        user_id = self.refresh.pop(old, None)  # single use: rotation (§2.3)
        if query.get("grant_type") != "refresh_token" or user_id is None:
            return web.json_response({"error": "invalid_grant"}, status=400)
        tokens = self.issue(user_id)
        return web.json_response(
            {
                "access_token": tokens.access_token.reveal(),
                "refresh_token": tokens.refresh_token.reveal(),
                "expires": int((self.token_clock() + timedelta(hours=1)).timestamp()),
                "expires_in": 3600,
                "client_endpoint": self.endpoint,
                "server_endpoint": self.base + "/rest/",
                "domain": "oauth.bitrix.info",
                "member_id": MEMBER_ID,
                "scope": "crm,im,placement,user_brief",
                "status": "L",
                "user_id": user_id,
            }
        )

    # ------------------------------------------------------------------ methods

    def _install_handlers(self) -> None:
        self.handlers.update(
            {
                "crm.item.list": self._item_list,
                "crm.activity.list": self._activity_list,
                "crm.activity.todo.add": self._todo_add,
                "crm.activity.todo.updateDeadline": self._todo_deadline,
                "crm.activity.todo.updateResponsibleUser": self._todo_responsible,
                "crm.activity.update": self._activity_update,
                "crm.activity.delete": self._activity_delete,
                "profile": lambda params, token: self.profile,
                "user.get": self._user_get,
                "department.get": self._department_get,
                "event.bind": self._event_bind,
                "event.unbind": self._event_unbind,
                "placement.bind": self._placement_bind,
                "placement.unbind": self._placement_unbind,
                "im.notify.system.add": self._notify,
            }
        )

    def add_items(self, type_id: int, count: int, **fields: Any) -> list[int]:
        ids = list(range(1, count + 1))
        for item_id in ids:
            self.items[type_id][item_id] = {
                "id": item_id,
                "title": f"Record {item_id}",
                "name": "",
                "lastName": "",
                "stageId": "NEW",
                "opportunity": 100.5,
                "currencyId": "EUR",
                "assignedById": 1,
                "closed": "N",
                "stageSemanticId": "P",
                **fields,
            }
        return ids

    def add_activities(self, count: int, **fields: Any) -> list[int]:
        ids = []
        for _ in range(count):
            activity_id = next(self._activity_ids)
            self.activities[activity_id] = {
                "ID": str(activity_id),
                "OWNER_TYPE_ID": "2",
                "OWNER_ID": "7",
                "DEADLINE": "2026-05-20T10:00:00+02:00",
                "RESPONSIBLE_ID": "5",
                "COMPLETED": "N",
                "SUBJECT": f"Call {activity_id}",
                "PROVIDER_ID": "CRM_TODO",
                "CREATED": "2026-05-14T09:00:00+02:00",
                "SETTINGS": [],
                **fields,
            }
            ids.append(activity_id)
        return ids

    def _item_list(self, params: dict[str, Any], token: str) -> Any:
        type_id = _int(params["entityTypeId"])
        item_filter = params.get("filter") or {}
        rows = [
            row
            for row in self.items[type_id].values()
            if (type_id, row["id"]) not in self.hidden and _matches(row, item_filter)
        ]
        order = (params.get("order") or {}).get("id", "ASC")
        rows.sort(key=lambda row: row["id"], reverse=str(order).upper() == "DESC")
        return _page({"items": rows}, rows, params, wrap="items")

    def _activity_list(self, params: dict[str, Any], token: str) -> Any:
        item_filter = _ci(params, "filter") or {}
        rows = [row for row in self.activities.values() if _matches(row, item_filter)]
        rows.sort(key=lambda row: int(row["ID"]))
        return _page(rows, rows, params)

    def _todo_add(self, params: dict[str, Any], token: str) -> Any:
        for name in ("ownerTypeId", "ownerId", "deadline"):
            if name not in params:
                raise Fail(400, "100", f"Required fields missing: {name}")
        deadline = str(params["deadline"])
        if "+" not in deadline[10:] and not deadline.endswith("Z"):
            raise Fail(400, "WRONG_DATETIME_FORMAT", "offset required in this local portal")
        (activity_id,) = self.add_activities(
            1,
            OWNER_TYPE_ID=str(params["ownerTypeId"]),
            OWNER_ID=str(params["ownerId"]),
            DEADLINE=deadline,
            RESPONSIBLE_ID=str(params.get("responsibleId", self.access.get(token, 1))),
            SUBJECT=str(params.get("title", "")),
            DESCRIPTION=str(params.get("description", "")),
            PARENT_ID=str(params.get("parentActivityId", "")),
        )
        return {"id": activity_id}

    def _activity(self, params: dict[str, Any]) -> dict[str, Any]:
        activity = self.activities.get(_int(_ci(params, "id")))
        if activity is None:
            raise Fail(400, "", "Activity is not found")
        return activity

    def _todo_deadline(self, params: dict[str, Any], token: str) -> Any:
        activity = self._activity(params)
        if activity["COMPLETED"] == "Y":
            raise Fail(400, "CAN_NOT_UPDATE_COMPLETED_TODO", "completed")
        activity["DEADLINE"] = params["value"]
        return {"id": int(activity["ID"])}

    def _todo_responsible(self, params: dict[str, Any], token: str) -> Any:
        activity = self._activity(params)
        activity["RESPONSIBLE_ID"] = str(params["responsibleId"])
        return {"id": int(activity["ID"])}

    def _activity_update(self, params: dict[str, Any], token: str) -> Any:
        activity = self._activity(params)
        activity.update({key: str(value) for key, value in params["fields"].items()})
        return True

    def _activity_delete(self, params: dict[str, Any], token: str) -> Any:
        activity = self._activity(params)
        del self.activities[int(activity["ID"])]
        return True

    def _user_get(self, params: dict[str, Any], token: str) -> Any:
        user_filter = _ci(params, "filter") or {}
        rows = [row for row in self.users.values() if _matches(row, user_filter)]
        rows.sort(key=lambda row: int(row["ID"]))
        return _page(rows, rows, params)

    def _department_get(self, params: dict[str, Any], token: str) -> Any:
        return _page(self.departments, self.departments, params)

    def _event_bind(self, params: dict[str, Any], token: str) -> Any:
        key = (str(params["event"]).upper(), str(params["handler"]))
        if key in self.events:
            raise Fail(400, "ERROR_HANDLER_ALREADY_EXIST", "Handler already exists!")
        self.events.add(key)
        return True

    def _event_unbind(self, params: dict[str, Any], token: str) -> Any:
        key = (str(params["event"]).upper(), str(params["handler"]))
        count = 1 if key in self.events else 0
        self.events.discard(key)
        return {"count": count}

    def _placement_bind(self, params: dict[str, Any], token: str) -> Any:
        self.placements.append((params["PLACEMENT"], params["HANDLER"], params.get("TITLE", "")))
        return True

    def _placement_unbind(self, params: dict[str, Any], token: str) -> Any:
        before = len(self.placements)
        self.placements = [
            row
            for row in self.placements
            if not (row[0] == params["PLACEMENT"] and row[1] == params.get("HANDLER", row[1]))
        ]
        return {"count": before - len(self.placements)}

    def _notify(self, params: dict[str, Any], token: str) -> Any:
        if _int(params.get("USER_ID", 0)) <= 0:
            raise Fail(400, "USER_ID_EMPTY", "Recipient is empty")
        if not str(params.get("MESSAGE", "")).strip():
            raise Fail(400, "MESSAGE_EMPTY", "Message is empty")
        self.notifications.append(params)
        return len(self.notifications)


@attrs.frozen
class Paged:
    """A list result with its paging fields."""

    rows: Any
    total: int
    next: int | None


def _page(result_shape: Any, rows: list[Any], params: dict[str, Any], *, wrap: str = "") -> Paged:
    start = _int(_ci(params, "start") or 0)
    if start == -1:
        page = rows[:50]
        return Paged({wrap: page} if wrap else page, 0, None)
    page = rows[start : start + 50]
    following = start + 50 if start + 50 < len(rows) else None
    return Paged({wrap: page} if wrap else page, len(rows), following)


def _matches(row: dict[str, Any], row_filter: dict[str, Any]) -> bool:
    for raw_key, expected in row_filter.items():
        key = raw_key.lstrip("@>%<=!")
        prefix = raw_key[: len(raw_key) - len(key)]
        actual = next((value for name, value in row.items() if name.lower() == key.lower()), None)
        if prefix == "@":
            if str(actual) not in {str(value) for value in expected}:
                return False
        elif prefix == ">":
            if key.lower() == "id":
                if int(str(actual)) <= int(str(expected)):
                    return False
            elif str(actual) <= str(expected):
                return False
        elif prefix == "%":
            if str(expected).lower() not in str(actual or "").lower():
                return False
        elif isinstance(expected, list):  # filter[ID][]=1&filter[ID][]=2 means "one of"
            if str(actual) not in {str(value) for value in expected}:
                return False
        elif str(actual) != str(expected):
            return False
    return True


def _time() -> dict[str, Any]:
    now = time.time()
    return {
        "start": now,
        "finish": now,
        "duration": 0.001,
        "processing": 0.001,
        "date_start": "2026-05-14T10:00:00+02:00",
        "date_finish": "2026-05-14T10:00:00+02:00",
        "operating": 0.5,
        "operating_reset_at": int(now) + 600,
    }


def _envelope(result: Any) -> dict[str, Any]:
    if isinstance(result, Paged):
        body: dict[str, Any] = {"result": result.rows, "total": result.total, "time": _time()}
        if result.next is not None:
            body["next"] = result.next
        return body
    return {"result": result, "time": _time()}


def _error(status: int, code: str, description: str) -> web.Response:
    return web.json_response({"error": code, "error_description": description}, status=status)


@contextlib.asynccontextmanager
async def running_portal() -> AsyncIterator[LocalPortal]:
    portal = LocalPortal()
    await portal.start()
    try:
        yield portal
    finally:
        await portal.close()


@attrs.define
class Env:
    """A running local portal with a connector wired to it, as a test needs them."""

    server: LocalPortal
    session: aiohttp.ClientSession
    clock: MutableClock
    storage: MemoryStorage
    connector: BitrixConnector
    portal: Portal

    async def stored(self) -> Portal:
        """The portal's committed row."""
        async with self.storage.unit_of_work() as uow:
            portal = await uow.portals.get(self.portal.id)
        assert portal is not None
        return portal

    async def store_tokens(self, tokens: OAuthTokens) -> None:
        """What another worker's refresh leaves behind."""
        async with self.storage.unit_of_work() as uow:
            await uow.portals.update_tokens(self.portal.id, tokens, now=self.clock.now())


@contextlib.asynccontextmanager
async def local_env(
    *,
    throttle: Throttle | None = None,
    retry: RetryPolicy = FAST_RETRY,
    timeout_s: float = 5.0,
    lifetime_s: int = 3600,
) -> AsyncIterator[Env]:
    """A portal whose stored app tokens are valid for ``lifetime_s`` from ``T0``."""
    async with running_portal() as server, aiohttp.ClientSession() as session:
        clock = MutableClock()
        storage = MemoryStorage()
        async with storage.unit_of_work() as uow:
            portal = await uow.portals.create(
                server.install(server.issue(lifetime_s=lifetime_s)), now=T0
            )
        connector = connector_for(
            server, session, storage, clock, throttle=throttle, retry=retry, timeout_s=timeout_s
        )
        try:
            yield Env(server, session, clock, storage, connector, portal)
        finally:
            await storage.close()


def connector_for(
    server: LocalPortal,
    session: aiohttp.ClientSession,
    storage: Any,
    clock: MutableClock,
    *,
    throttle: Throttle | None = None,
    retry: RetryPolicy = FAST_RETRY,
    timeout_s: float = 5.0,
) -> BitrixConnector:
    oauth = BitrixOAuthServer(
        session, CLIENT_ID, Secret(CLIENT_SECRET), server.oauth_url, clock=clock, allow_http=True
    )
    return BitrixConnector(
        session,
        oauth,
        storage,
        clock,
        throttle or Throttle(BucketLimits(burst=1000, drain_per_s=1000.0)),
        retry=retry,
        allow_http=True,
        timeout_s=timeout_s,
    )


def body_text(server: LocalPortal) -> str:
    """Everything the portal received, for "was X ever sent here" assertions."""
    return json.dumps([server.calls, server.headers], default=str)
