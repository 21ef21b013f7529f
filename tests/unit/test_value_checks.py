"""The value rules every layer refuses alike: naive instants and negative counts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from touchpoints.domain.checks import require_aware, require_not_negative
from touchpoints.domain.errors import InvalidValue


def test_an_instant_with_an_offset_or_none_at_all_passes() -> None:
    require_aware("deadline", datetime(2026, 9, 1, 10, tzinfo=UTC))
    require_aware("deadline", datetime(2026, 9, 1, 10, tzinfo=timezone(timedelta(hours=3))))
    require_aware("completed_at", None)


def test_a_naive_instant_is_refused_under_its_field_name() -> None:
    with pytest.raises(InvalidValue) as refused:
        require_aware("now", datetime(2026, 9, 1, 10))  # noqa: DTZ001 - the naive value refused

    assert refused.value.errors == {"now": "must carry a time zone offset"}


def test_zero_and_more_pass_and_a_negative_value_is_refused_under_its_field_name() -> None:
    require_not_negative("limit", 0)
    require_not_negative("stale_after_s", 0.5)

    with pytest.raises(InvalidValue) as refused:
        require_not_negative("stale_after_s", -0.001)

    assert refused.value.errors == {"stale_after_s": "must not be negative"}
