"""``touchpoints demo``: the app on a simulated portal with made-up data, no Bitrix24 needed.

The demo is a plugin of the composition root (``create_app``): it passes the in-memory
Bitrix24 (``adapters/memory``) and its clock as overrides and adds its own pages and
handlers; storage is the real Postgres (embedded unless ``TOUCHPOINTS_DATABASE_URL`` is
set), so the demo exercises the same code paths as production. The demo's server secret lives in its data directory (made once, mode
0600), so a restart reads its own earlier data; each start re-seeds the demo portal, because the
simulated CRM behind it lives in memory.
"""

from __future__ import annotations

import asyncio
import errno
import json
import logging
import os
import secrets
from collections.abc import AsyncIterator, Callable
from datetime import datetime, timedelta
from pathlib import Path

import attrs
from aiohttp import web

from touchpoints.adapters.clock import OffsetClock, SystemClock
from touchpoints.adapters.memory.bot import MemoryBotChannel
from touchpoints.adapters.memory.crm import MemoryCrmConnector
from touchpoints.adapters.memory.messaging import MemoryMessenger
from touchpoints.adapters.memory.oauth import MemoryOAuthServer
from touchpoints.adapters.memory.state import DEFAULT_SCOPE
from touchpoints.adapters.memory.world import MemoryCrm
from touchpoints.adapters.postgres.crypto import TokenUnreadable
from touchpoints.domain.model import NewTouchPoint, OwnerType
from touchpoints.domain.portal import Portal
from touchpoints.domain.secrets import Secret
from touchpoints.domain.settings import PortalSettings
from touchpoints.entrypoints import api, demo_data, pages, placements, replies, routes
from touchpoints.entrypoints.app import create_app
from touchpoints.entrypoints.b24 import lang_of
from touchpoints.entrypoints.bot import register_bot
from touchpoints.entrypoints.config import MIN_SECRET_KEY_LENGTH, Config
from touchpoints.entrypoints.container import SERVICES
from touchpoints.entrypoints.context import authenticate, issue_session, read_json
from touchpoints.entrypoints.http import ApiError, json_reply
from touchpoints.entrypoints.inputs import parse_id
from touchpoints.entrypoints.listener import serve_until_stopped
from touchpoints.entrypoints.runtime import AppContext, CrmAdapters, Overrides
from touchpoints.ports.clock import Clock
from touchpoints.ports.storage import Storage
from touchpoints.services.errors import InvalidInput

log = logging.getLogger("touchpoints.demo")

SECRET_FILE = "demo-secret"  # noqa: S105 - a file name, not a secret


def demo_secret(config: Config) -> Secret:
    """The configured server secret, else the demo's own, made once under the data directory.

    The file is created with mode 0600 before anything is written to it, and never replaced:
    the stored tokens of the demo portal are encrypted with it.
    """
    if config.secret_key is not None:
        return config.secret_key
    path = config.data_dir.expanduser() / SECRET_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return _read_secret(path)
    with os.fdopen(descriptor, "w", encoding="ascii") as handle:
        handle.write(secrets.token_urlsafe(48))
    return _read_secret(path)


def _read_secret(path: Path) -> Secret:
    text = path.read_text(encoding="ascii").strip()
    # A start killed between creating the file and writing it leaves it short: start over.
    if len(text) < MIN_SECRET_KEY_LENGTH:
        path.unlink()
        raise RuntimeError(f"{path} was incomplete and has been removed; start the demo again")
    return Secret(text)


def build_world(clock: Clock) -> MemoryCrm:
    """The simulated Bitrix24: demo users and records (their ids match ``demo_data``)."""
    world = MemoryCrm(clock)
    world.add_portal(
        demo_data.DEMO_MEMBER_ID,
        domain=demo_data.DEMO_DOMAIN,
        time_zone=demo_data.DEMO_TIME_ZONE,
        scope=f"{DEFAULT_SCOPE},imbot",  # the demo's digest comes from the bot
    )
    for department in demo_data.DEPARTMENTS:
        world.add_department(
            demo_data.DEMO_MEMBER_ID, department.id, department.name, parent_id=department.parent_id
        )
    for user in demo_data.USERS:
        world.add_user(
            demo_data.DEMO_MEMBER_ID,
            user.id,
            name=user.info.name,
            admin=user.admin,
            time_zone=user.info.time_zone,
            departments=user.info.department_ids,
        )
    world.add_smart_process(
        demo_data.DEMO_MEMBER_ID, demo_data.PROJECTS.entity_type_id, demo_data.PROJECTS_TITLE
    )
    for record in [*demo_data.records(), *demo_data.smart_process_items()]:
        world.add_record(
            demo_data.DEMO_MEMBER_ID,
            record.ref.type,
            record.title,
            record_id=record.ref.id,
            stage_id=record.stage_id,
            amount=record.amount,
            currency=record.currency,
            assigned_by_id=record.assigned_by_id,
        )
    for owner_type, stage_id, name in demo_data.STAGE_NAMES:
        world.name_stage(demo_data.DEMO_MEMBER_ID, owner_type, stage_id, name)
    return world


async def _forget_previous_portal(storage: Storage, *, owns_database: bool) -> None:
    """Delete the demo portal a previous start seeded, so that this start seeds it afresh.

    Data seeded before the demo kept its secret (or under another secret) cannot be decrypted;
    in the demo's own embedded database every portal is a demo portal, so it is dropped.

    Raises: TokenUnreadable when the unreadable portal lives in a configured database.
    """
    try:
        async with storage.unit_of_work() as uow:
            existing = await uow.portals.get_by_member_id(demo_data.DEMO_MEMBER_ID)
            if existing is not None:
                await uow.portals.delete(existing.id)
        return
    except TokenUnreadable:
        if not owns_database:
            raise
    log.warning("demo data made under another secret key: seeding the demo portal afresh")
    async with storage.unit_of_work() as uow:
        for portal_id in await uow.portals.list_ids(active_only=False):
            await uow.portals.delete(portal_id)


async def seed_portal(
    storage: Storage, world: MemoryCrm, now: datetime, *, owns_database: bool = True
) -> int:
    """(Re)create the demo portal in storage with settings and touch-points; returns its id."""
    member_id = demo_data.DEMO_MEMBER_ID
    install = world.install(member_id, demo_data.USERS[0].id)
    await _forget_previous_portal(storage, owns_database=owns_database)
    async with storage.unit_of_work() as uow:
        portal = await uow.portals.create(install, now=now)
        await uow.settings.put(
            portal.id,
            PortalSettings.create(
                time_zone=demo_data.DEMO_TIME_ZONE,
                enabled_entities=[*OwnerType, demo_data.PROJECTS],
                default_interval=3,
                default_interval_unit=PortalSettings().default_interval_unit,
                working_days=[1, 2, 3, 4, 5],
                holidays=[],
                digest_hour=9,
                team_viewers=[u.id for u in demo_data.USERS if u.team_viewer],
                digest_default=True,
            ),
            now=now,
        )
        stored_ids: list[int] = []
        for index, plan in enumerate(demo_data.plans(now)):
            todo = plan.todo
            created_at = min(now, todo.deadline) - timedelta(days=2 + index % 5)
            activity_id = world.add_activity(
                member_id,
                todo.owner,
                deadline=todo.deadline,
                responsible_id=todo.responsible_id,
                subject=todo.title,
                description=todo.description,
                completed=plan.done_note is not None,
                created_at=created_at,
            )
            previous_id = stored_ids[plan.follows] if plan.follows is not None else None
            added = await uow.touch_points.add(
                NewTouchPoint(
                    portal_id=portal.id,
                    activity_id=activity_id,
                    owner=todo.owner,
                    type=todo.type,
                    deadline=todo.deadline,
                    responsible_id=todo.responsible_id,
                    created_by=todo.responsible_id,
                    created_at=created_at,
                    previous_id=previous_id,
                )
            )
            if plan.done_note is not None:
                completed_at = todo.deadline + timedelta(hours=1)
                added = await uow.touch_points.update(
                    added.complete(plan.done_note, now=min(completed_at, now))
                )
            if previous_id is not None:
                previous = await uow.touch_points.get(portal.id, previous_id)
                assert previous is not None
                await uow.touch_points.update(previous.link_follow_up(added.id, now=now))
            stored_ids.append(added.id)
    _seed_bitrix_todos(world, member_id, now)
    return portal.id


def _seed_bitrix_todos(world: MemoryCrm, member_id: str, now: datetime) -> None:
    """A few to-dos made in Bitrix24 itself, not tracked by the app: what the timeline
    menu's "Track as touch-point" is for."""
    deals = [plan.todo for plan in demo_data.plans(now) if plan.todo.owner.type is OwnerType.DEAL]
    for index, (todo, subject) in enumerate(
        zip(deals, ("Send the signed contract", "Check the delivery date"), strict=False)
    ):
        world.add_activity(
            member_id,
            todo.owner,
            deadline=now.replace(minute=0, second=0, microsecond=0) + timedelta(days=2 + index),
            responsible_id=todo.responsible_id,
            subject=subject,
            created_at=now - timedelta(days=1),
        )


@attrs.frozen(kw_only=True)
class DemoPortal:
    """The seeded portal of the simulated Bitrix24 and the tokens of its users."""

    portal_id: int
    member_id: str
    default_user_id: int
    user_ids: tuple[int, ...]
    issue_token: Callable[[int], Secret]


DEMO = web.AppKey("demo", DemoPortal)


def seeding(world: MemoryCrm, *, owns_database: bool) -> AppContext:
    """A startup context that seeds the demo portal in storage once the services are open."""

    async def seed(app: web.Application) -> AsyncIterator[None]:
        services = app[SERVICES]
        portal_id = await seed_portal(
            services.storage, world, services.clock.now(), owns_database=owns_database
        )
        member_id = demo_data.DEMO_MEMBER_ID
        await register_bot(services, portal_id)
        app[DEMO] = DemoPortal(
            portal_id=portal_id,
            member_id=member_id,
            default_user_id=demo_data.USERS[0].id,
            user_ids=tuple(user.id for user in demo_data.USERS),
            issue_token=lambda user_id: world.issue_token(member_id, user_id),
        )
        yield

    return seed


async def _demo_portal(request: web.Request) -> Portal | None:
    demo = request.app[DEMO]
    async with request.app[SERVICES].storage.unit_of_work() as uow:
        return await uow.portals.get(demo.portal_id)


async def demo_page(request: web.Request) -> web.Response:
    """``GET /demo?user=&lang=&placement=&id=&activity=&complete=&responsible_id=``: open the app as a demo user, no Bitrix24."""
    services = request.app[SERVICES]
    demo = request.app[DEMO]
    user_id = parse_id(request.query.get("user")) or demo.default_user_id
    if user_id not in demo.user_ids:
        raise web.HTTPNotFound(reason="no such demo user")
    portal = await _demo_portal(request)
    if portal is None:
        return web.Response(
            text="The demo portal's data was erased. Restart `touchpoints demo` to seed it again.",
            status=410,
        )
    token = demo.issue_token(user_id)
    me = await services.connector.as_user(portal, token).current_user()
    lang = lang_of(request.query.get("lang"))
    session, _ = issue_session(services, portal=portal, user=me, access_token=token, lang=lang)
    try:
        launch = placements.read_launch(request.query.get("placement"), _demo_options(request))
    except placements.PlacementRefused:
        launch = placements.Launch(placement="DEFAULT")
    return pages.app_page(
        session=session,
        lang=lang,
        placement=launch.placement,
        placement_options=launch.options,
        portal_domain=None,
        demo=True,
    )


def _demo_options(request: web.Request) -> str:
    """``&id=`` (the record) and ``&activity=`` (a timeline item's to-do), or a link's
    ``&complete=`` / ``&responsible_id=``, as the ``PLACEMENT_OPTIONS`` Bitrix24 would send
    for the placement (BITRIX24.md §22.1.11, §22.2)."""
    if (request.query.get("placement") or "").upper() == placements.APP_LINK:
        keys = [key for key in placements.APP_LINK_KEYS if key in request.query]
        return json.dumps({key: request.query[key] for key in keys})
    record_id = request.query.get("id", "")
    options = {"ID": record_id, "ENTITY_ID": record_id}
    if "activity" in request.query:
        options |= {"ASSOCIATED_ENTITY_ID": request.query["activity"]}
    return json.dumps(options)


async def renew_session(request: web.Request) -> web.StreamResponse:
    """``POST /api/v1/session/renew`` as a demo user: ``{"demo_user_id": n}``.

    Outside a Bitrix24 frame there is no ``BX24.getAuth()``; the demo page renews by naming
    its user. Any other body is the app's own renewal.
    """
    body = await read_json(request, max_size=api.RENEW_MAX_BODY)
    if not isinstance(body, dict) or "demo_user_id" not in body:
        return await _app_renewal(request)
    extra = sorted(set(body) - {"demo_user_id"})
    if extra:
        raise InvalidInput(dict.fromkeys(extra, "is not a known field"))
    demo = request.app[DEMO]
    user_id = body["demo_user_id"]
    if isinstance(user_id, bool) or user_id not in demo.user_ids:
        raise ApiError(401, "UNAUTHENTICATED", "not a demo user")
    portal = await _demo_portal(request)
    if portal is None:
        raise ApiError(401, "UNAUTHENTICATED", "the demo portal is gone")
    reply = await api.renew_for(request.app[SERVICES], request, portal, demo.issue_token(user_id))
    return json_reply(replies.for_orjson(reply))


# The app's own renewal (its route, as the table runs it) for bodies that are not the demo's.
_app_renewal = routes.pipeline(next(r for r in api.ROUTES if r.handler is api.renew_session))


async def me(request: web.Request) -> web.Response:
    """``GET /api/v1/me``, saying that this is the demo."""
    reply = attrs.evolve(await api.me_of(await authenticate(request)), demo=True)
    return json_reply(replies.for_orjson(reply))


async def root(_request: web.Request) -> web.Response:
    raise web.HTTPFound("/demo")


def add_demo_routes(app: web.Application) -> None:
    """The demo's pages, and its handlers in front of the app's renewal and ``me``."""
    app.router.add_get("/", root)
    app.router.add_get("/demo", demo_page)
    app.router.add_post("/api/v1/session/renew", renew_session)
    app.router.add_get("/api/v1/me", me)


def create_demo_app(
    config: Config, *, base_url: str, clock: Clock | None = None
) -> web.Application:
    """The app of the composition root with the simulated portal plugged in.

    Storage is configured as for ``serve`` (its secret the demo's own, see ``demo_secret``);
    the Bitrix24 side is the in-memory world, seeded at every start.
    """
    clock = clock or SystemClock()
    world = build_world(clock)
    demo_config = attrs.evolve(config, public_url=base_url, secret_key=demo_secret(config))
    overrides = Overrides(
        clock=clock,
        crm=CrmAdapters(
            connector=MemoryCrmConnector(world),
            oauth=MemoryOAuthServer(world),
            messenger=MemoryMessenger(world),
            bots=MemoryBotChannel(world),
        ),
        routes=add_demo_routes,
        contexts=(seeding(world, owns_database=config.database_url is None),),
    )
    return create_app(demo_config, overrides=overrides)


def run_demo(
    config: Config,
    *,
    host: str,
    port: int,
    now: datetime | None = None,
    announce: Callable[[str], None] = print,
) -> int:
    """Serve the demo until stopped; ``now`` starts its clock at that instant (it runs on)."""
    display_host = "127.0.0.1" if host in ("0.0.0.0", "") else host  # noqa: S104
    base_url = f"http://{display_host}:{port}"
    clock = None if now is None else OffsetClock(now)

    async def main() -> None:
        app = create_demo_app(config, base_url=base_url, clock=clock)
        try:
            await serve_until_stopped(
                app,
                host=host,
                port=port,
                on_started=lambda: announce(
                    f"Touch-points demo is running. Open {base_url}/demo in your browser."
                ),
            )
        except OSError as exc:
            if exc.errno != errno.EADDRINUSE:
                raise
            raise PortBusy(port) from exc

    try:
        asyncio.run(main())
    except PortBusy as busy:
        announce(
            f"Port {busy.port} is already in use. Start the demo on another one: "
            f"`make run PORT={busy.port + 1}` or `touchpoints demo --port {busy.port + 1}`."
        )
        return 1
    return 0


class PortBusy(Exception):
    """The demo's port is taken by another process."""

    def __init__(self, port: int) -> None:
        super().__init__(port)
        self.port = port
