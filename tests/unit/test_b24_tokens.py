"""Token handling: refresh on expiry, rotation stored before use, one refresh per portal at a time."""

from __future__ import annotations

import asyncio

import attrs
import pytest

from tests.unit.test_b24_support import (
    CLIENT_SECRET,
    Scripted,
    body_text,
    connector_for,
    local_env,
)
from touchpoints.domain.portal import PortalStatus
from touchpoints.domain.secrets import Secret
from touchpoints.ports.crm import CrmAuthExpired, CrmUnavailable, PortalGone


async def test_fresh_app_tokens_are_used_without_a_refresh() -> None:
    async with local_env() as env:
        await env.connector.as_app(env.portal).current_user()
        assert env.server.oauth_requests == []
        assert env.server.calls[0][1]["auth"] == env.portal.tokens.access_token.reveal()


async def test_tokens_about_to_expire_are_refreshed_before_the_call() -> None:
    async with local_env(lifetime_s=60) as env:  # inside the 2-minute refresh margin
        await env.connector.as_app(env.portal).current_user()
        assert len(env.server.oauth_requests) == 1
        stored = (await env.stored()).tokens
        assert stored != env.portal.tokens
        assert env.server.calls[0][1]["auth"] == stored.access_token.reveal()


async def test_an_expired_token_is_refreshed_once_and_the_call_repeated() -> None:
    async with local_env() as env:
        env.server.expire(env.portal.tokens.access_token)
        user = await env.connector.as_app(env.portal).current_user()
        assert user.id == 1
        assert len(env.server.oauth_requests) == 1
        assert env.server.methods() == ["profile", "profile"]
        stored = (await env.stored()).tokens
        assert env.server.calls[1][1]["auth"] == stored.access_token.reveal()


async def test_the_rotated_pair_is_stored_before_the_new_access_token_is_used() -> None:
    async with local_env() as env:
        env.server.expire(env.portal.tokens.access_token)
        seen: list[tuple[str, str]] = []

        async def committed_when_used(method: str, token: str) -> None:
            seen.append((token, (await env.stored()).tokens.access_token.reveal()))

        env.server.before_call = committed_when_used
        await env.connector.as_app(env.portal).current_user()
        stored = (await env.stored()).tokens
        # The call with the new access token found the rotated pair already committed.
        assert seen == [(stored.access_token.reveal(), stored.access_token.reveal())]
        # The spent refresh token was replaced by the rotated one.
        assert stored.refresh_token.reveal() in env.server.refresh


async def test_a_refreshed_token_is_not_refreshed_again_on_the_next_call() -> None:
    async with local_env() as env:
        env.server.expire(env.portal.tokens.access_token)
        crm = env.connector.as_app(env.portal)
        await crm.current_user()
        # A stale Portal (read before the refresh) still gets the new tokens in-process.
        await env.connector.as_app(env.portal).current_user()
        assert len(env.server.oauth_requests) == 1


async def test_a_users_expired_frame_token_is_never_refreshed_on_the_server() -> None:
    async with local_env() as env:
        user_tokens = env.server.issue(5)
        env.server.expire(user_tokens.access_token)
        with pytest.raises(CrmAuthExpired):
            await env.connector.as_user(env.portal, user_tokens.access_token).current_user()
        assert env.server.oauth_requests == []
        assert len(env.server.calls) == 1


async def test_an_unknown_user_token_asks_the_browser_to_renew() -> None:
    async with local_env() as env:
        with pytest.raises(CrmAuthExpired):
            await env.connector.as_user(env.portal, Secret("unknown-token")).current_user()
        assert env.server.oauth_requests == []


async def test_concurrent_callers_in_one_process_share_one_refresh() -> None:
    async with local_env() as env:
        env.server.expire(env.portal.tokens.access_token)
        env.server.oauth_delay_s = 0.05
        crm = env.connector.as_app(env.portal)
        users = await asyncio.gather(*(crm.current_user() for _ in range(8)))
        assert {user.id for user in users} == {1}
        assert len(env.server.oauth_requests) == 1


async def test_two_workers_sharing_storage_refresh_a_portal_once() -> None:
    async with local_env(lifetime_s=60) as env:
        env.server.oauth_delay_s = 0.05
        other = connector_for(env.server, env.session, env.storage, env.clock)
        results = await asyncio.gather(
            env.connector.as_app(env.portal).current_user(),
            other.as_app(env.portal).current_user(),
        )
        assert [user.id for user in results] == [1, 1]
        assert len(env.server.oauth_requests) == 1
        stored = (await env.stored()).tokens
        assert {body["auth"] for _, body in env.server.calls} == {stored.access_token.reveal()}


async def test_tokens_another_worker_already_refreshed_are_reused() -> None:
    async with local_env() as env:
        stale = env.portal
        env.server.expire(stale.tokens.access_token)
        fresh = env.server.issue()
        await env.store_tokens(fresh)
        await env.connector.as_app(stale).current_user()
        assert env.server.oauth_requests == []
        assert env.server.calls[-1][1]["auth"] == fresh.access_token.reveal()


@pytest.mark.parametrize("code", ["invalid_grant", "invalid_client", "PAYMENT_REQUIRED"])
async def test_a_refused_refresh_marks_the_portal_for_reauthorisation(code: str) -> None:
    async with local_env(lifetime_s=60) as env:
        env.server.oauth_error = code
        with pytest.raises(PortalGone):
            await env.connector.as_app(env.portal).current_user()
        assert (await env.stored()).status is PortalStatus.NEEDS_REAUTH
        # The stale Portal object does not bring the dead tokens back to the auth server.
        with pytest.raises(PortalGone):
            await env.connector.as_app(env.portal).current_user()
        assert len(env.server.oauth_requests) == 1
        assert env.server.calls == []


async def test_a_portal_needing_reauthorisation_is_not_called() -> None:
    async with local_env() as env:
        gone = attrs.evolve(env.portal, status=PortalStatus.NEEDS_REAUTH)
        with pytest.raises(PortalGone):
            await env.connector.as_app(gone).current_user()
        assert env.server.calls == []


async def test_an_unavailable_token_endpoint_leaves_the_stored_tokens_alone() -> None:
    async with local_env(lifetime_s=60) as env:
        await env.server.close()
        with pytest.raises(CrmUnavailable):
            await env.connector.as_app(env.portal).current_user()
        stored = await env.stored()
        assert stored.tokens == env.portal.tokens
        assert stored.status is PortalStatus.ACTIVE


async def test_a_token_rejected_right_after_a_refresh_is_not_refreshed_in_a_loop() -> None:
    async with local_env() as env:
        expired = Scripted(status=401, json={"error": "expired_token"})
        env.server.script("profile", expired, expired, expired)
        with pytest.raises(CrmAuthExpired):
            await env.connector.as_app(env.portal).current_user()
        assert len(env.server.oauth_requests) == 1
        assert len(env.server.calls) == 2


async def test_the_client_secret_is_never_sent_to_the_portal() -> None:
    async with local_env() as env:
        env.server.expire(env.portal.tokens.access_token)
        await env.connector.as_app(env.portal).current_user()
        assert env.server.oauth_requests[0]["client_secret"] == CLIENT_SECRET
        assert CLIENT_SECRET not in body_text(env.server)
