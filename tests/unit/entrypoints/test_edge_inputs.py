"""Readers of untrusted input: one id parser, bounded JSON, linear e-mail and form keys."""

from __future__ import annotations

import json

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from touchpoints.domain.constraints import plausible_email
from touchpoints.entrypoints import wire
from touchpoints.entrypoints.forms import parse_bracket_form, split_key
from touchpoints.entrypoints.inputs import (
    MAX_ID,
    JsonRefused,
    loads_bounded,
    nesting_exceeds,
    parse_id,
)
from touchpoints.services.errors import InvalidInput


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("1", 1),
        ("42", 42),
        ("007", 7),
        ("9" * 18, MAX_ID),
        ("9" * 19, None),
        ("9223372036854775808", None),
        ("0", None),
        ("000", None),
        ("", None),
        ("-1", None),
        ("+5", None),
        (" 5", None),
        ("5 ", None),
        ("5_000", None),
        ("1e3", None),
        ("5.0", None),
        ("²", None),
        ("١", None),
        ("١٢", None),
        ("５", None),
        (None, None),
        (5, None),
    ],
)
def test_an_id_is_one_to_eighteen_ascii_digits_and_positive(
    raw: object, expected: int | None
) -> None:
    assert parse_id(raw) == expected


@given(st.text(max_size=25))
@example("²")
@example("1" * 19)
def test_the_id_parser_never_raises_and_only_accepts_what_fits_a_bigint(raw: str) -> None:
    value = parse_id(raw)
    if value is not None:
        assert 0 < value <= MAX_ID < 2**63
        assert raw.isascii()
        assert int(raw) == value


@pytest.mark.parametrize("raw", ["²", "١", "+5", " 5", "5_000", "0", "9" * 19])
def test_query_and_path_ids_use_the_one_parser(raw: str) -> None:
    with pytest.raises(InvalidInput):
        wire.query_id(raw, "responsible_id")
    with pytest.raises(InvalidInput):
        wire.path_id(raw)


@pytest.mark.parametrize(
    ("raw", "deeper"),
    [
        (b"[]", False),
        (b"[" * 32 + b"]" * 32, False),
        (b"[" * 33 + b"]" * 33, True),
        (b"[{" * 16 + b"}]" * 16, False),
        (b"[{" * 17 + b"}]" * 17, True),
        (b"[]" * 1000, False),
        (b"[" * 1000, True),
        (b'["' + b"[" * 1000 + b'"]', False),
        (b'["\\"' + b"[" * 40 + b'"]', False),
        (b'["\\\\"' + b"[" * 40, True),
        (b'["\\\\\\"' + b"[" * 40 + b'"]', False),
        (b'{"a": "{{{{"}' * 100, False),
        (b"[" * 20 + b"[]" * 500 + b"]" * 20, False),
        (b"[" * 20 + b"[" * 13 + b"]" * 33, True),
    ],
)
def test_json_nesting_is_measured_outside_strings(raw: bytes, deeper: bool) -> None:
    assert nesting_exceeds(raw, 32) is deeper


@given(
    st.recursive(
        st.none() | st.integers() | st.text(),
        lambda inner: st.lists(inner) | st.dictionaries(st.text(), inner),
        max_leaves=40,
    )
)
def test_json_within_the_bound_parses_as_json_does(value: object) -> None:
    raw = json.dumps(value).encode()
    assert loads_bounded(raw, max_depth=1000) == json.loads(raw)


@pytest.mark.parametrize(
    "raw",
    [
        b"[" * 100_000,
        b"[" * 33 + b"]" * 33,
        b'{"a":' * 40 + b"1" + b"}" * 40,
        b"\xff\xfe",
        b"\xef\xbb\xbf{}",
        b"{",
        b"NaN",
        b'{"a": Infinity}',
        b"9" * 5000,
    ],
)
def test_unreadable_or_too_deep_json_is_refused_not_raised(raw: bytes) -> None:
    with pytest.raises(JsonRefused):
        loads_bounded(raw)


def test_json_text_is_bounded_too() -> None:
    with pytest.raises(JsonRefused):
        loads_bounded("[" * 40 + "]" * 40)
    with pytest.raises(JsonRefused):
        loads_bounded('{"ID": "\ud800"}')
    assert loads_bounded('{"ID": "7"}') == {"ID": "7"}


@pytest.mark.parametrize(
    ("email", "ok"),
    [
        ("a@b.co", True),
        ("first.last+tag@sub.example.org", True),
        ("a@b", False),
        ("a@.b", False),
        ("a@b.", False),
        ("@b.co", False),
        ("a@@b.co", False),
        ("a@b@c.co", False),
        ("a b@c.co", False),
        ("a@b.co\n", False),
        ("a@\u00a0b.co", False),
        ("", False),
        ("a@" + "." * 60_000 + "@", False),
    ],
)
def test_an_email_needs_one_at_no_space_and_a_dot_inside_the_domain(email: str, ok: bool) -> None:
    assert plausible_email(email) is ok


@pytest.mark.parametrize(
    ("key", "parts"),
    [
        ("event", ["event"]),
        ("auth[member_id]", ["auth", "member_id"]),
        ("data[FIELDS][ID]", ["data", "FIELDS", "ID"]),
        ("list[]", ["list", ""]),
        ("a[b][c][d][e][f]", ["a", "b", "c", "d", "e", "f"]),
        ("a[b][c][d][e][f][g]", None),
        ("auth[member_id", None),
        ("auth]x[", None),
        ("[x]", None),
        ("", None),
        ("a[b]c", None),
        ("a[b[c]]", None),
        ("a[b]]", None),
    ],
)
def test_form_keys_split_into_a_name_and_bracket_parts(key: str, parts: list[str] | None) -> None:
    assert split_key(key) == parts


def test_odd_bracket_forms_keep_the_well_formed_fields() -> None:
    form = parse_bracket_form(
        [
            ("data" + "[" * 100_000, "x"),
            ("data" + "[x]" * 50_000, "x"),
            ("]" * 1000, "x"),
            ("data[FIELDS][ID]", "7"),
        ]
    )
    assert form == {"data": {"FIELDS": {"ID": "7"}}}


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("id", True),
        ("id", 2**63),
        ("id", 10**18),
        ("id", -(2**64)),
        ("id", 0),
        ("id", 1.0),
    ],
)
def test_body_ids_refuse_bools_and_values_beyond_a_bigint(field: str, value: object) -> None:
    body = {
        "owner": {"type": "deal", field: value},
        "type": "call",
        "deadline": "2026-09-01T10:00:00Z",
    }
    with pytest.raises(InvalidInput) as caught:
        wire.structure(body, wire.CreateBody)
    assert "owner.id" in caught.value.errors


def test_every_integer_in_a_body_must_fit_a_bigint() -> None:
    settings = {
        "time_zone": "UTC",
        "enabled_entities": ["deal"],
        "default_interval": 2**63,
        "default_interval_unit": "days",
        "working_days": [1, -(2**63) - 1],
        "holidays": [],
        "digest_hour": 9,
        "team_viewers": [2**62],
        "digest_default": True,
    }
    with pytest.raises(InvalidInput) as caught:
        wire.structure(settings, wire.SettingsBody)
    assert set(caught.value.errors) == {"default_interval", "working_days"}
    settings.update(default_interval=3, working_days=[1])
    with pytest.raises(InvalidInput) as caught:
        wire.structure(settings, wire.SettingsBody)
    assert set(caught.value.errors) == {"team_viewers"}


@pytest.mark.parametrize(
    "value",
    ["2026-09-01T10:00:00" + "0" * 100, "²⁰²⁶-09-01T10:00:00Z", "2026-09-01T10:00:00+0２:00"],
)
def test_datetimes_are_short_ascii_iso_strings(value: str) -> None:
    with pytest.raises(ValueError, match="ISO 8601"):
        wire.parse_aware(value)
