"""Report routes under ``/api/v1/reports/``: summary, coverage and two CSV exports.

CSV files are UTF-8 with a byte order mark (spreadsheet programs then read Cyrillic text
correctly), ``\\r\\n`` line ends, and formulas neutralised: a ``'`` goes before every
``= + - @``, tab or carriage return that some reader could see at the start of a cell, that
is at the start of the text or after a ``,``, ``;``, tab or line break inside it (spaces and
quotes in between). A file written with one separator is then safe in a reader that splits
on the other. In a Russian-language session they use ``;`` between cells and a decimal
comma, as Excel expects in the locales where Russian is spoken; otherwise ``,`` and a
decimal point.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import attrs
from aiohttp import web

from touchpoints.domain.model import OwnerType, Status, TouchPoint, TouchPointType
from touchpoints.domain.reports import MAX_PERIOD_DAYS, Metrics, ReportPeriod
from touchpoints.domain.scheduling import current_local_day, start_of_local_day
from touchpoints.entrypoints import wire
from touchpoints.entrypoints.api import caller
from touchpoints.entrypoints.container import SERVICES
from touchpoints.entrypoints.http import json_reply
from touchpoints.services import reports
from touchpoints.services.errors import InvalidInput
from touchpoints.services.reports import (
    COVERAGE_TYPES,
    Coverage,
    PeriodTouchPoints,
    ReportFilters,
    TeamReport,
)

_PERIOD_PARAMS = frozenset({"from", "to", "owner_type", "type", "responsible_id"})
_COVERAGE_PARAMS = frozenset({"owner_type", "responsible_id"})
_FIRST_YEAR, _LAST_YEAR = 2000, 2200
_FORMULA_STARTS = frozenset("=+-@\t\r")
# Where a reader may start a new cell: either separator, a tab (TSV) or a line break.
_CELL_BREAKS = frozenset(",;\t\r\n")
# What may stand between a cell's start and its formula: spaces (trimmed by some
# importers) and a quote (the cell's quoting).
_CELL_LEAD = frozenset(' "')
_ONE_DAY = timedelta(days=1)


# ------------------------------------------------------------------ query parameters


@attrs.frozen(kw_only=True)
class ReportParams:
    """A report request's validated query: the period, filters and the user asked about."""

    period: ReportPeriod
    filters: ReportFilters
    user_filter: int | None


def _check_names(request: web.Request, allowed: frozenset[str]) -> dict[str, str]:
    errors = dict.fromkeys(sorted(set(request.query) - allowed), "is not a known query parameter")
    for name in sorted(allowed):
        if len(request.query.getall(name, [])) > 1:
            errors[name] = "must be given once"
    return errors


def _day(raw: str | None, name: str, errors: dict[str, str]) -> date | None:
    if not raw:
        errors[name] = "is required (YYYY-MM-DD)"
        return None
    try:
        parsed = date.fromisoformat(raw) if len(raw) == 10 else None
    except ValueError:
        parsed = None
    if parsed is None:
        errors[name] = "must be a YYYY-MM-DD date"
    elif not _FIRST_YEAR <= parsed.year <= _LAST_YEAR:
        errors[name] = f"must be between the years {_FIRST_YEAR} and {_LAST_YEAR}"
        return None
    return parsed


def _collect(errors: dict[str, str], parse: Any, *args: Any) -> Any:
    """Run one ``wire.query_*`` parser, gathering its complaint instead of raising it."""
    try:
        return parse(*args)
    except InvalidInput as exc:
        errors.update(exc.errors)
        return None


def report_params(request: web.Request) -> ReportParams:
    """Validate ``from``, ``to``, ``owner_type``, ``type`` and ``responsible_id``.

    Raises: InvalidInput listing every offending parameter (unknown ones included).
    """
    query = request.query
    errors = _check_names(request, _PERIOD_PARAMS)
    first = _day(query.get("from"), "from", errors)
    last = _day(query.get("to"), "to", errors)
    owner_type = _collect(errors, wire.query_enum, query.get("owner_type"), "owner_type", OwnerType)
    type_ = _collect(errors, wire.query_enum, query.get("type"), "type", TouchPointType)
    user_filter = _collect(errors, wire.query_id, query.get("responsible_id"), "responsible_id")
    if first is not None and last is not None:
        if last < first:
            errors["to"] = "must not be before 'from'"
        elif (last - first).days + 1 > MAX_PERIOD_DAYS:
            errors["to"] = f"the period must be at most {MAX_PERIOD_DAYS} days long"
    if errors or first is None or last is None:  # a missing day always left an error
        raise InvalidInput(errors)
    return ReportParams(
        period=ReportPeriod(first, last),
        filters=ReportFilters(owner_type=owner_type, type=type_),
        user_filter=user_filter,
    )


# ------------------------------------------------------------------ JSON shapes


def metrics_json(metrics: Metrics) -> dict[str, Any]:
    return {
        "created": metrics.created,
        "completed": metrics.completed,
        "completed_on_time": metrics.completed_on_time,
        "completed_late": metrics.completed_late,
        "median_days_late": metrics.median_days_late,
        "completed_with_note": metrics.completed_with_note,
        "completed_followed_up": metrics.completed_followed_up,
        "cancelled": metrics.cancelled,
        "orphaned": metrics.orphaned,
        "overdue": metrics.overdue,
        "on_time_rate": metrics.on_time_rate,
        "note_rate": metrics.note_rate,
        "follow_up_rate": metrics.follow_up_rate,
    }


def summary_json(result: TeamReport) -> dict[str, Any]:
    report = result.report
    zone = ZoneInfo(report.time_zone)
    return {
        "period": {
            "from": report.period.start_day.isoformat(),
            "to": report.period.end_day.isoformat(),
            "days": report.period.length,
        },
        "time_zone": report.time_zone,
        "generated_at": result.generated_at.astimezone(zone).isoformat(),
        "sees_team": result.sees_team,
        "closed_checked": result.closed_checked,
        "team": metrics_json(report.team),
        "users": [
            {"user_id": user_id, "name": result.names.get(user_id), **metrics_json(metrics)}
            for user_id, metrics in report.users.items()
        ],
        "daily": [
            {
                "day": point.day.isoformat(),
                "created": point.created,
                "completed": point.completed,
                "overdue": point.overdue,
            }
            for point in report.daily
        ],
        "mix": {
            "by_type": {kind.value: count for kind, count in report.team.by_type.items()},
            "by_owner_type": {
                kind.value: count for kind, count in report.team.by_owner_type.items()
            },
        },
    }


def coverage_json(coverage: Coverage) -> dict[str, Any]:
    uncovered = dict.fromkeys((kind.value for kind in coverage.open_records), 0)
    for card in coverage.items:
        uncovered[card.ref.type.value] += 1
    return {
        "items": [
            {
                "type": card.ref.type.value,
                "id": card.ref.id,
                "title": card.title,
                "assigned_by_id": card.assigned_by_id,
                "stage_id": card.stage_id,
                "amount": card.amount,
                "currency": card.currency,
            }
            for card in coverage.items
        ],
        "open_records": {kind.value: count for kind, count in coverage.open_records.items()},
        "without_touch_point": uncovered,
        "truncated": coverage.truncated,
    }


# ------------------------------------------------------------------ CSV


@attrs.frozen
class CsvStyle:
    """How one language's spreadsheet programs read CSV: cell separator and decimal mark."""

    delimiter: str
    decimal: str

    @classmethod
    def for_lang(cls, lang: str) -> CsvStyle:
        return cls(";", ",") if lang == "ru" else cls(",", ".")


def csv_cell(value: object, style: CsvStyle) -> str:
    """One cell's text: numbers in the style's notation, formulas neutralised."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        text = f"{value:.4f}".rstrip("0").rstrip(".")
        return text.replace(".", style.decimal)
    return neutralise_formulas(str(value))


def neutralise_formulas(text: str) -> str:
    """``text`` with a ``'`` before every formula trigger that could start a cell.

    A trigger (``= + - @``, tab, carriage return) counts when it opens the text or follows
    a ``,``, ``;``, tab or line break, possibly after spaces and quotes: a reader splitting
    on either separator then sees a cell that begins with ``'``, which spreadsheets show as
    text. One pass over the text, and none at all when it holds no trigger.
    """
    if not any(trigger in text for trigger in _FORMULA_STARTS):
        return text
    out: list[str] = []
    at_cell_start = True
    for char in text:
        if at_cell_start and char in _FORMULA_STARTS:
            out.append("'")
        out.append(char)
        if char in _CELL_BREAKS:
            at_cell_start = True
        elif char not in _CELL_LEAD:
            at_cell_start = False
    return "".join(out)


def csv_document(header: Iterable[str], rows: Iterable[Iterable[object]], style: CsvStyle) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=style.delimiter, lineterminator="\r\n")
    writer.writerow([csv_cell(name, style) for name in header])
    for row in rows:
        writer.writerow([csv_cell(value, style) for value in row])
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")


def csv_reply(body: bytes, filename: str, *, truncated: bool = False) -> web.Response:
    headers = {
        "Content-Type": "text/csv; charset=utf-8",
        "Content-Disposition": f'attachment; filename="{filename}"',
    }
    if truncated:
        headers["X-Truncated"] = "true"
    return web.Response(body=body, headers=headers)


# Keys of the message catalogue (static/i18n): the reports table's names where it has them.
_USER_HEADERS = (
    "csv.users.user_id", "csv.users.user", "reports.col.created", "reports.col.completed",
    "reports.col.on_time", "reports.col.late", "csv.users.on_time_rate",
    "csv.users.median_days_late", "reports.col.notes", "csv.users.note_rate",
    "csv.users.followed_up", "csv.users.follow_up_rate", "reports.col.cancelled",
    "reports.col.orphaned", "reports.col.overdue",
)  # fmt: skip
_TOUCH_POINT_HEADERS = tuple(
    f"csv.touchpoints.{name}"
    for name in (
        "id", "activity_id", "record_type", "record_id", "record", "title", "note", "type",
        "status", "responsible_id", "responsible", "created_by_id", "created_by", "created",
        "deadline", "completed", "updated", "on_time", "result_note", "previous_id", "next_id",
    )
)  # fmt: skip


def _label_key(value: OwnerType | TouchPointType | Status | bool) -> str:
    """The catalogue key of a value's label: the board's own words for types and statuses."""
    if isinstance(value, bool):
        return "csv.yes" if value else "csv.no"
    family = {OwnerType: "owner", TouchPointType: "type", Status: "status"}[type(value)]
    return f"{family}.{value.value}"


def label_keys() -> set[str]:
    """Every catalogue key the CSV exports read."""
    values: list[OwnerType | TouchPointType | Status | bool] = [
        *OwnerType,
        *TouchPointType,
        *Status,
        True,
        False,
    ]
    return {_label_key(v) for v in values} | set(_USER_HEADERS) | set(_TOUCH_POINT_HEADERS)


def users_csv_rows(result: TeamReport) -> list[list[object]]:
    rows: list[list[object]] = []
    for user_id, m in result.report.users.items():
        rows.append(
            [
                user_id, result.names.get(user_id), m.created, m.completed,
                m.completed_on_time, m.completed_late, m.on_time_rate, m.median_days_late,
                m.completed_with_note, m.note_rate, m.completed_followed_up,
                m.follow_up_rate, m.cancelled, m.orphaned, m.overdue,
            ]
        )  # fmt: skip
    return rows


def _local(value: datetime | None, zone: ZoneInfo) -> str | None:
    return value.astimezone(zone).strftime("%Y-%m-%d %H:%M") if value is not None else None


def on_time(touch_point: TouchPoint, zone: ZoneInfo) -> bool | None:
    """Done before the end of the deadline's local day (as the report counts it); None if not done."""
    if touch_point.completed_at is None:
        return None
    day_end = start_of_local_day(current_local_day(touch_point.deadline, zone) + _ONE_DAY, zone)
    return touch_point.completed_at < day_end


def touch_points_csv_rows(
    listing: PeriodTouchPoints, texts: Mapping[str, str]
) -> list[list[object]]:
    zone = ZoneInfo(listing.time_zone)

    def labels(value: OwnerType | TouchPointType | Status | bool) -> str:
        return texts[_label_key(value)]

    rows: list[list[object]] = []
    for card in listing.cards:
        tp = card.touch_point
        punctual = on_time(tp, zone)
        rows.append(
            [
                tp.id, tp.activity_id, labels(tp.owner.type), tp.owner.id, card.owner_title,
                card.title, card.note, labels(tp.type), labels(tp.status), tp.responsible_id,
                listing.names.get(tp.responsible_id), tp.created_by,
                listing.names.get(tp.created_by), _local(tp.created_at, zone),
                _local(tp.deadline, zone), _local(tp.completed_at, zone),
                _local(tp.updated_at, zone), None if punctual is None else labels(punctual),
                tp.result_note, tp.previous_id, tp.next_id,
            ]
        )  # fmt: skip
    return rows


def _filename(kind: str, period: ReportPeriod) -> str:
    return f"touchpoints-{kind}{period.start_day.isoformat()}_{period.end_day.isoformat()}.csv"


# ------------------------------------------------------------------ handlers


async def summary(request: web.Request) -> web.Response:
    call = await caller(request)
    params = report_params(request)
    services = request.app[SERVICES]
    result = await reports.get_report(
        storage=services.storage,
        crm=call.crm,
        clock=services.clock,
        actor=call.actor,
        period=params.period,
        filters=params.filters,
        user_filter=params.user_filter,
    )
    return json_reply(summary_json(result))


async def coverage(request: web.Request) -> web.Response:
    call = await caller(request)
    errors = _check_names(request, _COVERAGE_PARAMS)
    owner_type = _collect(
        errors, wire.query_enum, request.query.get("owner_type"), "owner_type", OwnerType
    )
    if owner_type is not None and owner_type not in COVERAGE_TYPES:
        errors["owner_type"] = "must be one of deal, lead"
    user_filter = _collect(
        errors, wire.query_id, request.query.get("responsible_id"), "responsible_id"
    )
    if errors:
        raise InvalidInput(errors)
    services = request.app[SERVICES]
    result = await reports.get_coverage(
        storage=services.storage,
        crm=call.crm,
        actor=call.actor,
        owner_types=COVERAGE_TYPES if owner_type is None else (owner_type,),
        user_filter=user_filter,
    )
    return json_reply(coverage_json(result))


async def users_csv(request: web.Request) -> web.Response:
    call = await caller(request)
    params = report_params(request)
    services = request.app[SERVICES]
    result = await reports.get_report(
        storage=services.storage,
        crm=call.crm,
        clock=services.clock,
        actor=call.actor,
        period=params.period,
        filters=params.filters,
        user_filter=params.user_filter,
    )
    texts = services.catalogue.for_language(call.session.lang)
    body = csv_document(
        [texts[key] for key in _USER_HEADERS],
        users_csv_rows(result),
        CsvStyle.for_lang(call.session.lang),
    )
    return csv_reply(body, _filename("users-", params.period))


async def touch_points_csv(request: web.Request) -> web.Response:
    call = await caller(request)
    params = report_params(request)
    services = request.app[SERVICES]
    listing = await reports.list_period_touch_points(
        storage=services.storage,
        crm=call.crm,
        actor=call.actor,
        period=params.period,
        filters=params.filters,
        user_filter=params.user_filter,
    )
    texts = services.catalogue.for_language(call.session.lang)
    header = [texts[key].format(zone=listing.time_zone) for key in _TOUCH_POINT_HEADERS]
    body = csv_document(
        header, touch_points_csv_rows(listing, texts), CsvStyle.for_lang(call.session.lang)
    )
    return csv_reply(body, _filename("", params.period), truncated=listing.truncated)


def add_routes(app: web.Application) -> None:
    r = app.router
    r.add_get("/api/v1/reports/summary", summary)
    r.add_get("/api/v1/reports/coverage", coverage)
    r.add_get("/api/v1/reports/users.csv", users_csv)
    r.add_get("/api/v1/reports/touchpoints.csv", touch_points_csv)
