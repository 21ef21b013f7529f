"""The JSON API under ``/api/v1`` (DESIGN.md §3.3–§3.5): its handlers and ``ROUTES``, the one
table from which the router and ``/api/openapi.json`` are made."""

from __future__ import annotations

from aiohttp import web

from touchpoints.domain.model import OwnerRef
from touchpoints.domain.portal import Portal
from touchpoints.domain.scheduling import Presets, follow_up_deadline, presets_at
from touchpoints.domain.secrets import Secret
from touchpoints.domain.visibility import sees_team
from touchpoints.entrypoints import (
    bulk_api,
    handover_api,
    placements_api,
    replies,
    reports_api,
    routes,
    smart_processes_api,
)
from touchpoints.entrypoints.container import Services
from touchpoints.entrypoints.context import Context, issue_session
from touchpoints.entrypoints.http import ApiError, json_reply
from touchpoints.entrypoints.replies import (
    BoardReply,
    Completion,
    DeadlineReply,
    Export,
    FoundRecord,
    Items,
    Me,
    MePortal,
    MeUser,
    Ok,
    OwnerReply,
    RecordSearch,
    RecordTouchPoints,
    SessionReply,
    TouchPointReply,
    UserReply,
    Users,
)
from touchpoints.entrypoints.routes import Call, Route
from touchpoints.entrypoints.sessions import SessionInvalid
from touchpoints.entrypoints.wire import (
    CompleteBody,
    CreateBody,
    Empty,
    FeedbackBody,
    MoveBody,
    Preferences,
    PreviewQuery,
    RecordPath,
    RenewBody,
    SearchQuery,
    SettingsDocument,
    TouchPointPath,
)
from touchpoints.ports.crm import Hidden
from touchpoints.services import account, touchpoints, undo
from touchpoints.services.bot import digest_channel
from touchpoints.services.errors import InvalidInput, Unauthenticated
from touchpoints.services.touchpoints import BoardRequest

# Renewing reads its body before any session exists: it gets only what fresh frame auth needs.
RENEW_MAX_BODY = 32 * 1024
_SEARCH_LIMIT = 20


# ------------------------------------------------------------------ session and me


async def renew_session(call: Call[Empty, RenewBody]) -> SessionReply:
    """Renew the app session with fresh frame auth.

    Exchange fresh frame auth (`BX24.getAuth()`) for a new session.
    """
    services, body = call.services, call.body
    if not body.token or not body.member_id:
        raise InvalidInput({"auth_id": "is required", "member_id": "is required"})
    async with services.storage.unit_of_work() as uow:
        portal = await uow.portals.get_by_member_id(body.member_id)
    if portal is None:
        raise ApiError(401, "UNAUTHENTICATED", "unknown portal")
    return await renew_for(call.services, call.request, portal, Secret(body.token))


async def renew_for(
    services: Services, request: web.Request, portal: Portal, access_token: Secret
) -> SessionReply:
    """A new session for whoever ``access_token`` belongs to, in the previous one's language.

    Raises: ApiError 401 UNAUTHENTICATED when Bitrix24 does not accept the token.
    """
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
    token, session = issue_session(
        services, portal=portal, user=me, access_token=access_token, lang=lang
    )
    return SessionReply(session=token, expires_at=session.expires_at)


async def me(call: Call[Empty, Empty]) -> Me:
    """Who am I."""
    return await me_of(call.ctx)


async def me_of(ctx: Context) -> Me:
    """Who the caller is, what they see and in which language."""
    profile = await ctx.crm.current_user()
    return Me(
        user=MeUser(
            id=profile.id,
            name=profile.name,
            photo=profile.photo_url,
            is_admin=ctx.session.is_admin,
        ),
        sees_team=sees_team(ctx.actor.viewer, ctx.settings),
        portal=MePortal(
            domain=ctx.actor.portal.domain,
            time_zone=ctx.settings.time_zone,
            digest_channel=await digest_channel(ctx.use_case.storage, ctx.actor.portal.id),
        ),
        lang=ctx.lang,
    )


async def users(call: Call[Empty, Empty]) -> Users:
    """The portal's users (names, photos)."""
    ctx = call.ctx
    found = await call.services.users.get(ctx.actor.portal.id, ctx.session.user_id, ctx.crm.users)
    return Users(users=[UserReply.of(user) for user in found])


# ------------------------------------------------------------------ board and touch-points


async def board(call: Call[BoardRequest, Empty]) -> BoardReply:
    """The board in due-date columns."""
    return BoardReply.of(await touchpoints.get_board(call.ctx.use_case, call.params))


async def create(call: Call[Empty, CreateBody]) -> TouchPointReply:
    """Create a touch-point."""
    ctx, body = call.ctx, call.body
    card = await touchpoints.create_touch_point(ctx.use_case, request=body)
    return TouchPointReply.of(card, ctx.zone)


async def read(call: Call[TouchPointPath, Empty]) -> TouchPointReply:
    """Read a touch-point."""
    ctx = call.ctx
    card = await touchpoints.get_touch_point(ctx.use_case, touch_point_id=call.params.id)
    return TouchPointReply.of(card, ctx.zone)


async def move(call: Call[TouchPointPath, MoveBody]) -> web.Response:
    """Move (reschedule to a deadline or a local day, reassign)."""
    ctx, body = call.ctx, call.body
    if body.deadline is not None and body.day is not None:
        raise InvalidInput({"day": "give a deadline or a day, not both"})
    card, ticket = await undo.move_with_undo(
        ctx.use_case,
        touch_point_id=call.params.id,
        deadline=body.deadline,
        day=body.day,
        responsible_id=body.responsible_id,
    )
    headers = {bulk_api.UNDO_HEADER: ticket.token} if ticket is not None else None
    return json_reply(replies.for_orjson(TouchPointReply.of(card, ctx.zone)), headers=headers)


async def cancel(call: Call[TouchPointPath, Empty]) -> TouchPointReply:
    """Cancel."""
    ctx = call.ctx
    card = await touchpoints.cancel_touch_point(
        ctx.use_case,
        touch_point_id=call.params.id,
    )
    return TouchPointReply.of(card, ctx.zone)


async def complete(call: Call[TouchPointPath, CompleteBody]) -> Completion:
    """Complete, optionally with a follow-up."""
    ctx, body = call.ctx, call.body
    result = await touchpoints.complete_touch_point(
        ctx.use_case,
        touch_point_id=call.params.id,
        result_note=body.result_note,
        follow_up=body.follow_up,
    )
    zone = ctx.zone
    return Completion(
        completed=TouchPointReply.of(result.completed, zone),
        follow_up=TouchPointReply.of(result.follow_up, zone) if result.follow_up else None,
    )


async def chain(call: Call[TouchPointPath, Empty]) -> Items:
    """The whole chain, oldest first."""
    ctx = call.ctx
    cards = await touchpoints.get_chain(ctx.use_case, touch_point_id=call.params.id)
    return Items(items=[TouchPointReply.of(card, ctx.zone) for card in cards])


async def record_touch_points(call: Call[RecordPath, Empty]) -> RecordTouchPoints:
    """A CRM record's touch-points (card tab)."""
    ctx = call.ctx
    owner = OwnerRef(call.params.owner_type, call.params.owner_id)
    cards = await touchpoints.record_touch_points(ctx.use_case, owner=owner)
    record = (await ctx.crm.read_records([owner])).get(owner)
    title = None if record is None or isinstance(record, Hidden) else record.title
    return RecordTouchPoints(
        owner=OwnerReply(type=owner.type, id=owner.id, title=title),
        items=[TouchPointReply.of(card, ctx.zone) for card in cards],
    )


async def search_records(call: Call[SearchQuery, Empty]) -> RecordSearch:
    """Search CRM records by title."""
    query = call.params
    found = await call.ctx.crm.search_records(
        query.owner_type, query.q.strip(), limit=_SEARCH_LIMIT
    )
    return RecordSearch(
        items=[FoundRecord(type=r.ref.type, id=r.ref.id, title=r.title) for r in found]
    )


async def followup_preview(call: Call[PreviewQuery, Empty]) -> DeadlineReply:
    """The default follow-up deadline."""
    settings = call.ctx.settings
    now = call.services.clock.now()
    deadline = follow_up_deadline(now, call.params.from_ or now, settings)
    return DeadlineReply(deadline=deadline.astimezone(settings.zone))


async def presets(call: Call[Empty, Empty]) -> Presets:
    """Quick dates (local days) for moves and follow-ups.

    The quick dates of the card menu, the dialogs and the bulk bar, computed here so the
    browser never redoes working days (DESIGN §3.6).
    """
    return presets_at(call.services.clock.now(), call.ctx.settings)


# ------------------------------------------------------------------ settings and account


async def get_settings(call: Call[Empty, Empty]) -> SettingsDocument:
    """The portal's settings."""
    return SettingsDocument.of(call.ctx.settings)


async def put_settings(call: Call[Empty, SettingsDocument]) -> SettingsDocument:
    """Change the settings (admins)."""
    ctx, services = call.ctx, call.services
    saved = await account.update_settings(
        ctx.use_case,
        settings=call.body.to_settings(call.ctx.settings),
        handlers=services.handlers,
    )
    return SettingsDocument.of(saved)


async def get_preferences(call: Call[Empty, Empty]) -> Preferences:
    """My preferences."""
    preferences, settings = await account.get_preferences(call.ctx.use_case)
    return Preferences(
        digest_enabled=preferences.wants_digest(settings), rollup_enabled=preferences.wants_rollup
    )


async def put_preferences(call: Call[Empty, Preferences]) -> Preferences:
    """Change my preferences."""
    saved = await account.set_preferences(
        call.ctx.use_case,
        digest_enabled=call.body.digest_enabled,
        rollup_enabled=call.body.rollup_enabled,
    )
    return Preferences(digest_enabled=call.body.digest_enabled, rollup_enabled=saved.wants_rollup)


async def feedback(call: Call[Empty, FeedbackBody]) -> Ok:
    """Send feedback."""
    await account.send_feedback(
        call.ctx.use_case,
        message=call.body.message,
        email=call.body.email,
    )
    return Ok(ok=True)


async def export(call: Call[Empty, Empty]) -> Export:
    """Export the portal's app data (admins)."""
    document = await account.export_portal(call.ctx.use_case)
    return Export.of(document)


async def erase(call: Call[Empty, Empty]) -> None:
    """Erase the portal's app data (admins)."""
    await account.erase_portal(call.ctx.use_case)
    call.services.users.forget(call.ctx.actor.portal.id)


_TP = "/api/v1/touchpoints/{id}"

ROUTES: tuple[Route, ...] = (
    Route("POST", "/api/v1/session/renew", renew_session, auth=False, max_body=RENEW_MAX_BODY),
    Route("GET", "/api/v1/me", me),
    Route("GET", "/api/v1/users", users),
    Route("GET", "/api/v1/board", board),
    Route("POST", "/api/v1/touchpoints", create, status=201),
    Route("GET", _TP, read),
    Route(
        "PATCH",
        _TP,
        move,
        reply=TouchPointReply,
        reply_headers={bulk_api.UNDO_HEADER: bulk_api.UNDO_HEADER_DOC},
    ),
    Route("DELETE", _TP, cancel),
    Route("POST", _TP + "/complete", complete),
    Route("GET", _TP + "/chain", chain),
    Route("GET", "/api/v1/records/search", search_records),
    Route("GET", "/api/v1/records/{owner_type}/{owner_id}/touchpoints", record_touch_points),
    Route("GET", "/api/v1/followup-preview", followup_preview),
    Route("GET", "/api/v1/presets", presets),
    Route("GET", "/api/v1/settings", get_settings),
    Route("PUT", "/api/v1/settings", put_settings),
    Route("GET", "/api/v1/me/preferences", get_preferences),
    Route("PUT", "/api/v1/me/preferences", put_preferences),
    Route("POST", "/api/v1/feedback", feedback, status=201),
    Route(
        "GET",
        "/api/v1/portal/export",
        export,
        headers={"Content-Disposition": 'attachment; filename="touchpoints-export.json"'},
    ),
    Route("DELETE", "/api/v1/portal/data", erase, status=204),
    *reports_api.ROUTES,
    *placements_api.ROUTES,
    *bulk_api.ROUTES,
    *handover_api.ROUTES,
    *smart_processes_api.ROUTES,
)


def add_routes(app: web.Application) -> None:
    """The JSON API's routes, from ``ROUTES``."""
    routes.add_routes(app, ROUTES)
