"""Where the app may connect: public addresses only, unless local testing allows more.

A portal's REST endpoint comes from the token endpoint's reply, but its host name is the
portal's own (an on-premise Bitrix24 names any host it likes), and a redirect may point
anywhere. Without these checks a hostile portal could make our server call loopback,
private or link-local services (DESIGN.md §4, "Endpoint and identity").
"""

from __future__ import annotations

import ipaddress
import socket
from typing import Any

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver

_LOCAL_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback"})


def is_public_address(address: str) -> bool:
    """Whether an IP address is globally routable (not loopback, private, link-local...)."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


def refused_host(host: str) -> str | None:
    """Why a host name or literal address may not be called, or None when it may.

    Names are checked again at connection time by ``PublicResolver``; this catches literal
    addresses, which aiohttp connects to without asking the resolver.
    """
    name = host.strip("[]").rstrip(".").lower()
    if not name:
        return "no host"
    if name in _LOCAL_NAMES or name.endswith(".localhost"):
        return "a local host name"
    try:
        ipaddress.ip_address(name.split("%", 1)[0])
    except ValueError:
        return None  # a name: the resolver decides
    return None if is_public_address(name) else "a non-public address"


class PublicResolver(AbstractResolver):
    """Resolves like aiohttp's default resolver, then drops every non-public address.

    A name that resolves to no public address fails as an unreachable host would, so a
    portal whose DNS points at our own network is never called (DNS rebinding included:
    the check runs at every connection).
    """

    def __init__(self, inner: AbstractResolver | None = None) -> None:
        self._inner = inner or DefaultResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        if refused_host(host) is not None:
            raise OSError(f"refusing to connect to {host[:100]!r}: not a public address")
        results = await self._inner.resolve(host, port, family)
        public = [r for r in results if is_public_address(r["host"])]
        if not public:
            raise OSError(f"refusing to connect to {host[:100]!r}: not a public address")
        return public

    async def close(self) -> None:
        await self._inner.close()


def public_connector(**kwargs: Any) -> aiohttp.TCPConnector:
    """A ``TCPConnector`` that connects to public addresses only."""
    return aiohttp.TCPConnector(resolver=PublicResolver(), **kwargs)
