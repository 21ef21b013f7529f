"""Value rules that the domain, the ports and every storage adapter refuse alike, in one
wording: an instant without a time zone offset, a negative count or duration. The
``InvalidValue`` names the field."""

from __future__ import annotations

from datetime import datetime

from touchpoints.domain.errors import InvalidValue


def require_aware(field: str, value: datetime | None) -> None:
    """Refuse a naive instant (None passes: the field is optional where it may be None);
    asyncpg would silently read one as UTC, ``astimezone`` as the server's time.

    Raises: InvalidValue.
    """
    if value is not None and (value.tzinfo is None or value.utcoffset() is None):
        raise InvalidValue({field: "must carry a time zone offset"})


def require_not_negative(field: str, value: float) -> None:
    """Refuse a negative count or duration (a page's ``limit``, which Postgres' ``LIMIT``
    would refuse with its own error; a staleness in seconds).

    Raises: InvalidValue.
    """
    if value < 0:
        raise InvalidValue({field: "must not be negative"})
