"""The services every entrypoint shares, built once by the composition root."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

import attrs
from aiohttp import web

from touchpoints.domain.crm import UserInfo
from touchpoints.domain.messages import Catalogue
from touchpoints.entrypoints.catalogue import load_catalogue
from touchpoints.entrypoints.config import PrivacyConfig
from touchpoints.entrypoints.sessions import SessionSealer
from touchpoints.ports.clock import Clock
from touchpoints.ports.crm import CrmConnector, OAuthServer
from touchpoints.ports.event_inbox import EventInbox
from touchpoints.ports.messaging import BotChannel, Messenger
from touchpoints.ports.storage import Storage
from touchpoints.services.event_sync import ActivitySync
from touchpoints.services.installation import Handlers
from touchpoints.services.verification import TokenVerifier

USERS_TTL_S = 120.0
EVENT_INLINE_BUDGET_S = 0.15


@attrs.define
class UserCache:
    """Users' names and photos, kept for a short while per viewer (DESIGN.md §3.3, §4).

    Keyed by portal *and* user: a list read with one user's token (their CRM rights) is
    never served to another user.
    """

    ttl_s: float = USERS_TTL_S
    max_entries: int = 10_000
    _entries: dict[tuple[int, int], tuple[float, list[UserInfo]]] = attrs.field(factory=dict)

    async def get(
        self, portal_id: int, user_id: int, load: Callable[[], Awaitable[list[UserInfo]]]
    ) -> list[UserInfo]:
        key = (portal_id, user_id)
        hit = self._entries.get(key)
        now = time.monotonic()
        if hit is not None and now - hit[0] < self.ttl_s:
            return hit[1]
        users = await load()
        if len(self._entries) >= self.max_entries:
            self._entries = {k: v for k, v in self._entries.items() if now - v[0] < self.ttl_s}
        self._entries[key] = (now, users)
        return users

    def forget(self, portal_id: int) -> None:
        self._entries = {k: v for k, v in self._entries.items() if k[0] != portal_id}


@attrs.frozen(kw_only=True)
class Services:
    storage: Storage
    connector: CrmConnector
    oauth: OAuthServer
    messenger: Messenger
    clock: Clock
    sealer: SessionSealer
    handlers: Handlers
    privacy: PrivacyConfig
    allow_http: bool = False
    # Durable event intake (Postgres); None keeps events in process only.
    inbox: EventInbox | None = None
    # The digest bot (DESIGN.md §3.7); None: digests go as system notifications only.
    bots: BotChannel | None = None
    app_code: str = "touchpoints"  # the app's code in links into it (BITRIX24.md §22.1.11)
    users: UserCache = attrs.field(factory=UserCache)
    catalogue: Catalogue = attrs.field(factory=load_catalogue)
    verifier: TokenVerifier = attrs.field(
        default=attrs.Factory(
            lambda self: TokenVerifier(
                storage=self.storage,
                connector=self.connector,
                oauth=self.oauth,
                clock=self.clock,
            ),
            takes_self=True,
        )
    )


SERVICES = web.AppKey("services", Services)
ACTIVITY_SYNC = web.AppKey("activity_sync", ActivitySync)
