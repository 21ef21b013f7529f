"""Serving the app over TCP with slow clients cut off (DESIGN.md §4, "Unauthenticated surface").

aiohttp closes idle keep-alive connections (``keepalive_timeout``) and the error middleware
bounds each request at 30 s once its handler runs, but nothing bounds how long a client may
take to send a request's headers: a client dripping one header byte at a time would hold a
connection for as long as it likes. ``HeaderDeadlineHandler`` arms a timer when a request
starts (the connection opens, or the first byte arrives after the previous response) and
closes the connection unless the request's headers are complete before it fires.
``touchpoints serve`` and ``touchpoints demo`` both serve through ``serve_until_stopped``.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import ssl
from collections.abc import Callable
from typing import Any

import attrs
from aiohttp import web

from touchpoints.entrypoints.heap import settle_heap
from touchpoints.entrypoints.http import HTTPS_KEY, apply_security_headers, bare_error_reply


@attrs.frozen(kw_only=True)
class ConnectionLimits:
    """How long a client may take: to send a request's headers, and idle between requests."""

    header_timeout_s: float = 10.0
    keepalive_timeout_s: float = 15.0


class HeaderDeadlineHandler(web.RequestHandler):
    """aiohttp's connection handler with a deadline for each request's headers.

    The hooks are the protocol callbacks: ``connection_made`` (a first request may come),
    ``data_received`` (bytes after an idle pause start a new request; a parsed message
    means its headers are complete) and ``connection_lost``.
    """

    def __init__(
        self, manager: web.Server, *, header_timeout_s: float, https: bool, **kwargs: Any
    ) -> None:
        super().__init__(manager, **kwargs)
        self._header_timeout_s = header_timeout_s
        self._https = https
        self._header_deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self._arm()

    def data_received(self, data: bytes) -> None:
        if data and self._header_deadline is None and self._idle():
            self._arm()
        parsed_before = self._request_count
        super().data_received(data)
        if self._request_count != parsed_before:
            self._disarm()

    def connection_lost(self, exc: BaseException | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def handle_error(
        self,
        request: web.BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        """A malformed request's reply: logged as aiohttp does, but our headers and a body
        that echoes nothing of the request (aiohttp's text quotes the bytes it choked on)."""
        super().handle_error(request, status, exc, message)
        reply = bare_error_reply(status)
        apply_security_headers(reply.headers, path="", https=self._https)
        reply.force_close()
        return reply

    def _idle(self) -> bool:
        """Between requests: the handler waits for a message and none is queued."""
        waiter = self._waiter
        return waiter is not None and not waiter.done() and not self._messages

    def _arm(self) -> None:
        self._disarm()
        self._header_deadline = self._loop.call_later(self._header_timeout_s, self._overdue)

    def _disarm(self) -> None:
        if self._header_deadline is not None:
            self._header_deadline.cancel()
            self._header_deadline = None

    def _overdue(self) -> None:
        self._header_deadline = None
        self.force_close()


class _GuardedServer(web.Server):
    def __init__(
        self, handler: Any, *, header_timeout_s: float, https: bool, **kwargs: Any
    ) -> None:
        super().__init__(handler, **kwargs)
        self._header_timeout_s = header_timeout_s
        self._https = https
        self._handler_kwargs = {
            key: value
            for key, value in kwargs.items()
            if key not in ("request_factory", "handler_cancellation", "loop")
        }

    def __call__(self) -> web.RequestHandler:
        return HeaderDeadlineHandler(
            self,
            loop=self._loop,
            header_timeout_s=self._header_timeout_s,
            https=self._https,
            **self._handler_kwargs,
        )


class GuardedAppRunner(web.AppRunner):
    """An ``AppRunner`` whose connections enforce ``ConnectionLimits``."""

    def __init__(self, app: web.Application, *, limits: ConnectionLimits, **kwargs: Any) -> None:
        self._limits = limits
        self._handler_kwargs = {"keepalive_timeout": limits.keepalive_timeout_s, **kwargs}
        super().__init__(app, **self._handler_kwargs)

    async def _make_server(self) -> web.Server:
        # The base class starts the app up and makes the plain server; we keep its handler
        # and request factory and hand out our connection handler instead.
        plain = await super()._make_server()
        return _GuardedServer(
            plain.request_handler,
            request_factory=plain.request_factory,
            handler_cancellation=plain.handler_cancellation,
            header_timeout_s=self._limits.header_timeout_s,
            https=self.app.get(HTTPS_KEY, False),
            **self._handler_kwargs,
        )


async def serve_until_stopped(
    app: web.Application,
    *,
    host: str,
    port: int,
    ssl_context: ssl.SSLContext | None = None,
    limits: ConnectionLimits | None = None,
    on_started: Callable[[], None] | None = None,
) -> None:
    """Serve ``app`` on ``host:port`` until SIGTERM or SIGINT, then shut down gracefully."""
    runner = GuardedAppRunner(app, limits=limits or ConnectionLimits(), access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port, ssl_context=ssl_context).start()
        settle_heap()
        if on_started is not None:
            on_started()
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError):
                loop.add_signal_handler(sig, stop.set)
        await stop.wait()
    finally:
        await runner.cleanup()
