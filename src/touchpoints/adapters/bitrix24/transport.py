"""One REST call to a portal: JSON body, envelopes, redirects, timeouts and error mapping."""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import attrs
import orjson
from yarl import URL

from touchpoints.adapters.bitrix24.errors import NotSent, ServerError, TokenRejected, map_error
from touchpoints.adapters.bitrix24.network import refused_host
from touchpoints.adapters.bitrix24.redact import clip
from touchpoints.adapters.bitrix24.wire import (
    WireError,
    as_dict,
    format_datetime,
    parse_datetime,
    to_opt_float,
    to_opt_int,
    to_str,
)
from touchpoints.domain.secrets import Secret
from touchpoints.ports.crm import CrmError, CrmInvalidInput, CrmTimeout, CrmUnavailable

LOGGER_NAME = "touchpoints.b24"
USER_AGENT = "touchpoints/0.1 (Bitrix24 app; aiohttp)"
DEFAULT_TIMEOUT_S = 20.0  # DESIGN.md §3.5: a Bitrix24 call gives up after 20 s
MAX_REDIRECTS = 3
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
# Linear: every repeated group starts with a literal dot the class before it cannot match,
# so the engine never has two ways to split the name (no backtracking blow-up).
_METHOD = re.compile(r"^[A-Za-z][A-Za-z0-9_]*(\.[A-Za-z0-9_]+)*$")


@attrs.frozen(kw_only=True)
class CallTime:
    """The parts of the reply's ``time`` object we use (BITRIX24.md §4.1)."""

    operating: float | None = None
    operating_reset_at: float | None = None
    duration: float | None = None


@attrs.frozen(kw_only=True)
class RestReply:
    """A success envelope: ``result`` plus the list fields and timing."""

    result: Any
    total: int | None = None
    next: int | None = None
    time: CallTime = CallTime()


def parse_reset_at(value: Any) -> float | None:
    """``operating_reset_at`` is unix seconds, sometimes an ISO string (BITRIX24.md §21.9)."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        text = value.strip()
        if text.replace(".", "", 1).isdigit():
            return float(text)
        try:
            parsed = parse_datetime(text)
        except WireError:
            return None
        return parsed.timestamp() if parsed is not None else None
    return None


def _call_time(payload: Mapping[str, Any]) -> CallTime:
    raw = as_dict(payload.get("time"))
    return CallTime(
        operating=to_opt_float(raw.get("operating")),
        operating_reset_at=parse_reset_at(raw.get("operating_reset_at")),
        duration=to_opt_float(raw.get("duration")),
    )


def _parse_json(raw: bytes) -> Any:
    """A reply body as JSON (orjson: the board's batch reply is its largest input), or None;
    a body that is not valid UTF-8 is read with replacement characters, as before."""
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        pass
    try:
        return json.loads(raw.decode("utf-8", "replace"))
    except ValueError:
        return None


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return format_datetime(value)
    if isinstance(value, Secret):
        # Secrets travel only as ``auth``; anything else is a bug, never a leak.
        raise TypeError("a Secret cannot be sent as a REST parameter")
    raise TypeError(f"cannot JSON-encode {type(value).__name__}")


def _network_failure(method: str, exc: BaseException) -> tuple[str, str, CrmError]:
    """A failed POST as its log status, its log error and the port failure to raise.

    A timeout is tested first: aiohttp's own timeouts are client errors too.
    """
    name = type(exc).__name__
    if isinstance(exc, TimeoutError):
        return "timeout", "timeout", CrmTimeout(f"{method}: no answer within the time limit")
    if isinstance(exc, aiohttp.ClientConnectorError):
        return "unreachable", "not_sent", NotSent(f"{method}: portal unreachable ({name})")
    return "network", "network", CrmUnavailable(f"{method}: network failure ({name})")


def _unexpected(method: str, status: int) -> CrmError:
    """The failure for a reply that is no REST envelope, or not a successful one."""
    if status >= 500:
        return ServerError(f"{method}: HTTP {status}", code=f"HTTP_{status}")
    if status == 401:
        return TokenRejected(f"{method}: HTTP 401", code="HTTP_401")
    return CrmError(f"{method}: unexpected answer (HTTP {status})", code=f"HTTP_{status}")


def or_default_logger(given: logging.Logger | None) -> logging.Logger:
    return given or logging.getLogger(LOGGER_NAME)


@attrs.define(eq=False)
class Transport:
    """Posts REST calls to a portal's stored ``client_endpoint`` and reads the envelopes.

    Every call is logged (method, portal, status, duration, ``time.operating``) through
    ``touchpoints.b24``; the token only ever travels in the JSON body as ``auth``.
    """

    _session: aiohttp.ClientSession
    _allow_http: bool = attrs.field(default=False, kw_only=True)
    _timeout_s: float = attrs.field(default=DEFAULT_TIMEOUT_S, kw_only=True)
    _user_agent: str = attrs.field(default=USER_AGENT, kw_only=True)
    _max_redirects: int = attrs.field(default=MAX_REDIRECTS, kw_only=True)
    _log: logging.Logger = attrs.field(
        alias="logger", default=None, converter=or_default_logger, kw_only=True
    )
    _monotonic: Callable[[], float] = attrs.field(default=time.monotonic, kw_only=True)
    _moved: dict[str, str] = attrs.field(factory=dict, init=False)

    def __repr__(self) -> str:
        # Not the moved endpoints: customers' domains, as many as the portals seen.
        return f"Transport(timeout_s={self._timeout_s}, allow_http={self._allow_http})"

    @property
    def timeout_s(self) -> float:
        return self._timeout_s

    def moved_endpoint(self, endpoint: str) -> str | None:
        """The new endpoint a domain-change redirect pointed ``endpoint`` to, if any (§1)."""
        return self._moved.get(endpoint)

    def check_endpoint(self, url: str) -> None:
        """Raises CrmError for anything but https (or http when explicitly allowed, §1),
        and for loopback, private or link-local hosts unless local testing allows them."""
        parts = urlsplit(url)
        allowed = ("https", "http") if self._allow_http else ("https",)
        if parts.scheme not in allowed or not parts.hostname:
            raise CrmError("refusing a non-https Bitrix24 endpoint", code="INSECURE_ENDPOINT")
        if not self._allow_http and (why := refused_host(parts.hostname)) is not None:
            raise CrmError(f"refusing a Bitrix24 endpoint on {why}", code="PRIVATE_ENDPOINT")

    async def call(
        self,
        endpoint: str,
        method: str,
        params: Mapping[str, Any],
        token: Secret,
        *,
        portal: str,
        timeout_s: float | None = None,
    ) -> RestReply:
        """POST ``<endpoint><method>`` with ``params`` and ``auth`` in a JSON body.

        Raises: the CRM port's failures (see ``errors.map_error``); ``CrmTimeout`` when no
        answer came in time; ``NotSent`` when the connection could not even be opened.
        """
        if not _METHOD.match(method):
            raise CrmInvalidInput(f"not a REST method name: {method[:60]!r}")
        if "auth" in params:
            raise CrmInvalidInput("pass the token separately, never inside params")
        base = self._moved.get(endpoint, endpoint)
        if not base.endswith("/"):
            base += "/"
        url = base + method
        self.check_endpoint(url)
        body = orjson.dumps(
            {**params, "auth": token.reveal()},
            default=_json_default,
            option=orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_NON_STR_KEYS,
        )
        headers = {
            "Content-Type": "application/json",
            "Accept": "application/json",
            "User-Agent": self._user_agent,
        }
        limit = aiohttp.ClientTimeout(total=timeout_s or self._timeout_s)
        for _hop in range(self._max_redirects + 1):
            started = self._monotonic()
            try:
                async with self._session.post(
                    url, data=body, headers=headers, allow_redirects=False, timeout=limit
                ) as response:
                    status = response.status
                    if status in _REDIRECTS:
                        url = self._follow(endpoint, url, response, portal=portal, method=method)
                        continue
                    raw = await response.read()
            except (TimeoutError, aiohttp.ClientError) as exc:
                status_word, error, failure = _network_failure(method, exc)
                self._log_call(
                    method,
                    portal=portal,
                    status=status_word,
                    started=started,
                    operating=None,
                    error=error,
                )
                raise failure from exc
            return self._read(
                method=method, portal=portal, status=status, raw=raw, started=started, token=token
            )
        raise CrmError(f"{method}: too many redirects", code="TOO_MANY_REDIRECTS")

    def _follow(
        self,
        endpoint: str,
        url: str,
        response: aiohttp.ClientResponse,
        *,
        portal: str,
        method: str,
    ) -> str:
        """The portal's domain changed: re-POST the same body to ``Location`` (BITRIX24.md §1).

        aiohttp (like curl) would turn the POST into a GET and drop the body, so redirects
        are followed here by hand.
        """
        location = response.headers.get("Location", "")
        if not location:
            raise CrmError(f"{method}: redirect without a Location", code="BAD_REDIRECT")
        target = str(URL(url).join(URL(location)))
        self.check_endpoint(target)
        if URL(target).host != URL(url).host:
            # Only the token endpoint names a portal's address (DESIGN.md §4): a redirect
            # elsewhere is not followed, whoever answered it.
            raise CrmError(
                f"{method}: refusing a redirect to another host", code="CROSS_HOST_REDIRECT"
            )
        if "/rest/" in target:
            moved = target.split("/rest/", 1)[0] + "/rest/"
            if self._moved.get(endpoint) != moved:
                self._moved[endpoint] = moved
                self._log.warning(
                    "b24 portal endpoint moved portal=%s host=%s",
                    portal,
                    urlsplit(moved).hostname,
                )
        self._log.info("b24 %s portal=%s status=%s redirected", method, portal, response.status)
        return target

    def _read(
        self,
        *,
        method: str,
        portal: str,
        status: int,
        raw: bytes,
        started: float,
        token: Secret,
    ) -> RestReply:
        payload = _parse_json(raw)
        call_time = CallTime()
        error: str | None = None
        failure: CrmError | None = None
        if isinstance(payload, dict) and payload.get("error") is not None:
            code = to_str(payload.get("error"))
            description = clip(to_str(payload.get("error_description")), [token])
            call_time = _call_time(payload)
            error = code or "-"
            failure = map_error(
                code,
                description,
                method=method,
                status=status,
                reset_at=call_time.operating_reset_at,
            )
        elif not isinstance(payload, dict) or "result" not in payload or status >= 300:
            error = "unexpected"
            failure = _unexpected(method, status)
        else:
            call_time = _call_time(payload)
        self._log_call(
            method,
            portal=portal,
            status=status,
            started=started,
            operating=call_time.operating,
            error=error,
        )
        if failure is not None:
            raise failure
        try:
            total = to_opt_int(payload.get("total"))
            next_start = to_opt_int(payload.get("next"))
        except WireError:
            total = next_start = None
        return RestReply(result=payload["result"], total=total, next=next_start, time=call_time)

    def _log_call(
        self,
        method: str,
        *,
        portal: str,
        status: int | str,
        started: float,
        operating: float | None,
        error: str | None,
    ) -> None:
        duration_ms = (self._monotonic() - started) * 1000
        level = logging.INFO if error is None else logging.WARNING
        self._log.log(
            level,
            "b24 %s portal=%s status=%s duration_ms=%.0f operating=%s error=%s",
            method,
            portal,
            status,
            duration_ms,
            "-" if operating is None else f"{operating:.2f}",
            error or "-",
            extra={
                "b24_method": method,
                "b24_portal": portal,
                "b24_status": status,
                "b24_duration_ms": round(duration_ms),
                "b24_operating": operating,
            },
        )
