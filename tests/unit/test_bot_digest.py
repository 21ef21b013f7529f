"""The digest as a bot message: sections, buttons, the cut at Bitrix24's limits, presses."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.unit.factories import touch_point
from touchpoints.domain.bot import (
    KEYBOARD_LIMIT,
    SNOOZE_COMMAND,
    TEXT_LIMIT,
    RollupRow,
    StalledDeal,
    bot_catalogue_keys,
    changed_note,
    parse_snooze,
    render_bot_digest,
    render_rollup,
    rollup_rows,
    rollup_tag,
    snooze_day,
    snooze_params,
    stalled_deals,
)
from touchpoints.domain.digest import compute_digest, crm_record_links, digest_tag
from touchpoints.domain.errors import InvalidValue
from touchpoints.domain.model import OwnerRef, OwnerType, Status
from touchpoints.domain.settings import PortalSettings
from touchpoints.entrypoints.catalogue import load_catalogue

# Tuesday 2026-03-03, 09:00 UTC.
NOW = datetime(2026, 3, 3, 9, 0, tzinfo=UTC)
SETTINGS = PortalSettings.defaults("UTC")
RECORD = crm_record_links("https://acme.bitrix24.test")


def done(touch_point_id: int) -> str:
    return f"/marketplace/view/app/?params[complete]={touch_point_id}"


def render(
    touch_points: list,
    stalled: list[StalledDeal] | None = None,
    *,
    language: str = "en",
    **kw: object,
):
    titles = {tp.owner: f"Deal {tp.owner.id}" for tp in touch_points}
    content = compute_digest(
        user_id=5,
        touch_points=touch_points,
        now=NOW,
        settings=SETTINGS,
        titles=titles,
        limit=kw.pop("limit", 10),  # type: ignore[arg-type]
        include_empty=True,
    )
    assert content is not None
    return render_bot_digest(
        content,
        stalled or [],
        versions={tp.id: tp.version for tp in touch_points},
        language=language,
        board_url="https://acme.bitrix24.test/marketplace/app/app/",
        record_url=RECORD,
        done_url=done,
        catalogue=load_catalogue(),
        **kw,  # type: ignore[arg-type]
    )


def test_each_item_gets_done_snooze_and_open_buttons_numbered_as_its_line() -> None:
    late = touch_point(id=1, owner=OwnerRef(OwnerType.DEAL, 1), deadline=NOW - timedelta(days=1))
    soon = touch_point(
        id=2, owner=OwnerRef(OwnerType.LEAD, 2), deadline=NOW + timedelta(hours=2), version=3
    )
    rendered = render([late, soon], [StalledDeal(owner=OwnerRef(OwnerType.DEAL, 9), title="Idle")])

    lines = rendered.text.split("[br]")
    assert lines[1] == "[b]Overdue: 1[/b]"
    assert lines[2].startswith("1. 2026-03-02 09:00 · Call · [url=")
    assert lines[3] == "[b]Due today: 1[/b]"
    assert lines[4].startswith("2. 11:00 · Call · [url=https://acme.bitrix24.test/crm/lead/")
    assert lines[5:7] == [
        "[b]No next step: 1[/b]",
        "3. [url=https://acme.bitrix24.test/crm/deal/details/9/]Idle[/url]",
    ]
    buttons = [(b.text, b.link, b.command, b.params) for b in rendered.keyboard if not b.newline]
    assert buttons == [
        ("1. Done…", done(1), None, ""),
        ("1. +1 working day", None, SNOOZE_COMMAND, "1.1"),
        ("1. Open", RECORD(late.owner), None, ""),
        ("2. Done…", done(2), None, ""),
        ("2. +1 working day", None, SNOOZE_COMMAND, "2.3"),
        ("2. Open", RECORD(soon.owner), None, ""),
        ("3. Open", RECORD(OwnerRef(OwnerType.DEAL, 9)), None, ""),
    ]
    assert sum(b.newline for b in rendered.keyboard) == 2  # rows between items, none at the end
    assert (rendered.shown, rendered.hidden) == (3, 0)


def test_the_russian_digest_speaks_russian() -> None:
    rendered = render([touch_point(id=1, deadline=NOW + timedelta(hours=1))], language="ru")
    assert "Сегодня: 1" in rendered.text
    assert [b.text for b in rendered.keyboard if not b.newline] == [
        "1. Готово…",
        "1. +1 рабочий день",
        "1. Открыть",
    ]


def test_a_hidden_record_gets_no_open_button_and_no_link() -> None:
    hidden = touch_point(id=4, deadline=NOW + timedelta(hours=1))
    content = compute_digest(
        user_id=5, touch_points=[hidden], now=NOW, settings=SETTINGS, titles={}
    )
    assert content is not None
    rendered = render_bot_digest(
        content,
        [],
        versions={},
        language="en",
        board_url="https://b/",
        record_url=RECORD,
        done_url=done,
        catalogue=load_catalogue(),
    )
    assert "Deal #7" in rendered.text
    assert [b.text for b in rendered.keyboard if not b.newline] == ["1. Done…", "1. +1 working day"]


@given(count=st.integers(min_value=1, max_value=400), title_length=st.integers(1, 255))
def test_long_lists_are_cut_with_and_n_more_within_the_text_and_keyboard_limits(
    count: int, title_length: int
) -> None:
    due = [
        touch_point(id=n, owner=OwnerRef(OwnerType.DEAL, n), deadline=NOW + timedelta(minutes=n))
        for n in range(1, count + 1)
    ]
    content = compute_digest(
        user_id=5,
        touch_points=due,
        now=NOW,
        settings=SETTINGS,
        titles={tp.owner: "W" * title_length for tp in due},
        limit=count,
    )
    assert content is not None
    stalled = [
        StalledDeal(owner=OwnerRef(OwnerType.DEAL, 10_000 + n), title="Q" * title_length)
        for n in range(count)
    ]
    rendered = render_bot_digest(
        content,
        stalled,
        versions={},
        language="en",
        board_url="https://acme.bitrix24.test/marketplace/app/app/",
        record_url=RECORD,
        done_url=done,
        catalogue=load_catalogue(),
    )
    keyboard = [attrs.asdict(b) for b in rendered.keyboard]
    assert len(rendered.text) <= TEXT_LIMIT
    assert len(json.dumps(keyboard, ensure_ascii=False)) <= KEYBOARD_LIMIT
    assert rendered.shown + rendered.hidden == 2 * count
    if rendered.hidden:
        assert "…and " in rendered.text


def test_stalled_deals_are_the_users_open_deals_without_an_open_touch_point() -> None:
    mine, covered, theirs = (OwnerRef(OwnerType.DEAL, n) for n in (1, 2, 3))
    lead = OwnerRef(OwnerType.LEAD, 4)
    rows = [(mine, 5, "Mine"), (covered, 5, "Covered"), (theirs, 6, "Theirs"), (lead, 5, "Lead")]
    assert stalled_deals(5, rows, [covered]) == [StalledDeal(owner=mine, title="Mine")]


@given(touch_point_id=st.integers(1, 10**12), version=st.integers(1, 10**6))
def test_snooze_parameters_name_the_touch_point_and_the_version_shown(
    touch_point_id: int, version: int
) -> None:
    assert parse_snooze(snooze_params(touch_point_id, version)) == (touch_point_id, version)


@pytest.mark.parametrize(
    "params", ["", "12", "12.", ".3", "a.1", "0.1", "1.0", "1.2.3", "-1.2", "1 .2"]
)
def test_malformed_snooze_parameters_are_refused(params: str) -> None:
    assert parse_snooze(params) is None


@pytest.mark.parametrize(
    ("deadline", "moved_to"),
    [
        (datetime(2026, 3, 3, 15, 0, tzinfo=UTC), date(2026, 3, 4)),  # today → tomorrow
        (datetime(2026, 2, 20, 15, 0, tzinfo=UTC), date(2026, 3, 4)),  # overdue → after today
        (datetime(2026, 3, 6, 15, 0, tzinfo=UTC), date(2026, 3, 9)),  # Friday → Monday
    ],
)
def test_one_working_day_counts_from_today_or_the_touch_points_own_day(
    deadline: datetime, moved_to: date
) -> None:
    assert snooze_day(touch_point(deadline=deadline), NOW, SETTINGS) == moved_to


@pytest.mark.parametrize("lang", ["en", "ru"])
def test_every_text_the_bot_uses_is_in_both_translation_files(lang: str) -> None:
    texts = load_catalogue().texts[lang]
    keys = bot_catalogue_keys() | {
        "settings.digest_channel_bot",
        "settings.digest_channel_notification",
    }
    assert sorted(keys - set(texts)) == []


def test_a_changed_touch_point_is_told_by_its_status_or_its_new_time() -> None:
    texts = load_catalogue().for_language("en")
    zone = ZoneInfo("UTC")
    done_one = attrs.evolve(touch_point(), status=Status.DONE, completed_at=NOW, result_note="ok")
    assert "Done" in changed_note(done_one, "Fleet", zone=zone, texts=texts, record_url=RECORD)
    moved = touch_point(deadline=datetime(2026, 3, 9, 10, 0, tzinfo=UTC))
    assert "2026-03-09 10:00" in changed_note(
        moved, "Fleet", zone=zone, texts=texts, record_url=RECORD
    )


def test_the_roll_up_counts_each_reps_overdue_today_and_stalled_most_overdue_first() -> None:
    due = [
        touch_point(id=1, responsible_id=5, deadline=NOW - timedelta(days=1)),
        touch_point(id=2, responsible_id=6, deadline=NOW - timedelta(days=1)),
        touch_point(id=3, responsible_id=6, deadline=NOW - timedelta(hours=1)),
        touch_point(id=4, responsible_id=6, deadline=NOW + timedelta(hours=1)),
        touch_point(id=5, responsible_id=7, deadline=NOW + timedelta(days=1)),  # tomorrow
    ]
    rows = rollup_rows(due, {8: 2, 5: 1}, now=NOW, settings=SETTINGS, names={5: "Ann", 6: "Bob"})
    assert [(r.user_id, r.name, r.overdue, r.today, r.stalled) for r in rows] == [
        (6, "Bob", 2, 1, 0),
        (5, "Ann", 1, 0, 1),
        (8, "#8", 0, 0, 2),
    ]


def test_a_managers_roll_up_is_a_message_of_its_own_one_line_per_rep_linking_to_their_board() -> (
    None
):
    rows = [
        RollupRow(user_id=6, name="Bob [admin]", overdue=2, today=1, stalled=0),
        RollupRow(user_id=7, name="Ann", overdue=0, today=0, stalled=3),
    ]
    rollup = render_rollup(
        rows,
        user_id=5,
        local_day=NOW.date(),
        language="en",
        board_url="https://acme.bitrix24.test/marketplace/app/app/",
        rep_url=lambda uid: f"/board?rep={uid}",
        catalogue=load_catalogue(),
    )
    assert rollup is not None
    assert rollup.text.split("[br]") == [
        "[b]Your team on 2026-03-03[/b]",
        "[b]Team: 2[/b]",
        "[url=/board?rep=6]Bob ［admin］[/url]: 2 overdue · 1 due today · 0 with no next step",
        "[url=/board?rep=7]Ann[/url]: 0 overdue · 0 due today · 3 with no next step",
        "[url=https://acme.bitrix24.test/marketplace/app/app/]Open the board[/url]",
    ]
    assert (rollup.shown, rollup.hidden) == (2, 0)
    assert rollup.tag == rollup_tag(5, NOW.date()) != digest_tag(5, NOW.date())
    # The manager's own digest says nothing of the team.
    assert "Team" not in render([]).text


def test_a_roll_up_in_russian_names_the_same_figures() -> None:
    rows = [RollupRow(user_id=6, name="Борис", overdue=2, today=1, stalled=4)]
    rollup = render_rollup(
        rows,
        user_id=5,
        local_day=NOW.date(),
        language="ru",
        board_url="/app/",
        rep_url=lambda uid: f"/board?rep={uid}",
        catalogue=load_catalogue(),
    )
    assert rollup is not None
    assert rollup.text.split("[br]")[:3] == [
        "[b]Ваша команда на 03.03.2026[/b]",
        "[b]Команда: 1[/b]",
        "[url=/board?rep=6]Борис[/url]: просрочено 2 · сегодня 1 · без следующего шага 4",
    ]


def test_a_team_with_nothing_to_report_gets_no_roll_up() -> None:
    rows = rollup_rows([], {}, now=NOW, settings=SETTINGS, names={})
    assert rows == []
    assert (
        render_rollup(
            rows,
            user_id=5,
            local_day=NOW.date(),
            language="en",
            board_url="/app/",
            rep_url=str,
            catalogue=load_catalogue(),
        )
        is None
    )


@given(st.integers(min_value=1, max_value=3000), st.text(min_size=1, max_size=300))
def test_a_roll_up_of_any_size_stays_within_the_text_limit_and_counts_the_rest(
    reps: int, name: str
) -> None:
    rows = [
        RollupRow(user_id=uid, name=name, overdue=uid, today=1, stalled=2)
        for uid in range(1, reps + 1)
    ]
    rollup = render_rollup(
        rows,
        user_id=1,
        local_day=NOW.date(),
        language="en",
        board_url="/app/",
        rep_url=lambda uid: f"/marketplace/view/app/?params[responsible_id]={uid}",
        catalogue=load_catalogue(),
    )
    assert rollup is not None
    assert len(rollup.text) <= TEXT_LIMIT
    assert rollup.shown + rollup.hidden == reps
    if rollup.hidden:
        assert f"and {rollup.hidden} more" in rollup.text


@pytest.mark.parametrize(
    ("minutes", "problem"),
    [([-1], "from 0 to 10080"), ([10_081], "from 0 to 10080"), (list(range(11)), "at most 10")],
)
def test_reminders_are_minutes_within_a_week_and_at_most_ten(
    minutes: list[int], problem: str
) -> None:
    with pytest.raises(InvalidValue) as raised:
        attrs.evolve(SETTINGS, reminder_minutes=tuple(minutes))
    assert problem in raised.value.errors["reminder_minutes"]


def test_reminders_default_to_15_minutes_and_are_kept_sorted_without_repeats() -> None:
    assert PortalSettings().reminder_minutes == (15,)
    created = PortalSettings.create(
        time_zone="UTC",
        enabled_entities=[OwnerType.DEAL],
        default_interval=3,
        default_interval_unit=SETTINGS.default_interval_unit,
        working_days=[1, 2, 3, 4, 5],
        holidays=[],
        digest_hour=9,
        team_viewers=[],
        digest_default=True,
        reminder_minutes=[60, 0, 60],
    )
    assert created.reminder_minutes == (0, 60)
