"""Masking for logs and error messages: no token, ``auth`` value or secret ever leaves in clear."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from touchpoints.domain.secrets import Secret

MASK = "***"
SENSITIVE_KEYS = frozenset(
    {
        "auth",
        "access_token",
        "refresh_token",
        "client_secret",
        "auth_id",
        "refresh_id",
        "application_token",
        "code",
        "password",
    }
)

# key=value or "key": "value" pairs whose value must never be shown (BITRIX24.md §19.9).
# Linear: a match starts only at a listed word; the optional quotes and the two whitespace
# runs around ``:``/``=`` can be retried only within that one pair, and the value class
# ends the match greedily with nothing after it to backtrack into.
_PAIR = re.compile(
    r"(?i)(?P<key>\b(?:auth|access_token|refresh_token|client_secret|auth_id|refresh_id|"
    r"application_token)\b[\"']?\s*[:=]\s*[\"']?)(?P<value>[^\"'&\s,;}]+)"
)
_MAX_TEXT = 300


def redact(text: str, secrets: Iterable[Secret | str | None] = ()) -> str:
    """``text`` with every known secret value and every ``auth=...`` style pair masked."""
    for secret in secrets:
        value = secret.reveal() if isinstance(secret, Secret) else secret
        if value:
            text = text.replace(value, MASK)
    return _PAIR.sub(lambda match: match.group("key") + MASK, text)


def clip(text: str, secrets: Iterable[Secret | str | None] = ()) -> str:
    """Redact and shorten vendor text before it goes into an exception message."""
    text = redact(text, secrets)
    return text if len(text) <= _MAX_TEXT else text[:_MAX_TEXT] + "…"


def mask_params(params: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of request params safe to log: sensitive keys masked at any depth."""
    return {key: _mask_value(key, value) for key, value in params.items()}


def _mask_value(key: str, value: Any) -> Any:
    if key.lower() in SENSITIVE_KEYS:
        return MASK
    if isinstance(value, Secret):
        return MASK
    if isinstance(value, Mapping):
        return mask_params(value)
    if isinstance(value, list | tuple):
        return [_mask_value("", item) for item in value]
    return value
