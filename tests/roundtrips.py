"""Counting database round trips on the wire: a proxy in front of Postgres.

``RoundTripCounter`` listens on a Unix socket of its own and relays every byte to the real
server, reading the client's side of the protocol as it passes. A round trip is a message
after which the client waits for the server's ``ReadyForQuery``: a simple query (``Q``:
``BEGIN``, ``COMMIT``, the pool's reset query, any statement without parameters), the
``Sync`` (``S``) closing an extended-protocol exchange (a bind and execute), or the
``Flush`` (``H``) after which asyncpg waits for a statement's description (a prepare). So
it counts whatever the driver really sends, prepared statements and pool housekeeping
included, whichever asyncpg setting is on. Shared by the contract tests and the benchmarks.
"""

from __future__ import annotations

import asyncio
import contextlib
import struct
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

# Untyped messages a client may send before its startup message (protocol codes).
_SSL_REQUEST = 80877103
_GSS_REQUEST = 80877104
_WAITING = frozenset({ord("Q"), ord("S"), ord("H")})


def _upstream(dsn: str) -> tuple[str | None, str, int]:
    """Where ``dsn``'s server listens: (Unix socket path or None, TCP host, port)."""
    parts = urlsplit(dsn)
    query = dict(parse_qsl(parts.query))
    port = int(query.get("port") or parts.port or 5432)
    host = query.get("host") or parts.hostname or "/tmp"
    if host.startswith("/"):
        return f"{host}/.s.PGSQL.{port}", "", port
    return None, host, port


class RoundTripCounter:
    """A counting relay to Postgres; ``dsn`` is the address to connect through it."""

    def __init__(self, upstream_dsn: str, directory: Path) -> None:
        self._socket, self._host, self._port = _upstream(upstream_dsn)
        parts = urlsplit(upstream_dsn)
        user = parts.netloc.rpartition("@")[0]
        query = {k: v for k, v in parse_qsl(parts.query) if k not in ("host", "port")}
        query.update(host=str(directory), port=str(self._port))
        self.dsn = urlunsplit(
            ("postgresql", f"{user}@" if user else "", parts.path, urlencode(query), "")
        )
        self._path = directory / f".s.PGSQL.{self._port}"
        self._server: asyncio.AbstractServer | None = None
        self._relays: set[asyncio.Task[None]] = set()
        self.count = 0

    def reset(self) -> int:
        """Start counting from zero; returns the count so far."""
        count, self.count = self.count, 0
        return count

    async def start(self) -> None:
        self._server = await asyncio.start_unix_server(self._accept, path=str(self._path))

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for relay in list(self._relays):
            relay.cancel()
        for relay in list(self._relays):
            with contextlib.suppress(asyncio.CancelledError):
                await relay
        if self._server is not None:
            await self._server.wait_closed()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._relays.add(task)
        try:
            if self._socket is not None:
                up_reader, up_writer = await asyncio.open_unix_connection(self._socket)
            else:
                up_reader, up_writer = await asyncio.open_connection(self._host, self._port)
            try:
                await asyncio.gather(
                    self._client_to_server(reader, up_writer), self._pipe(up_reader, writer)
                )
            finally:
                up_writer.close()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()
            self._relays.discard(task)

    async def _client_to_server(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        # Untyped packets first (SSL/GSS requests, then the startup message), then typed ones.
        while True:
            head = await reader.readexactly(8)
            length, code = struct.unpack("!ii", head)
            body = await reader.readexactly(length - 8)
            writer.write(head + body)
            await writer.drain()
            if code not in (_SSL_REQUEST, _GSS_REQUEST):
                break
        while True:
            head = await reader.readexactly(5)
            kind, length = head[0], struct.unpack("!i", head[1:])[0]
            body = await reader.readexactly(length - 4)
            if kind in _WAITING:
                self.count += 1
            writer.write(head + body)
            await writer.drain()

    @staticmethod
    async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while chunk := await reader.read(65536):
            writer.write(chunk)
            await writer.drain()
        writer.close()


@contextlib.asynccontextmanager
async def counting(upstream_dsn: str) -> AsyncIterator[RoundTripCounter]:
    """A started ``RoundTripCounter`` in front of ``upstream_dsn``'s server."""
    # A short directory: a Unix socket's path is limited to about 100 bytes.
    with tempfile.TemporaryDirectory(prefix="rt-") as directory:
        counter = RoundTripCounter(upstream_dsn, Path(directory))
        await counter.start()
        try:
            yield counter
        finally:
            await counter.close()
