"""Who is asking: sessions issued (in one place) and opened, the portal and its settings
loaded once per request before anything of the request is read; the bounded JSON reader."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

import attrs
from aiohttp import web

from touchpoints.domain.crm import CurrentUser
from touchpoints.domain.portal import Portal
from touchpoints.domain.secrets import Secret
from touchpoints.domain.settings import PortalSettings
from touchpoints.domain.visibility import Viewer
from touchpoints.entrypoints.container import SERVICES, Services
from touchpoints.entrypoints.http import MAX_BODY, ApiError
from touchpoints.entrypoints.inputs import JsonRefused, loads_bounded
from touchpoints.entrypoints.sessions import (
    MAX_LIFETIME,
    AppSession,
    SessionExpired,
    SessionInvalid,
)
from touchpoints.ports.crm import Crm
from touchpoints.services.context import Actor, UseCase, load_portal
from touchpoints.services.errors import InvalidInput


@attrs.frozen(kw_only=True)
class Context:
    """A verified API caller: their session, portal and identity, a CRM client as them and
    the portal's settings (loaded with the portal, once per request)."""

    session: AppSession
    actor: Actor
    crm: Crm
    settings: PortalSettings
    use_case: UseCase
    """The same, with storage and the clock, for the use cases."""

    @property
    def zone(self) -> ZoneInfo:
        """The portal's zone, for replies."""
        return self.settings.zone

    @property
    def lang(self) -> str:
        return self.session.lang


async def authenticate(request: web.Request) -> Context:
    """Open the bearer session and load its portal and settings.

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
    async with services.storage.reading() as uow:
        found = await load_portal(uow, session.portal_id)
    if found is None or found[0].member_id != session.member_id:
        raise ApiError(401, "UNAUTHENTICATED", "the app is no longer installed on this portal")
    portal, settings = found
    actor = Actor(portal, Viewer(session.user_id, session.is_admin))
    crm = services.connector.as_user(portal, session.access_token)
    return Context(
        session=session,
        actor=actor,
        crm=crm,
        settings=settings,
        use_case=UseCase(
            actor=actor,
            settings=settings,
            crm=crm,
            storage=services.storage,
            clock=services.clock,
            connector=services.connector,
        ),
    )


async def read_json(request: web.Request, *, max_size: int = MAX_BODY) -> Any:
    """The body as JSON: at most ``max_size`` bytes (413), UTF-8, nested at most 32 levels.

    The route pipeline calls it only after ``authenticate``: nothing of an
    unauthenticated body is read.
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


def issue_session(
    services: Services,
    *,
    portal: Portal,
    user: CurrentUser,
    access_token: Secret,
    lang: str,
    token_lifetime_s: int | None = None,
) -> tuple[str, AppSession]:
    """The one place sessions are issued (frame launch, renewal, the demo page), for ``user``
    as Bitrix24 answered who ``access_token`` belongs to.

    A session lives ``sessions.MAX_LIFETIME`` at most, and never longer than the access
    token inside it (``token_lifetime_s``, Bitrix24's ``AUTH_EXPIRES``; at least a minute).
    """
    now = services.clock.now()
    lifetime = MAX_LIFETIME  # the sealer caps any longer one at MAX_LIFETIME
    if token_lifetime_s is not None:
        lifetime = timedelta(seconds=max(token_lifetime_s, 60))
    return services.sealer.issue(
        portal_id=portal.id,
        member_id=portal.member_id,
        user_id=user.id,
        is_admin=user.is_admin,
        access_token=access_token,
        token_expires_at=now + lifetime,
        now=now,
        lang=lang,
    )
