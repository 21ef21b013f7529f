"""The HTTP boundary's pure parts: bracket forms, sealed sessions, strict request parsing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from touchpoints.domain.model import OwnerType, TouchPointType
from touchpoints.domain.secrets import Secret
from touchpoints.entrypoints import wire
from touchpoints.entrypoints.forms import MAX_FIELDS, FormError, parse_bracket_form, text
from touchpoints.entrypoints.sessions import SessionExpired, SessionInvalid, SessionSealer
from touchpoints.entrypoints.webhooks import json_fields
from touchpoints.services.errors import InvalidInput

NOW = datetime(2026, 9, 1, 8, 0, tzinfo=UTC)
KEY = Secret("s" * 40)


def test_bracket_keys_become_nested_dicts() -> None:
    form = parse_bracket_form(
        [
            ("event", "ONCRMACTIVITYUPDATE"),
            ("data[FIELDS][ID]", "9001"),
            ("auth[member_id]", "abc"),
            ("auth[application_token]", "tok"),
            ("list[]", "a"),
            ("list[]", "b"),
        ]
    )
    assert text(form, "data", "FIELDS", "ID") == "9001"
    assert text(form, "auth", "member_id") == "abc"
    assert form["list"] == ["a", "b"]


@pytest.mark.parametrize(
    "key",
    ["auth[member_id", "auth]x[", "[x]", "a[b][c][d][e][f][g]", "auth[member_id][x"],
)
def test_garbage_bracket_keys_are_skipped_not_trusted(key: str) -> None:
    form = parse_bracket_form([(key, "v"), ("event", "ONAPPTEST")])
    assert text(form, "event") == "ONAPPTEST"
    assert text(form, "auth", "member_id") is None


def test_a_later_key_cannot_turn_a_value_into_a_dict() -> None:
    form = parse_bracket_form([("auth", "flat"), ("auth[member_id]", "abc")])
    assert form["auth"] == "flat"
    assert text(form, "auth", "member_id") is None


def test_too_many_form_fields_are_refused() -> None:
    with pytest.raises(FormError):
        parse_bracket_form([(f"k{i}", "v") for i in range(501)])


def test_a_sealed_session_opens_with_the_same_key_and_hides_its_token() -> None:
    sealer = SessionSealer(KEY)
    token, issued = sealer.issue(
        portal_id=3,
        member_id="m1",
        user_id=17,
        is_admin=True,
        access_token=Secret("user-access-token"),
        token_expires_at=NOW + timedelta(minutes=30),
        now=NOW,
        lang="ru",
    )
    assert "user-access-token" not in token
    opened = SessionSealer(KEY).open(token, now=NOW + timedelta(minutes=5))
    assert opened == issued
    assert opened.access_token.reveal() == "user-access-token"
    assert "user-access-token" not in repr(opened)
    assert opened.expires_at == NOW + timedelta(minutes=30)


def test_a_session_never_outlives_an_hour_or_its_access_token() -> None:
    sealer = SessionSealer(KEY)
    token, session = sealer.issue(
        portal_id=1,
        member_id="m",
        user_id=1,
        is_admin=False,
        access_token=Secret("t"),
        token_expires_at=NOW + timedelta(days=1),
        now=NOW,
    )
    assert session.expires_at == NOW + timedelta(hours=1)
    with pytest.raises(SessionExpired):
        sealer.open(token, now=NOW + timedelta(hours=1))


def test_a_tampered_or_foreign_session_is_invalid() -> None:
    token, _ = SessionSealer(KEY).issue(
        portal_id=1,
        member_id="m",
        user_id=1,
        is_admin=False,
        access_token=Secret("t"),
        token_expires_at=NOW + timedelta(minutes=10),
        now=NOW,
    )
    with pytest.raises(SessionInvalid):
        SessionSealer(Secret("o" * 40)).open(token, now=NOW)
    with pytest.raises(SessionInvalid):
        SessionSealer(KEY).open(token[:-4] + "AAAA", now=NOW)
    with pytest.raises(SessionInvalid):
        SessionSealer(KEY).open("not-a-session", now=NOW)


def test_a_valid_create_body_parses_into_typed_values() -> None:
    body = wire.structure(
        {
            "owner": {"type": "deal", "id": 314},
            "type": "call",
            "deadline": "2026-09-01T10:00:00+02:00",
            "title": "Call back",
        },
        wire.CreateBody,
    )
    assert body.owner.type is OwnerType.DEAL
    assert body.type is TouchPointType.CALL
    assert body.deadline.utcoffset() == timedelta(hours=2)


def test_a_bad_create_body_lists_every_offending_field() -> None:
    with pytest.raises(InvalidInput) as caught:
        wire.structure(
            {
                "owner": {"type": "invoice", "id": 1, "extra": 1},
                "type": "call",
                "deadline": "2026-09-01T10:00:00",
                "unknown": True,
            },
            wire.CreateBody,
        )
    assert set(caught.value.errors) == {"owner.type", "owner.extra", "deadline", "unknown"}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (
            {
                "owner": {"type": "deal", "id": 0},
                "type": "call",
                "deadline": "2026-09-01T10:00:00Z",
            },
            "owner.id",
        ),
        (
            {
                "owner": {"type": "deal", "id": True},
                "type": "call",
                "deadline": "2026-09-01T10:00:00Z",
            },
            "owner.id",
        ),
        (
            {
                "owner": {"type": "deal", "id": "1"},
                "type": "call",
                "deadline": "2026-09-01T10:00:00Z",
            },
            "owner.id",
        ),
        (
            {
                "owner": {"type": "deal", "id": 1},
                "type": "call",
                "deadline": "2026-09-01T10:00:00Z",
                "title": "x" * 256,
            },
            "title",
        ),
        (
            {
                "owner": {"type": "deal", "id": 1},
                "type": "call",
                "deadline": "2026-09-01T10:00:00Z",
                "note": "x" * 10_001,
            },
            "note",
        ),
        ({"owner": {"type": "deal", "id": 1}, "type": "call", "deadline": "tomorrow"}, "deadline"),
        (
            {
                "owner": {"type": "deal", "id": 1},
                "type": "call",
                "deadline": "2026-09-01T10:00:00Z",
                "responsible_id": -3,
            },
            "responsible_id",
        ),
    ],
)
def test_ids_texts_and_datetimes_are_checked_at_the_boundary(
    body: dict[str, object], field: str
) -> None:
    with pytest.raises(InvalidInput) as caught:
        wire.structure(body, wire.CreateBody)
    assert field in caught.value.errors


def test_a_non_object_body_is_refused() -> None:
    with pytest.raises(InvalidInput):
        wire.structure([1, 2], wire.MoveBody)


def test_feedback_needs_a_message_and_a_plausible_email() -> None:
    with pytest.raises(InvalidInput) as caught:
        wire.structure({"message": "   ", "email": "not-an-email"}, wire.FeedbackBody)
    assert set(caught.value.errors) == {"message", "email"}
    ok = wire.structure({"message": "Love it", "email": "a@b.co"}, wire.FeedbackBody)
    assert ok.email == "a@b.co"


@pytest.mark.parametrize("raw", ["0", "-1", "abc", "1.5", "99999999999999999999"])
def test_query_ids_must_be_positive_integers(raw: str) -> None:
    with pytest.raises(InvalidInput):
        wire.query_id(raw, "responsible_id")


def test_query_enums_name_the_allowed_values() -> None:
    assert wire.query_enum("deal", "owner_type", OwnerType) is OwnerType.DEAL
    assert wire.query_enum(None, "owner_type", OwnerType) is None
    with pytest.raises(InvalidInput, match="lead, deal, contact, company"):
        wire.query_enum("invoice", "owner_type", OwnerType)


def test_a_json_event_reads_as_the_form_bitrix24_would_have_posted() -> None:
    document = {
        "event": "ONIMBOTV2COMMANDADD",
        "data": {
            "bot": {"id": 456, "auth": {"member_id": "abc"}},
            "user": {"id": 7, "active": True, "bot": False, "photo": None},
            "ids": [3, 4],
        },
    }

    form = parse_bracket_form(json_fields(document))

    assert form == {
        "event": "ONIMBOTV2COMMANDADD",
        "data": {
            "bot": {"id": "456", "auth": {"member_id": "abc"}},
            "user": {"id": "7", "active": "1", "bot": "0", "photo": ""},
            "ids": {"0": "3", "1": "4"},
        },
    }


@pytest.mark.parametrize(
    "document",
    [["event"], "ONIMBOTV2COMMANDADD", {"data": list(range(MAX_FIELDS + 1))}],
    ids=["a-list", "a-string", "too-many-fields"],
)
def test_a_json_event_that_is_no_object_or_too_large_is_refused(document: object) -> None:
    with pytest.raises(FormError):
        json_fields(document)
