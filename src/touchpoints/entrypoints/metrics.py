"""Prometheus metrics (``GET /metrics``) with prometheus-client.

Requests are observed by the error middleware; Bitrix24 calls, retries and token refreshes
are read off the adapter's structured log records (one place that already sees every
call), so the adapter needs no metrics dependency.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from aiohttp import web
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)

B24_LOGGER = "touchpoints.b24"

# Label values come from fixed sets, whatever a request names (DESIGN.md §4): a flood of
# invented event names, methods or paths cannot grow the registry.
KNOWN_EVENTS = frozenset(
    {
        "ONAPPINSTALL",
        "ONAPPUPDATE",
        "ONAPPUNINSTALL",
        "ONCRMACTIVITYADD",
        "ONCRMACTIVITYUPDATE",
        "ONCRMACTIVITYDELETE",
        "ONIMBOTV2COMMANDADD",
        "ONIMBOTV2DELETE",
    }
)
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
OTHER = "other"
UNMATCHED = "unmatched"


def event_label(name: str) -> str:
    """A Bitrix24 event's metric label: its name when we know it, else ``other``."""
    upper = name.upper()
    return upper if upper in KNOWN_EVENTS else OTHER


def route_label(request: web.Request) -> str:
    """The matched route's pattern (``/api/v1/touchpoints/{id}``), never the raw path."""
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else UNMATCHED


def method_label(method: str) -> str:
    return method if method in KNOWN_METHODS else OTHER


class Metrics:
    """One registry per app, so several apps in one process (tests) do not collide."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = self._counter(
            "touchpoints_http_requests_total",
            "HTTP requests by route, method and status.",
            "route",
            "method",
            "status",
        )
        self.latency = self._histogram(
            "touchpoints_http_request_duration_seconds",
            "HTTP request latency by route.",
            "route",
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
        )
        self.b24_calls = self._counter(
            "touchpoints_b24_calls_total",
            "Bitrix24 REST calls by method and outcome (ok or the error code).",
            "method",
            "outcome",
        )
        self.b24_latency = self._histogram(
            "touchpoints_b24_call_duration_seconds",
            "Bitrix24 REST call latency by method.",
            "method",
        )
        self.b24_waits = self._counter(
            "touchpoints_b24_retries_total", "Retries and rate-limit waits before Bitrix24 calls."
        )
        self.token_refreshes = self._counter(
            "touchpoints_b24_token_refreshes_total", "OAuth token refreshes made for portals."
        )
        self.events = self._counter(
            "touchpoints_events_total",
            "Bitrix24 events by name and outcome (handled, ignored, rejected).",
            "event",
            "outcome",
        )
        self.digests = self._counter(
            "touchpoints_digest_notifications_total", "Digest notifications by outcome.", "outcome"
        )

    def _counter(self, name: str, documentation: str, *labels: str) -> Counter:
        """A counter in this app's registry, with these label names."""
        return Counter(name, documentation, labels, registry=self.registry)

    def _histogram(
        self,
        name: str,
        documentation: str,
        *labels: str,
        buckets: Sequence[float] = Histogram.DEFAULT_BUCKETS,
    ) -> Histogram:
        """A histogram in this app's registry (prometheus-client's buckets unless given)."""
        return Histogram(name, documentation, labels, buckets=buckets, registry=self.registry)

    def observe_request(self, request: web.Request, status: int, elapsed: float) -> None:
        route = route_label(request)
        self.requests.labels(route, method_label(request.method), str(status)).inc()
        self.latency.labels(route).observe(elapsed)

    def count_event(self, name: str, outcome: str) -> None:
        self.events.labels(event_label(name), outcome).inc()

    def render(self) -> bytes:
        return generate_latest(self.registry)


class B24LogObserver(logging.Handler):
    """Turns the Bitrix24 adapter's call log records into metrics."""

    def __init__(self, metrics: Metrics) -> None:
        super().__init__(level=logging.DEBUG)
        self._metrics = metrics

    def emit(self, record: logging.LogRecord) -> None:
        method = getattr(record, "b24_method", None)
        if method is not None:
            status = getattr(record, "b24_status", "")
            outcome = (
                "ok" if str(status) == "200" and record.levelno < logging.WARNING else str(status)
            )
            self._metrics.b24_calls.labels(str(method), outcome).inc()
            duration_ms = getattr(record, "b24_duration_ms", None)
            if isinstance(duration_ms, int | float):
                self._metrics.b24_latency.labels(str(method)).observe(duration_ms / 1000)
            return
        message = record.getMessage()
        if "tokens refreshed" in message:
            self._metrics.token_refreshes.inc()
        elif " retry=" in message:
            self._metrics.b24_waits.inc()


METRICS = web.AppKey("metrics", Metrics)


async def metrics_handler(request: web.Request) -> web.Response:
    body = request.app[METRICS].render()
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})
