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
    build = _BUILDERS.get(cls)
    if build is None:
        build = _BUILDERS[cls] = _builder(cls)
    instance: T = build(values)
    return instance


_BUILDERS: dict[type, Callable[[dict[str, Any]], Any]] = {}


def _builder(cls: type) -> Callable[[dict[str, Any]], Any]:
    """A function that fills a new ``cls`` from a dict, one statement per field.

    Generated, as attrs generates ``__init__``: a loop over the fields costs a third more
    than the statements it runs, and a board builds a thousand such values per render.
    Each field is set through its slot's own descriptor (a frozen class's ``__setattr__``
    refuses, and looking the name up on every call costs twice as much).
    """
    namespace: dict[str, Any] = {"_new": object.__new__, "_cls": cls}
    lines = ["def build(values):", "    instance = _new(_cls)"]
    for index, field in enumerate(attrs.fields(cls)):
        namespace[f"_set{index}"] = _setter(cls, field.name)
        lines.append(f"    _set{index}(instance, values[{field.name!r}])")
    lines.append("    return instance")
    exec(compile("\n".join(lines), f"<trusted {cls.__qualname__}>", "exec"), namespace)  # noqa: S102
    build: Callable[[dict[str, Any]], Any] = namespace["build"]
    return build


def _setter(cls: type, name: str) -> Setter:
    for klass in cls.__mro__:
        slot = klass.__dict__.get(name)
        if isinstance(slot, MemberDescriptorType):
            put: Setter = slot.__set__
            return put
    return lambda instance, value: _SET(instance, name, value)
