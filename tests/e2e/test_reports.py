"""The Reports page: figures, charts and a sortable table per person, coverage, CSV, languages."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from playwright.sync_api import Locator, Page, expect

from tests.e2e.support import (
    UTF8_BOM,
    ApiAs,
    DemoApi,
    DemoPeople,
    cancel_touch_point,
    demo_page,
    last_week,
    open_reports,
    screenshot,
    wait_until_reports_settled,
)

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

SUMMARY = "**/api/v1/reports/summary?*"


def today_of(api: DemoApi) -> date:
    """The portal's local date, as the server sees it."""
    return date.fromisoformat(api.get("/board")["today"])


def last_30_days(api: DemoApi) -> str:
    today = today_of(api)
    return f"from={today - timedelta(days=29)}&to={today}"


def row_ids(page: Page) -> list[int]:
    ids: list[str] = page.locator("[data-testid=report-row]").evaluate_all(
        "rows => rows.map(row => row.dataset.userId)"
    )
    return [int(i) for i in ids]


def figure(page: Page, key: str) -> Locator:
    return page.get_by_test_id(f"figure-{key}").get_by_test_id("value")


def downloaded(page: Page, testid: str) -> tuple[str, bytes]:
    """Click a CSV button; the file's suggested name and bytes."""
    with page.expect_download() as info:
        page.get_by_test_id(testid).click()
    download = info.value
    return download.suggested_filename, Path(download.path()).read_bytes()


def test_the_reports_page_shows_team_figures_charts_and_a_table_of_the_demo_users(
    page: Page, demo_url: str, people: DemoPeople, api: DemoApi
) -> None:
    summary: dict[str, Any] = api.get(f"/reports/summary?{last_30_days(api)}")

    page.goto(demo_page(demo_url, people.admin))
    page.get_by_test_id("nav-reports").click()
    wait_until_reports_settled(page)

    expect(page.get_by_role("heading", level=1)).to_have_text("Reports")
    expect(page.get_by_test_id("nav-reports")).to_have_attribute("aria-current", "page")
    expect(page.get_by_test_id("period-last_days")).to_have_attribute("aria-pressed", "true")
    expect(figure(page, "created")).to_have_text(str(summary["team"]["created"]))
    expect(figure(page, "completed")).to_have_text(str(summary["team"]["completed"]))
    expect(figure(page, "overdue")).to_have_text(str(summary["team"]["overdue"]))
    table = page.get_by_test_id("report-table")
    for user in summary["users"]:
        expect(table.locator(f"[data-user-id='{user['user_id']}']")).to_contain_text(user["name"])
    assert sorted(row_ids(page)) == sorted(user["user_id"] for user in summary["users"])
    for name in ("Anna Berg", "Maxim Orlov", "Lena Kim", "Tom Fischer"):
        expect(table).to_contain_text(name)
    expect(page.get_by_test_id("report-team-row")).to_contain_text(str(summary["team"]["created"]))

    for chart in ("daily", "mix", "on-time"):
        expect(page.get_by_test_id(f"chart-{chart}").locator("svg[role=img]")).to_have_count(1)
    completed_days = sum(1 for day in summary["daily"] if day["completed"])
    expect(page.locator("[data-testid=chart-daily] .chart__bars rect")).to_have_count(
        completed_days
    )
    expect(page.locator("[data-testid=chart-on-time] .chart__row")).to_have_count(
        len(summary["users"])
    )
    assert page.evaluate("document.documentElement.scrollWidth <= innerWidth")
    assert page.evaluate(
        "[...document.querySelectorAll('.table-scroll')].every(e => e.scrollWidth <= e.clientWidth)"
    )


def test_a_column_heading_sorts_the_table_both_ways(
    page: Page, demo_url: str, people: DemoPeople, api: DemoApi
) -> None:
    users = api.get(f"/reports/summary?{last_30_days(api)}")["users"]
    most_created_first = [
        user["user_id"] for user in sorted(users, key=lambda u: (-u["created"], u["name"]))
    ]
    open_reports(page, demo_page(demo_url, people.admin))
    created = page.locator("th", has=page.get_by_test_id("sort-created"))

    page.get_by_test_id("sort-created").click()
    expect(created).to_have_attribute("aria-sort", "descending")
    expect(page.locator("th[aria-sort]")).to_have_count(1)
    assert row_ids(page) == most_created_first
    expect(page.get_by_test_id("sort-created")).to_be_focused()

    page.get_by_test_id("sort-created").click()
    expect(created).to_have_attribute("aria-sort", "ascending")
    assert row_ids(page) == sorted(
        most_created_first, key=lambda i: next(u["created"] for u in users if u["user_id"] == i)
    )

    page.get_by_test_id("sort-name").click()
    expect(page.locator("th", has=page.get_by_test_id("sort-name"))).to_have_attribute(
        "aria-sort", "ascending"
    )
    assert row_ids(page) == [u["user_id"] for u in sorted(users, key=lambda u: u["name"])]


def test_switching_the_period_asks_for_those_days_and_shows_their_figures(
    page: Page, demo_url: str, people: DemoPeople, api: DemoApi
) -> None:
    monday, sunday = last_week(today_of(api))
    expected = api.get(f"/reports/summary?from={monday}&to={sunday}")
    open_reports(page, demo_page(demo_url, people.admin))
    before = page.get_by_test_id("report-range").inner_text()

    with page.expect_request(SUMMARY) as request:
        page.get_by_test_id("period-last_week").click()
    wait_until_reports_settled(page)

    asked = parse_qs(urlsplit(request.value.url).query)
    assert asked["from"] == [monday.isoformat()]
    assert asked["to"] == [sunday.isoformat()]
    expect(page.get_by_test_id("period-last_week")).to_have_attribute("aria-pressed", "true")
    expect(page.get_by_test_id("report-range")).not_to_have_text(before)
    expect(figure(page, "created")).to_have_text(str(expected["team"]["created"]))
    expect(page.locator("[data-testid=chart-daily] .chart__hits rect")).to_have_count(7)

    page.reload()  # the chosen period is remembered
    wait_until_reports_settled(page)
    expect(page.get_by_test_id("period-last_week")).to_have_attribute("aria-pressed", "true")


def test_a_custom_period_explains_an_impossible_range_and_loads_a_valid_one(
    page: Page, demo_url: str, people: DemoPeople, api: DemoApi
) -> None:
    today = today_of(api)
    open_reports(page, demo_page(demo_url, people.admin))
    page.get_by_test_id("period-custom").click()
    wait_until_reports_settled(page)

    page.get_by_test_id("report-to").fill((today - timedelta(days=400)).isoformat())
    expect(page.get_by_test_id("report-range-problem")).to_have_text(
        "The last day must not be before the first."
    )
    expect(page.get_by_test_id("csv-users")).to_be_disabled()

    first = today - timedelta(days=6)
    page.get_by_test_id("report-from").fill(first.isoformat())
    with page.expect_request(SUMMARY) as request:
        page.get_by_test_id("report-to").fill(today.isoformat())
    wait_until_reports_settled(page)
    asked = parse_qs(urlsplit(request.value.url).query)
    assert (asked["from"], asked["to"]) == ([first.isoformat()], [today.isoformat()])
    expect(page.get_by_test_id("report-range-problem")).to_have_count(0)
    expect(page.locator("[data-testid=chart-daily] .chart__hits rect")).to_have_count(7)


def test_both_csv_downloads_are_utf8_with_a_byte_order_mark(
    page: Page, demo_url: str, people: DemoPeople
) -> None:
    open_reports(page, demo_page(demo_url, people.admin))

    name, body = downloaded(page, "csv-users")
    assert name.endswith(".csv")
    assert body.startswith(UTF8_BOM)
    text = body.decode("utf-8-sig")
    assert text.startswith("User ID,User,Created")
    assert "Anna Berg" in text

    name, body = downloaded(page, "csv-touchpoints")
    assert name.endswith(".csv")
    assert body.startswith(UTF8_BOM)
    assert len(body.decode("utf-8-sig").strip().splitlines()) > 1


def test_coverage_lists_an_open_lead_without_a_touch_point_and_schedules_it_in_one_click(
    page: Page, demo_url: str, people: DemoPeople, api: DemoApi
) -> None:
    lead = 7
    record = api.get(f"/records/lead/{lead}/touchpoints")
    for item in record["items"]:
        if item["status"] == "open":
            cancel_touch_point(api, item["id"])
    open_reports(page, demo_page(demo_url, people.admin))

    coverage = page.get_by_test_id("coverage")
    entry = coverage.locator(f"[data-testid=coverage-item][data-type=lead][data-id='{lead}']")
    expect(entry).to_contain_text(record["owner"]["title"])
    expect(coverage.get_by_test_id("coverage-count-lead")).to_contain_text("Leads: 1 of")
    page.evaluate("window.scrollTo(0, 0)")
    screenshot(page, "reports", full_page=True)

    entry.get_by_test_id("coverage-schedule").click()
    dialog = page.get_by_role("dialog", name="New touch-point")
    expect(dialog).to_contain_text(record["owner"]["title"])
    expect(dialog.get_by_test_id("record-search")).to_have_count(0)
    dialog.get_by_test_id("create-submit").click()
    expect(dialog).to_be_hidden()
    wait_until_reports_settled(page)

    expect(entry).to_have_count(0)
    expect(coverage.get_by_test_id("coverage-none")).to_be_visible()
    after = api.get(f"/records/lead/{lead}/touchpoints")
    assert [item["status"] for item in after["items"]].count("open") == 1


def test_a_user_without_team_visibility_sees_only_their_own_figures(
    page: Page, demo_url: str, people: DemoPeople, api_as: ApiAs
) -> None:
    mine = api_as(people.regular).get(f"/reports/summary?{last_30_days(api_as(people.regular))}")
    open_reports(page, demo_page(demo_url, people.regular))

    expect(page.get_by_test_id("reports-own-only")).to_be_visible()
    expect(page.get_by_test_id("report-filter-responsible_id")).to_have_count(0)
    assert row_ids(page) == [people.regular]
    expect(page.get_by_test_id("report-team-row")).to_have_count(0)
    expect(figure(page, "created")).to_have_text(str(mine["team"]["created"]))


def test_a_team_viewer_narrows_the_report_to_one_person(
    page: Page, demo_url: str, people: DemoPeople
) -> None:
    open_reports(page, demo_page(demo_url, people.manager))
    assert len(row_ids(page)) > 1

    with page.expect_request(SUMMARY) as request:
        page.get_by_test_id("report-filter-responsible_id").select_option(str(people.regular))
    wait_until_reports_settled(page)

    assert parse_qs(urlsplit(request.value.url).query)["responsible_id"] == [str(people.regular)]
    assert row_ids(page) == [people.regular]


def test_the_reports_page_speaks_russian_with_lang_ru(
    page: Page, demo_url: str, people: DemoPeople
) -> None:
    open_reports(page, demo_page(demo_url, people.admin, "&lang=ru"))

    expect(page.get_by_role("heading", level=1)).to_have_text("Отчёты")
    expect(page.get_by_test_id("nav-reports")).to_have_text("Отчёты")
    expect(page.get_by_test_id("period-this_week")).to_have_text("Эта неделя")
    expect(page.get_by_test_id("period-last_days")).to_have_text("Последние 30 дней")
    expect(page.get_by_test_id("sort-created")).to_have_text("Создано")
    expect(page.get_by_test_id("chart-daily")).to_contain_text("Выполнено и просрочено по дням")
    expect(page.get_by_test_id("coverage")).to_contain_text("Открытые сделки и лиды")
    text = page.get_by_test_id("reports-view").inner_text()
    for english in ("Created", "Completed", "Overdue", "Last week", "By person", "Team"):
        assert english not in text
    assert page.evaluate(
        "[...document.querySelectorAll('.table-scroll')].every(e => e.scrollWidth <= e.clientWidth)"
    )
    screenshot(page, "reports-ru", full_page=True)

    _, body = downloaded(page, "csv-users")
    assert body.startswith(UTF8_BOM)
    assert body.decode("utf-8-sig").startswith("ID сотрудника;Сотрудник;")


def test_the_reports_page_fits_a_phone_screen(
    page: Page, demo_url: str, people: DemoPeople
) -> None:
    page.set_viewport_size({"width": 390, "height": 800})
    open_reports(page, demo_page(demo_url, people.admin))

    expect(page.get_by_test_id("chart-daily").locator("svg")).to_have_count(1)
    assert page.evaluate("document.documentElement.scrollWidth <= innerWidth")
    screenshot(page, "reports-narrow", full_page=True)


def test_periods_sorting_and_chart_scales_follow_their_rules(
    page: Page, demo_url: str, people: DemoPeople
) -> None:
    open_reports(page, demo_page(demo_url, people.regular))
    answers = page.evaluate(
        """async () => {
          const base = document.body.dataset.static;
          const { periodRange, sortRows } = await import(`${base}/js/reports.js`);
          const { niceTicks } = await import(`${base}/js/charts.js`);
          const rows = [
            { user_id: 1, name: "Bo", on_time_rate: null },
            { user_id: 2, name: "al", on_time_rate: 0.5 },
            { user_id: 3, name: "Cy", on_time_rate: 1 },
            { user_id: 4, name: "Di", on_time_rate: 0.5 },
          ];
          const order = (dir) => sortRows(rows, { key: "on_time_rate", dir }, (r) => r.name).map((r) => r.user_id);
          return {
            ranges: ["this_week", "last_week", "this_month", "last_days"].map((key) => periodRange(key, "2026-03-01")),
            custom: periodRange("custom", "2026-03-01", { from: "2026-01-05", to: "2026-01-09" }),
            descending: order("descending"),
            ascending: order("ascending"),
            byName: sortRows(rows, { key: "name", dir: "ascending" }, (r) => r.name).map((r) => r.user_id),
            ticks: [niceTicks(0), niceTicks(7), niceTicks(20), niceTicks(130)],
          };
        }"""
    )

    # 2026-03-01 is a Sunday; 2026 is no leap year.
    assert answers["ranges"] == [
        {"from": "2026-02-23", "to": "2026-03-01"},
        {"from": "2026-02-16", "to": "2026-02-22"},
        {"from": "2026-03-01", "to": "2026-03-01"},
        {"from": "2026-01-31", "to": "2026-03-01"},
    ]
    assert answers["custom"] == {"from": "2026-01-05", "to": "2026-01-09"}
    assert answers["descending"] == [3, 2, 4, 1]  # no value last, ties by name
    assert answers["ascending"] == [2, 4, 3, 1]
    assert answers["byName"] == [2, 1, 3, 4]  # case-insensitive
    assert answers["ticks"] == [[0, 1], [0, 2, 4, 6, 8], [0, 5, 10, 15, 20], [0, 50, 100, 150]]
