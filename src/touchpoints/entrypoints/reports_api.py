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
from collections.abc import Awaitable, Callable, Iterable, Mapping
from datetime import datetime, timedelta
from typing import TypeVar
from zoneinfo import ZoneInfo

import attrs
from aiohttp import web

from touchpoints.domain.model import (
    EntityType,
    OwnerType,
    SmartProcess,
    Status,
    TouchPoint,
    TouchPointType,
)
from touchpoints.domain.reports import MAX_PERIOD_DAYS, ReportPeriod
from touchpoints.domain.scheduling import current_local_day, start_of_local_day
from touchpoints.entrypoints import converters
from touchpoints.entrypoints.report_replies import CoverageReply, ReportSummary
from touchpoints.entrypoints.routes import Call, Route, query_lists
from touchpoints.entrypoints.wire import CoverageQuery, Empty, ReportQuery
from touchpoints.services import reports
from touchpoints.services.reports import (
    COVERAGE_TYPES,
    PeriodTouchPoints,
    ReportFilters,
    TeamReport,
)

_FORMULA_STARTS = frozenset("=+-@\t\r")
# Where a reader may start a new cell: either separator, a tab (TSV) or a line break.
_CELL_BREAKS = frozenset(",;\t\r\n")
# What may stand between a cell's start and its formula: spaces (trimmed by some
# importers) and a quote (the cell's quoting).
_CELL_LEAD = frozenset(' "')
_ONE_DAY = timedelta(days=1)

T = TypeVar("T")


# ------------------------------------------------------------------ parameters


def report_params(request: web.Request) -> ReportQuery:
    """Validate ``from``, ``to``, ``owner_type``, ``type`` and ``responsible_id``.

    Raises: InvalidInput listing every offending parameter (unknown ones included).
    """
    return converters.structure_params(query_lists(request), {}, ReportQuery)


def _filters(query: ReportQuery) -> tuple[ReportPeriod, ReportFilters]:
    return ReportPeriod(query.from_, query.to), ReportFilters(
        owner_type=query.owner_type, type=query.type
    )


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


def _label_key(value: EntityType | TouchPointType | Status | bool) -> str:
    """The catalogue key of a value's label: the board's own words for types and statuses."""
    if isinstance(value, bool):
        return "csv.yes" if value else "csv.no"
    if isinstance(value, OwnerType | SmartProcess):
        return value.label_key
    family = {TouchPointType: "type", Status: "status"}[type(value)]
    return f"{family}.{value.value}"


def label_keys() -> set[str]:
    """Every catalogue key the CSV exports read."""
    values: list[EntityType | TouchPointType | Status | bool] = [
        *OwnerType,
        SmartProcess(128),
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

    def labels(value: EntityType | TouchPointType | Status | bool) -> str:
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


async def _for_period(
    call: Call[ReportQuery, Empty], use_case: Callable[..., Awaitable[T]]
) -> tuple[ReportPeriod, T]:
    """A period report use case run on the query's period, filters and user."""
    period, filters = _filters(call.params)
    result = await use_case(
        call.ctx.use_case,
        period=period,
        filters=filters,
        user_filter=call.params.responsible_id,
    )
    return period, result


async def summary(call: Call[ReportQuery, Empty]) -> ReportSummary:
    """Follow-up report for a period."""
    _, result = await _for_period(call, reports.get_report)
    return ReportSummary.of(result)


async def coverage(call: Call[CoverageQuery, Empty]) -> CoverageReply:
    """Open deals and leads without an open touch-point (read live from the CRM)."""
    ctx, owner_type = call.ctx, call.params.owner_type
    result = await reports.get_coverage(
        ctx.use_case,
        owner_types=COVERAGE_TYPES if owner_type is None else (owner_type,),
        user_filter=call.params.responsible_id,
    )
    return CoverageReply.of(result)


async def users_csv(call: Call[ReportQuery, Empty]) -> web.Response:
    """The per-user table of the report as CSV."""
    lang = call.ctx.lang
    period, result = await _for_period(call, reports.get_report)
    texts = call.services.catalogue.for_language(lang)
    body = csv_document(
        [texts[key] for key in _USER_HEADERS], users_csv_rows(result), CsvStyle.for_lang(lang)
    )
    return csv_reply(body, _filename("users-", period))


async def touch_points_csv(call: Call[ReportQuery, Empty]) -> web.Response:
    """The period's touch-points as CSV."""
    lang = call.ctx.lang
    period, listing = await _for_period(call, reports.list_period_touch_points)
    texts = call.services.catalogue.for_language(lang)
    header = [texts[key].format(zone=listing.time_zone) for key in _TOUCH_POINT_HEADERS]
    body = csv_document(header, touch_points_csv_rows(listing, texts), CsvStyle.for_lang(lang))
    return csv_reply(body, _filename("", period), truncated=listing.truncated)


_CSV_NOTE = (
    " UTF-8 with a byte order mark; `;` between cells and a decimal comma in Russian-language"
    " sessions, `,` and a decimal point otherwise; text cells starting with = + - @ are"
    " prefixed with an apostrophe."
)
_PERIOD_RULE = (
    f"`from` and `to` are local days in the portal's time zone, both included, at most"
    f" {MAX_PERIOD_DAYS} days apart. Users without team visibility see only their own"
    " figures; asking for a colleague's (`responsible_id`) is a 403."
)

ROUTES: tuple[Route, ...] = (
    Route("GET", "/api/v1/reports/summary", summary, description=_PERIOD_RULE),
    Route("GET", "/api/v1/reports/coverage", coverage),
    Route(
        "GET",
        "/api/v1/reports/users.csv",
        users_csv,
        description=_PERIOD_RULE + _CSV_NOTE,
        csv=True,
    ),
    Route(
        "GET",
        "/api/v1/reports/touchpoints.csv",
        touch_points_csv,
        description=_PERIOD_RULE
        + " Lists those created, due, completed, cancelled or deleted in the period; the"
        " header `X-Truncated: true` says the list was cut short." + _CSV_NOTE,
        csv=True,
        reply_headers={
            "X-Truncated": ({"type": "string", "enum": ["true"]}, "the list was cut short")
        },
    ),
)
