"""The routes' fast reply path (``replies.for_orjson``) writes the very bytes of the plain one."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import attrs
import orjson
from hypothesis import given
from hypothesis import strategies as st

from tests.strategies import instants, touch_points, zone_names
from touchpoints.domain.model import Status, TouchPoint
from touchpoints.domain.scheduling import Bucket
from touchpoints.entrypoints import replies
from touchpoints.entrypoints.http import json_reply
from touchpoints.services.context import Card
from touchpoints.services.touchpoints import Board


def _route_bytes(reply: object) -> bytes:
    """What a route answers for ``reply``."""
    return bytes(json_reply(replies.for_orjson(reply)).body)  # type: ignore[arg-type]


@attrs.frozen
class Keyed:
    by_day: dict[date, int]
    by_status: dict[Status, list[date]]
    when: datetime | None


@given(
    by_day=st.dictionaries(st.dates(), st.integers(-5, 5), max_size=5),
    by_status=st.dictionaries(st.sampled_from(Status), st.lists(st.dates(), max_size=3)),
    when=st.one_of(st.none(), instants()),
)
def test_dates_and_enums_as_keys_encode_alike_through_both_paths(
    by_day: dict[date, int], by_status: dict[Status, list[date]], when: datetime | None
) -> None:
    reply = Keyed(by_day=by_day, by_status=by_status, when=when)

    assert _route_bytes(reply) == orjson.dumps(replies.unstructure(reply))


@given(
    points=st.lists(touch_points(), max_size=12),
    zone=zone_names(),
    today=instants(),
    texts=st.one_of(st.none(), st.text(max_size=20)),
)
def test_a_board_reply_encodes_alike_through_both_paths(
    points: list[TouchPoint], zone: str, today: object, texts: str | None
) -> None:
    day = today.date()  # type: ignore[attr-defined]
    cards = tuple(Card(touch_point=tp, owner_title=texts, title=texts, note=None) for tp in points)
    buckets = list(Bucket)
    board = Board(
        today=day,
        time_zone=zone,
        columns=tuple((b, cards[i :: len(buckets)]) for i, b in enumerate(buckets)),
        days_off=frozenset({day + timedelta(days=2)}),
    )
    reply = replies.BoardReply.of(board)

    assert _route_bytes(reply) == orjson.dumps(replies.unstructure(reply))


@given(point=touch_points(), zone=zone_names())
def test_a_touch_point_reply_encodes_alike_through_both_paths(point: TouchPoint, zone: str) -> None:
    reply = replies.TouchPointReply.stored(point, ZoneInfo(zone))
    plain = replies.unstructure(reply)

    assert _route_bytes(reply) == orjson.dumps(plain)
    assert isinstance(plain["deadline"], str)
    assert date.fromisoformat(plain["deadline"][:10])
