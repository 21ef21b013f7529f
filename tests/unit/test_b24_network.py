"""Public addresses only: a portal endpoint or redirect never reaches our own network."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp.abc import AbstractResolver, ResolveResult

from tests.unit.test_b24_support import LocalPortal, Scripted, running_portal
from touchpoints.adapters.bitrix24.network import PublicResolver, is_public_address, refused_host
from touchpoints.adapters.bitrix24.transport import Transport
from touchpoints.domain.secrets import Secret
from touchpoints.ports.crm import CrmError

TOKEN = Secret("t" * 32)


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "10.1.2.3",
        "172.16.0.1",
        "192.168.1.1",
        "169.254.169.254",
        "100.64.0.1",
        "0.0.0.0",
        "::1",
        "fe80::1",
        "fc00::1",
        "::ffff:127.0.0.1",
        "224.0.0.1",
    ],
)
def test_loopback_private_link_local_and_mapped_addresses_are_not_public(address: str) -> None:
    assert not is_public_address(address)
    assert refused_host(address) is not None


@pytest.mark.parametrize("host", ["8.8.8.8", "2a00:1450:4001::1", "acme.bitrix24.com"])
def test_public_addresses_and_names_may_be_called(host: str) -> None:
    assert refused_host(host) is None


@pytest.mark.parametrize("host", ["localhost", "LOCALHOST.", "api.localhost", "[::1]"])
def test_local_names_are_refused_before_any_lookup(host: str) -> None:
    assert refused_host(host) is not None


class _Fixed(AbstractResolver):
    def __init__(self, *addresses: str) -> None:
        self._addresses = addresses

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        return [
            ResolveResult(hostname=host, host=a, port=port, family=family, proto=0, flags=0)
            for a in self._addresses
        ]

    async def close(self) -> None:
        return None


async def test_a_name_resolving_only_to_private_addresses_is_refused() -> None:
    resolver = PublicResolver(_Fixed("10.0.0.5", "127.0.0.1"))
    with pytest.raises(OSError, match="not a public address"):
        await resolver.resolve("rebound.example", 443)


async def test_private_answers_are_dropped_and_public_ones_kept() -> None:
    resolver = PublicResolver(_Fixed("10.0.0.5", "93.184.216.34"))
    results = await resolver.resolve("mixed.example", 443)
    assert [r["host"] for r in results] == ["93.184.216.34"]


async def test_the_transport_refuses_a_private_endpoint_without_sending_anything() -> None:
    async with aiohttp.ClientSession() as session:
        strict = Transport(session)
        with pytest.raises(CrmError) as raised:
            await strict.call("https://127.0.0.1/rest/", "profile", {}, TOKEN, portal="p")
    assert raised.value.code == "PRIVATE_ENDPOINT"


@pytest.fixture
async def server() -> AsyncIterator[LocalPortal]:
    async with running_portal() as portal:
        yield portal


async def test_a_redirect_to_another_host_is_not_followed(server: LocalPortal) -> None:
    server.script(
        "profile",
        Scripted(status=302, text="", headers={"Location": "http://elsewhere.test/rest/profile"}),
    )
    async with aiohttp.ClientSession() as session:
        transport = Transport(session, allow_http=True, timeout_s=2.0)
        with pytest.raises(CrmError) as raised:
            await transport.call(server.endpoint, "profile", {}, TOKEN, portal="p")
    assert raised.value.code == "CROSS_HOST_REDIRECT"
    assert transport.moved_endpoint(server.endpoint) is None
