"""Domain errors: one root, specific subclasses carrying structured fields."""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

import attrs


class DomainError(Exception):
    """Root of every rule the domain refuses to break. An attrs subclass says itself with its
    ``template``, filled in with its fields (``str.format`` names)."""

    template: ClassVar[str | None] = None

    def __str__(self) -> str:
        if self.template is None or not attrs.has(type(self)):
            return super().__str__()
        return self.template.format_map(attrs.asdict(self, recurse=False))  # type: ignore[arg-type]


@attrs.define(eq=False)
class InvalidTransition(DomainError):
    """A lifecycle action is not allowed from the touch-point's current status."""

    template = "cannot {action} touch-point {touch_point_id}: it is {status}"

    touch_point_id: int
    status: str
    action: str


@attrs.define(eq=False)
class ChainError(DomainError):
    """A follow-up link would fork or loop a chain."""

    template = "touch-point {touch_point_id}: {reason}"

    touch_point_id: int
    reason: str


@attrs.define(eq=False)
class InvalidValue(DomainError):
    """One or more fields break a domain invariant; ``errors`` maps field name to reason."""

    errors: Mapping[str, str]

    def __str__(self) -> str:
        return "; ".join(f"{field}: {reason}" for field, reason in sorted(self.errors.items()))
