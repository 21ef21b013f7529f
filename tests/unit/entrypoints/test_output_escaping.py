"""What reaches operators stays bounded and inert: log lines, metric labels, feedback."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime

import pytest

from touchpoints.entrypoints.inputs import printable
from touchpoints.entrypoints.logs import EXTRA_MAX, MESSAGE_MAX, JsonFormatter, TextFormatter
from touchpoints.entrypoints.metrics import Metrics, event_label, method_label
from touchpoints.entrypoints.serve import feedback_lines
from touchpoints.ports.storage import Feedback

HOSTILE = "\x1b[2J\x1b]0;pwned\x07\u202egnp.exe\r\nfake line\x9b31m\x7f\u2066x\u2069"


def test_printable_escapes_control_and_bidi_characters_visibly() -> None:
    shown = printable(HOSTILE)
    assert shown == (
        "\\x1b[2J\\x1b]0;pwned\\x07\\u202egnp.exe\\r\\nfake line\\x9b31m\\x7f\\u2066x\\u2069"
    )
    assert shown.isprintable()


@pytest.mark.parametrize(
    "char",
    [chr(code) for code in (*range(0x20), 0x7F, *range(0x80, 0xA0))]
    + ["\u061c", "\u200e", "\u200f", "\u2028", "\u2029"]
    + [chr(code) for code in (*range(0x202A, 0x202F), *range(0x2066, 0x206A))],
)
def test_no_control_or_bidi_character_survives(char: str) -> None:
    shown = printable(f"a{char}b")
    assert char not in shown
    assert shown.startswith("a\\")
    assert shown.endswith("b")


def test_ordinary_text_is_left_alone() -> None:
    text = "Перезвонить в 10:00 — «скидка» 5% ✓ 日本語 e\u0301"
    assert printable(text) == text


def test_printable_cuts_long_text_with_an_ellipsis() -> None:
    assert printable("x" * 500, limit=200) == "x" * 200 + "\u2026"
    assert printable("\x1b" * 500, limit=3) == "\\x1b" * 3 + "\u2026"


def _record(message: str, **extra: object) -> logging.LogRecord:
    record = logging.LogRecord("touchpoints.b24", logging.WARNING, __file__, 1, message, (), None)
    record.__dict__.update(extra)
    record.request_id = "r1"
    return record


def test_json_log_lines_truncate_and_escape_request_values() -> None:
    record = _record("event refused: " + "Z" * 5000, event="ONX" + "E" * 1000 + HOSTILE, count=3)
    line = JsonFormatter().format(record)
    assert "\n" not in line
    payload = json.loads(line)
    assert len(payload["event"]) == EXTRA_MAX + 1
    assert payload["event"].endswith("\u2026")
    assert len(payload["message"]) == MESSAGE_MAX + 1
    assert payload["count"] == 3


def test_text_log_lines_cannot_forge_a_second_line_or_colour_the_terminal() -> None:
    record = _record("refused " + HOSTILE, reason=HOSTILE, auth_token="secret-value")
    line = TextFormatter("%(levelname)s %(message)s").format(record)
    assert "\n" not in line
    assert "\r" not in line
    assert "\x1b" not in line
    assert "\u202e" not in line
    assert "secret-value" not in line
    assert "auth_token=***" in line


def test_metric_labels_come_from_fixed_sets() -> None:
    assert event_label("ONCRMACTIVITYUPDATE") == "ONCRMACTIVITYUPDATE"
    assert event_label("onappuninstall") == "ONAPPUNINSTALL"
    assert event_label("ONEVIL" + "X" * 500) == "other"
    assert event_label("") == "other"
    assert method_label("GET") == "GET"
    assert method_label("BREW") == "other"
    metrics = Metrics()
    for index in range(100):
        metrics.count_event(f"ONJUNK{index}", "rejected")
    text = metrics.render().decode()
    assert 'touchpoints_events_total{event="other",outcome="rejected"} 100.0' in text
    assert "ONJUNK" not in text


def test_feedback_for_operators_keeps_users_text_on_its_own_escaped_line() -> None:
    item = Feedback(
        portal_id=3,
        user_id=7,
        message="line one\n\x1b[31mline two\u202e",
        email="a\x1b@b.co",
        created_at=datetime(2026, 9, 1, 8, 0, tzinfo=UTC),
    )
    shown = feedback_lines(item)
    assert shown == (
        "2026-09-01T08:00:00+00:00  portal 3  user 7 <a\\x1b@b.co>\n"
        "    line one\\n\\x1b[31mline two\\u202e"
    )
