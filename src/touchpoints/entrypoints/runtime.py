"""The composition root: builds adapters from configuration for every entrypoint."""

from __future__ import annotations

import logging
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import aiohttp

from touchpoints.adapters.bitrix24.connector import BitrixConnector
from touchpoints.adapters.bitrix24.messenger import BitrixMessenger
from touchpoints.adapters.bitrix24.network import public_connector
from touchpoints.adapters.bitrix24.oauth import BitrixOAuthServer
from touchpoints.adapters.clock import SystemClock
from touchpoints.adapters.postgres import PostgresStorage, TokenCipher, open_storage
from touchpoints.domain.secrets import Secret
from touchpoints.entrypoints.config import Config
from touchpoints.entrypoints.container import Services
from touchpoints.entrypoints.sessions import SessionSealer
from touchpoints.ports.clock import Clock
from touchpoints.services.installation import Handlers

log = logging.getLogger("touchpoints")


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
    )
    try:
        yield storage
    finally:
        await storage.close()


@asynccontextmanager
async def build_services(config: Config, *, clock: Clock | None = None) -> AsyncIterator[Services]:
    """Everything ``serve`` and ``digest`` need, opened together and closed together."""
    serving = config.require_serving()
    clock = clock or SystemClock()
    async with (
        open_database(config) as storage,
        aiohttp.ClientSession(
            raise_for_status=False,
            connector=None if serving.b24.allow_http else public_connector(),
        ) as session,
    ):
        oauth = BitrixOAuthServer(
            session,
            serving.b24.client_id,
            serving.b24.client_secret,
            serving.b24.oauth_url,
            clock=clock,
            allow_http=serving.b24.allow_http,
        )
        connector = BitrixConnector(
            session, oauth, storage, clock, allow_http=serving.b24.allow_http
        )
        yield Services(
            storage=storage,
            connector=connector,
            oauth=oauth,
            messenger=BitrixMessenger(connector),
            clock=clock,
            sealer=SessionSealer(serving.secret_key),
            handlers=Handlers.under(serving.public_url),
            privacy=config.privacy,
            allow_http=serving.b24.allow_http,
        )
