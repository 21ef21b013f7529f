"""Portals, their tokens, and secrets that never show in a repr or a message."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from touchpoints.domain.portal import (
    REFRESH_MARGIN,
    OAuthTokens,
    Portal,
    PortalInstall,
    PortalStatus,
)
from touchpoints.domain.secrets import Secret

NOW = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
ACCESS = "access-token-value"
REFRESH = "refresh-token-value"
APP_TOKEN = "application-token-value"


def tokens(expires_at: datetime = NOW + timedelta(hours=1)) -> OAuthTokens:
    return OAuthTokens(
        access_token=Secret(ACCESS), refresh_token=Secret(REFRESH), expires_at=expires_at
    )


def portal(status: PortalStatus = PortalStatus.ACTIVE) -> Portal:
    return Portal(
        id=1,
        member_id="a1b2c3",
        client_endpoint="https://acme.bitrix24.com/rest/",
        domain="acme.bitrix24.com",
        application_token=Secret(APP_TOKEN),
        tokens=tokens(),
        status=status,
        created_at=NOW,
        updated_at=NOW,
    )


def test_a_secret_hides_its_value_in_repr_and_str() -> None:
    secret = Secret("hunter2")
    assert repr(secret) == "<secret>"
    assert str(secret) == "<secret>"
    assert f"{secret} {secret!r}" == "<secret> <secret>"
    assert secret.reveal() == "hunter2"


def test_a_secret_compares_candidates_by_value() -> None:
    secret = Secret("token-ä")
    assert secret.matches("token-ä")
    assert not secret.matches("token-a")
    assert not secret.matches("")


def test_an_empty_secret_is_falsy() -> None:
    assert not Secret("")
    assert Secret("x")


def test_secrets_are_equal_by_value() -> None:
    assert Secret("a") == Secret("a")
    assert Secret("a") != Secret("b")


def test_no_token_appears_in_the_reprs_of_portals_and_installs() -> None:
    install = PortalInstall(
        member_id="a1b2c3",
        client_endpoint="https://acme.bitrix24.com/rest/",
        domain="acme.bitrix24.com",
        application_token=Secret(APP_TOKEN),
        tokens=tokens(),
    )
    for text in (repr(install), repr(portal()), repr(tokens()), str(portal())):
        assert ACCESS not in text
        assert REFRESH not in text
        assert APP_TOKEN not in text
        assert "<secret>" in text


@pytest.mark.parametrize(
    ("expires_in", "expiring"),
    [
        (timedelta(hours=1), False),
        (REFRESH_MARGIN + timedelta(seconds=1), False),
        (REFRESH_MARGIN, True),
        (timedelta(seconds=30), True),
        (-timedelta(minutes=5), True),
    ],
)
def test_tokens_count_as_expiring_within_the_refresh_margin(
    expires_in: timedelta, expiring: bool
) -> None:
    assert tokens(NOW + expires_in).expiring(NOW) is expiring


@pytest.mark.parametrize(
    ("status", "active"), [(PortalStatus.ACTIVE, True), (PortalStatus.NEEDS_REAUTH, False)]
)
def test_only_an_active_portal_gets_background_work(status: PortalStatus, active: bool) -> None:
    assert portal(status).is_active is active
