"""Request logging: every REST call is logged, and no token or secret ever reaches a log line."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import pytest

from tests.unit.test_b24_support import CLIENT_SECRET, Scripted, local_env
from touchpoints.adapters.bitrix24.messenger import BitrixMessenger
from touchpoints.domain.crm import TodoSpec
from touchpoints.domain.model import OwnerRef, OwnerType, TouchPointType
from touchpoints.domain.secrets import Secret
from touchpoints.ports.crm import CrmError
from touchpoints.ports.messaging import Notification


def _everything_logged(records: list[logging.LogRecord]) -> str:
    formatter = logging.Formatter("%(name)s %(levelname)s %(message)s")
    parts = []
    for record in records:
        if record.name == "aiohttp.access":
            continue  # the local fake's own server log (it plays the token endpoint too)
        parts.append(formatter.format(record))  # includes any traceback
        parts.append(repr(record.args))
        parts.append(repr(record.__dict__))
    return "\n".join(parts)


async def test_a_full_run_logs_every_call_and_never_a_token_or_secret(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    failures: list[CrmError] = []
    async with local_env(timeout_s=0.3) as env:
        server = env.server
        crm = env.connector.as_app(env.portal)
        server.expire(env.portal.tokens.access_token)  # forces a refresh on the first call
        server.add_items(2, 60)
        activity_id = await crm.create_todo(
            TodoSpec(
                owner=OwnerRef(OwnerType.DEAL, 7),
                type=TouchPointType.CALL,
                deadline=datetime(2026, 9, 1, 10, tzinfo=UTC),
                responsible_id=5,
                title="Call",
            )
        )
        await crm.read_records([OwnerRef(OwnerType.DEAL, i) for i in range(1, 61)])
        await crm.get_activities([activity_id])
        await BitrixMessenger(env.connector).notify(
            env.portal, [Notification(user_id=5, message="hi", tag="t", attach=(("a", "b"),))]
        )
        user_tokens = server.issue(5)
        server.expire(user_tokens.access_token)
        stored = env.portal.tokens.access_token.reveal()
        echo = f"auth={user_tokens.access_token.reveal()} {{'access_token': '{stored}'}}"
        server.script(
            "crm.activity.get", Scripted(status=400, json={"error": "", "error_description": echo})
        )
        server.script("crm.activity.list", Scripted(json={"result": []}, delay_s=0.6))
        attempts = [
            env.connector.as_user(env.portal, user_tokens.access_token).current_user(),
            env.connector.app_client(env.portal).call("crm.activity.get", {"id": 1}, safe=True),
            crm.get_activities([1]),
        ]
        for attempt in attempts:
            try:
                await attempt
            except CrmError as exc:
                failures.append(exc)
        # A refused refresh on the way out.
        env.clock.advance(hours=2)
        server.oauth_error = "invalid_grant"
        try:
            await env.connector.as_app(env.portal).current_user()
        except CrmError as exc:
            failures.append(exc)
        secrets = [*server.issued, CLIENT_SECRET, env.portal.application_token.reveal()]
        reprs = [
            repr(env.connector),
            repr(crm),
            repr(env.portal),
            repr(await env.stored()),
            repr(env.connector.as_user(env.portal, Secret(secrets[0]))),
        ]

    assert len(failures) == 4
    rest_lines = [
        r
        for r in caplog.records
        if r.name == "touchpoints.b24" and r.getMessage().startswith("b24 ")
    ]
    methods = {getattr(record, "b24_method", None) for record in rest_lines}
    assert {"crm.activity.todo.add", "batch", "crm.activity.list", "profile"} <= methods
    assert any("oauth refresh_token" in record.getMessage() for record in rest_lines)
    assert all(
        hasattr(record, "b24_duration_ms") for record in rest_lines if hasattr(record, "b24_method")
    )
    haystack = "\n".join(
        [
            _everything_logged(caplog.records),
            *(str(exc) for exc in failures),
            *(repr(exc) for exc in failures),
            *reprs,
        ]
    )
    leaked = [secret for secret in secrets if secret in haystack]
    assert leaked == []


async def test_each_call_line_names_method_portal_status_duration_and_operating_time(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="touchpoints.b24")
    async with local_env() as env:
        await env.connector.as_app(env.portal).current_user()
    (record,) = [r for r in caplog.records if getattr(r, "b24_method", None) == "profile"]
    message = record.getMessage()
    assert message.startswith("b24 profile portal=0f3c")
    assert "status=200" in message
    assert "duration_ms=" in message
    assert "operating=0.50" in message
    assert record.levelno == logging.INFO
