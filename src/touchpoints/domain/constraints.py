"""Constraints on values that arrive from outside, declared once in ``Annotated`` types on
the classes that carry them (the API's bodies and the use cases' requests) and read by both
the edge's converters (``entrypoints.converters``) and its OpenAPI schema builder
(``entrypoints.openapi``); ``schema`` says a constraint in JSON Schema's words.

The limits themselves live in ``touchpoints.domain.limits``.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from typing import Annotated, Any

import attrs

from touchpoints.domain.limits import EMAIL_MAX, MAX_ID, NOTE_MAX, TITLE_MAX


def plausible_email(value: str) -> bool:
    """``local@domain.tld``: one ``@``, no whitespace, a dot inside the domain part.

    The same shape as ``^[^@\\s]+@[^@\\s]+\\.[^@\\s]+$``, checked with plain string
    operations (that pattern backtracks on long runs of dots).
    """
    if value.split() != [value]:
        return False
    local, _, domain = value.partition("@")
    return bool(local) and "@" not in domain and "." in domain[1:-1]


class Constraint:
    """A limit on one value: ``problem`` says what is wrong (or None), ``schema`` how to say it."""

    def problem(self, value: Any) -> str | None:
        raise NotImplementedError

    def schema(self) -> dict[str, Any]:
        raise NotImplementedError


@attrs.frozen
class Length(Constraint):
    """Text of ``minimum`` to ``maximum`` characters."""

    maximum: int
    minimum: int = 0

    def problem(self, value: Any) -> str | None:
        if isinstance(value, str) and len(value) > self.maximum:
            return f"must be at most {self.maximum} characters"
        if isinstance(value, str) and len(value) < self.minimum:
            return "must not be empty"
        return None

    def schema(self) -> dict[str, Any]:
        found: dict[str, Any] = {"maxLength": self.maximum}
        if self.minimum:
            found["minLength"] = self.minimum
        return found


@attrs.frozen
class Range(Constraint):
    """A number from ``minimum`` to ``maximum`` (None: unbounded).

    ``checked_here=False``: the domain's own validation checks it (and lists it together
    with its other findings), the schema still says it.
    """

    minimum: int | None = None
    maximum: int | None = None
    message: str | None = None
    checked_here: bool = True

    def problem(self, value: Any) -> str | None:
        if not self.checked_here or not isinstance(value, int | float):
            return None
        if (self.minimum is not None and value < self.minimum) or (
            self.maximum is not None and value > self.maximum
        ):
            return self.message or f"must be between {self.minimum} and {self.maximum}"
        return None

    def schema(self) -> dict[str, Any]:
        found: dict[str, Any] = {}
        if self.minimum is not None:
            found["minimum"] = self.minimum
        if self.maximum is not None:
            found["maximum"] = self.maximum
        return found


@attrs.frozen
class NotBlank(Constraint):
    """Text with at least one character that is not a space."""

    def problem(self, value: Any) -> str | None:
        return "must not be empty" if isinstance(value, str) and not value.strip() else None

    def schema(self) -> dict[str, Any]:
        return {"minLength": 1, "pattern": r"\S"}


@attrs.frozen
class EmailShape(Constraint):
    """``local@domain.tld`` (``plausible_email``); the empty string means none."""

    def problem(self, value: Any) -> str | None:
        if isinstance(value, str) and value and not plausible_email(value):
            return "must be a valid e-mail address"
        return None

    def schema(self) -> dict[str, Any]:
        return {}


@attrs.frozen
class OneOf(Constraint):
    """Only some members of an enum."""

    members: tuple[enum.Enum, ...]

    @classmethod
    def of(cls, members: Iterable[enum.Enum]) -> OneOf:
        return cls(tuple(members))

    def problem(self, value: Any) -> str | None:
        if isinstance(value, enum.Enum) and value not in self.members:
            return f"must be one of {', '.join(str(m.value) for m in self.members)}"
        return None

    def schema(self) -> dict[str, Any]:
        return {"enum": [member.value for member in self.members]}


@attrs.frozen
class Describe:
    """A description for the schema; no check."""

    text: str


@attrs.frozen
class EveryKey:
    """A mapping keyed by an enum that always holds every member (schema only); keyed by
    ``EntityType``, it holds the four entities and may hold smart processes."""


def json_name(name: str) -> dict[str, str]:
    """Field metadata: the field's JSON name where Python cannot spell it (``from``)."""
    return {"json": name}


Id = Annotated[int, Range(1, MAX_ID, "must be a positive id")]
Count = Annotated[int, Range(0)]
Rate = Annotated[float, Range(0, 1)]
Title = Annotated[str, Length(TITLE_MAX)]
Note = Annotated[str, Length(NOTE_MAX)]
Email = Annotated[str, Length(EMAIL_MAX), EmailShape()]
