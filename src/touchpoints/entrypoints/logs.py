"""Logging: JSON lines in production, readable lines in development; request ids; no secrets."""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any

from touchpoints.entrypoints.http import request_id_var
from touchpoints.entrypoints.inputs import printable

_STANDARD = frozenset(
    logging.LogRecord("", 0, "", 0, "", (), None).__dict__.keys() | {"message", "asctime"}
)
_SENSITIVE = ("token", "secret", "auth_id", "refresh_id", "password")
# Extras and messages may carry request values (event names, refusal reasons): a log line
# keeps a bounded, escaped prefix of each, so junk requests cannot flood or forge lines.
EXTRA_MAX = 200
MESSAGE_MAX = 2_000


def _extras(record: logging.LogRecord) -> dict[str, Any]:
    extras: dict[str, Any] = {}
    for key, value in record.__dict__.items():
        if key in _STANDARD or key.startswith("_"):
            continue
        if any(word in key.lower() for word in _SENSITIVE):
            extras[key] = "***"
        elif isinstance(value, str):
            extras[key] = printable(value, limit=EXTRA_MAX)
        else:
            extras[key] = value
    return extras


def _message(record: logging.LogRecord) -> str:
    return printable(record.getMessage(), limit=MESSAGE_MAX)


class RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id_var.get()
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, request id and extras."""

    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": _message(record),
        }
        payload.update(_extras(record))
        if record.exc_info:
            payload["exception"] = self.formatException(record.exc_info)
        return json.dumps(payload, default=str, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    def formatMessage(self, record: logging.LogRecord) -> str:  # noqa: N802 - logging's name
        record.message = _message(record)
        return super().formatMessage(record)

    def format(self, record: logging.LogRecord) -> str:
        base = super().format(record)
        extras = _extras(record)
        extras.pop("request_id", None)
        if extras:
            base += " " + " ".join(f"{key}={value}" for key, value in extras.items())
        return base


def configure_logging(level: str, *, json_lines: bool) -> None:
    handler = logging.StreamHandler(sys.stderr)
    # The handler filters too: metrics lift some loggers to INFO without printing them.
    handler.setLevel(level)
    handler.addFilter(RequestIdFilter())
    if json_lines:
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(
            TextFormatter("%(asctime)s %(levelname)-7s %(name)s [%(request_id)s] %(message)s")
        )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    logging.getLogger("pgserver").setLevel(logging.WARNING)
    logging.getLogger("yoyo").setLevel(logging.WARNING)
