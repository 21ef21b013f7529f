"""The token endpoint client: grants, expiry, refusals and keeping the client secret to itself."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import aiohttp
import pytest

from tests.unit.test_b24_support import (
    CLIENT_ID,
    CLIENT_SECRET,
    MEMBER_ID,
    T0,
    LocalPortal,
    MutableClock,
    Scripted,
    running_portal,
)
from touchpoints.adapters.bitrix24.oauth import BitrixOAuthServer
from touchpoints.domain.secrets import Secret
from touchpoints.ports.crm import CrmError, CrmTimeout, CrmUnavailable, PortalGone


@pytest.fixture
async def server() -> AsyncIterator[LocalPortal]:
    async with running_portal() as portal:
        yield portal


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client_session:
        yield client_session


def oauth_for(
    server: LocalPortal, session: aiohttp.ClientSession, *, timeout_s: float = 5.0
) -> BitrixOAuthServer:
    return BitrixOAuthServer(
        session,
        CLIENT_ID,
        Secret(CLIENT_SECRET),
        server.oauth_url,
        clock=MutableClock(),
        allow_http=True,
        timeout_s=timeout_s,
    )


def grant_reply(**overrides: object) -> dict[str, object]:
    reply: dict[str, object] = {
        "access_token": "new-access",
        "refresh_token": "new-refresh",
        "expires_in": 3600,
        "client_endpoint": "https://acme.bitrix24.com/rest/",
        "server_endpoint": "https://oauth.bitrix.info/rest/",
        "domain": "oauth.bitrix.info",
        "member_id": MEMBER_ID,
        "scope": "crm,im",
    }
    reply.update(overrides)
    return reply


async def test_refresh_redeems_the_token_with_the_client_credentials(
    server: LocalPortal, session: aiohttp.ClientSession
) -> None:
    tokens = server.issue(17)
    grant = await oauth_for(server, session).refresh(tokens.refresh_token)
    (query,) = server.oauth_requests
    assert query == {
        "grant_type": "refresh_token",
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "refresh_token": tokens.refresh_token.reveal(),
    }
    assert grant.member_id == MEMBER_ID
    assert grant.client_endpoint == server.endpoint
    assert grant.user_id == 17
    assert grant.scope == "crm,im,placement,user_brief"
    assert grant.tokens.refresh_token != tokens.refresh_token  # rotated
    assert grant.tokens.expires_at == T0 + timedelta(hours=1)  # from ``expires``


async def test_the_portal_domain_comes_from_the_endpoint_not_the_replys_domain(
    server: LocalPortal, session: aiohttp.ClientSession
) -> None:
    server.oauth_script.append(Scripted(json=grant_reply()))
    grant = await oauth_for(server, session).refresh(Secret("r"))
    assert grant.domain == "acme.bitrix24.com"


async def test_expiry_falls_back_on_expires_in_when_expires_is_missing(
    server: LocalPortal, session: aiohttp.ClientSession
) -> None:
    server.oauth_script.append(Scripted(json=grant_reply(expires_in=1800)))
    grant = await oauth_for(server, session).refresh(Secret("r"))
    assert grant.tokens.expires_at == T0 + timedelta(seconds=1800)
    assert grant.user_id is None


async def test_a_code_is_exchanged_with_the_authorization_code_grant(
    server: LocalPortal, session: aiohttp.ClientSession
) -> None:
    server.oauth_script.append(Scripted(json=grant_reply()))
    grant = await oauth_for(server, session).redeem_code(Secret("the-code"))
    assert server.oauth_requests[0]["grant_type"] == "authorization_code"
    assert server.oauth_requests[0]["code"] == "the-code"
    assert grant.tokens.access_token == Secret("new-access")


@pytest.mark.parametrize("code", ["invalid_grant", "invalid_client", "PAYMENT_REQUIRED"])
async def test_refusals_that_end_the_authorisation_raise_portal_gone(
    server: LocalPortal, session: aiohttp.ClientSession, code: str
) -> None:
    server.oauth_script.append(Scripted(status=400, json={"error": code}))
    with pytest.raises(PortalGone) as caught:
        await oauth_for(server, session).refresh(Secret("r"))
    assert caught.value.code == code


async def test_other_refusals_are_plain_crm_errors(
    server: LocalPortal, session: aiohttp.ClientSession
) -> None:
    server.oauth_script.append(Scripted(status=400, json={"error": "invalid_request"}))
    with pytest.raises(CrmError) as caught:
        await oauth_for(server, session).refresh(Secret("r"))
    assert not isinstance(caught.value, PortalGone | CrmUnavailable)


@pytest.mark.parametrize(
    "reply",
    [Scripted(status=500, text="oops"), Scripted(status=503, json={"error": "temporarily"})],
)
async def test_server_failures_of_the_token_endpoint_are_unavailable(
    server: LocalPortal, session: aiohttp.ClientSession, reply: Scripted
) -> None:
    server.oauth_script.append(reply)
    with pytest.raises(CrmUnavailable):
        await oauth_for(server, session).refresh(Secret("r"))


async def test_an_unreachable_token_endpoint_is_unavailable_without_leaking_the_secret(
    session: aiohttp.ClientSession,
) -> None:
    oauth = BitrixOAuthServer(
        session,
        CLIENT_ID,
        Secret(CLIENT_SECRET),
        "http://127.0.0.1:9/oauth/token/",
        allow_http=True,
    )
    with pytest.raises(CrmUnavailable) as caught:
        await oauth.refresh(Secret("refresh-value"))
    assert caught.value.__cause__ is None
    assert caught.value.__suppress_context__
    for text in (str(caught.value), repr(caught.value)):
        assert CLIENT_SECRET not in text
        assert "refresh-value" not in text


async def test_a_slow_token_endpoint_times_out(
    server: LocalPortal, session: aiohttp.ClientSession
) -> None:
    server.oauth_delay_s = 0.5
    with pytest.raises(CrmTimeout):
        await oauth_for(server, session, timeout_s=0.1).refresh(Secret("r"))


@pytest.mark.parametrize(
    "reply",
    [
        grant_reply(access_token=""),
        grant_reply(client_endpoint="ftp://acme/rest/"),
        grant_reply(expires="soon"),
    ],
)
async def test_malformed_grants_are_refused(
    server: LocalPortal, session: aiohttp.ClientSession, reply: dict[str, object]
) -> None:
    server.oauth_script.append(Scripted(json=reply))
    with pytest.raises(CrmError, match="token endpoint"):
        await oauth_for(server, session).refresh(Secret("r"))


async def test_an_error_description_echoing_secrets_is_masked(
    server: LocalPortal, session: aiohttp.ClientSession
) -> None:
    server.oauth_script.append(
        Scripted(
            status=400,
            json={"error": "invalid_grant", "error_description": f"bad {CLIENT_SECRET} / r-tok"},
        )
    )
    with pytest.raises(PortalGone) as caught:
        await oauth_for(server, session).refresh(Secret("r-tok"))
    assert CLIENT_SECRET not in str(caught.value)
    assert "r-tok" not in str(caught.value)


def test_the_token_endpoint_must_be_https_unless_http_is_allowed() -> None:
    with pytest.raises(ValueError, match="https"):
        BitrixOAuthServer(None, CLIENT_ID, Secret(CLIENT_SECRET), "http://oauth.test/")  # type: ignore[arg-type]


def test_the_repr_names_the_client_but_never_the_secret() -> None:
    oauth = BitrixOAuthServer(
        None,  # type: ignore[arg-type]
        CLIENT_ID,
        Secret(CLIENT_SECRET),
        "https://oauth.bitrix.info/oauth/token/",
    )
    assert CLIENT_SECRET not in repr(oauth)
    assert CLIENT_ID in repr(oauth)
