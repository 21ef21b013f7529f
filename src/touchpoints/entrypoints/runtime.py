"""The composition root: builds adapters from configuration for every entrypoint.

``serve``, ``digest`` and ``demo`` all build their services here. A plugin (the demo) passes
``Overrides``: its own Bitrix24 side, its clock, and for the web app its routes and startup
contexts; what it does not override is built from configuration as in production.
"""

from __future__ import annotations

import contextlib
import logging
import secrets
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager

import aiohttp
import attrs
from aiohttp import web

from touchpoints.adapters.bitrix24.bot import BitrixBotChannel
from touchpoints.adapters.bitrix24.connector import BitrixConnector
from touchpoints.adapters.bitrix24.messenger import BitrixMessenger
from touchpoints.adapters.bitrix24.network import public_connector
from touchpoints.adapters.bitrix24.oauth import BitrixOAuthServer
from touchpoints.adapters.bitrix24.throttle import Throttle
from touchpoints.adapters.clock import SystemClock
from touchpoints.adapters.postgres import PostgresStorage, TokenCipher, open_storage, resolve_dsn
from touchpoints.adapters.postgres.event_inbox import PostgresEventInbox
from touchpoints.adapters.postgres.rate_budget import PostgresRateBudget
from touchpoints.domain.secrets import Secret
from touchpoints.entrypoints.config import Config, ConfigError
from touchpoints.entrypoints.container import Services
from touchpoints.entrypoints.sessions import SessionSealer
from touchpoints.ports.clock import Clock
from touchpoints.ports.crm import CrmConnector, OAuthServer
from touchpoints.ports.messaging import BotChannel, Messenger
from touchpoints.ports.storage import Storage
from touchpoints.services.installation import Handlers

log = logging.getLogger("touchpoints")

AppContext = Callable[[web.Application], AsyncIterator[None]]


@attrs.frozen(kw_only=True)
class CrmAdapters:
    """The Bitrix24 side of the app: CRM sessions, the OAuth server and the messenger."""

    connector: CrmConnector
    oauth: OAuthServer
    messenger: Messenger
    bots: BotChannel | None = None


@attrs.frozen(kw_only=True)
class Overrides:
    """What a plugin of the composition root supplies instead of the configured pieces.

    ``crm`` replaces the Bitrix24 adapters (then no Bitrix24 credentials are needed) and
    ``clock`` the system clock. For the web app, ``routes`` adds the plugin's routes in
    front of the app's own, and ``contexts`` are cleanup contexts that start once the
    services are open (``SERVICES`` is set) and before the background tasks.
    """

    clock: Clock | None = None
    crm: CrmAdapters | None = None
    routes: Callable[[web.Application], None] | None = None
    contexts: Sequence[AppContext] = ()


@asynccontextmanager
async def open_database(config: Config, *, max_size: int = 10) -> AsyncIterator[PostgresStorage]:
    """The configured (or embedded) Postgres, migrated, as the storage port."""
    # Without the secret key (e.g. an operator reading feedback) stored tokens stay sealed.
    key = config.secret_key or Secret(secrets.token_urlsafe(48))
    storage = await open_storage(
        config.database_url,
        config.data_dir,
        TokenCipher(key, config.previous_secret_keys),
        max_size=max_size,
        statement_cache=config.db_statement_cache,
    )
    try:
        yield storage
    finally:
        await storage.close()


@asynccontextmanager
async def build_services(
    config: Config, overrides: Overrides | None = None
) -> AsyncIterator[Services]:
    """Everything ``serve``, ``digest`` and ``demo`` need, opened together and closed together.

    Raises:
        ConfigError: a value the chosen adapters need is missing.
    """
    overrides = overrides or Overrides()
    if overrides.crm is None:
        serving = config.require_serving()
        public_url, secret_key, allow_http = (
            serving.public_url,
            serving.secret_key,
            serving.b24.allow_http,
        )
        app_code = serving.b24.client_id
    else:
        if config.public_url is None:
            raise ConfigError("TOUCHPOINTS_PUBLIC_URL is required")
        if config.secret_key is None:
            raise ConfigError("TOUCHPOINTS_SECRET_KEY is required")
        public_url, secret_key = config.public_url, config.secret_key
        allow_http = config.b24 is not None and config.b24.allow_http
        app_code = config.b24.client_id if config.b24 is not None else "touchpoints"
    clock = overrides.clock or SystemClock()
    async with contextlib.AsyncExitStack() as stack:
        storage = await stack.enter_async_context(open_database(config))
        crm = overrides.crm or await _bitrix24(config, storage, clock, stack)
        inbox = await PostgresEventInbox.open(
            await resolve_dsn(config.database_url, config.data_dir),
            statement_cache=config.db_statement_cache,
        )
        stack.push_async_callback(inbox.close)
        yield Services(
            storage=storage,
            connector=crm.connector,
            oauth=crm.oauth,
            messenger=crm.messenger,
            clock=clock,
            sealer=SessionSealer(secret_key),
            handlers=Handlers.under(public_url),
            privacy=config.privacy,
            allow_http=allow_http,
            inbox=inbox,
            bots=crm.bots,
            app_code=app_code,
        )


async def _bitrix24(
    config: Config, storage: Storage, clock: Clock, stack: contextlib.AsyncExitStack
) -> CrmAdapters:
    """The real Bitrix24 adapters over one HTTP session, closed with ``stack``."""
    b24 = config.require_serving().b24
    session = await stack.enter_async_context(
        aiohttp.ClientSession(
            raise_for_status=False,
            connector=None if b24.allow_http else public_connector(),
        )
    )
    oauth = BitrixOAuthServer(
        session,
        b24.client_id,
        b24.client_secret,
        b24.oauth_url,
        clock=clock,
        allow_http=b24.allow_http,
    )
    # One Bitrix24 budget per portal for every replica and digest runner (BITRIX24.md §7).
    budget = await PostgresRateBudget.open(
        await resolve_dsn(config.database_url, config.data_dir),
        statement_cache=config.db_statement_cache,
    )
    stack.push_async_callback(budget.close)
    connector = BitrixConnector(
        session, oauth, storage, clock, Throttle(shared=budget), allow_http=b24.allow_http
    )
    return CrmAdapters(
        connector=connector,
        oauth=oauth,
        messenger=BitrixMessenger(connector),
        bots=BitrixBotChannel(connector),
    )
