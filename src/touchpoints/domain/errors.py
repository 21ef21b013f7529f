"""Domain errors: one root, specific subclasses carrying structured fields."""

from __future__ import annotations

from collections.abc import Mapping

import attrs


class DomainError(Exception):
    """Root of every rule the domain refuses to break."""


@attrs.define(eq=False)
class InvalidTransition(DomainError):
    """A lifecycle action is not allowed from the touch-point's current status."""

    touch_point_id: int
    status: str
    action: str

    def __str__(self) -> str:
        return f"cannot {self.action} touch-point {self.touch_point_id}: it is {self.status}"


@attrs.define(eq=False)
class ChainError(DomainError):
    """A follow-up link would fork or loop a chain."""

    touch_point_id: int
    reason: str

    def __str__(self) -> str:
        return f"touch-point {self.touch_point_id}: {self.reason}"


@attrs.define(eq=False)
class InvalidValue(DomainError):
    """One or more fields break a domain invariant; ``errors`` maps field name to reason."""

    errors: Mapping[str, str]

    def __str__(self) -> str:
        return "; ".join(f"{field}: {reason}" for field, reason in sorted(self.errors.items()))
