"""A wrapper that keeps secret strings out of reprs, logs and error pages."""

from __future__ import annotations

import hmac

import attrs


@attrs.frozen(repr=False)
class Secret:
    """A secret string; its repr and str are ``<secret>``.

    Read the value only where it is sent on (``reveal()``), never to format a message.
    """

    _value: str = attrs.field(alias="value")

    def reveal(self) -> str:
        return self._value

    def matches(self, candidate: str) -> bool:
        """Compare in constant time (application tokens, see BITRIX24.md §19.1)."""
        return hmac.compare_digest(self._value.encode(), candidate.encode())

    def __bool__(self) -> bool:
        return bool(self._value)

    def __repr__(self) -> str:
        return "<secret>"

    __str__ = __repr__
