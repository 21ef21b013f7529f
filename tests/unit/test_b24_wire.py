"""Wire helpers and batch encoding/decoding: string scalars, offsets, PHP queries, ``[]`` parts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from urllib.parse import parse_qsl, quote

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.unit.test_b24_support import nest
from touchpoints.adapters.bitrix24.batch import Command, parse_batch
from touchpoints.adapters.bitrix24.redact import MASK, mask_params, redact
from touchpoints.adapters.bitrix24.rows import or_none, parse_item, parse_todo_text
from touchpoints.adapters.bitrix24.wire import (
    WireError,
    format_datetime,
    parse_datetime,
    percent,
    php_query,
    to_bool,
    to_int,
    to_opt_float,
    to_opt_int,
)
from touchpoints.domain.model import OwnerType
from touchpoints.domain.secrets import Secret
from touchpoints.ports.crm import CrmNotFound, CrmPermissionDenied


def test_string_scalars_of_legacy_replies_read_as_numbers_and_flags() -> None:
    assert to_int("999") == 999
    assert to_opt_int("0") is None
    assert to_opt_int(None) is None
    assert to_bool("Y") is True
    assert to_bool("N") is False
    assert to_bool(True) is True
    assert to_opt_float("19999.99") == pytest.approx(19999.99)
    assert to_opt_float("") is None
    with pytest.raises(WireError):
        to_int("abc")
    with pytest.raises(WireError):
        to_int(True)


def test_datetimes_are_sent_with_an_explicit_offset_and_no_fraction() -> None:
    berlin_summer = timezone(timedelta(hours=2))
    value = datetime(2026, 9, 1, 10, 0, 5, 999, tzinfo=berlin_summer)
    assert format_datetime(value) == "2026-09-01T10:00:05+02:00"
    assert format_datetime(datetime(2026, 1, 1, tzinfo=UTC)) == "2026-01-01T00:00:00+00:00"


def test_naive_datetimes_are_never_sent() -> None:
    with pytest.raises(WireError):
        format_datetime(datetime(2026, 1, 1))  # noqa: DTZ001 - the point of the test


def test_datetimes_are_parsed_from_iso_with_offsets() -> None:
    parsed = parse_datetime("2026-01-12T10:00:00+02:00")
    assert parsed == datetime(2026, 1, 12, 8, 0, tzinfo=UTC)
    assert parse_datetime("2026-01-12T08:00:00Z") == datetime(2026, 1, 12, 8, 0, tzinfo=UTC)
    assert parse_datetime("") is None
    assert parse_datetime([]) is None
    with pytest.raises(WireError):
        parse_datetime("12.01.2026 10:00:00")


@given(
    st.datetimes(
        min_value=datetime(2000, 1, 1),  # noqa: DTZ001 - hypothesis bounds are naive
        max_value=datetime(2100, 1, 1),  # noqa: DTZ001
        timezones=st.sampled_from(
            [UTC, timezone(timedelta(hours=3)), timezone(-timedelta(hours=5))]
        ),
    )
)
def test_a_formatted_datetime_parses_back_to_the_same_instant(value: datetime) -> None:
    assert parse_datetime(format_datetime(value)) == value.replace(microsecond=0)


def test_php_query_url_encodes_keys_and_values_with_filter_prefixes() -> None:
    query = php_query(
        {"filter": {"@ID": [1, 2], ">CREATED": "2026-01-01T00:00:00+02:00"}, "x": "a&b"}
    )
    assert "&b" not in query.replace("&x=", "")
    assert query.split("&")[0] == "filter[%40ID][0]=1"
    assert nest(parse_qsl(query)) == {
        "filter": {"@ID": ["1", "2"], ">CREATED": "2026-01-01T00:00:00+02:00"},
        "x": "a&b",
    }


@given(
    st.dictionaries(
        st.text(alphabet="abXYZ_@>%!=<&#+ .é", min_size=1, max_size=8).filter(
            lambda key: not key.isdigit()
        ),
        st.one_of(
            st.text(max_size=12),
            st.integers(min_value=-(10**12), max_value=10**12),
            st.lists(st.integers(min_value=-(10**9), max_value=10**9), min_size=1, max_size=5),
            st.lists(st.one_of(st.integers(), st.text(max_size=4)), min_size=1, max_size=5),
        ),
        max_size=5,
    )
)
def test_php_query_round_trips_through_a_php_style_parser(params: dict[str, object]) -> None:
    decoded = nest(parse_qsl(php_query({"p": params}), keep_blank_values=True))
    expected = {
        key: [str(item) for item in value] if isinstance(value, list) else str(value)
        for key, value in params.items()
    }
    assert decoded.get("p", {}) == expected


def test_php_query_refuses_booleans() -> None:
    with pytest.raises(WireError):
        php_query({"ACTIVE": True})


def test_a_batch_command_carries_its_encoded_query() -> None:
    command = Command("crm.item.list", {"entityTypeId": 2, "filter": {"%title": "50% off"}})
    assert command.encode() == "crm.item.list?entityTypeId=2&filter[%25title]=50%25%20off"
    assert Command("profile").encode() == "profile"


def test_batch_replies_keep_results_and_per_command_errors_apart() -> None:
    commands = {"a": Command("crm.activity.list"), "b": Command("crm.activity.get")}
    reply = parse_batch(
        {
            "result": {"a": [{"ID": "1"}]},
            "result_error": {"b": {"error": "", "error_description": "Not found"}},
            "result_total": {"a": "1"},
            "result_next": [],
            "result_time": [],
        },
        commands,
    )
    assert reply.results == {"a": [{"ID": "1"}]}
    assert isinstance(reply.errors["b"], CrmNotFound)
    assert reply.totals == {"a": 1}
    assert reply.nexts == {}


def test_empty_batch_parts_may_arrive_as_json_arrays() -> None:
    reply = parse_batch(
        {"result": [], "result_error": [], "result_total": [], "result_next": []}, {}
    )
    assert (reply.results, reply.errors, reply.totals, reply.nexts) == ({}, {}, {}, {})


def test_batch_errors_compare_codes_case_insensitively() -> None:
    reply = parse_batch(
        {"result": [], "result_error": {"c0": {"error": "Insufficient_Scope"}}},
        {"c0": Command("crm.item.list")},
    )
    assert isinstance(reply.errors["c0"], CrmPermissionDenied)


def test_masking_hides_known_secrets_and_auth_pairs() -> None:
    secret = Secret("s3cr3t-value")
    text = redact('auth=abc123&x=1 token s3cr3t-value {"access_token": "zzz"}', [secret])
    assert "abc123" not in text
    assert "s3cr3t-value" not in text
    assert "zzz" not in text
    assert "x=1" in text
    assert mask_params({"auth": "t", "filter": {"refresh_token": "r", "ID": 1}}) == {
        "auth": MASK,
        "filter": {"refresh_token": MASK, "ID": 1},
    }


def test_a_converted_or_junk_lead_reads_as_closed_and_an_open_one_does_not() -> None:
    row = {"id": 3, "title": "Lead", "stageId": "CONVERTED"}
    assert parse_item(OwnerType.LEAD, {**row, "stageSemanticId": "S"}).closed
    assert parse_item(OwnerType.LEAD, {**row, "stageSemanticId": "F"}).closed
    assert not parse_item(OwnerType.LEAD, {**row, "stageSemanticId": "P"}).closed
    assert parse_item(OwnerType.DEAL, {**row, "closed": "Y"}).closed


@given(st.text())
def test_percent_encoding_is_urllibs_quote_with_nothing_safe(text: str) -> None:
    assert percent(text) == quote(text, safe="")


def test_a_row_that_cannot_be_read_is_none_and_a_readable_one_is_parsed() -> None:
    text = or_none(parse_todo_text, {"ID": "41", "SUBJECT": "Call", "DESCRIPTION": "ask"})
    assert text is not None
    assert (text.activity_id, text.subject, text.description) == (41, "Call", "ask")
    assert or_none(parse_todo_text, {"SUBJECT": "no id"}) is None
    card = or_none(parse_item, OwnerType.DEAL, {"id": 3, "title": "Deal"})
    assert card is not None
    assert (card.ref.id, card.title) == (3, "Deal")
    assert or_none(parse_item, OwnerType.DEAL, {"title": "no id"}) is None


def test_a_parse_error_other_than_a_wire_error_is_not_hidden() -> None:
    def broken(row: dict[str, str]) -> int:
        raise KeyError(row["ID"])

    with pytest.raises(KeyError):
        or_none(broken, {})
