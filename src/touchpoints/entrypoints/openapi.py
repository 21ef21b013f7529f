"""The OpenAPI 3.1 document of the JSON API (``GET /api/openapi.json``), generated from the
route table and the attrs classes of its bodies, parameters and replies.

Types become JSON Schema one to one; the limits come from the ``Annotated`` constraints the
converters enforce (``constraints``), so the document cannot drift from the implementation.
"""

from __future__ import annotations

import enum
import types
import typing
from collections.abc import Iterable
from datetime import date, datetime
from typing import TYPE_CHECKING, Annotated, Any

import attrs

from touchpoints.domain.constraints import Constraint, Describe, EveryKey
from touchpoints.domain.model import OwnerType
from touchpoints.entrypoints.converters import (
    DYNAMIC_KEY_PATTERN,
    ENTITY_TYPE_PATTERN,
    field_name,
    is_entity_type,
)
from touchpoints.entrypoints.wire import Empty

if TYPE_CHECKING:
    from touchpoints.entrypoints.routes import Route

_SUFFIXES = ("Reply", "Body", "Request", "Document")

_ERRORS = {
    "400": "malformed body or query; `fields` lists the offending fields",
    "401": "missing or expired session (`SESSION_EXPIRED`); checked before the body or query",
    "403": "forbidden by team visibility or CRM permissions (`CRM_ACCESS_DENIED`)",
    "404": "unknown id, or another portal's",
    "409": "forbidden transition or concurrent edit",
    "413": "body over 1 MiB (over 32 KiB for session renewal)",
    "429": "too many requests",
    "502": "Bitrix24 answered an unexpected error (`CRM_ERROR`)",
    "503": "Bitrix24 or the database unavailable (`CRM_UNAVAILABLE`, `DB_UNAVAILABLE`)",
    "504": "Bitrix24 did not answer in time (`CRM_TIMEOUT`)",
}

_ERROR_SCHEMA = {
    "type": "object",
    "properties": {
        "code": {"type": "string"},
        "message": {"type": "string"},
        "fields": {"type": "object", "additionalProperties": {"type": "string"}},
    },
    "required": ["code", "message"],
    "additionalProperties": False,
}


def _is_optional(type_: Any) -> bool:
    return typing.get_origin(type_) in (typing.Union, types.UnionType) and type(None) in (
        typing.get_args(type_)
    )


def _without_none(type_: Any) -> Any:
    inner = tuple(arg for arg in typing.get_args(type_) if arg is not type(None))
    return inner[0] if len(inner) == 1 else typing.Union[inner]  # noqa: UP007


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    if "$ref" in schema:
        return {"oneOf": [{"type": "null"}, schema]}
    found = dict(schema)
    found["type"] = [schema["type"], "null"]
    if "enum" in found:
        found["enum"] = [*found["enum"], None]
    return found


class Schemas:
    """JSON Schemas of Python types; attrs classes become named, closed components."""

    def __init__(self) -> None:
        self.components: dict[str, Any] = {"Error": _ERROR_SCHEMA}
        self._names: dict[type, str] = {}

    def name(self, cls: type) -> str:
        """The component of attrs class ``cls``, built on first use."""
        if cls in self._names:
            return self._names[cls]
        name = cls.__name__
        for suffix in _SUFFIXES:
            if name.endswith(suffix):
                name = name.removesuffix(suffix)
                break
        if name in self.components:
            raise ValueError(f"two schemas named {name}")
        self._names[cls] = name
        self.components[name] = {}  # reserved: a class may refer to itself
        properties: dict[str, Any] = {}
        required = []
        hints = typing.get_type_hints(cls, include_extras=True)
        for field in attrs.fields(cls):
            properties[field_name(field)] = self.of(hints[field.name])
            if field.default is attrs.NOTHING:
                required.append(field_name(field))
        schema: dict[str, Any] = {"type": "object", "properties": properties}
        if required:
            schema["required"] = required
        schema["additionalProperties"] = False
        if cls.__doc__:
            schema["description"] = " ".join(cls.__doc__.split())
        self.components[name] = schema
        return name

    def ref(self, cls: type) -> dict[str, str]:
        return {"$ref": f"#/components/schemas/{self.name(cls)}"}

    def of(self, type_: Any) -> dict[str, Any]:
        """The schema of ``type_``."""
        if typing.get_origin(type_) is Annotated:
            base, *marks = typing.get_args(type_)
            return self._marked(base, marks)
        if _is_optional(type_):
            return _nullable(self.of(_without_none(type_)))
        if is_entity_type(type_):
            return {"type": "string", "pattern": ENTITY_TYPE_PATTERN}
        if type_ is bool:
            return {"type": "boolean"}
        if type_ is int:
            return {"type": "integer"}
        if type_ is float:
            return {"type": "number"}
        if type_ is str:
            return {"type": "string"}
        if type_ is datetime:
            return {"type": "string", "format": "date-time"}
        if type_ is date:
            return {"type": "string", "format": "date"}
        if isinstance(type_, type) and issubclass(type_, enum.Enum):
            return {"type": "string", "enum": [member.value for member in type_]}
        if typing.get_origin(type_) is list:
            (item,) = typing.get_args(type_)
            return {"type": "array", "items": self.of(item)}
        if typing.get_origin(type_) is dict:
            key, value = typing.get_args(type_)
            return {
                "type": "object",
                "propertyNames": self.of(key),
                "additionalProperties": self.of(value),
            }
        if attrs.has(type_):
            return self.ref(type_)
        raise TypeError(f"no schema for {type_!r}")

    def _marked(self, base: Any, marks: Iterable[object]) -> dict[str, Any]:
        nullable = _is_optional(base)
        schema = self.of(_without_none(base) if nullable else base)
        for mark in marks:
            if isinstance(mark, Constraint):
                schema.update(mark.schema())
            elif isinstance(mark, Describe):
                schema["description"] = mark.text
            elif isinstance(mark, EveryKey):
                key, value = typing.get_args(base)
                members = [member.value for member in (OwnerType if is_entity_type(key) else key)]
                schema["properties"] = dict.fromkeys(members, schema["additionalProperties"])
                schema["required"] = members
                if is_entity_type(key):
                    schema["patternProperties"] = {DYNAMIC_KEY_PATTERN: self.of(value)}
                schema["additionalProperties"] = False
                del schema["propertyNames"]
        return _nullable(schema) if nullable else schema


def _parameters(schemas: Schemas, cls: type) -> list[dict[str, Any]]:
    found = []
    hints = typing.get_type_hints(cls, include_extras=True)
    for field in attrs.fields(cls):
        where = field.metadata.get("in", "query")
        type_ = hints[field.name]
        if _is_optional(type_):
            type_ = _without_none(type_)
        found.append(
            {
                "name": field_name(field),
                "in": where,
                "required": where == "path" or field.default is attrs.NOTHING,
                "schema": schemas.of(type_),
            }
        )
    return found


def _operation(schemas: Schemas, route: Route) -> dict[str, Any]:
    ok: dict[str, Any] = {"description": route.summary}
    if route.csv:
        ok["content"] = {"text/csv": {"schema": {"type": "string"}}}
    elif route.reply is not None:
        ok["content"] = {"application/json": {"schema": schemas.ref(route.reply)}}
    if route.reply_headers:
        ok["headers"] = {
            name: {"schema": schema, "description": text}
            for name, (schema, text) in route.reply_headers.items()
        }
    responses = {str(route.status): ok}
    for status, text in _ERRORS.items():
        responses[status] = {
            "description": text,
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
        }
    operation: dict[str, Any] = {"summary": route.summary, "responses": responses}
    if route.description:
        operation["description"] = route.description
    if route.params is not Empty:
        operation["parameters"] = _parameters(schemas, route.params)
    if route.body is not None:
        operation["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": schemas.ref(route.body)}},
        }
    if not route.auth:
        operation["security"] = []
    return operation


def openapi_document(routes: Iterable[Route]) -> dict[str, Any]:
    """The document of ``routes``: every route, body, parameter and reply, field by field."""
    schemas = Schemas()
    paths: dict[str, dict[str, Any]] = {}
    for route in routes:
        paths.setdefault(route.path, {})[route.method.lower()] = _operation(schemas, route)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Touch-points API",
            "version": "1.0.0",
            "description": "The JSON API behind the Touch-points board (DESIGN.md §3.3).",
        },
        "components": {
            "schemas": schemas.components,
            "securitySchemes": {"session": {"type": "http", "scheme": "bearer"}},
        },
        "security": [{"session": []}],
        "paths": paths,
    }
