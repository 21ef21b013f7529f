"""The unauthenticated surface end to end: auth before bodies, odd input, headers, labels."""

from __future__ import annotations

import asyncio
import io
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from tests.integration.conftest import Harness
from touchpoints.domain.model import OwnerType
from touchpoints.entrypoints import http
from touchpoints.entrypoints.app import web_app
from touchpoints.entrypoints.pages import STATIC_PREFIX

pytestmark = pytest.mark.postgres

MIB = 1024 * 1024

# Every JSON API route but session/renew (which is how a session is obtained).
ROUTES_WITH_BODY = [
    ("POST", "/api/v1/touchpoints"),
    ("PATCH", "/api/v1/touchpoints/1"),
    ("POST", "/api/v1/touchpoints/1/complete"),
    ("PUT", "/api/v1/settings"),
    ("PUT", "/api/v1/me/preferences"),
    ("POST", "/api/v1/feedback"),
    ("POST", "/api/v1/activities/1/track"),
    ("POST", "/api/v1/touchpoints/bulk"),
    ("POST", "/api/v1/touchpoints/sweep"),
    ("POST", "/api/v1/undo"),
    ("POST", "/api/v1/handovers"),
]
ROUTES_WITH_QUERY = [
    ("GET", "/api/v1/board"),
    ("GET", "/api/v1/touchpoints"),
    ("GET", "/api/v1/records/search"),
    ("GET", "/api/v1/followup-preview"),
    ("GET", "/api/v1/reports/summary"),
    ("GET", "/api/v1/reports/coverage"),
    ("GET", "/api/v1/reports/users.csv"),
    ("GET", "/api/v1/reports/touchpoints.csv"),
]
OTHER_ROUTES = [
    ("GET", "/api/v1/me"),
    ("GET", "/api/v1/users"),
    ("GET", "/api/v1/touchpoints/1"),
    ("DELETE", "/api/v1/touchpoints/1"),
    ("GET", "/api/v1/touchpoints/1/chain"),
    ("GET", "/api/v1/records/deal/1/touchpoints"),
    ("GET", "/api/v1/presets"),
    ("GET", "/api/v1/settings"),
    ("GET", "/api/v1/me/preferences"),
    ("GET", "/api/v1/portal/export"),
    ("DELETE", "/api/v1/portal/data"),
    ("GET", "/api/v1/activities/1"),
    ("GET", "/api/v1/handovers"),
    ("DELETE", "/api/v1/handovers/1"),
    ("GET", "/api/v1/smart-processes"),
]

BODIES: list[bytes] = [
    b"",
    b"{",
    b"\xff\xfe not utf-8",
    b"[" * 200_000,
    b'{"a":' * 50_000,
    json.dumps({"message": "x", "email": "a@" + "." * 60_000 + "@"}).encode(),
    b'{"owner": {"type": "deal", "id": 1}, "type": "call", "deadline": "2026-01-01T10:00:00Z"}',
    b"{" + b" " * (MIB + 10) + b"}",
]
QUERIES = [
    "",
    "?responsible_id=%C2%B2&owner_type=invoice&bogus=1",
    "?from=" + "9" * 4000 + "&to=2026-01-01&q=" + "x" * 2000,
    "?from=2026-01-01&to=2026-01-31&responsible_id=" + "1" * 30,
]
NO_SESSION: list[dict[str, str]] = [
    {},
    {"Authorization": "Bearer garbage"},
    {"Authorization": "Bearer " + "A" * 4000},
    {"Authorization": "Basic dXNlcjpwYXNz"},
]


async def _chunks(payload: bytes, size: int = 64 * 1024) -> AsyncIterator[bytes]:
    for start in range(0, len(payload), size):
        yield payload[start : start + size]


def test_the_route_lists_cover_every_json_api_route(harness: Harness) -> None:
    listed = {
        (method, path.replace("/1", "/{id}").replace("/deal/{id}", "/{owner_type}/{owner_id}"))
        for method, path in ROUTES_WITH_BODY + ROUTES_WITH_QUERY + OTHER_ROUTES
    }
    served = {
        (route.method, route.resource.canonical)
        for route in harness.client.app.router.routes()
        if route.resource is not None
        and route.resource.canonical.startswith("/api/v1/")
        and route.method != "HEAD"
        and route.resource.canonical != "/api/v1/session/renew"
    }
    assert listed == served


@pytest.mark.parametrize(("method", "path"), ROUTES_WITH_BODY)
async def test_without_a_session_a_route_with_a_body_answers_401_whatever_the_body(
    harness: Harness, method: str, path: str
) -> None:
    for headers in NO_SESSION:
        for body in BODIES:
            response = await harness.client.request(
                method,
                path,
                data=io.BytesIO(body),
                headers={**headers, "Content-Type": "application/json"},
            )
            assert response.status == 401, (headers, body[:40], await response.text())
            assert (await response.json())["code"] in ("UNAUTHENTICATED", "SESSION_EXPIRED")
        # A chunked body (no Content-Length) of any size is not read either.
        response = await harness.client.request(
            method, path, data=_chunks(b"[" * (2 * MIB)), headers=headers
        )
        assert response.status == 401


@pytest.mark.parametrize(("method", "path"), ROUTES_WITH_QUERY + OTHER_ROUTES)
async def test_without_a_session_a_route_answers_401_whatever_the_query(
    harness: Harness, method: str, path: str
) -> None:
    for headers in NO_SESSION:
        for query in QUERIES:
            response = await harness.client.request(method, path + query, headers=headers)
            assert response.status == 401, (headers, query[:40], await response.text())
            assert (await response.json())["code"] == "UNAUTHENTICATED"


async def test_an_expired_session_is_refused_before_the_body_is_read(harness: Harness) -> None:
    member_id = await harness.install()
    session = await harness.session_for(member_id, 1)
    harness.b24.clock.advance(3700)
    response = await harness.client.post(
        "/api/v1/feedback",
        data=io.BytesIO(b"[" * 100_000),
        headers={"Authorization": f"Bearer {session}", "Content-Type": "application/json"},
    )
    assert response.status == 401
    assert (await response.json())["code"] == "SESSION_EXPIRED"


# ------------------------------------------------------------------ odd input with a session


ODD_IDS = ["²", "١", "+5", "%205", "5_000", "0", "-1", "1e3", "9" * 19, "9223372036854775808"]


async def test_odd_ids_in_paths_are_a_400_never_a_500(harness: Harness) -> None:
    member_id = await harness.install()
    session = await harness.session_for(member_id, 1)
    for raw in ODD_IDS:
        for method, path in (
            ("GET", f"/api/v1/touchpoints/{raw}"),
            ("DELETE", f"/api/v1/touchpoints/{raw}"),
            ("GET", f"/api/v1/touchpoints/{raw}/chain"),
            ("GET", f"/api/v1/records/deal/{raw}/touchpoints"),
        ):
            status, body = await harness.api(method, path, session)
            assert status == 400, (method, path, body)
            assert body["code"] == "VALIDATION_ERROR"
        for method, path, payload in (
            ("PATCH", f"/api/v1/touchpoints/{raw}", {"responsible_id": 1}),
            ("POST", f"/api/v1/touchpoints/{raw}/complete", {"result_note": "ok"}),
        ):
            status, body = await harness.api(method, path, session, json=payload)
            assert status == 400, (method, path, body)


async def test_odd_ids_in_queries_are_a_400_never_a_500(harness: Harness) -> None:
    member_id = await harness.install()
    session = await harness.session_for(member_id, 1)
    for raw in ODD_IDS:
        for path in (
            f"/api/v1/board?responsible_id={raw}",
            f"/api/v1/reports/summary?from=2026-01-01&to=2026-01-31&responsible_id={raw}",
            f"/api/v1/reports/coverage?responsible_id={raw}",
            f"/api/v1/reports/users.csv?from=2026-01-01&to=2026-01-31&responsible_id={raw}",
        ):
            status, body = await harness.api("GET", path, session)
            assert status == 400, (path, body)
            assert "responsible_id" in body["fields"]


def _create(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "owner": {"type": "deal", "id": 1},
        "type": "call",
        "deadline": "2026-09-01T10:00:00+00:00",
    }
    body.update(changes)
    return body


ODD_BODIES: list[tuple[str, str, Any, str]] = [
    ("POST", "/api/v1/touchpoints", _create(owner={"type": "deal", "id": True}), "owner.id"),
    ("POST", "/api/v1/touchpoints", _create(owner={"type": "deal", "id": 2**63}), "owner.id"),
    ("POST", "/api/v1/touchpoints", _create(owner={"type": "deal", "id": 10**18}), "owner.id"),
    ("POST", "/api/v1/touchpoints", _create(owner={"type": "deal", "id": -(2**70)}), "owner.id"),
    ("POST", "/api/v1/touchpoints", _create(responsible_id=2**64), "responsible_id"),
    ("POST", "/api/v1/touchpoints", _create(responsible_id=1.5), "responsible_id"),
    (
        "POST",
        "/api/v1/touchpoints",
        _create(deadline="2026-09-01T10:00:00" + "0" * 500),
        "deadline",
    ),
    ("POST", "/api/v1/touchpoints", _create(deadline="²⁰²⁶-09-01T10:00:00Z"), "deadline"),
    ("PATCH", "/api/v1/touchpoints/1", {"responsible_id": False}, "responsible_id"),
    ("PATCH", "/api/v1/touchpoints/1", {"responsible_id": 2**63 - 1}, "responsible_id"),
    (
        "POST",
        "/api/v1/touchpoints/1/complete",
        {"result_note": "x", "follow_up": {"responsible_id": 2**80}},
        "follow_up.responsible_id",
    ),
    ("PUT", "/api/v1/me/preferences", {"digest_enabled": 1}, "digest_enabled"),
    ("POST", "/api/v1/feedback", {"message": "x", "email": "a@" + "." * 200 + "@"}, "email"),
]


async def test_odd_values_in_bodies_are_a_400_listing_the_field(harness: Harness) -> None:
    member_id = await harness.install()
    session = await harness.session_for(member_id, 1)
    for method, path, payload, field in ODD_BODIES:
        status, body = await harness.api(method, path, session, json=payload)
        assert status == 400, (path, payload, body)
        assert field in body["fields"], (path, body)
    _, settings = await harness.api("GET", "/api/v1/settings", session)
    for field, value in (
        ("team_viewers", [2**63]),
        ("team_viewers", [True]),
        ("default_interval", 2**70),
        ("digest_hour", True),
        ("holidays", ["２０２６-01-01"]),
        ("working_days", [10**30]),
    ):
        status, body = await harness.api(
            "PUT", "/api/v1/settings", session, json={**settings, field: value}
        )
        assert status == 400, (field, value, body)
        assert any(name.startswith(field) for name in body["fields"]), (field, body)


@pytest.mark.parametrize(
    ("payload", "status"),
    [
        (b"[" * 33 + b"]" * 33, 400),
        (b'{"message":' * 40 + b'"x"' + b"}" * 40, 400),
        (b"[" * 100_000, 400),
        (b'{"message": NaN}', 400),
        (b'{"message": "' + b"9" * 5000 + b'", "email": ' + b"9" * 5000 + b"}", 400),
        (b"\xef\xbb\xbf{}", 400),
        (b"{" + b" " * (MIB + 1) + b"}", 413),
    ],
)
async def test_pathological_json_bodies_are_a_4xx_never_a_500(
    harness: Harness, payload: bytes, status: int
) -> None:
    member_id = await harness.install()
    session = await harness.session_for(member_id, 1)
    headers = {"Authorization": f"Bearer {session}", "Content-Type": "application/json"}
    response = await harness.client.post(
        "/api/v1/feedback", data=io.BytesIO(payload), headers=headers
    )
    assert response.status == status, await response.text()
    assert set(await response.json()) >= {"code", "message"}


async def test_a_chunked_body_over_one_mebibyte_is_a_413(harness: Harness) -> None:
    member_id = await harness.install()
    session = await harness.session_for(member_id, 1)
    response = await harness.client.post(
        "/api/v1/feedback",
        data=_chunks(b'{"message": "' + b"x" * (MIB + 100) + b'"}'),
        headers={"Authorization": f"Bearer {session}", "Content-Type": "application/json"},
    )
    assert response.status == 413
    assert (await response.json())["code"] == "PAYLOAD_TOO_LARGE"


async def test_session_renew_reads_only_a_small_bounded_body(harness: Harness) -> None:
    for payload, status in (
        (b"[" * 10_000, 400),
        (b'{"auth_id": "' + b"x" * 40_000 + b'", "member_id": "m"}', 413),
        (b"{" + b" " * (MIB + 1) + b"}", 413),
    ):
        response = await harness.client.post(
            "/api/v1/session/renew",
            data=io.BytesIO(payload),
            headers={"Content-Type": "application/json"},
        )
        assert response.status == status, await response.text()
    response = await harness.client.post(
        "/api/v1/session/renew", data=_chunks(b" " * (MIB + 1)), headers={}
    )
    assert response.status == 413


@pytest.mark.parametrize(
    "options",
    [
        '{"ID": "²"}',
        '{"ID": "١٢"}',
        '{"ID": "+5"}',
        '{"ID": " 5"}',
        '{"ID": "5_000"}',
        '{"ID": "99999999999999999999"}',
        '{"ID": true}',
        '{"ID": 1e400}',
        "[" * 100_000,
        '{"ID": ' * 5_000 + "1" + "}" * 5_000,
        '{"ID": "7"' + "\\" * 1000,
    ],
)
async def test_odd_placement_options_answer_a_clear_page_instead_of_the_tab(
    harness: Harness, options: str
) -> None:
    member_id = await harness.install()
    launch = harness.b24.frame_launch(member_id, 1, "CRM_DEAL_DETAIL_TAB", {"ID": "7"})
    launch.form["PLACEMENT_OPTIONS"] = options
    response = await harness.post_frame("/b24/app", launch)
    body = await response.text()
    assert response.status == 400, body
    assert "tp-session" not in body


async def test_a_well_formed_placement_id_reaches_the_page(harness: Harness) -> None:
    member_id = await harness.install()
    launch = harness.b24.frame_launch(member_id, 1, "CRM_DEAL_DETAIL_TAB")
    launch.form["PLACEMENT_OPTIONS"] = '{"ID": 7}'
    response = await harness.post_frame("/b24/app", launch)
    assert "data-placement-options='{&quot;ID&quot;: &quot;7&quot;}'" in await response.text()


async def test_an_odd_auth_expires_never_breaks_a_frame_launch(harness: Harness) -> None:
    member_id = await harness.install()
    for raw in ("²", "9" * 4000, "-5", "1e9", ""):
        launch = harness.b24.frame_launch(member_id, 1)
        launch.form["AUTH_EXPIRES"] = raw
        response = await harness.post_frame("/b24/app", launch)
        assert response.status == 200, (raw, await response.text())


@pytest.mark.parametrize("raw", ["²", "١", "+5", " 5", "5_000", "9" * 19, "0", "5.0"])
async def test_an_event_with_an_odd_activity_id_is_a_400(harness: Harness, raw: str) -> None:
    member_id = await harness.install()
    for event in ("ONCRMACTIVITYUPDATE", "ONCRMACTIVITYDELETE"):
        delivery = await harness.b24.send_event(harness.events_url, event, member_id, {"ID": raw})
        assert delivery.status == 400, (event, raw, delivery.body)


async def test_odd_bracket_forms_are_a_4xx_never_a_500(harness: Harness) -> None:
    await harness.install()
    for form in (
        {"event": "ONCRMACTIVITYUPDATE", "data" + "[" * 100_000: "x"},
        {"event": "ONCRMACTIVITYUPDATE", "data" + "[x]" * 50_000: "x"},
        {"event": "ONCRMACTIVITYUPDATE", "]" * 100_000: "x"},
        {f"k{index}": "v" for index in range(600)},
    ):
        for path in ("/b24/events", "/b24/app", "/b24/install"):
            response = await harness.client.post(path, data=form)
            assert 400 <= response.status < 500, (path, await response.text())
    for content_type, payload in (
        ("multipart/form-data; boundary=xyz", b"--xyz\r\ngarbage\r\n\r\n--x"),
        ("multipart/form-data", b"--\r\n"),
        ("application/x-www-form-urlencoded", b"%ff%fe=%ff&" * 1000),
        ("application/x-www-form-urlencoded; charset=utf-7", b"event=%2B"),
    ):
        for path in ("/b24/events", "/b24/app", "/b24/install"):
            response = await harness.client.post(
                path, data=payload, headers={"Content-Type": content_type}
            )
            assert 400 <= response.status < 500, (path, content_type, await response.text())
    response = await harness.client.post(
        "/b24/events",
        data=io.BytesIO(b"event=ONAPPUNINSTALL&x=" + b"y" * (MIB + 1)),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert response.status == 413


# ------------------------------------------------------------------ headers and labels


SECURITY_HEADERS = ("X-Content-Type-Options", "Referrer-Policy", "Content-Security-Policy")


async def test_every_reply_errors_included_carries_the_security_headers(harness: Harness) -> None:
    member_id = await harness.install()
    session = await harness.session_for(member_id, 1)
    bearer = {"Authorization": f"Bearer {session}"}
    replies = [
        await harness.client.get("/no/such/path"),
        await harness.client.get("/api/v1/nope"),
        await harness.client.put("/healthz"),
        await harness.client.get("/api/v1/board"),
        await harness.client.get("/api/v1/board?bogus=1", headers=bearer),
        await harness.client.get("/api/v1/touchpoints/999999", headers=bearer),
        await harness.client.post(
            "/api/v1/feedback",
            data=io.BytesIO(b"{" + b" " * (MIB + 1) + b"}"),
            headers={**bearer, "Content-Type": "application/json"},
        ),
        await harness.client.post("/b24/events", data={"event": ""}),
        await harness.client.get("/static/no-such-file.js"),
        await harness.client.get(f"{STATIC_PREFIX}/js/api.js"),
        await harness.client.get("/healthz"),
    ]
    statuses = [reply.status for reply in replies]
    assert statuses == [404, 404, 405, 401, 400, 404, 413, 400, 404, 200, 200]
    for reply in replies:
        for name in SECURITY_HEADERS:
            assert name in reply.headers, (reply.url, reply.status, name)
        assert reply.headers["X-Content-Type-Options"] == "nosniff"
        assert reply.headers["X-Frame-Options"] == "DENY"
        assert "frame-ancestors 'none'" in reply.headers["Content-Security-Policy"]
        assert "X-Request-Id" in reply.headers


async def test_500_504_and_404_replies_behind_https_carry_every_header(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def boom(_request: web.Request) -> web.Response:
        raise RuntimeError("a bug")

    async def slow(_request: web.Request) -> web.Response:
        await asyncio.sleep(5)
        return web.Response()

    monkeypatch.setattr(http, "REQUEST_BUDGET_S", 0.2)
    app = web_app(harness.services, https=True)
    app.router.add_get("/boom", boom)
    app.router.add_get("/slow", slow)
    async with TestClient(TestServer(app)) as client:
        replies = [await client.get(path) for path in ("/boom", "/slow", "/nope", "/healthz")]
        assert [reply.status for reply in replies] == [500, 504, 404, 200]
        assert (await replies[0].json())["code"] == "INTERNAL"
        for reply in replies:
            for name in (*SECURITY_HEADERS, "X-Frame-Options", "X-Request-Id"):
                assert name in reply.headers, (reply.url, name)
            assert reply.headers["Strict-Transport-Security"].startswith("max-age=")


async def test_frame_pages_keep_their_own_frame_ancestors(harness: Harness) -> None:
    member_id = await harness.install()
    launch = harness.b24.frame_launch(member_id, 1)
    response = await harness.post_frame("/b24/app", launch)
    assert response.status == 200
    policy = response.headers["Content-Security-Policy"]
    assert "frame-ancestors https://" in policy
    assert "X-Frame-Options" not in response.headers
    assert response.headers["X-Content-Type-Options"] == "nosniff"


async def test_metric_labels_stay_in_a_fixed_set(harness: Harness) -> None:
    member_id = await harness.install()
    for name in ("ONEVILEVENT" + "X" * 30, "ONCRMACTIVITYUPDATE\u202e", "X" * 1000):
        await harness.client.post(
            "/b24/events",
            data={
                "event": name,
                "auth[member_id]": member_id,
                "auth[application_token]": "wrong",
            },
        )
    await harness.b24.send_event(
        harness.events_url, "ONCRMACTIVITYUPDATE", member_id, {"ID": "5"}, forged=True
    )
    for index in range(5):
        await harness.client.get(f"/random/path/{index}" + "z" * 100)
    deal = harness.b24.add_record(member_id, OwnerType.DEAL, title="Deal")
    session = await harness.session_for(member_id, 1)
    await harness.api("GET", f"/api/v1/records/deal/{deal.id}/touchpoints", session)
    text = await (await harness.client.get("/metrics")).text()
    assert 'touchpoints_events_total{event="other",outcome="rejected"}' in text
    assert 'touchpoints_events_total{event="ONCRMACTIVITYUPDATE",outcome="rejected"}' in text
    assert "ONEVIL" not in text
    assert "XXXX" not in text
    assert "zzz" not in text
    assert 'route="unmatched"' in text
    assert 'route="/api/v1/records/{owner_type}/{owner_id}/touchpoints"' in text
    assert f"/api/v1/records/deal/{deal.id}/" not in text
