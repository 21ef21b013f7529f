"""The board's own CPU per 200-card render, piece by piece, without I/O.

    .venv/bin/python bench/board_cpu.py                          # this checkout
    PYTHONPATH=/work/main/src .venv/bin/python bench/board_cpu.py  # another checkout, same session

Times, with ``time.process_time`` over many renders, what the app does with a board once the
database and the CRM have answered: 200 ``touchpoints`` rows (as asyncpg hands them: a mapping
of column to value, times in UTC) into ``TouchPoint`` values, the cards into the reply
(``BoardReply.of``), the reply into JSON values (what the route does: ``replies.for_orjson``,
or ``replies.unstructure`` in a checkout without it) and those into bytes (the route's
encoder; ``json.dumps`` of ``replies.unstructure``'s values is timed next to it for
comparison).
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

from touchpoints.adapters.postgres.rows import touch_point_from_row
from touchpoints.domain.scheduling import Bucket
from touchpoints.entrypoints import replies
from touchpoints.services.context import Card
from touchpoints.services.touchpoints import Board

CARDS = 200


class Row(dict[str, Any]):
    """A stand-in for ``asyncpg.Record``: item access and ``items()``."""


def rows() -> list[Row]:
    created = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
    return [
        Row(
            id=n + 1,
            portal_id=1,
            activity_id=1000 + n,
            owner_type="deal",
            owner_id=500 + n,
            type="call",
            status="open",
            deadline=created + timedelta(hours=n % 400),
            responsible_id=1,
            created_by=1,
            created_at=created,
            updated_at=created,
            result_note=None,
            previous_id=None,
            next_id=None,
            completed_at=None,
            version=1,
        )
        for n in range(CARDS)
    ]


def per_call_ms(work: Callable[[], object], rounds: int) -> float:
    started = time.process_time()
    for _ in range(rounds):
        work()
    return (time.process_time() - started) / rounds * 1000


def _route_encoder(values: Any) -> Callable[[], object]:
    """The route's encoder of this checkout: ``http.json_reply`` (now), ``routes.json_reply``
    (its first form) or ``json.dumps`` (before orjson)."""
    try:
        from touchpoints.entrypoints.http import json_reply

        return lambda: json_reply(values).body
    except ImportError:
        pass
    try:
        from touchpoints.entrypoints.routes import json_reply as first

        return lambda: first(values, 200, None).body  # type: ignore[call-arg]
    except ImportError:
        return lambda: json.dumps(values).encode()


def main(rounds: int) -> None:
    data = rows()
    points = [touch_point_from_row(row) for row in data]  # type: ignore[arg-type]
    cards = tuple(
        Card(touch_point=tp, owner_title=f"Deal {tp.id}", title="Call", note="Ask") for tp in points
    )
    buckets = list(Bucket)
    columns = tuple((bucket, cards[i :: len(buckets)]) for i, bucket in enumerate(buckets))
    board = Board(today=date(2026, 12, 2), time_zone="Europe/Berlin", columns=columns)
    reply = replies.BoardReply.of(board)
    # The route's path: values that orjson writes itself (datetimes, enums), where there is one.
    route_values = getattr(replies, "for_orjson", replies.unstructure)
    values = route_values(reply)
    encode = _route_encoder(values)
    pieces = {
        "rows → TouchPoint": lambda: [touch_point_from_row(row) for row in data],  # type: ignore[arg-type]
        "cards → BoardReply": lambda: replies.BoardReply.of(board),
        "reply → JSON values (the route's)": lambda: route_values(reply),
        "JSON values → bytes (route encoder)": encode,
        "json.dumps (for comparison)": lambda: json.dumps(replies.unstructure(reply)).encode(),
    }
    print(f"| piece ({CARDS} cards) | CPU per render |\n|---|---|")
    total = 0.0
    for name, work in pieces.items():
        ms = per_call_ms(work, rounds)
        if not name.startswith("json.dumps"):
            total += ms
        print(f"| {name} | {ms:.2f} ms |")
    print(f"| total (without the comparison row) | {total:.2f} ms |")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=200)
    main(parser.parse_args().rounds)
