"""The daily digest's content and its BB-code rendering, with exact expected text."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.strategies import touch_points
from tests.unit.factories import build_digest, touch_point
from touchpoints.domain.digest import (
    DigestContent,
    DigestItem,
    compute_digest,
    crm_record_links,
    digest_tag,
    render_digest,
)
from touchpoints.domain.messages import language_of
from touchpoints.domain.model import OwnerRef, OwnerType, Status, TouchPoint, TouchPointType
from touchpoints.domain.settings import PortalSettings
from touchpoints.entrypoints.catalogue import load_catalogue

BERLIN = PortalSettings(time_zone="Europe/Berlin")
# Tuesday 2026-09-01, 09:00 in Berlin (CEST, +02:00).
NOW = datetime(2026, 9, 1, 7, 0, tzinfo=UTC)
BOARD = "https://acme.bitrix24.com/marketplace/app/12/"
LINKS = crm_record_links("https://acme.bitrix24.com/")
TEXTS = load_catalogue()
DEAL = OwnerRef(OwnerType.DEAL, 7)
LEAD = OwnerRef(OwnerType.LEAD, 3)
COMPANY = OwnerRef(OwnerType.COMPANY, 4)


def due(tp_id: int, deadline: datetime, **overrides: object) -> TouchPoint:
    return touch_point(id=tp_id, activity_id=100 + tp_id, deadline=deadline, **overrides)


def sample() -> list[TouchPoint]:
    return [
        due(1, NOW - timedelta(days=2), owner=DEAL),  # 2026-08-30 09:00
        due(2, NOW + timedelta(hours=5, minutes=30), owner=LEAD, type=TouchPointType.MEETING),
        due(3, NOW - timedelta(minutes=1), owner=COMPANY, type=TouchPointType.EMAIL),
        due(4, NOW + timedelta(days=1), owner=DEAL),  # tomorrow: not in the digest
        due(5, NOW - timedelta(days=1), responsible_id=6),  # a colleague's
        due(6, NOW - timedelta(days=3), status=Status.CANCELLED),
    ]


TITLES: dict[OwnerRef, str | None] = {DEAL: "ACME renewal", LEAD: None}


def test_the_digest_lists_overdue_and_due_today_by_deadline() -> None:
    content = compute_digest(
        user_id=5, touch_points=sample(), now=NOW, settings=BERLIN, titles=TITLES
    )
    assert content == DigestContent(
        user_id=5,
        local_day=date(2026, 9, 1),
        time_zone="Europe/Berlin",
        overdue_count=2,
        today_count=1,
        overdue=(
            DigestItem(
                touch_point_id=1,
                owner=DEAL,
                type=TouchPointType.CALL,
                deadline=NOW - timedelta(days=2),
                title="ACME renewal",
            ),
            DigestItem(
                touch_point_id=3,
                owner=COMPANY,
                type=TouchPointType.EMAIL,
                deadline=NOW - timedelta(minutes=1),
                title=None,
            ),
        ),
        today=(
            DigestItem(
                touch_point_id=2,
                owner=LEAD,
                type=TouchPointType.MEETING,
                deadline=NOW + timedelta(hours=5, minutes=30),
                title=None,
            ),
        ),
    )


def test_the_english_digest_reads_exactly_so() -> None:
    rendered = build_digest(
        user_id=5,
        touch_points=sample(),
        now=NOW,
        settings=BERLIN,
        titles=TITLES,
        language="en",
        board_url=BOARD,
        record_url=LINKS,
        catalogue=TEXTS,
    )
    assert rendered is not None
    assert rendered.message == (
        "[b]Touch-points for 2026-09-01[/b][br]"
        "[b]Overdue: 2[/b][br]"
        "2026-08-30 09:00 · Call · "
        "[url=https://acme.bitrix24.com/crm/deal/details/7/]ACME renewal[/url][br]"
        "2026-09-01 08:59 · E-mail · Company #4[br]"
        "[b]Due today: 1[/b][br]"
        "14:30 · Meeting · Lead #3[br]"
        "[url=https://acme.bitrix24.com/marketplace/app/12/]Open the board[/url]"
    )
    assert rendered.tag == "touchpoints.digest.5.2026-09-01"
    assert rendered.attach == (("Open the board", BOARD),)
    assert rendered.user_id == 5


def test_the_russian_digest_reads_exactly_so() -> None:
    rendered = build_digest(
        user_id=5,
        touch_points=sample(),
        now=NOW,
        settings=BERLIN,
        titles=TITLES,
        language="ru",
        board_url=BOARD,
        record_url=LINKS,
        catalogue=TEXTS,
    )
    assert rendered is not None
    assert rendered.message == (
        "[b]Касания на 01.09.2026[/b][br]"
        "[b]Просрочено: 2[/b][br]"
        "30.08.2026 09:00 · Звонок · "
        "[url=https://acme.bitrix24.com/crm/deal/details/7/]ACME renewal[/url][br]"
        "01.09.2026 08:59 · Письмо · Компания #4[br]"
        "[b]Сегодня: 1[/b][br]"
        "14:30 · Встреча · Лид #3[br]"
        "[url=https://acme.bitrix24.com/marketplace/app/12/]Открыть доску[/url]"
    )
    assert rendered.attach == (("Открыть доску", BOARD),)


def test_times_are_shown_in_the_portals_zone() -> None:
    tokyo = PortalSettings(time_zone="Asia/Tokyo")
    rendered = build_digest(
        user_id=5,
        touch_points=[due(1, NOW + timedelta(hours=1))],
        now=NOW,
        settings=tokyo,
        titles={},
        language="en",
        board_url=BOARD,
        record_url=LINKS,
        catalogue=TEXTS,
    )
    assert rendered is not None
    assert "17:00 · Call · Deal #7" in rendered.message
    assert rendered.tag == "touchpoints.digest.5.2026-09-01"


def test_only_the_first_items_are_listed_and_the_rest_are_counted() -> None:
    many = [due(n, NOW - timedelta(hours=n)) for n in range(1, 14)]
    content = compute_digest(
        user_id=5, touch_points=many, now=NOW, settings=BERLIN, titles={}, limit=10
    )
    assert content is not None
    assert content.overdue_count == 13
    assert [item.touch_point_id for item in content.overdue] == list(range(13, 3, -1))
    rendered = render_digest(
        content, language="en", board_url=BOARD, record_url=LINKS, catalogue=TEXTS
    )
    assert "[br]…and 3 more[br]" in rendered.message
    russian = render_digest(
        content, language="ru", board_url=BOARD, record_url=LINKS, catalogue=TEXTS
    )
    assert "[br]…и ещё 3[br]" in russian.message


def test_equal_deadlines_are_ordered_by_id() -> None:
    same = [due(n, NOW - timedelta(hours=1)) for n in (9, 2, 5)]
    content = compute_digest(user_id=5, touch_points=same, now=NOW, settings=BERLIN, titles={})
    assert content is not None
    assert [item.touch_point_id for item in content.overdue] == [2, 5, 9]


def test_a_deadline_exactly_now_is_due_today_and_the_day_ends_at_local_midnight() -> None:
    midnight = datetime(2026, 9, 1, 22, 0, tzinfo=UTC)  # 00:00 CEST on 2 September
    edge = [due(1, NOW), due(2, midnight - timedelta(microseconds=1)), due(3, midnight)]
    content = compute_digest(user_id=5, touch_points=edge, now=NOW, settings=BERLIN, titles={})
    assert content is not None
    assert content.overdue_count == 0
    assert [item.touch_point_id for item in content.today] == [1, 2]


def test_nobody_gets_a_digest_with_nothing_due() -> None:
    later = [
        due(1, NOW + timedelta(days=2)),
        due(2, NOW - timedelta(days=1), status=Status.ORPHANED),
    ]
    assert (
        compute_digest(user_id=5, touch_points=later, now=NOW, settings=BERLIN, titles={}) is None
    )
    assert (
        build_digest(
            user_id=5,
            touch_points=later,
            now=NOW,
            settings=BERLIN,
            titles={},
            language="en",
            board_url=BOARD,
            record_url=LINKS,
            catalogue=TEXTS,
        )
        is None
    )


def test_a_nothing_due_note_is_sent_when_asked_for() -> None:
    rendered = build_digest(
        user_id=5,
        touch_points=[],
        now=NOW,
        settings=BERLIN,
        titles={},
        language="en",
        board_url=BOARD,
        record_url=LINKS,
        catalogue=TEXTS,
        include_empty=True,
    )
    assert rendered is not None
    assert rendered.message == (
        "[b]Touch-points for 2026-09-01[/b][br]"
        "Nothing is overdue or due today.[br]"
        "[url=https://acme.bitrix24.com/marketplace/app/12/]Open the board[/url]"
    )


def test_crm_titles_cannot_inject_bb_code_or_break_lines() -> None:
    titles: dict[OwnerRef, str | None] = {DEAL: "Evil [/url][b]deal[/b]\n[url=https://x]y"}
    rendered = build_digest(
        user_id=5,
        touch_points=[due(1, NOW + timedelta(hours=1))],
        now=NOW,
        settings=BERLIN,
        titles=titles,
        language="en",
        board_url=BOARD,
        record_url=LINKS,
        catalogue=TEXTS,
    )
    assert rendered is not None
    line = rendered.message.split("[br]")[2]
    assert line == (
        "10:00 · Call · [url=https://acme.bitrix24.com/crm/deal/details/7/]"
        "Evil ［/url］［b］deal［/b］ ［url=https://x］y[/url]"
    )


def test_long_titles_are_cut_and_blank_titles_count_as_hidden() -> None:
    titles: dict[OwnerRef, str | None] = {DEAL: "x" * 300, LEAD: "   "}
    rendered = build_digest(
        user_id=5,
        touch_points=[
            due(1, NOW + timedelta(hours=1)),
            due(2, NOW + timedelta(hours=2), owner=LEAD),
        ],
        now=NOW,
        settings=BERLIN,
        titles=titles,
        language="en",
        board_url=BOARD,
        record_url=LINKS,
        catalogue=TEXTS,
    )
    assert rendered is not None
    lines = rendered.message.split("[br]")
    assert lines[2].endswith("]" + "x" * 99 + "…[/url]")
    assert lines[3] == "11:00 · Call · Lead #3"


def test_urls_cannot_close_the_url_tag() -> None:
    rendered = build_digest(
        user_id=5,
        touch_points=[due(1, NOW + timedelta(hours=1))],
        now=NOW,
        settings=BERLIN,
        titles={DEAL: "Deal"},
        language="en",
        board_url="https://acme.bitrix24.com/app/?q=[x] y",
        record_url=lambda owner: f"https://crm/{owner.id}]",
        catalogue=TEXTS,
    )
    assert rendered is not None
    assert "[url=https://crm/7%5D]Deal[/url]" in rendered.message
    assert rendered.message.endswith(
        "[url=https://acme.bitrix24.com/app/?q=%5Bx%5D%20y]Open the board[/url]"
    )


@pytest.mark.parametrize(
    ("code", "language"),
    [
        ("ru", "ru"),
        ("RU", "ru"),
        ("ru-RU", "ru"),
        ("ru_RU", "ru"),
        ("en", "en"),
        ("de", "en"),
        ("ua", "en"),
        ("", "en"),
        (None, "en"),
    ],
)
def test_unknown_languages_fall_back_to_english(code: str | None, language: str) -> None:
    assert language_of(code) == language


@pytest.mark.parametrize(
    ("owner", "url"),
    [
        (OwnerRef(OwnerType.LEAD, 1), "https://acme.bitrix24.com/crm/lead/details/1/"),
        (OwnerRef(OwnerType.DEAL, 2), "https://acme.bitrix24.com/crm/deal/details/2/"),
        (OwnerRef(OwnerType.CONTACT, 3), "https://acme.bitrix24.com/crm/contact/details/3/"),
        (OwnerRef(OwnerType.COMPANY, 4), "https://acme.bitrix24.com/crm/company/details/4/"),
    ],
)
def test_record_links_open_the_crm_card(owner: OwnerRef, url: str) -> None:
    assert crm_record_links("https://acme.bitrix24.com")(owner) == url
    assert LINKS(owner) == url


def test_the_tag_is_per_user_and_local_day() -> None:
    assert digest_tag(17, date(2026, 9, 1)) == "touchpoints.digest.17.2026-09-01"


@given(st.lists(touch_points(), max_size=30), st.integers(1, 6), st.integers(1, 5))
def test_counts_cover_every_open_due_touch_point_and_items_respect_the_limit(
    tps: list[TouchPoint], user_id: int, limit: int
) -> None:
    now = datetime(2020, 6, 1, 12, 0, tzinfo=UTC)
    content = compute_digest(
        user_id=user_id, touch_points=tps, now=now, settings=BERLIN, titles={}, limit=limit
    )
    mine = [tp for tp in tps if tp.responsible_id == user_id and tp.is_open]
    overdue = [tp for tp in mine if tp.deadline < now]
    today = [
        tp
        for tp in mine
        if tp.deadline >= now and tp.deadline.astimezone(BERLIN.zone).date() == date(2020, 6, 1)
    ]
    if not overdue and not today:
        assert content is None
        return
    assert content is not None
    assert (content.overdue_count, content.today_count) == (len(overdue), len(today))
    assert len(content.overdue) == min(limit, len(overdue))
    assert len(content.today) == min(limit, len(today))
    deadlines = [item.deadline for item in content.overdue + content.today]
    assert deadlines == sorted(deadlines)
