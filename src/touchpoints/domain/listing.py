"""The list view's keyset positions: opaque cursors bound to the query they page through."""

from __future__ import annotations

import base64
import binascii
import hashlib
import struct
from datetime import UTC, datetime, timedelta

import attrs

from touchpoints.domain.errors import InvalidValue

_VERSION = 1
_LAYOUT = struct.Struct(">Bqq")  # version, deadline in microseconds since the epoch, id
_CHECK = 8
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICRO = timedelta(microseconds=1)


@attrs.frozen
class ListPosition:
    """Where a page ended: the last item's deadline and id (the list's sort key)."""

    deadline: datetime
    id: int


def _check(payload: bytes, scope: str) -> bytes:
    return hashlib.sha256(payload + b"\x00" + scope.encode()).digest()[:_CHECK]


def encode_cursor(position: ListPosition, scope: str) -> str:
    """An opaque cursor for ``position`` within the query described by ``scope``.

    The check digest is not a secret: a cursor only says where to continue, and every
    page is filtered by the caller's visibility, so a forged position can only skip
    through the caller's own list. What it catches is a mangled cursor, or one reused
    with other filters or by another user (``scope`` names both).
    """
    micros = (position.deadline - _EPOCH) // _MICRO
    payload = _LAYOUT.pack(_VERSION, micros, position.id)
    raw = payload + _check(payload, scope)
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, scope: str) -> ListPosition:
    """The position ``encode_cursor`` wrote for the same ``scope``.

    Raises: InvalidValue (``cursor``) for anything else.
    """
    bad = InvalidValue({"cursor": "is not a cursor of this list; start from the first page"})
    if not cursor.isascii() or len(cursor) > 64:
        raise bad
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
    except (binascii.Error, ValueError):
        raise bad from None
    payload, check = raw[: _LAYOUT.size], raw[_LAYOUT.size :]
    # Only the canonical spelling: unused bits of the last character must not vary.
    canonical = base64.urlsafe_b64encode(raw).decode().rstrip("=") == cursor
    if not canonical or len(payload) != _LAYOUT.size or check != _check(payload, scope):
        raise bad
    version, micros, position_id = _LAYOUT.unpack(payload)
    if version != _VERSION or position_id <= 0:
        raise bad
    try:
        deadline = _EPOCH + micros * _MICRO
    except OverflowError:
        raise bad from None
    return ListPosition(deadline=deadline, id=position_id)


def text_matches(needle: str, *texts: str | None) -> bool:
    """Whether any of ``texts`` contains ``needle``, ignoring case (an empty needle: all)."""
    wanted = needle.strip().casefold()
    if not wanted:
        return True
    return any(text is not None and wanted in text.casefold() for text in texts)
