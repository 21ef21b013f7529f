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
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import attrs
from aiohttp import web

from touchpoints.domain.model import OwnerType, Status, TouchPoint, TouchPointType
from touchpoints.domain.reports import MAX_PERIOD_DAYS, ReportPeriod
from touchpoints.domain.scheduling import current_local_day, start_of_local_day
from touchpoints.entrypoints import converters
from touchpoints.entrypoints.report_replies import CoverageReply, ReportSummary
from touchpoints.entrypoints.routes import Call, Route
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


# ------------------------------------------------------------------ parameters


def report_params(request: web.Request) -> ReportQuery:
    """Validate ``from``, ``to``, ``owner_type``, ``type`` and ``responsible_id``.

    Raises: InvalidInput listing every offending parameter (unknown ones included).
    """
    query = {name: request.query.getall(name) for name in set(request.query)}
    return converters.structure_params(query, {}, ReportQuery)


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


_USER_HEADERS = {
    "en": (
        "User ID", "User", "Created", "Completed", "On time", "Late", "On-time rate",
        "Median days late", "With result note", "Result-note rate", "Followed up",
        "Follow-up rate", "Cancelled", "Deleted in CRM", "Overdue now",
    ),
    "ru": (
        "ID сотрудника", "Сотрудник", "Создано", "Выполнено", "Вовремя", "С опозданием",
        "Доля вовремя", "Медиана дней опоздания", "С результатом", "Доля с результатом",
        "С продолжением", "Доля с продолжением", "Отменено", "Удалено в CRM",
        "Просрочено сейчас",
    ),
}  # fmt: skip

_LABELS: dict[str, Mapping[object, str]] = {
    "en": {
        OwnerType.LEAD: "Lead", OwnerType.DEAL: "Deal", OwnerType.CONTACT: "Contact",
        OwnerType.COMPANY: "Company", TouchPointType.CALL: "Call",
        TouchPointType.MEETING: "Meeting", TouchPointType.EMAIL: "E-mail",
        TouchPointType.MESSAGE: "Message", TouchPointType.VISIT: "Visit",
        TouchPointType.OTHER: "Other", Status.OPEN: "Open", Status.DONE: "Done",
        Status.CANCELLED: "Cancelled", Status.ORPHANED: "Deleted in CRM",
        True: "yes", False: "no",
    },
    "ru": {
        OwnerType.LEAD: "Лид", OwnerType.DEAL: "Сделка", OwnerType.CONTACT: "Контакт",
        OwnerType.COMPANY: "Компания", TouchPointType.CALL: "Звонок",
        TouchPointType.MEETING: "Встреча", TouchPointType.EMAIL: "Письмо",
        TouchPointType.MESSAGE: "Сообщение", TouchPointType.VISIT: "Визит",
        TouchPointType.OTHER: "Другое", Status.OPEN: "Открыта", Status.DONE: "Выполнена",
        Status.CANCELLED: "Отменена", Status.ORPHANED: "Удалена в CRM",
        True: "да", False: "нет",
    },
}  # fmt: skip

_TOUCH_POINT_HEADERS = {
    "en": (
        "ID", "Activity ID", "Record type", "Record ID", "Record", "Title", "Note", "Type",
        "Status",
        "Responsible ID", "Responsible", "Created by ID", "Created by", "Created ({zone})",
        "Deadline ({zone})", "Completed ({zone})", "Updated ({zone})", "On time",
        "Result note", "Previous ID", "Next ID",
    ),
    "ru": (
        "ID", "ID дела", "Тип записи", "ID записи", "Запись", "Тема", "Описание", "Тип",
        "Статус",
        "ID ответственного", "Ответственный", "ID автора", "Автор", "Создана ({zone})",
        "Срок ({zone})", "Выполнена ({zone})", "Изменена ({zone})", "Вовремя",
        "Результат", "ID предыдущей", "ID следующей",
    ),
}  # fmt: skip


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


def touch_points_csv_rows(listing: PeriodTouchPoints, lang: str) -> list[list[object]]:
    zone = ZoneInfo(listing.time_zone)
    labels = _LABELS[lang]
    rows: list[list[object]] = []
    for card in listing.cards:
        tp = card.touch_point
        punctual = on_time(tp, zone)
        rows.append(
            [
                tp.id, tp.activity_id, labels[tp.owner.type], tp.owner.id, card.owner_title,
                card.title, card.note, labels[tp.type], labels[tp.status], tp.responsible_id,
                listing.names.get(tp.responsible_id), tp.created_by,
                listing.names.get(tp.created_by), _local(tp.created_at, zone),
                _local(tp.deadline, zone), _local(tp.completed_at, zone),
                _local(tp.updated_at, zone), None if punctual is None else labels[punctual],
                tp.result_note, tp.previous_id, tp.next_id,
            ]
        )  # fmt: skip
    return rows


def _filename(kind: str, period: ReportPeriod) -> str:
    return f"touchpoints-{kind}{period.start_day.isoformat()}_{period.end_day.isoformat()}.csv"


# ------------------------------------------------------------------ handlers


async def summary(call: Call[ReportQuery, Empty]) -> ReportSummary:
    ctx = call.ctx
    period, filters = _filters(call.params)
    result = await reports.get_report(
        storage=call.services.storage,
        crm=ctx.crm,
        clock=call.services.clock,
        actor=ctx.actor,
        period=period,
        filters=filters,
        user_filter=call.params.responsible_id,
    )
    return ReportSummary.of(result)


async def coverage(call: Call[CoverageQuery, Empty]) -> CoverageReply:
    ctx, owner_type = call.ctx, call.params.owner_type
    result = await reports.get_coverage(
        storage=call.services.storage,
        crm=ctx.crm,
        actor=ctx.actor,
        owner_types=COVERAGE_TYPES if owner_type is None else (owner_type,),
        user_filter=call.params.responsible_id,
    )
    return CoverageReply.of(result)


async def users_csv(call: Call[ReportQuery, Empty]) -> web.Response:
    ctx = call.ctx
    period, filters = _filters(call.params)
    result = await reports.get_report(
        storage=call.services.storage,
        crm=ctx.crm,
        clock=call.services.clock,
        actor=ctx.actor,
        period=period,
        filters=filters,
        user_filter=call.params.responsible_id,
    )
    lang = ctx.lang if ctx.lang in _USER_HEADERS else "en"
    body = csv_document(_USER_HEADERS[lang], users_csv_rows(result), CsvStyle.for_lang(ctx.lang))
    return csv_reply(body, _filename("users-", period))


async def touch_points_csv(call: Call[ReportQuery, Empty]) -> web.Response:
    ctx = call.ctx
    period, filters = _filters(call.params)
    listing = await reports.list_period_touch_points(
        storage=call.services.storage,
        crm=ctx.crm,
        actor=ctx.actor,
        period=period,
        filters=filters,
        user_filter=call.params.responsible_id,
    )
    lang = ctx.lang if ctx.lang in _TOUCH_POINT_HEADERS else "en"
    header = [name.format(zone=listing.time_zone) for name in _TOUCH_POINT_HEADERS[lang]]
    body = csv_document(header, touch_points_csv_rows(listing, lang), CsvStyle.for_lang(ctx.lang))
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
    Route(
        method="GET",
        path="/api/v1/reports/summary",
        handler=summary,
        summary="Follow-up report for a period",
        description=_PERIOD_RULE,
        params=ReportQuery,
        reply=ReportSummary,
    ),
    Route(
        method="GET",
        path="/api/v1/reports/coverage",
        handler=coverage,
        summary="Open deals and leads without an open touch-point (read live from the CRM)",
        params=CoverageQuery,
        reply=CoverageReply,
    ),
    Route(
        method="GET",
        path="/api/v1/reports/users.csv",
        handler=users_csv,
        summary="The per-user table of the report as CSV",
        description=_PERIOD_RULE + _CSV_NOTE,
        params=ReportQuery,
        reply=None,
        csv=True,
    ),
    Route(
        method="GET",
        path="/api/v1/reports/touchpoints.csv",
        handler=touch_points_csv,
        summary="The period's touch-points as CSV",
        description=_PERIOD_RULE
        + " Lists those created, due, completed, cancelled or deleted in the period; the"
        " header `X-Truncated: true` says the list was cut short." + _CSV_NOTE,
        params=ReportQuery,
        reply=None,
        csv=True,
        reply_headers={
            "X-Truncated": ({"type": "string", "enum": ["true"]}, "the list was cut short")
        },
    ),
)
