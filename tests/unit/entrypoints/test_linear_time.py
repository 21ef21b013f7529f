"""Every reader at the edge stays fast on pathological ~1 MiB input (a guard against
super-linear behaviour such as a backtracking regular expression).

The bound is generous (1 s of this process's CPU time per call on a 1 MiB input; CPU time, so
that other work on a busy machine does not count); a quadratic reader takes minutes.
"""

from __future__ import annotations

import contextlib
import functools
import json
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

import pytest
from aiohttp.test_utils import make_mocked_request

from touchpoints.adapters.bitrix24 import transport
from touchpoints.adapters.bitrix24.redact import redact
from touchpoints.domain import digest, messages
from touchpoints.domain.constraints import plausible_email
from touchpoints.entrypoints import b24, placements, reports_api, wire
from touchpoints.entrypoints.forms import FormError, parse_bracket_form, split_key
from touchpoints.entrypoints.inputs import loads_bounded, parse_id
from touchpoints.services.errors import InvalidInput

MIB = 1024 * 1024
BOUND_S = 1.0


def _settings(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "time_zone": "UTC",
        "enabled_entities": ["deal"],
        "default_interval": 3,
        "default_interval_unit": "days",
        "working_days": [1, 2, 3, 4, 5],
        "holidays": [],
        "digest_hour": 9,
        "team_viewers": [],
        "digest_default": True,
    }
    body.update(changes)
    return body


def _structure(cls: type) -> Callable[[Any], Any]:
    return lambda data: wire.structure(data, cls)


def _query(path: str, **params: str) -> Callable[[Any], Any]:
    def run(_: Any) -> Any:
        query = "&".join(f"{name}={quote(value)}" for name, value in params.items())
        return reports_api.report_params(make_mocked_request("GET", f"{path}?{query}"))

    return run


_tab_launch = functools.partial(placements.read_launch, "CRM_DEAL_DETAIL_TAB")
_timeline_launch = functools.partial(placements.read_launch, "CRM_DEAL_ACTIVITY_TIMELINE_MENU")


def _form_key(key: str) -> Callable[[Any], Any]:
    return lambda _: parse_bracket_form([(key, "v"), ("event", "ONAPPTEST")])


CASES: list[tuple[str, Callable[[Any], Any], Any]] = [
    ("email dots", plausible_email, "a@" + "." * MIB + "@"),
    ("email ats", plausible_email, "a" + "@." * (MIB // 2)),
    ("email spaces", plausible_email, "a@b" + " " * MIB + ".c"),
    (
        "feedback body email",
        _structure(wire.FeedbackBody),
        {"message": "hi", "email": "a@" + "." * MIB + "@"},
    ),
    (
        "feedback body short email",
        _structure(wire.FeedbackBody),
        {"message": "hi", "email": "a@" + "." * 250 + "@"},
    ),
    ("id digits", parse_id, "1" * MIB),
    ("id superscripts", parse_id, "²" * MIB),
    ("query id", lambda raw: wire.query_id(raw, "responsible_id"), "9" * MIB),
    ("path id", wire.path_id, "١" * MIB),
    ("datetime digits", wire.parse_aware, "2026-" + "9" * MIB),
    ("datetime offset", wire.parse_aware, "2026-09-01T10:00:00+" + "0" * MIB),
    ("date", lambda raw: wire.structure(_settings(holidays=[raw]), wire.SettingsBody), "9" * MIB),
    (
        "report query",
        _query("/api/v1/reports/summary", **{"from": "9" * MIB, "to": "2026-01-01"}),
        None,
    ),
    (
        "report query ids",
        _query(
            "/api/v1/reports/summary",
            **{"from": "2026-01-01", "to": "2026-01-31", "responsible_id": "²" * (MIB // 6)},
        ),
        None,
    ),
    ("query enum", lambda raw: wire.query_enum(raw, "owner_type", digest.OwnerType), "d" * MIB),
    ("form key open brackets", _form_key("data" + "[" * MIB), None),
    ("form key groups", _form_key("data" + "[x]" * (MIB // 3)), None),
    ("form key close brackets", _form_key("]" * MIB), None),
    ("form key unclosed group", _form_key("a[" + "x" * MIB), None),
    ("split key", split_key, "a" + "[]" * (MIB // 2)),
    ("placement options brackets", _tab_launch, "[" * MIB),
    ("placement options objects", _tab_launch, '{"ID":' * (MIB // 6)),
    ("placement options escapes", _tab_launch, '{"ID": "' + "\\" * MIB),
    ("placement options id", _tab_launch, json.dumps({"ID": "9" * MIB})),
    (
        "timeline options id",
        _timeline_launch,
        json.dumps({"ENTITY_ID": "1", "ASSOCIATED_ENTITY_ID": "9" * MIB}),
    ),
    ("lang", b24.lang_of, "r" * MIB),
    ("digest lang", messages.language_of, "-" * MIB),
    (
        "settings body",
        _structure(wire.SettingsBody),
        _settings(holidays=["2026-01-01"] * 60_000, team_viewers=[1] * 100_000),
    ),
    ("settings body bad items", _structure(wire.SettingsBody), _settings(holidays=["x"] * MIB)),
    ("json opens", loads_bounded, b"[" * MIB),
    ("json pairs", loads_bounded, b"[]" * (MIB // 2)),
    ("json alternating", loads_bounded, b"[{" * (MIB // 2)),
    ("json keys", loads_bounded, b'{"a":' * (MIB // 5)),
    ("json backslashes", loads_bounded, b'"' + b"\\" * MIB + b'"'),
    ("json quotes", loads_bounded, b'"\\"' * (MIB // 3)),
    ("json long number", loads_bounded, b"9" * MIB),
    ("json wide list", loads_bounded, b"[" + b"1," * (MIB // 2) + b"1]"),
    ("redact pairs", redact, "auth" + " " * MIB + "x"),
    ("redact values", redact, "access_token=" + "a" * MIB),
    ("redact words", redact, "auth=" * (MIB // 5)),
    ("rest method name", transport._METHOD.match, "a" + ".a" * (MIB // 2) + "!"),
    ("digest text", digest._safe_text, " \t" * (MIB // 2) + "x"),
    (
        "csv cell",
        lambda raw: reports_api.csv_cell(raw, reports_api.CsvStyle(";", ",")),
        ";=" * (MIB // 2),
    ),
    ("csv cell quotes", reports_api.neutralise_formulas, ',"' * (MIB // 2) + "="),
]


@pytest.mark.parametrize(("name", "reader", "raw"), CASES, ids=[case[0] for case in CASES])
def test_each_reader_at_the_edge_runs_in_linear_time(
    name: str, reader: Callable[[Any], Any], raw: Any
) -> None:
    started = time.process_time()
    with contextlib.suppress(InvalidInput, ValueError, FormError):  # refusing is fine
        reader(raw)
    elapsed = time.process_time() - started
    assert elapsed < BOUND_S, f"{name} took {elapsed:.2f} s"
