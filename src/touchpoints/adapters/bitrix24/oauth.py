"""The Bitrix24 authorization server: the only place the client secret is ever sent (§2.3)."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import aiohttp

from touchpoints.adapters.bitrix24.redact import clip
from touchpoints.adapters.bitrix24.transport import DEFAULT_TIMEOUT_S, LOGGER_NAME, USER_AGENT
from touchpoints.adapters.bitrix24.wire import WireError, to_int, to_opt_int, to_str
from touchpoints.domain.portal import OAuthTokens
from touchpoints.domain.secrets import Secret
from touchpoints.ports.clock import Clock
from touchpoints.ports.crm import CrmError, CrmTimeout, CrmUnavailable, PortalGone, TokenGrant

# invalid_client also means "the app is not installed on this portal" (§2.3, §8.4).
_GONE = frozenset({"invalid_grant", "invalid_client", "payment_required"})
_DEFAULT_LIFETIME_S = 3600


class _SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class BitrixOAuthServer:
    """Redeems refresh tokens (and authorization codes) at ``TOUCHPOINTS_B24_OAUTH_URL``."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        client_id: str,
        client_secret: Secret,
        oauth_url: str,
        *,
        clock: Clock | None = None,
        allow_http: bool = False,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        logger: logging.Logger | None = None,
    ) -> None:
        scheme = urlsplit(oauth_url).scheme
        if scheme != "https" and not (allow_http and scheme == "http"):
            raise ValueError("the token endpoint must be an https URL")
        self._session = session
        self._client_id = client_id
        self._client_secret = client_secret
        self._url = oauth_url
        self._clock = clock or _SystemClock()
        self._allow_http = allow_http
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._log = logger or logging.getLogger(LOGGER_NAME)

    def __repr__(self) -> str:
        return f"BitrixOAuthServer(client_id={self._client_id!r})"

    async def refresh(self, refresh_token: Secret) -> TokenGrant:
        """Redeem a refresh token; the reply carries a new (rotated) pair.

        Never retried here: if the answer is lost, the old refresh token may already be
        spent (BITRIX24.md §21.3), and a blind repeat could burn the new one too.

        Raises: PortalGone (invalid_grant/invalid_client/PAYMENT_REQUIRED), CrmUnavailable,
        CrmTimeout, CrmError (any other refusal).
        """
        return await self._grant(
            "refresh_token", {"refresh_token": refresh_token.reveal()}, secret=refresh_token
        )

    async def redeem_code(self, code: Secret) -> TokenGrant:
        """Exchange a 30-second authorization code for tokens (§2.2). Raises as ``refresh``."""
        return await self._grant("authorization_code", {"code": code.reveal()}, secret=code)

    async def _grant(
        self, grant_type: str, extra: Mapping[str, str], *, secret: Secret
    ) -> TokenGrant:
        query = {
            "grant_type": grant_type,
            "client_id": self._client_id,
            "client_secret": self._client_secret.reveal(),
            **extra,
        }
        started = time.monotonic()
        # aiohttp errors can carry the request URL, whose query holds the client secret:
        # they are never chained into ours (``from None``) nor logged.
        try:
            async with self._session.get(
                self._url,
                params=query,
                headers={"Accept": "application/json", "User-Agent": USER_AGENT},
                allow_redirects=False,
                timeout=self._timeout,
            ) as response:
                status = response.status
                raw = await response.read()
        except TimeoutError:
            self._log_grant(grant_type, "timeout", started, "timeout")
            raise CrmTimeout("token endpoint: no answer within the time limit") from None
        except aiohttp.ClientError as exc:
            self._log_grant(grant_type, "network", started, type(exc).__name__)
            raise CrmUnavailable(
                f"token endpoint unreachable ({type(exc).__name__})", code="OAUTH_UNAVAILABLE"
            ) from None
        secrets = [secret, self._client_secret]
        try:
            payload: Any = json.loads(raw.decode("utf-8", "replace"))
        except ValueError:
            payload = None
        if isinstance(payload, dict) and payload.get("error"):
            code = to_str(payload.get("error"))
            description = clip(to_str(payload.get("error_description")), secrets)
            self._log_grant(grant_type, status, started, code)
            message = f"token endpoint: {code}: {description}".rstrip(": ")
            if code.lower() in _GONE:
                raise PortalGone(message, code=code)
            if status >= 500:
                raise CrmUnavailable(message, code=code)
            raise CrmError(message, code=code)
        if status >= 500:
            self._log_grant(grant_type, status, started, "server")
            raise CrmUnavailable(f"token endpoint: HTTP {status}", code=f"HTTP_{status}")
        if status != 200 or not isinstance(payload, dict):
            self._log_grant(grant_type, status, started, "unexpected")
            raise CrmError(
                f"token endpoint: unexpected answer (HTTP {status})", code="OAUTH_BAD_REPLY"
            )
        self._log_grant(grant_type, status, started, None)
        return self._parse(payload)

    def _parse(self, payload: Mapping[str, Any]) -> TokenGrant:
        try:
            access = to_str(payload.get("access_token"))
            refresh = to_str(payload.get("refresh_token"))
            member_id = to_str(payload.get("member_id"))
            endpoint = to_str(payload.get("client_endpoint"))
            if not (access and refresh and member_id and endpoint):
                raise WireError("incomplete token reply")
            now = self._clock.now()
            expires = to_opt_int(payload.get("expires"))
            if expires is not None:
                expires_at = datetime.fromtimestamp(expires, UTC)
            else:
                lifetime = to_opt_int(payload.get("expires_in")) or _DEFAULT_LIFETIME_S
                expires_at = now + timedelta(seconds=lifetime)
            user_id = payload.get("user_id")
            parsed_user = to_int(user_id) if user_id not in (None, "") else None
        except WireError as exc:
            raise CrmError("token endpoint: malformed reply", code="OAUTH_BAD_REPLY") from exc
        parts = urlsplit(endpoint)
        allowed = ("https", "http") if self._allow_http else ("https",)
        if parts.scheme not in allowed or not parts.hostname:
            raise CrmError("token endpoint: client_endpoint is not https", code="OAUTH_BAD_REPLY")
        if not endpoint.endswith("/"):
            endpoint += "/"
        return TokenGrant(
            member_id=member_id,
            client_endpoint=endpoint,
            # The reply's ``domain`` is the auth server's; the portal's is the endpoint's host
            # (BITRIX24.md §2.3).
            domain=parts.hostname,
            tokens=OAuthTokens(
                access_token=Secret(access),
                refresh_token=Secret(refresh),
                expires_at=expires_at,
            ),
            scope=to_str(payload.get("scope")),
            user_id=parsed_user,
        )

    def _log_grant(
        self, grant_type: str, status: int | str, started: float, error: str | None
    ) -> None:
        self._log.log(
            logging.INFO if error is None else logging.WARNING,
            "b24 oauth %s status=%s duration_ms=%.0f error=%s",
            grant_type,
            status,
            (time.monotonic() - started) * 1000,
            error or "-",
        )
