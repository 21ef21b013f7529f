"""Clocks: the system's, and a settable one for tests, the demo and ``digest --now``."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import attrs


class SystemClock:
    """The real time, timezone-aware UTC."""

    def now(self) -> datetime:
        return datetime.now(UTC)


@attrs.define
class FixedClock:
    """A clock that stands still until moved (tests, backfills)."""

    current: datetime

    def now(self) -> datetime:
        return self.current

    def advance(self, delta: timedelta) -> None:
        self.current += delta


@attrs.define
class OffsetClock:
    """The real time shifted so that it started at a chosen instant (``digest --now`` loops)."""

    start: datetime
    _origin: datetime = attrs.field(factory=lambda: datetime.now(UTC))

    def now(self) -> datetime:
        return self.start + (datetime.now(UTC) - self._origin)
