"""Bitrix24 wire formats: tolerant scalar parsing, datetimes with offsets, PHP-style queries."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any


class WireError(ValueError):
    """A value on the wire has a shape we cannot read."""


def to_int(value: Any) -> int:
    """Read an id or count: legacy methods send every scalar as a string (BITRIX24.md §11.3).

    Raises:
        WireError: the value is not an integer in any spelling.
    """
    if type(value) is int:  # the common case first: ``bool`` is an ``int`` subclass
        return value
    if isinstance(value, bool):
        raise WireError("a boolean is not an integer")
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value.strip())
    if isinstance(value, float) and value.is_integer():
        return int(value)
    raise WireError(f"not an integer: {type(value).__name__}")


def to_opt_int(value: Any) -> int | None:
    """An optional id: ``None``, ``""`` and ``0`` mean unset."""
    if value is None or value in ("", "0", 0):
        return None
    return to_int(value)


def to_bool(value: Any) -> bool:
    """Read ``Y``/``N`` chars, JSON booleans and ``1``/``0`` alike (§11.3, §13)."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return value != 0
    if isinstance(value, str):
        return value.strip().upper() in ("Y", "1", "TRUE")
    return False


def to_opt_float(value: Any) -> float | None:
    """Amounts arrive as numbers (crm.item.*) or strings (legacy lists)."""
    if value is None or value == "" or isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


def to_str(value: Any) -> str:
    """A text field; ``null`` and the ``[]`` that PHP sends for empty values read as ``""``."""
    if type(value) is str:
        return value
    # A tuple of types, not ``list | dict``: that would build a union on every call, and a
    # board's reply reads a few thousand fields.
    if value is None or isinstance(value, (list, dict)):
        return ""
    return str(value)


def parse_datetime(value: Any) -> datetime | None:
    """Parse an ISO 8601 datetime (§17); ``None``/``""`` is unset.

    A value without an offset is read as UTC: the zone Bitrix24 applies to such values is
    undocumented (BITRIX24.md §21.16), and every reply we rely on carries one.

    Raises:
        WireError: the value is not an ISO datetime.
    """
    if value is None or value == "" or isinstance(value, list | dict):
        return None
    if not isinstance(value, str):
        raise WireError(f"not a datetime: {type(value).__name__}")
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError as exc:
        raise WireError("not an ISO 8601 datetime") from exc
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed


def format_datetime(value: datetime) -> str:
    """``YYYY-MM-DDThh:mm:ss±hh:mm``: always with an explicit offset (§11.5, §17).

    Raises:
        WireError: a naive datetime (its zone would be guessed by the portal).
    """
    if value.tzinfo is None or value.utcoffset() is None:
        raise WireError("datetimes sent to Bitrix24 must carry an offset")
    return value.replace(microsecond=0).isoformat()


def as_list(value: Any) -> list[Any]:
    """A JSON array, or the values of an object PHP serialised from a keyed array."""
    if isinstance(value, list):
        return value
    if isinstance(value, dict):
        return list(value.values())
    return []


def as_dict(value: Any) -> dict[str, Any]:
    """A JSON object; PHP serialises an empty one as ``[]`` (BITRIX24.md §6)."""
    if isinstance(value, dict):
        return value
    if isinstance(value, list):
        return {str(index): item for index, item in enumerate(value)}
    return {}


# RFC 3986's unreserved bytes stay as they are; every other byte becomes %XX.
_UNRESERVED = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-~"
_PERCENT = tuple(chr(b) if b in _UNRESERVED else f"%{b:02X}" for b in range(256))


def percent(text: str) -> str:
    """``urllib.parse.quote(text, safe="")``, about twice as fast on long texts: a bot
    digest's message and keyboard are most of the bytes a digest pass encodes."""
    raw = text.encode()
    if not raw.rstrip(_UNRESERVED):
        return text
    return "".join([_PERCENT[byte] for byte in raw])


def php_query(params: Mapping[str, Any]) -> str:
    """Encode nested params as a PHP-style query (``filter[@ID][0]=1``, §3, §6).

    Keys and values are percent-encoded, so filter prefixes such as ``>``, ``@`` and ``%``
    survive inside a batch command string.

    Raises:
        WireError: a value that has no unambiguous form encoding (booleans, objects).
    """
    pairs: list[str] = []
    for key, value in params.items():
        _encode(percent(str(key)), value, pairs)
    return "&".join(pairs)


def _encode(prefix: str, value: Any, pairs: list[str]) -> None:
    if isinstance(value, Mapping):
        for key, item in value.items():
            _encode(f"{prefix}[{percent(str(key))}]", item, pairs)
    elif isinstance(value, list | tuple):
        if all(type(item) is int for item in value):
            # Lists of ids, the bulk of every batch: digits and "-" need no encoding.
            pairs.extend([f"{prefix}[{index}]={item}" for index, item in enumerate(value)])
            return
        for index, item in enumerate(value):
            _encode(f"{prefix}[{index}]", item, pairs)
    elif type(value) is int:
        pairs.append(f"{prefix}={value}")
    elif isinstance(value, bool):
        # PHP reads every non-empty string as true; spell the value out at the call site.
        raise WireError("booleans have no form encoding; pass 'Y'/'N' or 1/0")
    elif isinstance(value, datetime):
        pairs.append(f"{prefix}={percent(format_datetime(value))}")
    elif isinstance(value, int | float | str):
        pairs.append(f"{prefix}={percent(str(value))}")
    elif value is None:
        pairs.append(f"{prefix}=")
    else:
        raise WireError(f"cannot form-encode {type(value).__name__}")
