"""A REST client bound to one portal and one way of authenticating: throttling, retries, renewal."""

from __future__ import annotations

import logging
import random
from collections.abc import Mapping
from typing import Any, Protocol

import attrs

from touchpoints.adapters.bitrix24.errors import OperationTimeLimit, QueryLimitExceeded
from touchpoints.adapters.bitrix24.throttle import RetryPolicy, Throttle, retryable, wait_for_reset
from touchpoints.adapters.bitrix24.transport import RestReply, Transport, or_default_logger
from touchpoints.domain.secrets import Secret
from touchpoints.ports.clock import Clock
from touchpoints.ports.crm import CrmAuthExpired, CrmError


class Auth(Protocol):
    """Where a client's access token comes from, and what happens when Bitrix24 rejects it."""

    async def token(self) -> Secret:
        """The token to call with now."""
        ...

    async def renew(self, rejected: Secret, error: CrmAuthExpired) -> Secret:
        """A replacement for ``rejected``, or raise (``error`` itself for a user's token)."""
        ...


class UserAuth:
    """A user's frame token: used as is; the browser renews it, never the server (§2.1)."""

    def __init__(self, access_token: Secret) -> None:
        self._token = access_token

    async def token(self) -> Secret:
        return self._token

    async def renew(self, rejected: Secret, error: CrmAuthExpired) -> Secret:
        raise error

    def __repr__(self) -> str:
        return "UserAuth(<secret>)"


@attrs.define(kw_only=True, eq=False)
class RestClient:
    """Calls one portal's REST API with throttling, bounded retries and token renewal."""

    _transport: Transport
    _throttle: Throttle
    _retry: RetryPolicy
    _clock: Clock
    _endpoint: str
    _key: str = attrs.field(alias="portal_key")
    _auth: Auth
    _rng: random.Random
    _log: logging.Logger = attrs.field(alias="logger", default=None, converter=or_default_logger)

    def __repr__(self) -> str:
        return f"RestClient(portal={self._key!r})"

    async def call(self, method: str, params: Mapping[str, Any], *, safe: bool) -> RestReply:
        """One logical call; ``safe`` says whether it may run twice (reads, idempotent writes).

        Raises: the CRM port's failures, after retries where they are sound.
        """
        monotonic = self._throttle.monotonic
        deadline = monotonic() + self._retry.budget_s
        bucket = self._throttle.bucket(self._key)
        token = await self._auth.token()
        renewed = False
        attempt = 0
        while True:
            attempt += 1
            await self._throttle.admit(self._key, method, deadline=deadline)
            left = deadline - monotonic()
            try:
                reply = await self._transport.call(
                    self._endpoint,
                    method,
                    params,
                    token,
                    portal=self._key,
                    timeout_s=min(self._transport.timeout_s, max(1.0, left)),
                )
            except CrmAuthExpired as exc:
                if renewed:
                    raise
                # Renewing is not a retry of a failed run: the call was refused unrun.
                token = await self._auth.renew(token, exc)
                renewed = True
                continue
            except OperationTimeLimit as exc:
                wait = wait_for_reset(
                    exc, now=self._clock.now().timestamp(), fallback=bucket.reset_hint(method)
                )
                if wait is not None:
                    await self._throttle.pause(self._key, method, wait)
                if wait is None or monotonic() + wait > deadline:
                    raise
                if attempt >= self._retry.max_attempts:
                    raise
                self._log_retry(method, attempt, wait, exc)
                continue
            except CrmError as exc:
                if isinstance(exc, QueryLimitExceeded):
                    await self._throttle.saturate(self._key)
                if not retryable(exc, safe=safe) or attempt >= self._retry.max_attempts:
                    raise
                delay = self._retry.backoff(attempt, self._rng)
                if monotonic() + delay > deadline:
                    raise
                self._log_retry(method, attempt, delay, exc)
                await self._throttle.sleep(delay)
                continue
            bucket.note_reset(method, reply.time.operating_reset_at)
            return reply

    def _log_retry(self, method: str, attempt: int, delay: float, error: CrmError) -> None:
        self._log.info(
            "b24 %s portal=%s retry=%d delay_s=%.2f after=%s",
            method,
            self._key,
            attempt,
            delay,
            error.code or type(error).__name__,
        )
