"""Makes CRM clients for a portal, as a user or as the app, and keeps the app's tokens fresh."""

from __future__ import annotations

import asyncio
import logging
import random
import weakref

import aiohttp

from touchpoints.adapters.bitrix24.client import RestClient, UserAuth
from touchpoints.adapters.bitrix24.crm import BitrixCrm
from touchpoints.adapters.bitrix24.throttle import RetryPolicy, Throttle
from touchpoints.adapters.bitrix24.transport import (
    DEFAULT_TIMEOUT_S,
    LOGGER_NAME,
    USER_AGENT,
    Transport,
)
from touchpoints.domain.portal import OAuthTokens, Portal, PortalStatus
from touchpoints.domain.secrets import Secret
from touchpoints.ports.clock import Clock
from touchpoints.ports.crm import CrmAuthExpired, CrmError, CrmUnavailable, OAuthServer, PortalGone
from touchpoints.ports.storage import Storage, StorageError

_NO_RETRY = RetryPolicy(max_attempts=1, budget_s=10.0)


class _AppAuth:
    """The portal's stored tokens: refreshed shortly before expiry or when rejected."""

    def __init__(self, connector: BitrixConnector, portal: Portal) -> None:
        self._connector = connector
        self._portal = portal

    def __repr__(self) -> str:
        return f"AppAuth(portal={self._portal.id})"

    async def token(self) -> Secret:
        tokens = await self._connector.app_tokens(self._portal)
        return tokens.access_token

    async def renew(self, rejected: Secret, error: CrmAuthExpired) -> Secret:
        tokens = await self._connector.refresh(self._portal, rejected=rejected)
        return tokens.access_token


class BitrixConnector:
    """Implements ``CrmConnector``: Bitrix24 clients over one shared aiohttp session.

    App tokens are refreshed at most once per portal at a time across every process: an
    ``asyncio.Lock`` per portal inside the process, then the portal's row lock in storage
    (``uow.portals.lock``), where the rotated pair is written in the same transaction
    before the new access token is used (BITRIX24.md §2.3, §19.8).
    """

    def __init__(
        self,
        session: aiohttp.ClientSession,
        oauth: OAuthServer,
        storage: Storage,
        clock: Clock,
        throttle: Throttle | None = None,
        *,
        retry: RetryPolicy | None = None,
        allow_http: bool = False,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        user_agent: str = USER_AGENT,
        rng: random.Random | None = None,
        logger: logging.Logger | None = None,
    ) -> None:
        self._log = logger or logging.getLogger(LOGGER_NAME)
        self._transport = Transport(
            session,
            allow_http=allow_http,
            timeout_s=timeout_s,
            user_agent=user_agent,
            logger=self._log,
        )
        self._oauth = oauth
        self._storage = storage
        self._clock = clock
        self._throttle = throttle or Throttle()
        self._retry = retry or RetryPolicy()
        self._rng = rng or random.Random()  # noqa: S311 - jitter, not cryptography
        self._tokens: dict[int, OAuthTokens] = {}
        self._locks: weakref.WeakValueDictionary[int, asyncio.Lock] = weakref.WeakValueDictionary()

    def __repr__(self) -> str:
        return "BitrixConnector()"

    @property
    def throttle(self) -> Throttle:
        return self._throttle

    def as_user(
        self, portal: Portal, access_token: Secret, *, verifying: bool = False
    ) -> BitrixCrm:
        """The CRM as the user whose frame token this is; their CRM rights apply (§19.10).

        ``verifying`` clients check tokens of requests not verified yet: they pace in a
        bucket of their own (never the portal's working budget, DESIGN.md §4) and do not
        retry, so a flood of junk tokens costs one call each at most.
        """
        if verifying:
            return BitrixCrm(
                self._client(
                    portal,
                    UserAuth(access_token),
                    key=f"{portal.member_id}#verify",
                    retry=_NO_RETRY,
                )
            )
        return BitrixCrm(self._client(portal, UserAuth(access_token)))

    def as_app(self, portal: Portal) -> BitrixCrm:
        """The CRM with the portal's stored tokens (background work only, DESIGN.md §4)."""
        return BitrixCrm(self.app_client(portal))

    def app_client(self, portal: Portal) -> RestClient:
        """A raw REST client on the portal's stored tokens (the messenger uses it)."""
        return self._client(portal, _AppAuth(self, portal))

    def _client(
        self,
        portal: Portal,
        auth: UserAuth | _AppAuth,
        *,
        key: str | None = None,
        retry: RetryPolicy | None = None,
    ) -> RestClient:
        return RestClient(
            transport=self._transport,
            throttle=self._throttle,
            retry=retry or self._retry,
            clock=self._clock,
            endpoint=portal.client_endpoint,
            portal_key=key or portal.member_id,
            auth=auth,
            rng=self._rng,
            logger=self._log,
        )

    def _newest(self, portal: Portal) -> OAuthTokens:
        cached = self._tokens.get(portal.id)
        if cached is None or cached.expires_at < portal.tokens.expires_at:
            return portal.tokens
        return cached

    async def app_tokens(self, portal: Portal) -> OAuthTokens:
        """The portal's current tokens, refreshed first when they are about to expire.

        Raises: PortalGone (needs re-authorisation), CrmUnavailable.
        """
        if portal.status is not PortalStatus.ACTIVE:
            raise PortalGone("the portal needs re-authorisation", code="NEEDS_REAUTH")
        tokens = self._newest(portal)
        if not tokens.expiring(self._clock.now()):
            return tokens
        return await self.refresh(portal, rejected=None)

    def _usable(self, tokens: OAuthTokens, rejected: Secret | None) -> bool:
        if tokens.expiring(self._clock.now()):
            return False
        return rejected is None or tokens.access_token != rejected

    async def refresh(self, portal: Portal, *, rejected: Secret | None) -> OAuthTokens:
        """Fresh tokens for ``portal``: someone else's recent refresh, or our own.

        ``rejected`` is the access token Bitrix24 just refused (``expired_token``); tokens
        equal to it are never reused.

        Raises: PortalGone (refresh refused: the portal is marked NEEDS_REAUTH),
        CrmUnavailable (auth server or storage down), CrmTimeout.
        """
        lock = self._locks.get(portal.id)
        if lock is None:
            lock = asyncio.Lock()
            self._locks[portal.id] = lock
        async with lock:
            cached = self._tokens.get(portal.id)
            if cached is not None and self._usable(cached, rejected):
                return cached
            tokens, gone = await self._refresh_locked(portal, rejected)
            if gone is not None:
                self._tokens.pop(portal.id, None)
                raise gone
            assert tokens is not None
            self._tokens[portal.id] = tokens
            return tokens

    async def revalidate(self, portal: Portal) -> None:
        lock = self._locks.get(portal.id)
        if lock is None:
            lock = asyncio.Lock()
            self._locks[portal.id] = lock
        async with lock:
            self._tokens.pop(portal.id, None)
            tokens, gone = await self._refresh_locked(portal, None, force=True)
            if gone is not None:
                raise gone
            assert tokens is not None
            self._tokens[portal.id] = tokens

    async def _refresh_locked(
        self, portal: Portal, rejected: Secret | None, *, force: bool = False
    ) -> tuple[OAuthTokens | None, PortalGone | None]:
        try:
            async with self._storage.unit_of_work() as uow:
                row = await uow.portals.lock(portal.id)
                if row is None:
                    return None, PortalGone("the portal is no longer installed", code="UNINSTALLED")
                if not row.is_active and not force:
                    return None, PortalGone(
                        "the portal needs re-authorisation", code="NEEDS_REAUTH"
                    )
                if not force and self._usable(row.tokens, rejected):
                    # Another worker refreshed while we waited for the row lock.
                    return row.tokens, None
                now = self._clock.now()
                try:
                    grant = await self._oauth.refresh(row.tokens.refresh_token)
                except PortalGone as exc:
                    # Committed with the unit of work: background work stops calling (§19.11).
                    await uow.portals.set_status(portal.id, PortalStatus.NEEDS_REAUTH, now=now)
                    self._log.warning(
                        "b24 refresh refused portal=%s error=%s; marked needs_reauth",
                        row.member_id,
                        exc.code,
                    )
                    return None, exc
                if grant.member_id != row.member_id:
                    raise CrmError(
                        "the token endpoint answered for another portal", code="MEMBER_MISMATCH"
                    )
                # Stored (and committed when the block ends) before the new access token is
                # used: the old refresh token is spent (rotation, §2.3).
                await uow.portals.update_tokens(portal.id, grant.tokens, now=now)
                if not row.is_active:
                    await uow.portals.set_status(portal.id, PortalStatus.ACTIVE, now=now)
                self._log.info("b24 tokens refreshed portal=%s", row.member_id)
                return grant.tokens, None
        except StorageError as exc:
            raise CrmUnavailable("token storage unavailable", code="STORAGE") from exc
