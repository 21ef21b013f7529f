"""What Bitrix24's webhooks (``/b24/events``, ``/b24/bot``) do alike: read the bracket-keyed
form (or the same payload as JSON), answer in the JSON error shape, count each event's
outcome and refuse an event whose application token does not check out (DESIGN.md §4)."""

from __future__ import annotations

import logging
from typing import Any

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

from touchpoints.entrypoints.forms import MAX_FIELDS, FormError, parse_bracket_form
from touchpoints.entrypoints.http import ApiError, json_reply
from touchpoints.entrypoints.http import error_reply as http_error_reply
from touchpoints.entrypoints.inputs import JsonRefused, loads_bounded
from touchpoints.entrypoints.metrics import METRICS
from touchpoints.services.errors import RateLimited, Unauthenticated


async def read_form(request: web.Request) -> dict[str, Any]:
    """The posted form as nested dicts. Raises: HTTPBadRequest when it cannot be read.

    Bitrix24 posts its events form-encoded (``http_build_query``); the bot platform's
    handler example reads the same payload as JSON, so a JSON object is taken too, as the
    form it stands for: every scalar a string (``"1"``/``"0"`` for booleans, ``""`` for
    null, as the webhook's own form has them), lists keyed by index, and the same limits.
    """
    try:
        if request.content_type == "application/json":
            items = json_fields(loads_bounded(await request.read()))
        else:
            posted = await request.post()
            items = [(key, value) for key, value in posted.items() if isinstance(value, str)]
    except (ValueError, HttpProcessingError) as exc:  # e.g. a multipart part's bad headers
        reason = str(exc) if isinstance(exc, JsonRefused | FormError) else "malformed form body"
        raise web.HTTPBadRequest(reason=reason) from exc
    try:
        return parse_bracket_form(items)
    except FormError as exc:
        raise web.HTTPBadRequest(reason=str(exc)) from exc


def json_fields(document: Any) -> list[tuple[str, str]]:
    """A JSON object as the ``key[sub]=value`` fields ``http_build_query`` makes of it.

    Raises:
        FormError: not an object, or more fields than a form may have.
    """
    if not isinstance(document, dict):
        raise FormError("a JSON event must be an object")
    fields: list[tuple[str, str]] = []
    pending: list[tuple[str, Any]] = [(str(key), value) for key, value in document.items()]
    while pending:
        key, value = pending.pop()
        if isinstance(value, dict | list):
            pairs = value.items() if isinstance(value, dict) else enumerate(value)
            pending.extend((f"{key}[{sub}]", item) for sub, item in pairs)
            continue
        if len(fields) == MAX_FIELDS:
            raise FormError("too many form fields")
        if isinstance(value, bool):
            fields.append((key, "1" if value else "0"))
        else:
            fields.append((key, "" if value is None else str(value)))
    return fields


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
