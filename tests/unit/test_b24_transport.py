"""The REST transport: envelopes, error mapping, redirects, endpoints and timeouts."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta, timezone

import aiohttp
import pytest

from tests.unit.test_b24_support import LocalPortal, Scripted, running_portal
from touchpoints.adapters.bitrix24.errors import (
    NotSent,
    OperationTimeLimit,
    QueryLimitExceeded,
    ServerError,
    TokenExpired,
    TokenRejected,
    map_error,
)
from touchpoints.adapters.bitrix24.transport import Transport, parse_reset_at
from touchpoints.domain.secrets import Secret
from touchpoints.ports.crm import (
    CrmError,
    CrmInvalidInput,
    CrmNotFound,
    CrmPermissionDenied,
    CrmRateLimited,
    CrmTimeout,
    CrmUnavailable,
    PortalGone,
)

TOKEN = Secret("user-frame-token-0123456789abcdef")


@pytest.fixture
async def server() -> AsyncIterator[LocalPortal]:
    async with running_portal() as portal:
        yield portal


@pytest.fixture
async def transport() -> AsyncIterator[Transport]:
    async with aiohttp.ClientSession() as session:
        yield Transport(session, allow_http=True, timeout_s=2.0)


async def test_success_envelope_gives_result_paging_and_operating_time(
    server: LocalPortal, transport: Transport
) -> None:
    server.script(
        "crm.activity.list",
        Scripted(
            json={
                "result": [{"ID": "1"}],
                "total": "120",
                "next": 50,
                "time": {"operating": 3.31, "operating_reset_at": 1790000600},
            }
        ),
    )
    reply = await transport.call(server.endpoint, "crm.activity.list", {}, TOKEN, portal="p")
    assert reply.result == [{"ID": "1"}]
    assert (reply.total, reply.next) == (120, 50)
    assert reply.time.operating == pytest.approx(3.31)
    assert reply.time.operating_reset_at == 1790000600


async def test_call_posts_json_with_auth_in_the_body_and_a_user_agent(
    server: LocalPortal, transport: Transport
) -> None:
    deadline = datetime(2026, 9, 1, 10, 0, 0, 123, tzinfo=timezone(timedelta(hours=2)))
    server.script("crm.activity.todo.add", Scripted(json={"result": {"id": 1}}))
    await transport.call(
        server.endpoint, "crm.activity.todo.add", {"deadline": deadline}, TOKEN, portal="p"
    )
    (method, body) = server.calls[0]
    assert method == "crm.activity.todo.add"
    assert body == {"deadline": "2026-09-01T10:00:00+02:00", "auth": TOKEN.reveal()}
    assert server.headers[0]["Content-Type"].startswith("application/json")
    assert server.headers[0]["User-Agent"].startswith("touchpoints/")


@pytest.mark.parametrize(
    ("status", "code", "description", "expected"),
    [
        (401, "expired_token", "The access token provided has expired", TokenExpired),
        (401, "NO_AUTH_FOUND", "Wrong authorization data", TokenRejected),
        (401, "invalid_token", "Token expired or invalid", TokenRejected),
        (403, "insufficient_scope", "", CrmPermissionDenied),
        (403, "INVALID_CREDENTIALS", "", CrmPermissionDenied),
        (403, "ACCESS_DENIED", "REST is available only on commercial plans", CrmPermissionDenied),
        (403, "user_access_error", "", CrmPermissionDenied),
        (403, "allowed_only_intranet_user", "", CrmPermissionDenied),
        (503, "QUERY_LIMIT_EXCEEDED", "Too many requests", QueryLimitExceeded),
        (503, "OVERLOAD_LIMIT", "blocked", CrmRateLimited),
        (429, "OPERATION_TIME_LIMIT", "Method is blocked", OperationTimeLimit),
        (500, "INTERNAL_SERVER_ERROR", "", ServerError),
        (500, "PORTAL_DELETED", "Portal was deleted", PortalGone),
        (402, "PAYMENT_REQUIRED", "", PortalGone),
        (400, "100", "Required fields missing", CrmInvalidInput),
        (400, "WRONG_DATETIME_FORMAT", "", CrmInvalidInput),
        (400, "CAN_NOT_UPDATE_COMPLETED_TODO", "", CrmInvalidInput),
        (400, "INVALID_ARG_VALUE", "", CrmInvalidInput),
        (400, "NOT_FOUND", "", CrmNotFound),
        (400, "OWNER_NOT_FOUND", "", CrmNotFound),
        (400, "", "Not found", CrmNotFound),
        (400, "", "Activity is not found", CrmNotFound),
        (400, "Activity is not found", "", CrmNotFound),  # as the pages' "Code" column has it
        (400, "", "Access denied.", CrmPermissionDenied),
        (400, "", "Application context required", CrmPermissionDenied),
        (400, "", "ID is not defined or invalid.", CrmError),
        (400, "Expired_Token", "", TokenExpired),
        (400, "not_found", "", CrmNotFound),
    ],
)
async def test_error_envelopes_map_to_the_ports_typed_failures(
    server: LocalPortal,
    transport: Transport,
    *,
    status: int,
    code: str,
    description: str,
    expected: type[CrmError],
) -> None:
    server.script(
        "crm.activity.get",
        Scripted(status=status, json={"error": code, "error_description": description}),
    )
    with pytest.raises(expected) as caught:
        await transport.call(server.endpoint, "crm.activity.get", {"id": 1}, TOKEN, portal="p")
    assert type(caught.value) is expected
    assert caught.value.code == code
    assert "crm.activity.get" in str(caught.value)


def test_unknown_codes_fall_back_on_the_http_status() -> None:
    assert isinstance(map_error("SOMETHING", "", method="m", status=502), ServerError)
    assert isinstance(map_error("SOMETHING", "", method="m", status=403), CrmPermissionDenied)
    assert type(map_error("SOMETHING", "", method="m", status=400)) is CrmError


async def test_error_with_http_200_is_still_an_error(
    server: LocalPortal, transport: Transport
) -> None:
    # placement.bind documents some errors with status 200 (BITRIX24.md §21.19).
    server.script(
        "placement.bind",
        Scripted(status=200, json={"error": "ERROR_ARGUMENT", "argument": "HANDLER"}),
    )
    with pytest.raises(CrmInvalidInput):
        await transport.call(server.endpoint, "placement.bind", {}, TOKEN, portal="p")


async def test_operating_reset_at_is_read_from_an_error_reply(
    server: LocalPortal, transport: Transport
) -> None:
    server.script(
        "crm.item.list",
        Scripted(
            status=429,
            json={
                "error": "OPERATION_TIME_LIMIT",
                "time": {"operating_reset_at": "2026-05-14T10:10:00+02:00"},
            },
        ),
    )
    with pytest.raises(OperationTimeLimit) as caught:
        await transport.call(server.endpoint, "crm.item.list", {}, TOKEN, portal="p")
    assert caught.value.reset_at == datetime(2026, 5, 14, 8, 10, tzinfo=UTC).timestamp()


def test_operating_reset_at_accepts_integers_iso_strings_and_nothing() -> None:
    assert parse_reset_at(1790000600) == 1790000600.0
    assert parse_reset_at("1790000600") == 1790000600.0
    assert (
        parse_reset_at("2026-05-14T10:10:00+02:00")
        == datetime(2026, 5, 14, 8, 10, tzinfo=UTC).timestamp()
    )
    assert parse_reset_at(None) is None
    assert parse_reset_at("soon") is None


@pytest.mark.parametrize(
    ("status", "text", "expected"),
    [
        (502, "<html>Bad gateway</html>", ServerError),
        (200, "not json", CrmError),
        (404, "<html>no such page</html>", CrmError),
        (401, "", TokenRejected),
    ],
)
async def test_answers_without_an_envelope_map_by_status(
    server: LocalPortal,
    transport: Transport,
    status: int,
    text: str,
    expected: type[CrmError],
) -> None:
    server.script("profile", Scripted(status=status, text=text))
    with pytest.raises(expected):
        await transport.call(server.endpoint, "profile", {}, TOKEN, portal="p")


async def test_domain_change_redirect_is_followed_by_re_posting_the_body(
    server: LocalPortal, transport: Transport
) -> None:
    server.script("profile", Scripted(json={"result": {"ID": "1"}}))
    old = server.base + "/old/rest/"
    reply = await transport.call(old, "profile", {"x": 1}, TOKEN, portal="p")
    assert reply.result == {"ID": "1"}
    # The re-sent request is a POST with the same JSON body and token (BITRIX24.md §1).
    assert server.calls == [("profile", {"x": 1, "auth": TOKEN.reveal()})]
    assert transport.moved_endpoint(old) == server.endpoint


async def test_after_a_redirect_later_calls_go_straight_to_the_new_endpoint(
    server: LocalPortal, transport: Transport
) -> None:
    server.script("profile", Scripted(json={"result": {}}), Scripted(json={"result": {}}))
    old = server.base + "/old/rest/"
    await transport.call(old, "profile", {}, TOKEN, portal="p")
    await transport.call(old, "profile", {}, TOKEN, portal="p")
    assert len(server.calls) == 2


async def test_plain_http_endpoints_are_refused_unless_allowed(server: LocalPortal) -> None:
    async with aiohttp.ClientSession() as session:
        strict = Transport(session)
        with pytest.raises(CrmError, match="non-https"):
            await strict.call(server.endpoint, "profile", {}, TOKEN, portal="p")
    assert server.calls == []


async def test_a_redirect_to_a_non_web_scheme_is_refused(
    server: LocalPortal, transport: Transport
) -> None:
    server.script(
        "profile", Scripted(status=302, text="", headers={"Location": "ftp://x.test/rest/profile"})
    )
    with pytest.raises(CrmError, match="non-https"):
        await transport.call(server.endpoint, "profile", {}, TOKEN, portal="p")
    assert transport.moved_endpoint(server.endpoint) is None


async def test_a_slow_portal_raises_crm_timeout(server: LocalPortal) -> None:
    server.script("profile", Scripted(json={"result": {}}, delay_s=0.5))
    async with aiohttp.ClientSession() as session:
        transport = Transport(session, allow_http=True, timeout_s=0.1)
        with pytest.raises(CrmTimeout):
            await transport.call(server.endpoint, "profile", {}, TOKEN, portal="p")


async def test_an_unreachable_portal_raises_not_sent() -> None:
    async with aiohttp.ClientSession() as session:
        transport = Transport(session, allow_http=True, timeout_s=2.0)
        with pytest.raises(NotSent) as caught:
            await transport.call("http://127.0.0.1:9/rest/", "profile", {}, TOKEN, portal="p")
    assert isinstance(caught.value, CrmUnavailable)


async def test_method_names_cannot_escape_the_endpoint(
    server: LocalPortal, transport: Transport
) -> None:
    with pytest.raises(CrmInvalidInput):
        await transport.call(server.endpoint, "../oauth/token/", {}, TOKEN, portal="p")
    assert server.calls == []


async def test_an_error_description_echoing_the_token_is_masked(
    server: LocalPortal, transport: Transport
) -> None:
    server.script(
        "profile",
        Scripted(
            status=400,
            json={"error": "", "error_description": f"bad auth={TOKEN.reveal()} given"},
        ),
    )
    with pytest.raises(CrmError) as caught:
        await transport.call(server.endpoint, "profile", {}, TOKEN, portal="p")
    assert TOKEN.reveal() not in str(caught.value)
    assert TOKEN.reveal() not in repr(caught.value)
