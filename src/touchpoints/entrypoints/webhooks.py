"""What Bitrix24's webhooks (``/b24/events``, ``/b24/bot``) do alike: read the bracket-keyed
form, answer in the JSON error shape, count each event's outcome and refuse an event whose
application token does not check out (DESIGN.md §4)."""

from __future__ import annotations

import logging
from typing import Any

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

from touchpoints.entrypoints.forms import FormError, parse_bracket_form
from touchpoints.entrypoints.http import ApiError, json_reply
from touchpoints.entrypoints.http import error_reply as http_error_reply
from touchpoints.entrypoints.metrics import METRICS
from touchpoints.services.errors import RateLimited, Unauthenticated


async def read_form(request: web.Request) -> dict[str, Any]:
    """The posted form as nested dicts. Raises: HTTPBadRequest when it cannot be read."""
    try:
        posted = await request.post()
    except (ValueError, HttpProcessingError) as exc:  # e.g. a multipart part's bad headers
        raise web.HTTPBadRequest(reason="malformed form body") from exc
    items = [(key, value) for key, value in posted.items() if isinstance(value, str)]
    try:
        return parse_bracket_form(items)
    except FormError as exc:
        raise web.HTTPBadRequest(reason=str(exc)) from exc


def ok_reply(**extra: str) -> web.Response:
    """The 200 a webhook answers once it handled (or deliberately ignored) an event."""
    return json_reply({"ok": True, **extra})


def error_reply(status: int, code: str, message: str) -> web.Response:
    """The API's error shape (``http.error_reply``), for a webhook's refusal."""
    return http_error_reply(ApiError(status, code, message))


def count_event(request: web.Request, event: str, outcome: str) -> None:
    metrics = request.app.get(METRICS)
    if metrics is not None:
        metrics.count_event(event, outcome)


def refused(
    request: web.Request, event: str, exc: Unauthenticated, log: logging.Logger
) -> web.Response:
    """The answer to an event that failed verification: 403 for a token mismatch, else 401."""
    log.warning("event refused", extra={"event": event[:40], "reason": str(exc)[:200]})
    count_event(request, event, "rejected")
    status = 403 if "mismatch" in str(exc) else 401
    return error_reply(status, "UNAUTHENTICATED", "event refused")


def rate_limited(request: web.Request, event: str, exc: RateLimited) -> web.Response:
    count_event(request, event, "limited")
    response = error_reply(429, "RATE_LIMITED", "too many unverified events")
    response.headers["Retry-After"] = str(exc.retry_after_s)
    return response
