"""Values built from sources we already trust, without running validators or converters again.

Our own rows were validated before they were stored, and the CRM's reply is parsed at the edge
(``adapters/bitrix24/rows.py``); re-validating them on every board render costs more CPU than
the rest of the render. ``trusted`` is for those paths only: anything from a request body or a
query string goes through the class's own ``__init__`` (and its validators) as before.
"""

from __future__ import annotations

from collections.abc import Callable
from types import MemberDescriptorType
from typing import Any, TypeVar

import attrs

T = TypeVar("T")

_SET = object.__setattr__

Setter = Callable[[Any, Any], None]


def trusted(cls: type[T], values: dict[str, Any]) -> T:
    """An instance of the frozen attrs class ``cls`` holding ``values`` as they are.

    ``values`` must name every field (defaults are not applied) and already hold each field's
    converted, valid value: no converter, validator or ``__attrs_post_init__`` runs.
    """
    instance = object.__new__(cls)
    for name, put in _setters(cls):
        put(instance, values[name])
    return instance


_SETTERS: dict[type, tuple[tuple[str, Setter], ...]] = {}


def _setters(cls: type) -> tuple[tuple[str, Setter], ...]:
    """Each field's name and how to set it: the slot's own descriptor (a frozen class's
    ``__setattr__`` refuses, and looking the name up on every call costs twice as much)."""
    setters = _SETTERS.get(cls)
    if setters is None:
        setters = _SETTERS[cls] = tuple(
            (field.name, _setter(cls, field.name)) for field in attrs.fields(cls)
        )
    return setters


def _setter(cls: type, name: str) -> Setter:
    for klass in cls.__mro__:
        slot = klass.__dict__.get(name)
        if isinstance(slot, MemberDescriptorType):
            put: Setter = slot.__set__
            return put
    return lambda instance, value: _SET(instance, name, value)
