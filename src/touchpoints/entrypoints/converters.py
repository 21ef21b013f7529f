"""The JSON API's strict cattrs converters: bodies (JSON values) and parameters (text), and
the 400 field list of a failed parse (``cattrs.v.transform_error``).

Unknown fields, wrong types, naive datetimes, ids ≤ 0, bad enum values and the limits the
``Annotated`` types declare (``constraints``) are all refused, every offending field listed
(DESIGN.md §3.5).
"""

from __future__ import annotations

import enum
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from datetime import date, datetime
from typing import Annotated, Any, TypeVar

import attrs
import cattrs
from cattrs.gen import make_dict_structure_fn, override
from cattrs.v import transform_error

from touchpoints.domain.constraints import Constraint
from touchpoints.domain.limits import FIRST_YEAR, LAST_YEAR
from touchpoints.domain.model import EntityType, OwnerType, SmartProcess, entity_type
from touchpoints.entrypoints.inputs import parse_id
from touchpoints.services.errors import InvalidInput

T = TypeVar("T")
E = TypeVar("E", bound=enum.Enum)

# Any integer in a body must fit a Postgres bigint; ids must also be positive and ≤ MAX_ID.
_INT_MIN, _INT_MAX = -(2**63), 2**63 - 1
_DATETIME_MAX = 64
_EXTRA = "\x00extra:"
_LIMIT = "\x00limit:"


ENTITY_TYPES_TEXT = "lead, deal, contact, company or dynamic_<entityTypeId>"
ENTITY_TYPE_PATTERN = "^(lead|deal|contact|company|dynamic_[1-9][0-9]{2,9})$"
DYNAMIC_KEY_PATTERN = "^dynamic_[1-9][0-9]{2,9}$"


class _Invalid(ValueError):
    """A single field's problem, reported with its path."""


class _Limit(_Invalid):
    """A well-typed value beyond a declared limit: reported only when the types are right."""


# ------------------------------------------------------------------ converters


def _strict_int(value: Any, _type: type) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise _Invalid("must be an integer")
    if not _INT_MIN <= value <= _INT_MAX:
        raise _Invalid("is out of range")
    return value


def _strict_str(value: Any, _type: type) -> str:
    if not isinstance(value, str):
        raise _Invalid("must be a string")
    return value


def _strict_bool(value: Any, _type: type) -> bool:
    if not isinstance(value, bool):
        raise _Invalid("must be true or false")
    return value


def parse_aware(value: Any) -> datetime:
    """An ISO 8601 datetime with an explicit offset; naive ones are refused."""
    if not isinstance(value, str) or len(value) > _DATETIME_MAX or not value.isascii():
        raise _Invalid("must be an ISO 8601 datetime string with an offset")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise _Invalid("must be an ISO 8601 datetime with an offset") from None
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        raise _Invalid("must carry a time zone offset, e.g. 2026-09-01T10:00:00+02:00")
    if not FIRST_YEAR <= parsed.year <= LAST_YEAR:
        raise _Invalid(f"must be between the years {FIRST_YEAR} and {LAST_YEAR}")
    return parsed


def _date(value: Any, _type: type) -> date:
    if not isinstance(value, str) or len(value) != 10 or not value.isascii():
        raise _Invalid("must be a YYYY-MM-DD date")
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise _Invalid("must be a YYYY-MM-DD date") from None


def _query_date(value: Any, _type: type) -> date:
    parsed = _date(value, _type)
    if not FIRST_YEAR <= parsed.year <= LAST_YEAR:
        raise _Invalid(f"must be between the years {FIRST_YEAR} and {LAST_YEAR}")
    return parsed


def _enum(value: Any, type_: type[enum.Enum]) -> enum.Enum:
    allowed = [member.value for member in type_]
    if not isinstance(value, str) or value not in allowed:
        raise _Invalid(f"must be one of {', '.join(allowed)}")
    return type_(value)


def _entity(value: Any, _type: Any) -> EntityType | None:
    if value is None and type(None) in typing.get_args(_type):
        return None
    if isinstance(value, str):
        try:
            return entity_type(value)
        except ValueError:
            pass
    raise _Invalid(f"must be one of {ENTITY_TYPES_TEXT}")


def is_entity_type(type_: Any) -> bool:
    """``EntityType`` or ``EntityType | None``: one of the four entities or a smart process."""
    if typing.get_origin(type_) not in (typing.Union, types.UnionType):
        return False
    return {arg for arg in typing.get_args(type_) if arg is not type(None)} == {
        OwnerType,
        SmartProcess,
    }


def _query_int(value: Any, _type: type) -> int:
    parsed = parse_id(value)
    if parsed is None:
        raise _Invalid("must be a positive integer")
    return parsed


def _is_annotated(type_: Any) -> bool:
    return typing.get_origin(type_) is Annotated


def _is_list(type_: Any) -> bool:
    return typing.get_origin(type_) is list


def _is_enum(type_: Any) -> bool:
    return isinstance(type_, type) and issubclass(type_, enum.Enum)


def field_name(field: attrs.Attribute[Any]) -> str:
    """A field's JSON name (``constraints.json_name``), else its own."""
    return str(field.metadata.get("json", field.name))


def _annotated_hook(converter: cattrs.Converter) -> Callable[[Any], Any]:
    def factory(type_: Any) -> Callable[[Any, Any], Any]:
        base, *marks = typing.get_args(type_)
        checks = [mark for mark in marks if isinstance(mark, Constraint)]
        structure_base = converter.get_structure_hook(base)

        def structure(value: Any, _type: Any) -> Any:
            parsed = structure_base(value, base)
            for check in checks:
                problem = check.problem(parsed)
                if problem is not None:
                    raise _Limit(problem)
            return parsed

        return structure

    return factory


def _list_hook(converter: cattrs.Converter) -> Callable[[Any], Any]:
    def factory(type_: Any) -> Callable[[Any, Any], list[Any]]:
        (item_type,) = typing.get_args(type_)
        structure_item = converter.get_structure_hook(item_type)

        def structure(value: Any, _type: Any) -> list[Any]:
            # A bad item is reported as its list's problem.
            if not isinstance(value, list):
                raise _Invalid("must be a list")
            return [structure_item(item, item_type) for item in value]

        return structure

    return factory


def _attrs_hook(converter: cattrs.Converter) -> Callable[[Any], Any]:
    def factory(cls: Any) -> Any:
        renames: dict[str, Any] = {
            field.name: override(rename=field_name(field))
            for field in attrs.fields(cls)
            if "json" in field.metadata
        }
        return make_dict_structure_fn(cls, converter, _cattrs_forbid_extra_keys=True, **renames)

    return factory


def _make_converter(hooks: Mapping[type, Callable[[Any, Any], Any]]) -> cattrs.Converter:
    converter = cattrs.Converter(forbid_extra_keys=True, detailed_validation=True)
    for type_, hook in hooks.items():
        converter.register_structure_hook(type_, hook)
    converter.register_structure_hook_func(_is_enum, _enum)
    converter.register_structure_hook_func(is_entity_type, _entity)
    converter.register_structure_hook_factory(_is_list, _list_hook(converter))
    converter.register_structure_hook_factory(_is_annotated, _annotated_hook(converter))
    converter.register_structure_hook_factory(attrs.has, _attrs_hook(converter))
    return converter


def make_request_converter() -> cattrs.Converter:
    """The JSON API's strict converter for bodies (one per boundary, never the global one)."""
    return _make_converter(
        {
            int: _strict_int,
            str: _strict_str,
            bool: _strict_bool,
            datetime: lambda value, _t: parse_aware(value),
            date: _date,
        }
    )


def make_query_converter() -> cattrs.Converter:
    """The strict converter for query and path parameters: text in, typed values out."""
    return _make_converter(
        {
            int: _query_int,
            str: _strict_str,
            datetime: lambda value, _t: parse_aware(value),
            date: _query_date,
        }
    )


_BODIES = make_request_converter()
_PARAMS = make_query_converter()


def _format(exc: BaseException, _type: Any) -> str:
    if isinstance(exc, _Limit):
        return _LIMIT + str(exc)
    if isinstance(exc, _Invalid):
        return str(exc)
    if isinstance(exc, KeyError):
        return "is required"
    if isinstance(exc, cattrs.ForbiddenExtraKeysError):
        return _EXTRA + "\x00".join(sorted(exc.extra_fields))
    if isinstance(exc, ValueError | TypeError):
        return "has the wrong type"
    return "is invalid"


def field_errors(exc: BaseException, *, limits_too: bool = False) -> dict[str, str]:
    """Every offending field of a failed structuring, by dotted path (``cattrs.v``).

    Fields beyond a limit are left out while others have the wrong shape or type, unless
    ``limits_too`` (flat query parameters: all at once).
    """
    errors: dict[str, str] = {}
    limits: dict[str, str] = {}
    for line in transform_error(exc, path="$", format_exception=_format):
        message, _, where = line.rpartition(" @ ")
        path = where.removeprefix("$").removeprefix(".")
        if message.startswith(_EXTRA):
            for key in message.removeprefix(_EXTRA).split("\x00"):
                errors[f"{path}.{key}" if path else key] = "is not a known field"
        elif message.startswith(_LIMIT):
            limits[path or "body"] = message.removeprefix(_LIMIT)
        else:
            errors[path or "body"] = message
    # As a reader would fix a body: first the shape and types, then the limits.
    return {**limits, **errors} if limits_too else errors or limits


def structure(data: Any, cls: type[T]) -> T:
    """Parse a JSON document into ``cls``.

    Raises:
        InvalidInput: listing every offending field by its dotted path.
    """
    if not isinstance(data, dict):
        raise InvalidInput({"body": "must be a JSON object"})
    try:
        return _BODIES.structure(data, cls)
    except (cattrs.BaseValidationError, cattrs.ForbiddenExtraKeysError) as exc:
        raise InvalidInput(field_errors(exc) or {"body": "is invalid"}) from None


def structure_params(
    query: Mapping[str, Sequence[str]], path: Mapping[str, str], cls: type[T]
) -> T:
    """Parse query parameters (each name once) and path parameters into ``cls``.

    Empty query values count as absent. Raises: InvalidInput listing every offending
    parameter, unknown and repeated ones included.
    """
    fields = {field_name(field): field for field in attrs.fields(cls)}  # type: ignore[arg-type]
    in_query = {name for name, field in fields.items() if field.metadata.get("in") != "path"}
    errors = dict.fromkeys(sorted(set(query) - in_query), "is not a known query parameter")
    values: dict[str, str] = {}
    for name in sorted(in_query & set(query)):
        given = query[name]
        if len(given) > 1:
            errors[name] = "must be given once"
        elif given[0] != "":
            values[name] = given[0]
    values.update(path)
    parsed = None
    try:
        parsed = _PARAMS.structure(values, cls)
    except (cattrs.BaseValidationError, cattrs.ForbiddenExtraKeysError) as exc:
        names = {field.name: name for name, field in fields.items()}
        for key, message in field_errors(exc, limits_too=True).items():
            errors.setdefault(names.get(key, key), message)
    if parsed is not None and not errors:
        errors.update(getattr(parsed, "problems", dict)())
    if errors or parsed is None:
        raise InvalidInput(errors or {"query": "is invalid"})
    return parsed


def query_id(raw: str | None, name: str) -> int | None:
    """A positive id query parameter (``inputs.parse_id``), or None when absent.

    Raises: InvalidInput naming the parameter.
    """
    if raw is None or raw == "":
        return None
    value = parse_id(raw)
    if value is None:
        raise InvalidInput({name: "must be a positive integer"})
    return value


def query_enum(raw: str | None, name: str, type_: type[E]) -> E | None:
    if raw is None or raw == "":
        return None
    try:
        return type_(raw)
    except ValueError:
        allowed = ", ".join(member.value for member in type_)
        raise InvalidInput({name: f"must be one of {allowed}"}) from None


def path_id(raw: str, name: str = "id") -> int:
    value = query_id(raw, name)
    if value is None:
        raise InvalidInput({name: "must be a positive integer"})
    return value
