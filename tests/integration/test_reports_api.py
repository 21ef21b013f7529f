"""The report endpoints end to end: real Postgres, the Bitrix24 emulator, visibility, CSV files."""

from __future__ import annotations

import csv
import io
import itertools
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import attrs
import jsonschema_rs
import pytest

from tests.integration.conftest import Harness
from touchpoints.domain.model import NewTouchPoint, OwnerRef, OwnerType, TouchPoint, TouchPointType

pytestmark = pytest.mark.postgres

ZONE = "Europe/Moscow"  # +03:00 all year: local times below are easy to check by hand
MOSCOW = ZoneInfo(ZONE)
# Activities the emulator does not know (their texts read as hidden), far from its own ids.
_activity_ids = itertools.count(100_000)


def week_start(harness: Harness) -> date:
    """A Monday three to four weeks before the emulator's "now", so every day has ended."""
    today = harness.b24.clock.now().astimezone(MOSCOW).date()
    return today - timedelta(days=today.weekday() + 21)


@attrs.define
class Site:
    """An installed portal with users, records and a week of touch-points."""

    harness: Harness
    member_id: str
    portal_id: int
    monday: date
    users: dict[str, int] = attrs.Factory(dict)
    records: dict[str, OwnerRef] = attrs.Factory(dict)
    touch_points: dict[str, TouchPoint] = attrs.Factory(dict)

    def at(self, day: int, hour: int) -> datetime:
        """``hour`` o'clock Moscow time on day ``day`` of the week (0 is Monday)."""
        return datetime.combine(self.monday + timedelta(days=day), time(hour), tzinfo=MOSCOW)

    @property
    def week(self) -> str:
        return f"from={self.monday.isoformat()}&to={(self.monday + timedelta(days=6)).isoformat()}"

    async def add(
        self,
        name: str,
        user: str,
        record: str,
        kind: TouchPointType,
        *,
        created: datetime,
        deadline: datetime,
        previous: str | None = None,
        subject: str = "",
        description: str = "",
    ) -> TouchPoint:
        activity_id = next(_activity_ids)
        if subject or description:
            activity_id = self.harness.b24.add_activity(
                self.member_id,
                self.records[record],
                deadline=deadline,
                responsible_id=self.users[user],
                subject=subject,
                description=description,
            )
        async with self.harness.storage.unit_of_work() as uow:
            stored = await uow.touch_points.add(
                NewTouchPoint(
                    portal_id=self.portal_id,
                    activity_id=activity_id,
                    owner=self.records[record],
                    type=kind,
                    deadline=deadline,
                    responsible_id=self.users[user],
                    created_by=self.users[user],
                    created_at=created,
                    previous_id=self.touch_points[previous].id if previous else None,
                )
            )
        self.touch_points[name] = stored
        return stored

    async def change(self, name: str, changed: TouchPoint) -> None:
        async with self.harness.storage.unit_of_work() as uow:
            self.touch_points[name] = await uow.touch_points.update(changed)

    async def session(self, user: str, **kwargs: Any) -> str:
        return await self.harness.session_for(self.member_id, self.users[user], **kwargs)


async def seeded(harness: Harness) -> Site:
    """The week every test here starts from (expected figures in the summary test)."""
    member_id = await harness.install(user_time_zone=ZONE)
    async with harness.storage.unit_of_work() as uow:
        portal = await uow.portals.get_by_member_id(member_id)
    assert portal is not None
    site = Site(harness, member_id, portal.id, week_start(harness))
    b24 = harness.b24
    site.users = {
        "admin": 1,
        "alice": b24.add_user(member_id, name="Алиса", last_name="Иванова"),
        "bob": b24.add_user(member_id, name="Bob"),
        "vera": b24.add_user(member_id, name="Vera"),
    }
    alice, bob = site.users["alice"], site.users["bob"]
    site.records = {
        "supply": b24.add_record(member_id, OwnerType.DEAL, title="Поставка", assigned_by_id=alice),
        "won": b24.add_record(member_id, OwnerType.DEAL, title='=HYPERLINK("http://x","won")',
                              assigned_by_id=alice, closed=True, stage_id="WON"),
        "quiet": b24.add_record(member_id, OwnerType.DEAL, title="Без касаний", assigned_by_id=bob),
        "lead": b24.add_record(member_id, OwnerType.LEAD, title="Lead", assigned_by_id=bob),
        "new_lead": b24.add_record(member_id, OwnerType.LEAD, title="+7 495 000", assigned_by_id=alice),
        "person": b24.add_record(member_id, OwnerType.CONTACT, name="Pat", assigned_by_id=alice),
    }  # fmt: skip
    call, meeting, email = TouchPointType.CALL, TouchPointType.MEETING, TouchPointType.EMAIL
    first = await site.add("first", "alice", "supply", call,
                           created=site.at(0, 10), deadline=site.at(1, 12))  # fmt: skip
    second = await site.add("second", "alice", "won", meeting,
                            created=site.at(0, 11), deadline=site.at(0, 15))  # fmt: skip
    await site.add("bobs", "bob", "lead", email, created=site.at(1, 9), deadline=site.at(2, 12))
    follow = await site.add("follow", "alice", "supply", call, created=site.at(1, 18),
                            deadline=site.at(40, 12), previous="first")  # fmt: skip
    dropped = await site.add("dropped", "bob", "supply", call,
                             created=site.at(2, 10), deadline=site.at(3, 10))  # fmt: skip
    note = 'Договорились; "скидка" 5%,\nперезвонить'
    done = first.complete(note, now=site.at(1, 18))
    await site.change("first", done)
    await site.change("first", site.touch_points["first"].link_follow_up(follow.id,
                                                                          now=site.at(1, 18)))  # fmt: skip
    await site.change("second", attrs.evolve(second.complete("x", now=site.at(2, 9)),
                                             result_note=None))  # fmt: skip
    await site.change("dropped", dropped.cancel(now=site.at(4, 12)))
    return site


async def make_team_viewer(site: Site, user: str) -> None:
    admin = await site.session("admin")
    status, settings = await site.harness.api("GET", "/api/v1/settings", admin)
    assert status == 200
    settings["team_viewers"] = [site.users[user]]
    status, saved = await site.harness.api("PUT", "/api/v1/settings", admin, json=settings)
    assert status == 200, saved


async def get(site: Site, path: str, session: str) -> tuple[int, Any]:
    return await site.harness.api("GET", path, session)


async def download(site: Site, path: str, session: str) -> tuple[Any, bytes]:
    response = await site.harness.client.get(path, headers={"Authorization": f"Bearer {session}"})
    return response, await response.read()


def csv_rows(body: bytes, delimiter: str) -> list[list[str]]:
    assert body.startswith(b"\xef\xbb\xbf")
    text = body.decode("utf-8-sig")
    return list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter))


# ------------------------------------------------------------------ summary


async def test_the_summary_gives_team_figures_user_rows_a_daily_series_and_the_mix(
    harness: Harness,
) -> None:
    site = await seeded(harness)
    status, body = await get(
        site, f"/api/v1/reports/summary?{site.week}", await site.session("admin")
    )
    assert status == 200, body
    assert body["period"] == {
        "from": site.monday.isoformat(),
        "to": (site.monday + timedelta(days=6)).isoformat(),
        "days": 7,
    }
    assert body["time_zone"] == ZONE
    assert body["generated_at"].endswith("+03:00")
    assert body["sees_team"] is True
    assert body["closed_checked"] is True
    assert body["team"] == {
        "created": 5,
        "completed": 2,
        "completed_on_time": 1,
        "completed_late": 1,
        "median_days_late": 2.0,
        "completed_with_note": 1,
        # the follow-up of "first" and the closed record of "second"
        "completed_followed_up": 2,
        "cancelled": 1,
        "orphaned": 0,
        "overdue": 1,
        "on_time_rate": 0.5,
        "note_rate": 0.5,
        "follow_up_rate": 1.0,
    }
    rows = {row["user_id"]: row for row in body["users"]}
    assert list(rows) == sorted([site.users["alice"], site.users["bob"]])
    alice, bob = rows[site.users["alice"]], rows[site.users["bob"]]
    assert alice["name"] == "Алиса Иванова"
    assert (alice["created"], alice["completed"], alice["overdue"]) == (3, 2, 0)
    assert (bob["created"], bob["cancelled"], bob["overdue"], bob["on_time_rate"]) == (
        2,
        1,
        1,
        None,
    )
    assert [(d["created"], d["completed"], d["overdue"]) for d in body["daily"]] == [
        (2, 0, 1),
        (2, 1, 1),
        (1, 1, 1),
        (0, 0, 2),
        (0, 0, 1),
        (0, 0, 1),
        (0, 0, 1),
    ]
    assert body["mix"] == {
        "by_type": {"call": 3, "meeting": 1, "email": 1, "message": 0, "visit": 0, "other": 0},
        "by_owner_type": {"lead": 1, "deal": 4, "contact": 0, "company": 0},
    }


async def test_filters_narrow_the_summary(harness: Harness) -> None:
    site = await seeded(harness)
    admin = await site.session("admin")
    _, calls = await get(site, f"/api/v1/reports/summary?{site.week}&type=call", admin)
    assert calls["team"]["created"] == 3
    _, leads = await get(site, f"/api/v1/reports/summary?{site.week}&owner_type=lead", admin)
    assert (leads["team"]["created"], leads["team"]["overdue"]) == (1, 1)
    assert [row["user_id"] for row in leads["users"]] == [site.users["bob"]]


async def test_a_user_sees_their_own_figures_admins_and_team_viewers_everyones(
    harness: Harness,
) -> None:
    site = await seeded(harness)
    alice, bob, vera = site.users["alice"], site.users["bob"], site.users["vera"]
    alice_session = await site.session("alice")
    status, mine = await get(site, f"/api/v1/reports/summary?{site.week}", alice_session)
    assert status == 200
    assert mine["sees_team"] is False
    assert [row["user_id"] for row in mine["users"]] == [alice]
    assert mine["team"]["created"] == 3
    status, body = await get(
        site, f"/api/v1/reports/summary?{site.week}&responsible_id={bob}", alice_session
    )
    assert status == 403
    assert body["code"] == "FORBIDDEN"
    for path in ("users.csv", "touchpoints.csv"):
        status, _ = await get(
            site, f"/api/v1/reports/{path}?{site.week}&responsible_id={bob}", alice_session
        )
        assert status == 403, path
    status, _ = await get(site, f"/api/v1/reports/coverage?responsible_id={bob}", alice_session)
    assert status == 403

    vera_session = await site.session("vera")
    _, before = await get(site, f"/api/v1/reports/summary?{site.week}", vera_session)
    assert [row["user_id"] for row in before["users"]] == [vera]
    assert before["team"]["created"] == 0
    await make_team_viewer(site, "vera")
    vera_session = await site.session("vera")
    _, team = await get(site, f"/api/v1/reports/summary?{site.week}", vera_session)
    assert [row["user_id"] for row in team["users"]] == [alice, bob]
    assert team["team"]["created"] == 5
    _, one = await get(
        site, f"/api/v1/reports/summary?{site.week}&responsible_id={bob}", vera_session
    )
    assert [row["user_id"] for row in one["users"]] == [bob]
    assert one["team"]["created"] == 2


# ------------------------------------------------------------------ coverage


async def test_coverage_lists_open_deals_and_leads_without_an_open_touch_point(
    harness: Harness,
) -> None:
    site = await seeded(harness)
    status, body = await get(site, "/api/v1/reports/coverage", await site.session("admin"))
    assert status == 200, body
    assert [(item["type"], item["title"]) for item in body["items"]] == [
        ("deal", "Без касаний"),
        ("lead", "+7 495 000"),
    ]
    quiet = body["items"][0]
    assert quiet["id"] == site.records["quiet"].id
    assert quiet["assigned_by_id"] == site.users["bob"]
    assert body["open_records"] == {"deal": 2, "lead": 2}
    assert body["without_touch_point"] == {"deal": 1, "lead": 1}
    assert body["truncated"] is False

    _, mine = await get(site, "/api/v1/reports/coverage", await site.session("alice"))
    assert [item["title"] for item in mine["items"]] == ["+7 495 000"]
    assert mine["open_records"] == {"deal": 1, "lead": 1}
    _, deals = await get(
        site, "/api/v1/reports/coverage?owner_type=deal", await site.session("admin")
    )
    assert [item["type"] for item in deals["items"]] == ["deal"]
    assert set(deals["open_records"]) == {"deal"}


# ------------------------------------------------------------------ CSV


async def test_the_users_csv_is_utf8_with_a_bom_and_neutralises_formulas(
    harness: Harness,
) -> None:
    site = await seeded(harness)
    site.users["mallory"] = harness.b24.add_user(site.member_id, name="=cmd|' /C calc'!A0")
    await site.add("mallorys", "mallory", "quiet", TouchPointType.VISIT,
                   created=site.at(3, 9), deadline=site.at(3, 12))  # fmt: skip
    response, body = await download(
        site, f"/api/v1/reports/users.csv?{site.week}", await site.session("admin")
    )
    assert response.status == 200
    assert response.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert response.headers["Content-Disposition"] == (
        f'attachment; filename="touchpoints-users-{site.monday.isoformat()}_'
        f'{(site.monday + timedelta(days=6)).isoformat()}.csv"'
    )
    rows = csv_rows(body, ",")
    assert rows[0][:4] == ["User ID", "User", "Created", "Completed"]
    # The board's and the reports table's words (static/i18n), not a CSV dialect of them.
    assert rows[0][12:14] == ["Cancelled", "Removed in CRM"]
    by_id = {row[0]: row for row in rows[1:]}
    assert list(by_id) == [str(site.users[name]) for name in ("alice", "bob", "mallory")]
    alice = by_id[str(site.users["alice"])]
    assert alice[1] == "Алиса Иванова"
    assert alice[2:8] == ["3", "2", "1", "1", "0.5", "2"]
    assert by_id[str(site.users["bob"])][6] == ""  # no completions: no on-time rate
    assert by_id[str(site.users["mallory"])][1] == "'=cmd|' /C calc'!A0"


async def test_a_russian_session_gets_semicolons_a_decimal_comma_and_russian_headers(
    harness: Harness,
) -> None:
    site = await seeded(harness)
    response, body = await download(
        site, f"/api/v1/reports/users.csv?{site.week}", await site.session("admin", lang="ru")
    )
    assert response.status == 200
    rows = csv_rows(body, ";")
    assert rows[0][:3] == ["ID сотрудника", "Сотрудник", "Создано"]
    alice = next(row for row in rows if row[0] == str(site.users["alice"]))
    assert alice[6] == "0,5"


async def test_the_touch_points_csv_lists_the_period_with_live_titles_and_safe_cells(
    harness: Harness,
) -> None:
    site = await seeded(harness)
    site.records["formula"] = harness.b24.add_record(
        site.member_id, OwnerType.DEAL, title="@SUM(A1:A9)"
    )
    await site.add("risky", "bob", "formula", TouchPointType.OTHER,
                   created=site.at(5, 9), deadline=site.at(5, 10),
                   subject="=1+2", description="Позвонить; обсудить объём")  # fmt: skip
    response, body = await download(
        site,
        f"/api/v1/reports/touchpoints.csv?{site.week}",
        await site.session("admin", lang="ru"),
    )
    assert response.status == 200
    assert "X-Truncated" not in response.headers
    rows = csv_rows(body, ";")
    header = rows[0]
    assert header[5:7] == ["Тема", "Описание"]
    assert header[14] == f"Срок ({ZONE})"
    by_id = {int(row[0]): dict(zip(header, row, strict=True)) for row in rows[1:]}
    # Created, due, completed or cancelled in the week; "follow" is due long after it
    # but was created in it. Ordered by deadline.
    expected = ["second", "first", "bobs", "dropped", "risky", "follow"]
    assert list(by_id) == [site.touch_points[name].id for name in expected]
    first = by_id[site.touch_points["first"].id]
    assert first["Запись"] == "Поставка"
    assert first["Тип записи"] == "Сделка"
    assert first["Статус"] == "Выполнена"
    assert first["Ответственный"] == "Алиса Иванова"
    assert first["Вовремя"] == "да"
    assert first["Результат"] == 'Договорились; "скидка" 5%,\nперезвонить'
    assert first[f"Выполнена ({ZONE})"] == f"{(site.monday + timedelta(days=1)).isoformat()} 18:00"
    assert first["ID следующей"] == str(site.touch_points["follow"].id)
    second = by_id[site.touch_points["second"].id]
    assert second["Запись"] == '\'=HYPERLINK("http://x","won")'
    assert second["Вовремя"] == "нет"
    risky = by_id[site.touch_points["risky"].id]
    assert risky["Запись"] == "'@SUM(A1:A9)"
    # The to-do's own subject and description, read live, formulas neutralised too.
    assert (risky["Тема"], risky["Описание"]) == ("'=1+2", "Позвонить; обсудить объём")
    assert (first["Тема"], first["Описание"]) == ("", "")
    assert by_id[site.touch_points["dropped"].id]["Вовремя"] == ""

    mine_response, mine = await download(
        site, f"/api/v1/reports/touchpoints.csv?{site.week}", await site.session("bob")
    )
    assert mine_response.status == 200
    assert {int(row[0]) for row in csv_rows(mine, ",")[1:]} == {
        site.touch_points[name].id for name in ("bobs", "dropped", "risky")
    }


# ------------------------------------------------------------------ bad requests


@pytest.mark.parametrize(
    ("query", "fields"),
    [
        ("", {"from", "to"}),
        ("from=2026-03-01", {"to"}),
        ("from=2026-03-10&to=2026-03-01", {"to"}),
        ("from=2026-01-01&to=2027-01-02", {"to"}),
        ("from=2026-3-1&to=tomorrow", {"from", "to"}),
        ("from=1999-12-31&to=2000-01-01", {"from"}),
        ("from=2026-03-01&to=2026-03-07&owner_type=invoice&type=fax&responsible_id=0",
         {"owner_type", "type", "responsible_id"}),
        ("from=2026-03-01&to=2026-03-07&user=5&sort=name", {"user", "sort"}),
        ("from=2026-03-01&from=2026-03-02&to=2026-03-07", {"from"}),
    ],
)  # fmt: skip
async def test_bad_report_parameters_are_refused_listing_each_one(
    harness: Harness, query: str, fields: set[str]
) -> None:
    member_id = await harness.install()
    session = await harness.session_for(member_id, 1)
    for path in ("summary", "users.csv", "touchpoints.csv"):
        status, body = await harness.api("GET", f"/api/v1/reports/{path}?{query}", session)
        assert status == 400, (path, body)
        assert body["code"] == "VALIDATION_ERROR"
        assert set(body["fields"]) == fields, (path, body)


async def test_bad_coverage_parameters_are_refused_listing_each_one(harness: Harness) -> None:
    member_id = await harness.install()
    session = await harness.session_for(member_id, 1)
    status, body = await harness.api(
        "GET", "/api/v1/reports/coverage?owner_type=contact&responsible_id=x&from=1", session
    )
    assert status == 400
    assert set(body["fields"]) == {"owner_type", "responsible_id", "from"}


async def test_a_period_of_366_days_is_accepted(harness: Harness) -> None:
    member_id = await harness.install()
    session = await harness.session_for(member_id, 1)
    status, body = await harness.api(
        "GET", "/api/v1/reports/summary?from=2024-01-01&to=2024-12-31", session
    )
    assert status == 200, body
    assert body["period"]["days"] == 366


async def test_reports_need_a_session(harness: Harness) -> None:
    for path in ("summary?from=2026-03-01&to=2026-03-07", "coverage", "users.csv?x=1"):
        response = await harness.client.get(f"/api/v1/reports/{path}")
        assert response.status in (400, 401), path
    response = await harness.client.get("/api/v1/reports/coverage")
    assert response.status == 401
    assert (await response.json())["code"] == "UNAUTHENTICATED"


# ------------------------------------------------------------------ the OpenAPI document


async def test_replies_match_the_openapi_document(harness: Harness) -> None:
    site = await seeded(harness)
    document = await (await harness.client.get("/api/openapi.json")).json()
    admin = await site.session("admin")
    for path, schema in (
        (f"/api/v1/reports/summary?{site.week}", "ReportSummary"),
        ("/api/v1/reports/coverage", "Coverage"),
    ):
        status, body = await get(site, path, admin)
        assert status == 200
        validator = jsonschema_rs.Draft202012Validator(
            {"$ref": f"#/components/schemas/{schema}", "components": document["components"]}
        )
        errors = [error.message for error in validator.iter_errors(body)]
        assert errors == [], (schema, errors)
    for path in ("summary", "coverage", "users.csv", "touchpoints.csv"):
        assert f"/api/v1/reports/{path}" in document["paths"]
