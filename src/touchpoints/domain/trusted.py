"""Values built from sources we already trust, without running validators or converters again.

Our own rows were validated before they were stored, and the CRM's reply is parsed at the edge
(``adapters/bitrix24/rows.py``); re-validating them on every board render costs more CPU than
the rest of the render. ``trusted`` is for those paths only: anything from a request body or a
query string goes through the class's own ``__init__`` (and its validators) as before.
"""

from __future__ import annotations

from typing import Any, TypeVar

import attrs

T = TypeVar("T")

_SET = object.__setattr__


def trusted(cls: type[T], values: dict[str, Any]) -> T:
    """An instance of the frozen attrs class ``cls`` holding ``values`` as they are.

    ``values`` must name every field (defaults are not applied) and already hold each field's
    converted, valid value: no converter, validator or ``__attrs_post_init__`` runs.
    """
    instance = object.__new__(cls)
    for name in _names(cls):
        _SET(instance, name, values[name])
    return instance


_FIELDS: dict[type, tuple[str, ...]] = {}


def _names(cls: type) -> tuple[str, ...]:
    names = _FIELDS.get(cls)
    if names is None:
        names = _FIELDS[cls] = tuple(field.name for field in attrs.fields(cls))
    return names
