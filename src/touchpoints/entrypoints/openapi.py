"""The OpenAPI 3.1 document of the JSON API (``GET /api/openapi.json``).

Kept in step with the implementation by tests that validate real replies against it and by
schemathesis runs against the demo portal.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from touchpoints.domain.model import NOTE_MAX, TITLE_MAX, OwnerType, Status, TouchPointType
from touchpoints.domain.reports import MAX_PERIOD_DAYS
from touchpoints.domain.scheduling import Bucket
from touchpoints.domain.settings import IntervalUnit
from touchpoints.entrypoints.inputs import MAX_ID
from touchpoints.entrypoints.wire import FEEDBACK_MAX

_ID = {"type": "integer", "minimum": 1, "maximum": MAX_ID}
_DATETIME = {"type": "string", "format": "date-time"}
_NULLABLE_DATETIME = {"type": ["string", "null"], "format": "date-time"}
_NULLABLE_ID = {"type": ["integer", "null"], "minimum": 1, "maximum": MAX_ID}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _enum(values: Any) -> dict[str, Any]:
    return {"type": "string", "enum": [member.value for member in values]}


def _obj(
    properties: dict[str, Any], required: list[str] | None = None, *, closed: bool = True
) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "object", "properties": properties}
    if required:
        schema["required"] = required
    if closed:
        schema["additionalProperties"] = False
    return schema


_SCHEMAS: dict[str, Any] = {
    "Error": _obj(
        {
            "code": {"type": "string"},
            "message": {"type": "string"},
            "fields": {"type": "object", "additionalProperties": {"type": "string"}},
        },
        ["code", "message"],
    ),
    "Owner": _obj(
        {"type": _enum(OwnerType), "id": _ID, "title": {"type": ["string", "null"]}},
        ["type", "id", "title"],
    ),
    "TouchPoint": _obj(
        {
            "id": _ID,
            "activity_id": _ID,
            "owner": _ref("Owner"),
            "type": _enum(TouchPointType),
            "status": _enum(Status),
            "deadline": _DATETIME,
            "responsible_id": _ID,
            "created_by": _ID,
            "result_note": {"type": ["string", "null"]},
            "previous_id": _NULLABLE_ID,
            "next_id": _NULLABLE_ID,
            "created_at": _DATETIME,
            "updated_at": _DATETIME,
            "completed_at": _NULLABLE_DATETIME,
            "title": {
                "type": ["string", "null"],
                "description": "The to-do's subject, read live from the CRM (never stored); "
                "null where the user may not see the to-do or it is gone.",
            },
            "note": {
                "type": ["string", "null"],
                "description": "The to-do's description, read live from the CRM (never stored); "
                "null where the user may not see the to-do or it is gone.",
            },
        },
        [
            "id",
            "activity_id",
            "owner",
            "type",
            "status",
            "deadline",
            "responsible_id",
            "result_note",
            "previous_id",
            "next_id",
            "created_at",
            "updated_at",
            "completed_at",
            "title",
            "note",
        ],
    ),
    "Board": _obj(
        {
            "today": {"type": "string", "format": "date"},
            "time_zone": {"type": "string"},
            "columns": {
                "type": "array",
                "items": _obj(
                    {
                        "key": _enum(Bucket),
                        "items": {"type": "array", "items": _ref("TouchPoint")},
                    },
                    ["key", "items"],
                ),
            },
        },
        ["today", "time_zone", "columns"],
    ),
    "Create": _obj(
        {
            "owner": _obj({"type": _enum(OwnerType), "id": _ID}, ["type", "id"]),
            "type": _enum(TouchPointType),
            "deadline": _DATETIME,
            "responsible_id": _ID,
            "title": {"type": "string", "maxLength": TITLE_MAX},
            "note": {"type": "string", "maxLength": NOTE_MAX},
        },
        ["owner", "type", "deadline"],
    ),
    "Move": _obj({"deadline": _DATETIME, "responsible_id": _ID}),
    "Complete": _obj(
        {
            "result_note": {"type": "string", "minLength": 1, "maxLength": NOTE_MAX},
            "follow_up": {
                "oneOf": [
                    {"type": "null"},
                    _obj(
                        {
                            "deadline": _DATETIME,
                            "type": _enum(TouchPointType),
                            "responsible_id": _ID,
                        }
                    ),
                ]
            },
        },
        ["result_note"],
    ),
    "Completion": _obj(
        {
            "completed": _ref("TouchPoint"),
            "follow_up": {"oneOf": [{"type": "null"}, _ref("TouchPoint")]},
        },
        ["completed", "follow_up"],
    ),
    "Items": _obj({"items": {"type": "array", "items": _ref("TouchPoint")}}, ["items"]),
    "RecordTouchPoints": _obj(
        {"owner": _ref("Owner"), "items": {"type": "array", "items": _ref("TouchPoint")}},
        ["owner", "items"],
    ),
    "RecordSearch": _obj(
        {
            "items": {
                "type": "array",
                "items": _obj(
                    {"type": _enum(OwnerType), "id": _ID, "title": {"type": "string"}},
                    ["type", "id", "title"],
                ),
            }
        },
        ["items"],
    ),
    "Settings": _obj(
        {
            "time_zone": {"type": "string", "maxLength": 64},
            "enabled_entities": {"type": "array", "items": _enum(OwnerType), "minItems": 1},
            "default_interval": {"type": "integer", "minimum": 1, "maximum": 90},
            "default_interval_unit": _enum(IntervalUnit),
            "working_days": {
                "type": "array",
                "items": {"type": "integer", "minimum": 1, "maximum": 7},
                "minItems": 1,
            },
            "holidays": {"type": "array", "items": {"type": "string", "format": "date"}},
            "digest_hour": {"type": "integer", "minimum": 0, "maximum": 23},
            "team_viewers": {"type": "array", "items": _ID},
            "digest_default": {"type": "boolean"},
        },
        [
            "time_zone",
            "enabled_entities",
            "default_interval",
            "default_interval_unit",
            "working_days",
            "holidays",
            "digest_hour",
            "team_viewers",
            "digest_default",
        ],
    ),
    "Preferences": _obj({"digest_enabled": {"type": "boolean"}}, ["digest_enabled"]),
    "Feedback": _obj(
        {
            "message": {"type": "string", "minLength": 1, "maxLength": FEEDBACK_MAX},
            "email": {"type": ["string", "null"], "maxLength": 254},
        },
        ["message"],
    ),
    "Renew": _obj(
        {
            "auth_id": {"type": "string"},
            "access_token": {"type": "string"},
            "refresh_token": {"type": "string"},
            "expires_in": {"type": "integer"},
            "domain": {"type": "string"},
            "member_id": {"type": "string"},
        }
    ),
    "Session": _obj(
        {"session": {"type": "string"}, "expires_at": _DATETIME}, ["session", "expires_at"]
    ),
    "Me": {
        "type": "object",
        "required": ["user", "sees_team", "portal", "lang"],
        "properties": {
            "user": {"type": "object"},
            "sees_team": {"type": "boolean"},
            "portal": {"type": "object"},
            "lang": {"type": "string"},
            "demo": {"type": "boolean"},
        },
    },
    "Users": _obj(
        {
            "users": {
                "type": "array",
                "items": _obj(
                    {
                        "id": _ID,
                        "name": {"type": "string"},
                        "photo": {"type": ["string", "null"]},
                        "active": {"type": "boolean"},
                        "department_ids": {"type": "array", "items": {"type": "integer"}},
                    },
                    ["id", "name"],
                ),
            }
        },
        ["users"],
    ),
    "Ok": {"type": "object", "properties": {"ok": {"type": "boolean"}}},
    "Deadline": _obj({"deadline": _DATETIME}, ["deadline"]),
    "Export": {"type": "object"},
}

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


def _responses(ok_status: str, schema: str | None, description: str) -> dict[str, Any]:
    responses: dict[str, Any] = {}
    if schema is None:
        responses[ok_status] = {"description": description}
    else:
        responses[ok_status] = {
            "description": description,
            "content": {"application/json": {"schema": _ref(schema)}},
        }
    for status, text in _ERRORS.items():
        responses[status] = {
            "description": text,
            "content": {"application/json": {"schema": _ref("Error")}},
        }
    return responses


def _op(
    summary: str,
    ok: str | None,
    *,
    status: str = "200",
    body: str | None = None,
    params: list[dict[str, Any]] | None = None,
    secured: bool = True,
) -> dict[str, Any]:
    operation: dict[str, Any] = {
        "summary": summary,
        "responses": _responses(status, ok, summary),
    }
    if body is not None:
        operation["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": _ref(body)}},
        }
    if params:
        operation["parameters"] = params
    if not secured:
        operation["security"] = []
    return operation


def _path_param(name: str) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": _ID}


def _query(name: str, schema: dict[str, Any], *, required: bool = False) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": required, "schema": schema}


# ------------------------------------------------------------------ reports

_COUNT = {"type": "integer", "minimum": 0}
_RATE = {"type": ["number", "null"], "minimum": 0, "maximum": 1}
_METRICS = {
    "created": _COUNT,
    "completed": _COUNT,
    "completed_on_time": _COUNT,
    "completed_late": _COUNT,
    "median_days_late": {"type": ["number", "null"], "minimum": 1},
    "completed_with_note": _COUNT,
    "completed_followed_up": _COUNT,
    "cancelled": _COUNT,
    "orphaned": _COUNT,
    "overdue": _COUNT,
    "on_time_rate": _RATE,
    "note_rate": _RATE,
    "follow_up_rate": _RATE,
}
_COVERAGE_TYPES = {"type": "string", "enum": [OwnerType.DEAL.value, OwnerType.LEAD.value]}
_PER_COVERAGE_TYPE = {
    "type": "object",
    "propertyNames": _COVERAGE_TYPES,
    "additionalProperties": _COUNT,
}

_REPORT_SCHEMAS: dict[str, Any] = {
    "ReportMetrics": _obj(_METRICS, list(_METRICS)),
    "ReportUserRow": _obj(
        {"user_id": _ID, "name": {"type": ["string", "null"]}, **_METRICS},
        ["user_id", "name", *_METRICS],
    ),
    "ReportDay": _obj(
        {
            "day": {"type": "string", "format": "date"},
            "created": _COUNT,
            "completed": _COUNT,
            "overdue": {"type": ["integer", "null"], "minimum": 0},
        },
        ["day", "created", "completed", "overdue"],
    ),
    "ReportSummary": _obj(
        {
            "period": _obj(
                {
                    "from": {"type": "string", "format": "date"},
                    "to": {"type": "string", "format": "date"},
                    "days": {"type": "integer", "minimum": 1, "maximum": MAX_PERIOD_DAYS},
                },
                ["from", "to", "days"],
            ),
            "time_zone": {"type": "string"},
            "generated_at": _DATETIME,
            "sees_team": {"type": "boolean"},
            "closed_checked": {"type": "boolean"},
            "team": _ref("ReportMetrics"),
            "users": {"type": "array", "items": _ref("ReportUserRow")},
            "daily": {"type": "array", "items": _ref("ReportDay")},
            "mix": _obj(
                {
                    "by_type": _obj(
                        {kind.value: _COUNT for kind in TouchPointType},
                        [kind.value for kind in TouchPointType],
                    ),
                    "by_owner_type": _obj(
                        {kind.value: _COUNT for kind in OwnerType},
                        [kind.value for kind in OwnerType],
                    ),
                },
                ["by_type", "by_owner_type"],
            ),
        },
        [
            "period",
            "time_zone",
            "generated_at",
            "sees_team",
            "closed_checked",
            "team",
            "users",
            "daily",
            "mix",
        ],
    ),
    "Coverage": _obj(
        {
            "items": {
                "type": "array",
                "items": _obj(
                    {
                        "type": _COVERAGE_TYPES,
                        "id": _ID,
                        "title": {"type": "string"},
                        "assigned_by_id": _NULLABLE_ID,
                        "stage_id": {"type": ["string", "null"]},
                        "amount": {"type": ["number", "null"]},
                        "currency": {"type": ["string", "null"]},
                    },
                    ["type", "id", "title", "assigned_by_id", "stage_id", "amount", "currency"],
                ),
            },
            "open_records": _PER_COVERAGE_TYPE,
            "without_touch_point": _PER_COVERAGE_TYPE,
            "truncated": {"type": "boolean"},
        },
        ["items", "open_records", "without_touch_point", "truncated"],
    ),
}

_CSV_NOTE = (
    " UTF-8 with a byte order mark; `;` between cells and a decimal comma in Russian-language"
    " sessions, `,` and a decimal point otherwise; text cells starting with = + - @ are"
    " prefixed with an apostrophe."
)


def _report_params() -> list[dict[str, Any]]:
    return [
        _query("from", {"type": "string", "format": "date"}, required=True),
        _query("to", {"type": "string", "format": "date"}, required=True),
        _query("owner_type", _enum(OwnerType)),
        _query("type", _enum(TouchPointType)),
        _query("responsible_id", _ID),
    ]


def _csv_op(summary: str, description: str) -> dict[str, Any]:
    operation = _op(summary, None, params=_report_params())
    operation["description"] = description + _CSV_NOTE
    operation["responses"]["200"]["content"] = {"text/csv": {"schema": {"type": "string"}}}
    return operation


def _report_paths() -> dict[str, Any]:
    """The ``/api/v1/reports/`` routes (entrypoints/reports_api.py)."""
    period_rule = (
        f"`from` and `to` are local days in the portal's time zone, both included, at most"
        f" {MAX_PERIOD_DAYS} days apart. Users without team visibility see only their own"
        " figures; asking for a colleague's (`responsible_id`) is a 403."
    )
    summary = _op("Follow-up report for a period", "ReportSummary", params=_report_params())
    summary["description"] = period_rule
    coverage = _op(
        "Open deals and leads without an open touch-point (read live from the CRM)",
        "Coverage",
        params=[_query("owner_type", _COVERAGE_TYPES), _query("responsible_id", _ID)],
    )
    touch_points = _csv_op(
        "The period's touch-points as CSV",
        period_rule + " Lists those created, due, completed, cancelled or deleted in the"
        " period; the header `X-Truncated: true` says the list was cut short.",
    )
    touch_points["responses"]["200"]["headers"] = {
        "X-Truncated": {"schema": {"type": "string", "enum": ["true"]}}
    }
    return {
        "/api/v1/reports/summary": {"get": summary},
        "/api/v1/reports/coverage": {"get": coverage},
        "/api/v1/reports/users.csv": {
            "get": _csv_op("The per-user table of the report as CSV", period_rule)
        },
        "/api/v1/reports/touchpoints.csv": {"get": touch_points},
    }


@cache
def openapi_document() -> dict[str, Any]:
    tp_id = [_path_param("id")]
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Touch-points API",
            "version": "1.0.0",
            "description": "The JSON API behind the Touch-points board (DESIGN.md §3.3).",
        },
        "components": {
            "schemas": {**_SCHEMAS, **_REPORT_SCHEMAS},
            "securitySchemes": {"session": {"type": "http", "scheme": "bearer"}},
        },
        "security": [{"session": []}],
        "paths": {
            "/api/v1/session/renew": {
                "post": _op(
                    "Renew the app session with fresh frame auth",
                    "Session",
                    body="Renew",
                    secured=False,
                )
            },
            "/api/v1/me": {"get": _op("Who am I", "Me")},
            "/api/v1/users": {"get": _op("The portal's users (names, photos)", "Users")},
            "/api/v1/board": {
                "get": _op(
                    "The board in due-date columns",
                    "Board",
                    params=[
                        _query("responsible_id", _ID),
                        _query("owner_type", _enum(OwnerType)),
                        _query("type", _enum(TouchPointType)),
                    ],
                )
            },
            "/api/v1/touchpoints": {
                "post": _op("Create a touch-point", "TouchPoint", status="201", body="Create")
            },
            "/api/v1/touchpoints/{id}": {
                "get": _op("Read a touch-point", "TouchPoint", params=tp_id),
                "patch": _op(
                    "Move (reschedule, reassign)", "TouchPoint", body="Move", params=tp_id
                ),
                "delete": _op("Cancel", "TouchPoint", params=tp_id),
            },
            "/api/v1/touchpoints/{id}/complete": {
                "post": _op(
                    "Complete, optionally with a follow-up",
                    "Completion",
                    body="Complete",
                    params=tp_id,
                )
            },
            "/api/v1/touchpoints/{id}/chain": {
                "get": _op("The whole chain, oldest first", "Items", params=tp_id)
            },
            "/api/v1/records/search": {
                "get": _op(
                    "Search CRM records by title",
                    "RecordSearch",
                    params=[
                        _query("owner_type", _enum(OwnerType), required=True),
                        _query("q", {"type": "string", "maxLength": 100}),
                    ],
                )
            },
            "/api/v1/records/{owner_type}/{owner_id}/touchpoints": {
                "get": _op(
                    "A CRM record's touch-points (card tab)",
                    "RecordTouchPoints",
                    params=[
                        {
                            "name": "owner_type",
                            "in": "path",
                            "required": True,
                            "schema": _enum(OwnerType),
                        },
                        _path_param("owner_id"),
                    ],
                )
            },
            "/api/v1/followup-preview": {
                "get": _op(
                    "The default follow-up deadline",
                    "Deadline",
                    params=[_query("from", _DATETIME)],
                )
            },
            "/api/v1/settings": {
                "get": _op("The portal's settings", "Settings"),
                "put": _op("Change the settings (admins)", "Settings", body="Settings"),
            },
            "/api/v1/me/preferences": {
                "get": _op("My preferences", "Preferences"),
                "put": _op("Change my preferences", "Preferences", body="Preferences"),
            },
            "/api/v1/feedback": {"post": _op("Send feedback", "Ok", status="201", body="Feedback")},
            "/api/v1/portal/export": {
                "get": _op("Export the portal's app data (admins)", "Export")
            },
            "/api/v1/portal/data": {
                "delete": _op("Erase the portal's app data (admins)", None, status="204")
            },
            **_report_paths(),
        },
    }
