"""Checking the tokens that unverified requests bring, within a bounded abuse budget.

Frame launches, session renewals, installer pages and ONAPPINSTALL/ONAPPUPDATE carry
tokens that only Bitrix24 can vouch for, so checking each one costs outbound calls. Anyone
can send junk tokens, so (DESIGN.md §4, "Unauthenticated surface"):

- a token already checked is answered from a cache keyed by its hash (good for a while,
  refused for a while), so repeats cost nothing;
- calls spent on requests that fail verification come out of a budget of
  ``PER_PORTAL_CALLS`` a minute per portal, counted in storage so that every replica
  shares it; beyond it the answer is 429 with ``Retry-After``, without calling anyone;
- token-endpoint calls (installs) also share one global budget, since Bitrix24 may block
  the app for every portal when it is hammered with our client secret;
- a request that turns out genuine gets its spending back, so a flood of junk never
  degrades verified users.

The checks themselves run on clients that pace apart from the portal's working budget.
"""

from __future__ import annotations

import collections
import hashlib
import logging
import math
import time
from collections.abc import Callable
from datetime import datetime, timedelta

import attrs

from touchpoints.domain.crm import CurrentUser
from touchpoints.domain.portal import Portal
from touchpoints.domain.secrets import Secret
from touchpoints.ports.clock import Clock
from touchpoints.ports.crm import (
    CrmAuthExpired,
    CrmConnector,
    CrmError,
    CrmPermissionDenied,
    OAuthServer,
    PortalGone,
    TokenGrant,
)
from touchpoints.ports.storage import Storage, StorageError
from touchpoints.services.errors import RateLimited, Unauthenticated

log = logging.getLogger("touchpoints.security")

PER_PORTAL_CALLS = 10
TOKEN_ENDPOINT_CALLS = 60
WINDOW = timedelta(minutes=1)
GOOD_FOR_S = 300.0
REFUSED_FOR_S = 300.0
CACHE_ENTRIES = 10_000
# profile + app.info for a user token; token endpoint + profile for an install.
USER_CHECK_CALLS = 2
INSTALL_CHECK_CALLS = 2
# app.info with the stored tokens, and a refresh when they are refused.
UNINSTALL_CHECK_CALLS = 2
_OAUTH_BUDGET_KEY = "oauth-endpoint"


def token_digest(token: Secret) -> str:
    """The cache and log key of a token: a hash, never the token itself."""
    return hashlib.sha256(token.reveal().encode()).hexdigest()


def _key(kind: str, value: str) -> str:
    return f"{kind}:{hashlib.sha256(value.encode()).hexdigest()[:40]}"


@attrs.define
class _Cache:
    """Bounded time-limited memory of token verdicts (oldest entries leave first)."""

    ttl_s: float
    monotonic: Callable[[], float]
    size: int = CACHE_ENTRIES
    _entries: collections.OrderedDict[str, tuple[float, object]] = attrs.field(
        factory=collections.OrderedDict
    )

    def get(self, key: str) -> object | None:
        hit = self._entries.get(key)
        if hit is None:
            return None
        if self.monotonic() >= hit[0]:
            del self._entries[key]
            return None
        return hit[1]

    def put(self, key: str, value: object, ttl_s: float | None = None) -> None:
        self._entries[key] = (self.monotonic() + (ttl_s or self.ttl_s), value)
        self._entries.move_to_end(key)
        while len(self._entries) > self.size:
            self._entries.popitem(last=False)


@attrs.frozen
class Spending:
    """What one verification took from the budget, to give back if it turns out genuine."""

    window_start: datetime
    items: tuple[tuple[str, int], ...]

    def first(self, cost: int) -> Spending:
        """Part of the first item: what a check that stopped early did not spend."""
        return attrs.evolve(self, items=((self.items[0][0], cost),))


@attrs.define(kw_only=True, eq=False, repr=False)
class TokenVerifier:
    """Verifies user tokens and install tokens against Bitrix24, within the abuse budget."""

    _storage: Storage
    _connector: CrmConnector
    _oauth: OAuthServer
    _clock: Clock
    _per_portal: int = attrs.field(default=PER_PORTAL_CALLS, alias="per_portal_calls")
    _token_endpoint: int = attrs.field(default=TOKEN_ENDPOINT_CALLS, alias="token_endpoint_calls")
    _monotonic: Callable[[], float] = attrs.field(default=time.monotonic, alias="monotonic")
    _good: _Cache = attrs.field(init=False)
    _refused: _Cache = attrs.field(init=False)

    def __attrs_post_init__(self) -> None:
        self._good = _Cache(GOOD_FOR_S, self._monotonic)
        self._refused = _Cache(REFUSED_FOR_S, self._monotonic)

    def __repr__(self) -> str:
        return "TokenVerifier()"

    # -------------------------------------------------------------- user tokens

    async def user(self, portal: Portal, access_token: Secret) -> CurrentUser:
        """Who a frame or renewal token belongs to: ``profile``, and ``app.info`` showing
        that the token was issued to this app (not another app of the portal).

        Raises:
            Unauthenticated: Bitrix24 refused the token, or it belongs to another app.
            RateLimited: this portal's budget for failed verifications is spent.
            CrmError: Bitrix24 could not be asked (unavailable, timed out).
        """
        if not access_token:
            raise Unauthenticated("no authorisation was sent")
        digest = f"{portal.id}:{token_digest(access_token)}"
        known = self._good.get(digest)
        if isinstance(known, CurrentUser):
            return known
        if self._refused.get(digest) is not None:
            raise Unauthenticated("Bitrix24 did not accept this authorisation")
        expected_app = await self._our_app_id(portal)
        spending = await self._spend(
            ((_key("verify", str(portal.id)), USER_CHECK_CALLS, self._per_portal),)
        )
        crm = self._connector.as_user(portal, access_token, verifying=True)
        me: CurrentUser | None = None
        try:
            me = await crm.current_user()
            info = await crm.app_info()
        except (CrmAuthExpired, CrmPermissionDenied, PortalGone) as exc:
            self._refused.put(digest, True)
            if me is None:
                # One call was made of the two reserved: give the other back.
                await self.refund(spending.first(1))
            raise Unauthenticated("Bitrix24 did not accept this authorisation") from exc
        except CrmError:
            # Not the requester's doing: Bitrix24 is down or slow.
            await self.refund(spending)
            raise
        if info.id != expected_app:
            self._refused.put(digest, True)
            log.warning(
                "security: a token of another app was presented",
                extra={"portal_id": portal.id, "app_id": info.id[:40]},
            )
            raise Unauthenticated("this authorisation was issued to another application")
        await self.refund(spending)
        self._good.put(digest, me)
        return me

    async def _our_app_id(self, portal: Portal) -> str:
        """This app's id on the portal: stored at install, or read once with our own tokens."""
        if portal.app_id is not None:
            return portal.app_id
        info = await self._connector.as_app(portal).app_info()
        async with self._storage.unit_of_work() as uow:
            await uow.portals.set_app_id(
                portal.id, info.id, app_code=info.code or None, now=self._clock.now()
            )
        return info.id

    async def spend_for(self, portal: Portal, *, calls: int) -> Spending:
        """Take ``calls`` from the portal's budget before calls an unverified request
        asks for with our own tokens (uninstall confirmation).

        Raises: RateLimited.
        """
        return await self._spend(((_key("verify", str(portal.id)), calls, self._per_portal),))

    # -------------------------------------------------------------- install tokens

    async def redeem(
        self, refresh_token: Secret, *, claimed_member_id: str | None
    ) -> tuple[TokenGrant, Spending]:
        """Redeem an installer's refresh token at the token endpoint, within the budgets.

        The caller gives the spending back with ``refund`` once the install proves genuine
        (an admin's tokens), or calls ``refused`` when it does not.

        Raises:
            Unauthenticated: the token endpoint refused the token (or did so recently).
            RateLimited: the portal's or the global token-endpoint budget is spent.
            CrmError: the token endpoint could not be asked.
        """
        digest = f"install:{token_digest(refresh_token)}"
        if self._refused.get(digest) is not None:
            raise Unauthenticated("the token endpoint refused these install tokens")
        spending = await self._spend(
            (
                (_key("install", claimed_member_id or "-"), INSTALL_CHECK_CALLS, self._per_portal),
                (_OAUTH_BUDGET_KEY, 1, self._token_endpoint),
            )
        )
        try:
            grant = await self._oauth.refresh(refresh_token)
        except PortalGone as exc:
            self._refused.put(digest, True)
            raise Unauthenticated("the token endpoint refused these install tokens") from exc
        except CrmError:
            await self.refund(spending)
            raise
        return grant, spending

    def refused(self, refresh_token: Secret) -> None:
        """Remember that an install with this token was refused (e.g. not an admin)."""
        self._refused.put(f"install:{token_digest(refresh_token)}", True)

    # -------------------------------------------------------------- the budget

    def _window(self) -> tuple[datetime, int]:
        now = self._clock.now()
        seconds = WINDOW.total_seconds()
        start = math.floor(now.timestamp() / seconds) * seconds
        window_start = datetime.fromtimestamp(start, now.tzinfo)
        retry_after = max(1, math.ceil(start + seconds - now.timestamp()))
        return window_start, retry_after

    async def _spend(self, items: tuple[tuple[str, int, int], ...]) -> Spending:
        window_start, retry_after = self._window()
        taken: list[tuple[str, int]] = []
        for key, cost, limit in items:
            # One unit of work per key: what was taken stays taken (and is given back
            # below) whichever key refuses, the same on every storage adapter.
            async with self._storage.unit_of_work() as uow:
                ok = await uow.budget.take(key, cost, limit=limit, window_start=window_start)
            if not ok:
                await self.refund(Spending(window_start, tuple(taken)), quiet=True)
                log.warning("security: abuse budget spent", extra={"budget": key[:16]})
                raise RateLimited(
                    "too many unverified requests; try again shortly",
                    retry_after_s=retry_after,
                )
            taken.append((key, cost))
        return Spending(window_start, tuple(taken))

    async def refund(self, spending: Spending, *, quiet: bool = False) -> None:
        """Give back what a genuine request spent (best effort: the window ends anyway)."""
        if not spending.items:
            return
        try:
            async with self._storage.unit_of_work() as uow:
                for key, cost in spending.items:
                    await uow.budget.refund(key, cost, window_start=spending.window_start)
        except StorageError:
            if not quiet:
                log.warning("security: could not refund the abuse budget")
