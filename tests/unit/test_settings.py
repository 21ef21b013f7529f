"""Portal settings and user preferences: defaults, validation naming every bad field."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from touchpoints.domain.errors import InvalidValue
from touchpoints.domain.model import OwnerType
from touchpoints.domain.settings import (
    MAX_HOLIDAYS,
    MAX_TEAM_VIEWERS,
    IntervalUnit,
    PortalSettings,
    UserPreferences,
    zone_or_none,
)


def valid(**overrides: object) -> dict[str, object]:
    fields: dict[str, object] = {
        "time_zone": "Europe/Berlin",
        "enabled_entities": [OwnerType.DEAL, OwnerType.LEAD],
        "default_interval": 5,
        "default_interval_unit": IntervalUnit.DAYS,
        "working_days": [1, 2, 3, 4, 5, 6],
        "holidays": [date(2026, 1, 1), date(2026, 1, 1), date(2026, 12, 25)],
        "digest_hour": 8,
        "team_viewers": [3, 4],
        "digest_default": False,
    }
    fields.update(overrides)
    return fields


def test_install_defaults_are_the_documented_ones() -> None:
    settings = PortalSettings.defaults()
    assert settings.time_zone == "UTC"
    assert settings.enabled_entities == frozenset(OwnerType)
    assert settings.default_interval == 3
    assert settings.default_interval_unit is IntervalUnit.WORKING_DAYS
    assert settings.working_days == frozenset({1, 2, 3, 4, 5})
    assert settings.holidays == frozenset()
    assert settings.digest_hour == 9
    assert settings.team_viewers == frozenset()
    assert settings.digest_default is True


@pytest.mark.parametrize(
    ("profile_zone", "expected"),
    [
        ("Europe/Berlin", "Europe/Berlin"),
        ("", "UTC"),
        (None, "UTC"),
        ("Mars/Olympus_Mons", "UTC"),
        ("localtime", "UTC"),
    ],
)
def test_defaults_take_the_admins_zone_or_fall_back_to_utc(
    profile_zone: str | None, expected: str
) -> None:
    settings = PortalSettings.defaults(profile_zone)
    assert settings.time_zone == expected
    assert settings.zone.key == expected


def test_create_builds_frozen_sets_from_any_iterables() -> None:
    settings = PortalSettings.create(**valid())  # type: ignore[arg-type]
    assert settings.enabled_entities == frozenset({OwnerType.DEAL, OwnerType.LEAD})
    assert settings.working_days == frozenset({1, 2, 3, 4, 5, 6})
    assert settings.holidays == frozenset({date(2026, 1, 1), date(2026, 12, 25)})
    assert settings.team_viewers == frozenset({3, 4})
    assert settings.default_interval_unit is IntervalUnit.DAYS
    assert settings.digest_default is False


def test_every_offending_field_is_listed_at_once() -> None:
    with pytest.raises(InvalidValue) as caught:
        PortalSettings.create(
            **valid(  # type: ignore[arg-type]
                time_zone="Nowhere/Special",
                enabled_entities=[],
                default_interval=0,
                working_days=[],
                holidays=[date(2026, 1, 1) + timedelta(days=n) for n in range(MAX_HOLIDAYS + 1)],
                digest_hour=24,
                team_viewers=[0],
            )
        )
    assert set(caught.value.errors) == {
        "time_zone",
        "enabled_entities",
        "default_interval",
        "working_days",
        "holidays",
        "digest_hour",
        "team_viewers",
    }


@pytest.mark.parametrize(
    ("field", "value", "reason"),
    [
        ("time_zone", "Europe/Atlantis", "must be an IANA time zone name such as Europe/Berlin"),
        ("time_zone", "", "must be an IANA time zone name such as Europe/Berlin"),
        ("enabled_entities", [], "must name at least one of lead, deal, contact, company"),
        ("default_interval", 0, "must be between 1 and 90"),
        ("default_interval", 91, "must be between 1 and 90"),
        ("working_days", [], "must name at least one working day"),
        ("working_days", [0, 1], "must be ISO weekdays from 1 (Monday) to 7 (Sunday)"),
        ("working_days", [8], "must be ISO weekdays from 1 (Monday) to 7 (Sunday)"),
        ("digest_hour", -1, "must be an hour from 0 to 23"),
        ("digest_hour", 24, "must be an hour from 0 to 23"),
        ("team_viewers", [5, -2], "must be positive user ids"),
        (
            "team_viewers",
            range(1, MAX_TEAM_VIEWERS + 2),
            f"must hold at most {MAX_TEAM_VIEWERS} users",
        ),
    ],
)
def test_a_bad_field_is_named_with_its_reason(field: str, value: object, reason: str) -> None:
    with pytest.raises(InvalidValue) as caught:
        PortalSettings.create(**valid(**{field: value}))  # type: ignore[arg-type]
    assert caught.value.errors == {field: reason}


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("default_interval", 1),
        ("default_interval", 90),
        ("digest_hour", 0),
        ("digest_hour", 23),
        ("working_days", [7]),
        ("team_viewers", range(1, MAX_TEAM_VIEWERS + 1)),
        ("holidays", [date(2026, 1, 1) + timedelta(days=n) for n in range(MAX_HOLIDAYS)]),
    ],
)
def test_values_on_the_limits_are_accepted(field: str, value: object) -> None:
    PortalSettings.create(**valid(**{field: value}))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "name",
    ["Europe/Berlin", "America/New_York", "Asia/Kolkata", "Australia/Lord_Howe", "UTC"],
)
def test_real_zone_names_are_found(name: str) -> None:
    zone = zone_or_none(name)
    assert zone is not None
    assert zone.key == name


@pytest.mark.parametrize(
    "name",
    [
        "",
        "Europe",
        "europe/berlin",
        "Europe/Berlin ",
        "Europe//Berlin",
        "/etc/passwd",
        "../etc/passwd",
        "Europe/../UTC",
        ".hidden",
        "UTC/extra",
        "Europe/Berlin\x00",
        "a" * 300,
        "zone.tab",
        "localtime",
        "posixrules",
        "Factory",
        "posix/Europe/Berlin",
        "right/Europe/Berlin",
    ],
)
def test_names_that_are_not_portable_zones_are_refused(name: str) -> None:
    assert zone_or_none(name) is None


@given(st.text(max_size=40))
def test_looking_up_any_text_as_a_zone_never_raises(name: str) -> None:
    zone = zone_or_none(name)
    assert zone is None or zone.key == name


@pytest.mark.parametrize(
    ("saved", "portal_default", "wanted"),
    [
        (None, True, True),
        (None, False, False),
        (True, False, True),
        (False, True, False),
    ],
)
def test_a_user_gets_the_digest_by_their_choice_or_else_the_portal_default(
    saved: bool | None, portal_default: bool, wanted: bool
) -> None:
    settings = PortalSettings(digest_default=portal_default)
    assert UserPreferences(user_id=5, digest_enabled=saved).wants_digest(settings) is wanted
