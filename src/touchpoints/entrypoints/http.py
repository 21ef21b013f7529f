"""HTTP plumbing: the one error middleware, JSON replies, request ids and security headers."""

from __future__ import annotations

import asyncio
import contextvars
import logging
import secrets
import time
from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from http import HTTPStatus
from typing import Any

import orjson
from aiohttp import web

from touchpoints.domain.errors import ChainError, InvalidTransition, InvalidValue
from touchpoints.ports.crm import (
    CrmAuthExpired,
    CrmError,
    CrmInvalidInput,
    CrmNotFound,
    CrmPermissionDenied,
    CrmTimeout,
    CrmUnavailable,
    PortalGone,
)
from touchpoints.ports.storage import (
    ConcurrentUpdate,
    DuplicateActivity,
    InvalidReference,
    StorageError,
    StorageUnavailable,
)
from touchpoints.services.errors import (
    Conflict,
    Forbidden,
    InvalidInput,
    NotFound,
    RateLimited,
    Unauthenticated,
)

log = logging.getLogger("touchpoints.http")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

# Every request answers within 30 s (DESIGN.md §3.5); leave room to write the reply.
REQUEST_BUDGET_S = 28.0
MAX_BODY = 1024 * 1024

request_id_var: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")


class ApiError(Exception):
    """An error reply: status, stable machine ``code``, human ``message``, optional fields."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        fields: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.fields = dict(fields) if fields else None
        self.headers = dict(headers) if headers else None


def json_reply(
    data: Any, *, status: int = 200, headers: Mapping[str, str] | None = None
) -> web.Response:
    """``data`` (plain JSON values) encoded with orjson: about 5× faster than ``json.dumps``
    on a 200-card board (bench/README.md, "Board rendering"); compact and UTF-8, as
    ``application/json`` is. Keys that are dates or enums (``replies.for_orjson`` leaves
    them so) are written as ``replies.unstructure`` spells them."""
    return web.Response(
        body=orjson.dumps(data, option=orjson.OPT_NON_STR_KEYS),
        status=status,
        headers=headers or None,
        content_type="application/json",
        charset="utf-8",
    )


def error_reply(error: ApiError) -> web.Response:
    body: dict[str, Any] = {"code": error.code, "message": error.message}
    if error.fields:
        body["fields"] = error.fields
    return json_reply(body, status=error.status, headers=error.headers)


# Failures whose reply is the same whatever the instance says, most specific first:
# (kind, status, code, message, Retry-After seconds or None).
_FIXED_REPLIES: tuple[tuple[type[Exception], int, str, str, str | None], ...] = (
    (ConcurrentUpdate, 409, "CONFLICT", "it changed meanwhile; reload and try again", None),
    (DuplicateActivity, 409, "CONFLICT", "this CRM activity already has a touch-point", None),
    (InvalidReference, 404, "NOT_FOUND", "a linked object does not exist", None),
    (StorageUnavailable, 503, "DB_UNAVAILABLE", "the database is unavailable; try again shortly", "5"),
    (StorageError, 503, "DB_UNAVAILABLE", "the database refused the request", None),
    (CrmAuthExpired, 401, "SESSION_EXPIRED", "your Bitrix24 authorisation expired; renew the session", None),
    (CrmPermissionDenied, 403, "CRM_ACCESS_DENIED", "Bitrix24 does not allow you to do this", None),
    (CrmNotFound, 404, "CRM_NOT_FOUND", "the CRM record or activity does not exist", None),
    (CrmInvalidInput, 409, "CRM_REJECTED", "Bitrix24 refused the change in its current state", None),
    (CrmTimeout, 504, "CRM_TIMEOUT", "Bitrix24 did not answer in time; try again", None),
    (PortalGone, 503, "CRM_UNAVAILABLE", "the portal no longer accepts the app's requests", "60"),
    (CrmUnavailable, 503, "CRM_UNAVAILABLE", "Bitrix24 is unavailable or busy; try again shortly", "10"),
    (CrmError, 502, "CRM_ERROR", "Bitrix24 answered with an unexpected error", None),
)  # fmt: skip


def to_api_error(exc: BaseException) -> ApiError | None:
    """Map a known failure to its documented status and code; None for the unknown."""
    match exc:
        case ApiError():
            return exc
        case InvalidInput() | InvalidValue():
            return ApiError(400, "VALIDATION_ERROR", "some fields are invalid", fields=exc.errors)
        case Unauthenticated():
            return ApiError(401, "UNAUTHENTICATED", str(exc) or "not authenticated")
        case Forbidden():
            return ApiError(403, "FORBIDDEN", str(exc) or "forbidden")
        case NotFound():
            return ApiError(404, "NOT_FOUND", str(exc) or "not found")
        case Conflict() | InvalidTransition() | ChainError():
            return ApiError(409, "CONFLICT", str(exc))
        case RateLimited():
            return ApiError(
                429, "RATE_LIMITED", str(exc), headers={"Retry-After": str(exc.retry_after_s)}
            )
    for kind, status, code, message, retry_after in _FIXED_REPLIES:
        if isinstance(exc, kind):
            headers = {"Retry-After": retry_after} if retry_after else None
            return ApiError(status, code, message, headers=headers)
    return None


_HTTP_CODES = {
    400: "BAD_REQUEST",
    401: "UNAUTHENTICATED",
    403: "FORBIDDEN",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    413: "PAYLOAD_TOO_LARGE",
    415: "UNSUPPORTED_MEDIA_TYPE",
}


def bare_error_reply(status: int) -> web.Response:
    """An error reply naming only the status, for requests too malformed to route."""
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = "error"
    return error_reply(ApiError(status, _HTTP_CODES.get(status, "HTTP_ERROR"), phrase))


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """The one place errors become replies; unknown ones are a logged 500 echoing nothing."""
    request_id = request.headers.get("X-Request-Id", "")
    if not (0 < len(request_id) <= 64 and request_id.isascii() and request_id.isprintable()):
        request_id = secrets.token_hex(8)
    token = request_id_var.set(request_id)
    started = time.perf_counter()
    status = 500
    try:
        async with asyncio.timeout(REQUEST_BUDGET_S):
            response = await handler(request)
        status = response.status
        response.headers["X-Request-Id"] = request_id
        return response
    except web.HTTPException as exc:
        status = exc.status
        if exc.status < 400:
            raise
        reply = error_reply(
            ApiError(exc.status, _HTTP_CODES.get(exc.status, "HTTP_ERROR"), exc.reason)
        )
        reply.headers["X-Request-Id"] = request_id
        return reply
    except TimeoutError:
        status = 504
        reply = error_reply(ApiError(504, "TIMEOUT", "the request took too long; try again"))
        reply.headers["X-Request-Id"] = request_id
        return reply
    except Exception as exc:
        mapped = to_api_error(exc)
        if mapped is None:
            log.exception("unhandled error", extra={"route": _route(request)})
            mapped = ApiError(500, "INTERNAL", "something went wrong on our side")
        status = mapped.status
        reply = error_reply(mapped)
        reply.headers["X-Request-Id"] = request_id
        return reply
    finally:
        elapsed = time.perf_counter() - started
        request.app.get(OBSERVE_KEY, _no_observer)(request, status, elapsed)
        request_id_var.reset(token)


def _route(request: web.Request) -> str:
    info = request.match_info.route.resource
    return info.canonical if info is not None else "unmatched"


def _no_observer(_request: web.Request, _status: int, _elapsed: float) -> None:
    return None


Observer = Callable[[web.Request, int, float], None]
OBSERVE_KEY: web.AppKey[Observer] = web.AppKey("observe")


def frame_csp(nonce: str, portal_domain: str | None) -> str:
    """CSP for pages Bitrix24 frames: only the portal (or nobody but us) may frame them."""
    ancestors = f"https://{portal_domain}" if portal_domain else "'self'"
    return "; ".join(
        [
            "default-src 'self'",
            f"script-src 'self' 'nonce-{nonce}' https://api.bitrix24.com",
            "style-src 'self' 'unsafe-inline'",
            "img-src 'self' data: https:",
            "connect-src 'self'",
            "base-uri 'none'",
            "form-action 'self'",
            f"frame-ancestors {ancestors}",
        ]
    )


def apply_security_headers(headers: MutableMapping[str, str], *, path: str, https: bool) -> None:
    """The usual security headers; a frame page's own CSP (``frame-ancestors``) is kept."""
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("Referrer-Policy", "no-referrer")
    if path.startswith("/static/"):
        # Revalidated with Last-Modified, so frame launches do not refetch every module.
        headers["Cache-Control"] = "no-cache"
    else:
        headers.setdefault("Cache-Control", "no-store")
    if "Content-Security-Policy" not in headers:
        # Not a frame page: nobody may frame it.
        headers["Content-Security-Policy"] = "default-src 'none'; frame-ancestors 'none'"
        headers.setdefault("X-Frame-Options", "DENY")
    if https:
        headers.setdefault("Strict-Transport-Security", "max-age=31536000; includeSubDomains")


@web.middleware
async def security_headers(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Outermost middleware: every reply gets the headers, error replies and redirects too."""
    https = request.app.get(HTTPS_KEY, False)
    try:
        response = await handler(request)
    except web.HTTPException as exc:
        apply_security_headers(exc.headers, path=request.path, https=https)
        raise
    apply_security_headers(response.headers, path=request.path, https=https)
    return response


MIDDLEWARES = (security_headers, error_middleware)
"""Outermost first: the headers wrap whatever reply the error middleware makes."""


HTTPS_KEY = web.AppKey("https", bool)
