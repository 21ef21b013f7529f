"""What a digest tells about hand-overs: the one covering, the one away, and the return."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import attrs
import pytest

from tests.unit.factories import touch_point
from touchpoints.domain.bot import render_bot_digest
from touchpoints.domain.digest import (
    DigestContent,
    HandoverRole,
    compute_digest,
    crm_record_links,
    handover_notes,
    previous_working_day,
    render_digest,
)
from touchpoints.domain.handover import Handover
from touchpoints.domain.settings import PortalSettings
from touchpoints.entrypoints.catalogue import load_catalogue

# Wednesday 2026-12-16, 09:30 UTC: after the default digest hour (09:00) in UTC.
NOW = datetime(2026, 12, 16, 9, 30, tzinfo=UTC)
SETTINGS = PortalSettings.defaults("UTC")
MAXIM, LENA, BOSS = 7, 8, 1
NAMES = {MAXIM: "Maxim", LENA: "Lena"}


def handover(**overrides: object) -> Handover:
    fields: dict[str, object] = {
        "id": 3,
        "portal_id": 1,
        "from_user_id": MAXIM,
        "to_user_id": LENA,
        "first_day": date(2026, 12, 14),
        "last_day": date(2026, 12, 18),
        "created_by": BOSS,
        "created_at": datetime(2026, 12, 11, 15, 0, tzinfo=UTC),
        "touch_point_ids": (41, 42, 43),
    }
    fields.update(overrides)
    return Handover(**fields)  # type: ignore[arg-type]


def notes(user_id: int, *handovers: Handover, now: datetime = NOW) -> list[tuple[object, ...]]:
    return [
        (note.role, note.other_name, note.last_day, note.count)
        for note in handover_notes(user_id, handovers, now=now, settings=SETTINGS, names=NAMES)
    ]


def test_an_open_hand_over_is_told_to_the_one_covering_and_to_the_one_away() -> None:
    open_one = handover()
    assert notes(LENA, open_one) == [(HandoverRole.COVERING, "Maxim", date(2026, 12, 18), 3)]
    assert notes(MAXIM, open_one) == [(HandoverRole.AWAY, "Lena", date(2026, 12, 18), 3)]
    assert notes(BOSS, open_one) == []  # who set it up is neither


def test_a_return_is_told_to_the_owner_once_in_the_first_digest_after_it() -> None:
    # Given back at the start of Saturday 19 Dec; the next digest is Monday 21 Dec's.
    returned = handover(returned_at=datetime(2026, 12, 19, 0, 5, tzinfo=UTC))
    monday = datetime(2026, 12, 21, 9, 5, tzinfo=UTC)
    assert notes(MAXIM, returned, now=monday) == [
        (HandoverRole.RETURNED, "Lena", date(2026, 12, 18), 3)
    ]
    assert notes(LENA, returned, now=monday) == []  # the one covering hears nothing more
    assert notes(MAXIM, returned, now=monday + timedelta(days=1)) == []  # Tuesday: told already
    friday = datetime(2026, 12, 18, 9, 5, tzinfo=UTC)
    assert notes(MAXIM, returned, now=friday) == []  # before the return


@pytest.mark.parametrize("minutes", [-1, 0, 1])
def test_a_return_around_a_digest_hour_falls_in_exactly_one_days_digest(minutes: int) -> None:
    # Given back around Tuesday's 09:00 digest hour: Tuesday's or Wednesday's digest, never both.
    at = datetime(2026, 12, 15, 9, 0, tzinfo=UTC) + timedelta(minutes=minutes)
    returned = handover(returned_at=at)
    days = [datetime(2026, 12, d, 9, 30, tzinfo=UTC) for d in (14, 15, 16, 17)]
    told = [day.day for day in days if notes(MAXIM, returned, now=day)]
    assert told == ([15] if minutes < 0 else [16])


def test_the_previous_working_day_skips_the_weekend() -> None:
    assert previous_working_day(date(2026, 12, 21), SETTINGS) == date(2026, 12, 18)
    assert previous_working_day(date(2026, 12, 16), SETTINGS) == date(2026, 12, 15)


def _content(user_id: int, *handovers: Handover) -> DigestContent:
    content = compute_digest(
        user_id=user_id,
        touch_points=[
            touch_point(id=41, responsible_id=user_id, deadline=NOW + timedelta(hours=2))
        ],
        now=NOW,
        settings=SETTINGS,
        titles={},
        handovers=handover_notes(user_id, handovers, now=NOW, settings=SETTINGS, names=NAMES),
    )
    assert content is not None
    return content


@pytest.mark.parametrize(
    ("language", "user_id", "expected"),
    [
        ("en", LENA, "Covering for Maxim until 2026-12-18: 3 of their touch-points handed over"),
        ("ru", LENA, "Замещение: Maxim, до 18.12.2026 — вам переданы касания: 3"),
        ("en", MAXIM, "Your touch-points are with Lena until 2026-12-18 (3 handed over)"),
        ("ru", MAXIM, "Ваши касания до 18.12.2026 ведёт Lena (передано: 3)"),
    ],
)
def test_both_the_notification_and_the_bot_message_say_it_under_the_header(
    language: str, user_id: int, expected: str
) -> None:
    content = _content(user_id, handover())
    record_url = crm_record_links("https://acme.bitrix24.test")
    notification = render_digest(
        content,
        language=language,
        board_url="/app/",
        record_url=record_url,
        catalogue=load_catalogue(),
    )
    bot = render_bot_digest(
        content,
        [],
        versions={},
        language=language,
        board_url="/app/",
        record_url=record_url,
        done_url=str,
        catalogue=load_catalogue(),
    )
    for text in (notification.message, bot.text):
        assert text.split("[br]")[1].startswith(expected)


def test_a_hand_over_alone_does_not_make_a_digest() -> None:
    content = compute_digest(
        user_id=MAXIM,
        touch_points=[],
        now=NOW,
        settings=SETTINGS,
        titles={},
        handovers=handover_notes(MAXIM, [handover()], now=NOW, settings=SETTINGS, names=NAMES),
    )
    assert content is None


def test_a_name_cannot_open_a_bb_code_tag() -> None:
    [note] = handover_notes(
        LENA, [handover()], now=NOW, settings=SETTINGS, names={MAXIM: "[url=x]Max[/url]"}
    )
    text = render_digest(
        attrs.evolve(_content(LENA), handovers=(note,)),
        language="en",
        board_url="/app/",
        record_url=crm_record_links("https://acme.bitrix24.test"),
        catalogue=load_catalogue(),
    ).message
    assert "[url=x]" not in text
    assert "［url=x］Max［/url］" in text
