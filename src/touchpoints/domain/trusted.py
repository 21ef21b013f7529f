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
    converted, valid value: no converter, validator or ``__attrs_post_init__`` runs. A class
    without slots keeps ``values`` itself, so the caller hands the dict over for good.
    """
    build = _BUILDERS.get(cls)
    if build is None:
        build = _BUILDERS[cls] = _builder(cls)
    instance: T = build(values)
    return instance


_BUILDERS: dict[type, Callable[[dict[str, Any]], Any]] = {}


def _builder(cls: type) -> Callable[[dict[str, Any]], Any]:
    """A function that fills a new ``cls`` from a dict.

    A class without slots (``attrs.frozen(slots=False)``, chosen for the values a board
    builds by the hundred) takes the dict itself as its ``__dict__``: one step whatever the
    number of fields, and ``dict_backed`` lets a converter hand that dict on. Otherwise the
    function is generated, as attrs generates ``__init__``, with one statement per field (a
    loop over the fields costs a third more than the statements it runs), each field set
    through its slot's own descriptor (a frozen class's ``__setattr__`` refuses, and
    looking the name up on every call costs twice as much).
    """
    names = tuple(field.name for field in attrs.fields(cls))
    if dict_backed(cls):
        return _adopting(cls, len(names))
    namespace: dict[str, Any] = {"_new": object.__new__, "_cls": cls}
    lines = ["def build(values):", "    instance = _new(_cls)"]
    for index, name in enumerate(names):
        namespace[f"_set{index}"] = _setter(cls, name)
        lines.append(f"    _set{index}(instance, values[{name!r}])")
    lines.append("    return instance")
    exec(compile("\n".join(lines), f"<trusted {cls.__qualname__}>", "exec"), namespace)  # noqa: S102
    build: Callable[[dict[str, Any]], Any] = namespace["build"]
    return build


def dict_backed(cls: type) -> bool:
    """Whether instances of the attrs class ``cls`` keep their fields in a ``__dict__``."""
    return cls.__dictoffset__ != 0


def _adopting(cls: type, fields: int) -> Callable[[dict[str, Any]], Any]:
    new = object.__new__

    def build(values: dict[str, Any]) -> Any:
        if len(values) != fields:
            # Cheap, and catches a key too many or too few: the dict becomes the instance.
            raise KeyError(f"{cls.__qualname__} has {fields} fields, got {sorted(values)}")
        instance: Any = new(cls)
        _SET(instance, "__dict__", values)
        return instance

    return build


def _setter(cls: type, name: str) -> Setter:
    for klass in cls.__mro__:
        slot = klass.__dict__.get(name)
        if isinstance(slot, MemberDescriptorType):
            put: Setter = slot.__set__
            return put
    return lambda instance, value: _SET(instance, name, value)
