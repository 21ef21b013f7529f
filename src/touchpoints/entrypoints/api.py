"""The JSON API under ``/api/v1`` (DESIGN.md §3.3–§3.5)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

import attrs
from aiohttp import web

from touchpoints.domain.crm import UserInfo
from touchpoints.domain.model import OwnerRef, OwnerType, TouchPointType
from touchpoints.domain.portal import Portal
from touchpoints.domain.scheduling import follow_up_deadline
from touchpoints.domain.secrets import Secret
from touchpoints.domain.settings import PortalSettings
from touchpoints.domain.visibility import Viewer, sees_team
from touchpoints.entrypoints import wire
from touchpoints.entrypoints.container import SERVICES
from touchpoints.entrypoints.http import MAX_BODY, ApiError, json_reply
from touchpoints.entrypoints.inputs import JsonRefused, loads_bounded
from touchpoints.entrypoints.sessions import AppSession, SessionExpired, SessionInvalid
from touchpoints.ports.crm import Crm, Hidden
from touchpoints.services import account, touchpoints
from touchpoints.services.context import Actor, load_settings
from touchpoints.services.errors import InvalidInput, Unauthenticated

RENEW_LIFETIME = timedelta(hours=1)
# Renewing reads its body before any session exists: it gets only what fresh frame auth needs.
RENEW_MAX_BODY = 32 * 1024


@attrs.frozen
class Caller:
    """A verified API caller: their session, portal and identity, and a CRM client as them."""

    session: AppSession
    actor: Actor
    crm: Crm
    settings: PortalSettings

    @property
    def zone(self) -> ZoneInfo:
        """The portal's zone, for replies (loaded with the portal, once per request)."""
        return self.settings.zone


async def caller(request: web.Request) -> Caller:
    """Open the bearer session and load its portal.

    Raises: ApiError 401 SESSION_EXPIRED / UNAUTHENTICATED.
    """
    services = request.app[SERVICES]
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise ApiError(401, "UNAUTHENTICATED", "send the app session as 'Authorization: Bearer …'")
    try:
        session = services.sealer.open(token.strip(), now=services.clock.now())
    except SessionExpired:
        raise ApiError(401, "SESSION_EXPIRED", "the session has expired; renew it") from None
    except SessionInvalid:
        raise ApiError(401, "UNAUTHENTICATED", "not a valid session") from None
    async with services.storage.unit_of_work() as uow:
        portal = await uow.portals.get(session.portal_id)
        settings = await load_settings(uow, portal.id) if portal is not None else None
    if portal is None or settings is None or portal.member_id != session.member_id:
        raise ApiError(401, "UNAUTHENTICATED", "the app is no longer installed on this portal")
    actor = Actor(portal, Viewer(session.user_id, session.is_admin))
    return Caller(
        session, actor, services.connector.as_user(portal, session.access_token), settings
    )


async def read_json(request: web.Request, *, max_size: int = MAX_BODY) -> Any:
    """The body as JSON: at most ``max_size`` bytes (413), UTF-8, nested at most 32 levels.

    Call it only after ``caller``: nothing of an unauthenticated body is read.
    """
    limit = f"{max_size // 1024 // 1024} MiB" if max_size >= 1024 * 1024 else f"{max_size} bytes"
    too_large = ApiError(413, "PAYLOAD_TOO_LARGE", f"the body is over {limit}")
    if request.content_length is not None and request.content_length > max_size:
        raise too_large
    try:
        # aiohttp stops reading at client_max_size (1 MiB), so no chunked body grows past it.
        raw = await request.read()
    except web.HTTPRequestEntityTooLarge:
        raise too_large from None
    if len(raw) > max_size:
        raise too_large
    if not raw:
        raise InvalidInput({"body": "is required (a JSON object)"})
    try:
        return loads_bounded(raw)
    except JsonRefused as exc:
        raise ApiError(400, "BAD_REQUEST", f"the body is not valid JSON: {exc}") from None


def _no_query(request: web.Request, allowed: frozenset[str] = frozenset()) -> None:
    unknown = sorted(set(request.query) - allowed)
    if unknown:
        raise InvalidInput(dict.fromkeys(unknown, "is not a known query parameter"))


def _user_json(user: UserInfo) -> dict[str, Any]:
    return {
        "id": user.id,
        "name": user.name,
        "photo": user.photo_url,
        "active": user.active,
        "department_ids": list(user.department_ids),
    }


# ------------------------------------------------------------------ session and me


async def renew_session(request: web.Request) -> web.Response:
    """Exchange fresh frame auth (``BX24.getAuth()``) for a new session."""
    services = request.app[SERVICES]
    body = wire.structure(await read_json(request, max_size=RENEW_MAX_BODY), wire.RenewBody)
    if not body.token or not body.member_id:
        raise InvalidInput({"auth_id": "is required", "member_id": "is required"})
    async with services.storage.unit_of_work() as uow:
        portal = await uow.portals.get_by_member_id(body.member_id)
    if portal is None:
        raise ApiError(401, "UNAUTHENTICATED", "unknown portal")
    return await renewed_session(request, portal, Secret(body.token))


async def renewed_session(
    request: web.Request, portal: Portal, access_token: Secret
) -> web.Response:
    """A new session for whoever ``access_token`` belongs to, in the previous one's language.

    Raises: ApiError 401 UNAUTHENTICATED when Bitrix24 does not accept the token.
    """
    services = request.app[SERVICES]
    now = services.clock.now()
    try:
        # profile and app.info, cached per token hash, within the abuse budget (DESIGN §4).
        me = await services.verifier.user(portal, access_token)
    except Unauthenticated:
        raise ApiError(
            401, "UNAUTHENTICATED", "Bitrix24 did not accept this authorisation"
        ) from None
    previous = request.headers.get("Authorization", "")
    lang = "en"
    if previous.lower().startswith("bearer "):
        try:
            lang = services.sealer.open(previous[7:].strip(), now=now).lang
        except SessionInvalid:
            lang = "en"
    token, session = services.sealer.issue(
        portal_id=portal.id,
        member_id=portal.member_id,
        user_id=me.id,
        is_admin=me.is_admin,
        access_token=access_token,
        token_expires_at=now + RENEW_LIFETIME,
        now=now,
        lang=lang,
    )
    return json_reply({"session": token, "expires_at": session.expires_at.isoformat()})


async def me(request: web.Request) -> web.Response:
    return json_reply(await me_document(request))


async def me_document(request: web.Request) -> dict[str, Any]:
    """Who the caller is, what they see and in which language."""
    call = await caller(request)
    _no_query(request)
    profile = await call.crm.current_user()
    settings = call.settings
    return {
        "user": {
            "id": profile.id,
            "name": profile.name,
            "photo": profile.photo_url,
            "is_admin": call.session.is_admin,
        },
        "sees_team": sees_team(call.actor.viewer, settings),
        "portal": {"domain": call.actor.portal.domain, "time_zone": settings.time_zone},
        "lang": call.session.lang,
    }


async def users(request: web.Request) -> web.Response:
    call = await caller(request)
    _no_query(request)
    services = request.app[SERVICES]
    found = await services.users.get(call.actor.portal.id, call.session.user_id, call.crm.users)
    return json_reply({"users": [_user_json(user) for user in found]})


# ------------------------------------------------------------------ board and touch-points


async def board(request: web.Request) -> web.Response:
    call = await caller(request)
    _no_query(request, frozenset({"responsible_id", "owner_type", "type"}))
    responsible_id = wire.query_id(request.query.get("responsible_id"), "responsible_id")
    owner_type = wire.query_enum(request.query.get("owner_type"), "owner_type", OwnerType)
    type_ = wire.query_enum(request.query.get("type"), "type", TouchPointType)
    services = request.app[SERVICES]
    result = await touchpoints.get_board(
        storage=services.storage,
        crm=call.crm,
        clock=services.clock,
        actor=call.actor,
        responsible_id=responsible_id,
        owner_type=owner_type,
        type_=type_,
    )
    return json_reply(wire.board_json(result))


async def create(request: web.Request) -> web.Response:
    call = await caller(request)
    _no_query(request)
    body = wire.structure(await read_json(request), wire.CreateBody)
    services = request.app[SERVICES]
    card = await touchpoints.create_touch_point(
        storage=services.storage,
        crm=call.crm,
        clock=services.clock,
        actor=call.actor,
        request=touchpoints.CreateRequest(
            owner=OwnerRef(body.owner.type, body.owner.id),
            type=body.type,
            deadline=body.deadline,
            responsible_id=body.responsible_id,
            title=body.title,
            note=body.note,
        ),
    )
    zone = call.zone
    return json_reply(wire.touch_point_json(card, zone), status=201)


async def read(request: web.Request) -> web.Response:
    call = await caller(request)
    _no_query(request)
    touch_point_id = wire.path_id(request.match_info["id"])
    services = request.app[SERVICES]
    card = await touchpoints.get_touch_point(
        storage=services.storage, crm=call.crm, actor=call.actor, touch_point_id=touch_point_id
    )
    return json_reply(wire.touch_point_json(card, call.zone))


async def move(request: web.Request) -> web.Response:
    call = await caller(request)
    _no_query(request)
    touch_point_id = wire.path_id(request.match_info["id"])
    body = wire.structure(await read_json(request), wire.MoveBody)
    services = request.app[SERVICES]
    card = await touchpoints.move_touch_point(
        storage=services.storage,
        crm=call.crm,
        clock=services.clock,
        actor=call.actor,
        touch_point_id=touch_point_id,
        deadline=body.deadline,
        responsible_id=body.responsible_id,
    )
    return json_reply(wire.touch_point_json(card, call.zone))


async def cancel(request: web.Request) -> web.Response:
    call = await caller(request)
    _no_query(request)
    touch_point_id = wire.path_id(request.match_info["id"])
    services = request.app[SERVICES]
    card = await touchpoints.cancel_touch_point(
        storage=services.storage,
        crm=call.crm,
        clock=services.clock,
        actor=call.actor,
        touch_point_id=touch_point_id,
    )
    return json_reply(wire.touch_point_json(card, call.zone))


async def complete(request: web.Request) -> web.Response:
    call = await caller(request)
    _no_query(request)
    touch_point_id = wire.path_id(request.match_info["id"])
    body = wire.structure(await read_json(request), wire.CompleteBody)
    services = request.app[SERVICES]
    follow_up = None
    if body.follow_up is not None:
        follow_up = touchpoints.FollowUpRequest(
            deadline=body.follow_up.deadline,
            type=body.follow_up.type,
            responsible_id=body.follow_up.responsible_id,
        )
    result = await touchpoints.complete_touch_point(
        storage=services.storage,
        crm=call.crm,
        clock=services.clock,
        actor=call.actor,
        touch_point_id=touch_point_id,
        result_note=body.result_note,
        follow_up=follow_up,
    )
    zone = call.zone
    return json_reply(
        {
            "completed": wire.touch_point_json(result.completed, zone),
            "follow_up": wire.touch_point_json(result.follow_up, zone)
            if result.follow_up
            else None,
        }
    )


async def chain(request: web.Request) -> web.Response:
    call = await caller(request)
    _no_query(request)
    touch_point_id = wire.path_id(request.match_info["id"])
    services = request.app[SERVICES]
    cards = await touchpoints.get_chain(
        storage=services.storage, crm=call.crm, actor=call.actor, touch_point_id=touch_point_id
    )
    zone = call.zone
    return json_reply({"items": [wire.touch_point_json(card, zone) for card in cards]})


async def record_touch_points(request: web.Request) -> web.Response:
    call = await caller(request)
    _no_query(request)
    owner_type = wire.query_enum(request.match_info["owner_type"], "owner_type", OwnerType)
    owner_id = wire.path_id(request.match_info["owner_id"], "owner_id")
    assert owner_type is not None
    services = request.app[SERVICES]
    owner = OwnerRef(owner_type, owner_id)
    cards = await touchpoints.record_touch_points(
        storage=services.storage, crm=call.crm, actor=call.actor, owner=owner
    )
    lookup = await call.crm.read_records([owner])
    record = lookup.get(owner)
    title = None if record is None or isinstance(record, Hidden) else record.title
    zone = call.zone
    return json_reply(
        {
            "owner": {"type": owner_type.value, "id": owner_id, "title": title},
            "items": [wire.touch_point_json(card, zone) for card in cards],
        }
    )


async def search_records(request: web.Request) -> web.Response:
    call = await caller(request)
    _no_query(request, frozenset({"owner_type", "q"}))
    owner_type = wire.query_enum(request.query.get("owner_type"), "owner_type", OwnerType)
    if owner_type is None:
        raise InvalidInput({"owner_type": "is required"})
    query = request.query.get("q", "")
    if len(query) > 100:
        raise InvalidInput({"q": "must be at most 100 characters"})
    found = await call.crm.search_records(owner_type, query.strip(), limit=20)
    return json_reply(
        {"items": [{"type": r.ref.type.value, "id": r.ref.id, "title": r.title} for r in found]}
    )


async def followup_preview(request: web.Request) -> web.Response:
    call = await caller(request)
    _no_query(request, frozenset({"from"}))
    raw = request.query.get("from")
    services = request.app[SERVICES]
    settings = call.settings
    now = services.clock.now()
    previous = now
    if raw:
        try:
            previous = wire.parse_aware(raw)
        except ValueError as exc:
            raise InvalidInput({"from": str(exc)}) from None
    deadline = follow_up_deadline(now, previous, settings)
    return json_reply({"deadline": deadline.astimezone(settings.zone).isoformat()})


# ------------------------------------------------------------------ settings and account


async def get_settings(request: web.Request) -> web.Response:
    call = await caller(request)
    _no_query(request)
    return json_reply(account.settings_document(call.settings))


async def put_settings(request: web.Request) -> web.Response:
    call = await caller(request)
    _no_query(request)
    body = wire.structure(await read_json(request), wire.SettingsBody)
    services = request.app[SERVICES]
    settings = wire.settings_from_body(body)
    saved = await account.update_settings(
        storage=services.storage,
        connector=services.connector,
        clock=services.clock,
        actor=call.actor,
        settings=settings,
        handlers=services.handlers,
    )
    return json_reply(account.settings_document(saved))


async def get_preferences(request: web.Request) -> web.Response:
    call = await caller(request)
    _no_query(request)
    services = request.app[SERVICES]
    preferences, settings = await account.get_preferences(
        storage=services.storage, actor=call.actor
    )
    return json_reply({"digest_enabled": preferences.wants_digest(settings)})


async def put_preferences(request: web.Request) -> web.Response:
    call = await caller(request)
    _no_query(request)
    body = wire.structure(await read_json(request), wire.PreferencesBody)
    services = request.app[SERVICES]
    saved = await account.set_preferences(
        storage=services.storage,
        clock=services.clock,
        actor=call.actor,
        digest_enabled=body.digest_enabled,
    )
    return json_reply({"digest_enabled": saved.digest_enabled})


async def feedback(request: web.Request) -> web.Response:
    call = await caller(request)
    _no_query(request)
    body = wire.structure(await read_json(request), wire.FeedbackBody)
    services = request.app[SERVICES]
    await account.send_feedback(
        storage=services.storage,
        clock=services.clock,
        actor=call.actor,
        message=body.message,
        email=body.email,
    )
    return json_reply({"ok": True}, status=201)


async def export(request: web.Request) -> web.Response:
    call = await caller(request)
    _no_query(request)
    services = request.app[SERVICES]
    document = await account.export_portal(storage=services.storage, actor=call.actor)
    return json_reply(
        document,
        headers={"Content-Disposition": 'attachment; filename="touchpoints-export.json"'},
    )


async def erase(request: web.Request) -> web.Response:
    call = await caller(request)
    _no_query(request)
    services = request.app[SERVICES]
    await account.erase_portal(storage=services.storage, actor=call.actor)
    services.users.forget(call.actor.portal.id)
    return web.Response(status=204)


def add_routes(app: web.Application) -> None:
    r = app.router
    r.add_post("/api/v1/session/renew", renew_session)
    r.add_get("/api/v1/me", me)
    r.add_get("/api/v1/users", users)
    r.add_get("/api/v1/board", board)
    r.add_post("/api/v1/touchpoints", create)
    r.add_get("/api/v1/touchpoints/{id}", read)
    r.add_patch("/api/v1/touchpoints/{id}", move)
    r.add_delete("/api/v1/touchpoints/{id}", cancel)
    r.add_post("/api/v1/touchpoints/{id}/complete", complete)
    r.add_get("/api/v1/touchpoints/{id}/chain", chain)
    r.add_get("/api/v1/records/search", search_records)
    r.add_get("/api/v1/records/{owner_type}/{owner_id}/touchpoints", record_touch_points)
    r.add_get("/api/v1/followup-preview", followup_preview)
    r.add_get("/api/v1/settings", get_settings)
    r.add_put("/api/v1/settings", put_settings)
    r.add_get("/api/v1/me/preferences", get_preferences)
    r.add_put("/api/v1/me/preferences", put_preferences)
    r.add_post("/api/v1/feedback", feedback)
    r.add_get("/api/v1/portal/export", export)
    r.add_delete("/api/v1/portal/data", erase)
