"""The metrics registry: each app's own, with every family declared once."""

from __future__ import annotations

from touchpoints.entrypoints.metrics import Metrics


def test_two_apps_in_one_process_each_get_their_own_registry() -> None:
    first, second = Metrics(), Metrics()

    first.count_event("ONAPPINSTALL", "handled")

    assert b'touchpoints_events_total{event="ONAPPINSTALL",outcome="handled"} 1.0' in (
        first.render()
    )
    assert b'event="ONAPPINSTALL"' not in second.render()


def test_every_family_is_rendered_with_its_help_text() -> None:
    text = Metrics().render().decode()

    for family in (
        "touchpoints_http_requests_total",
        "touchpoints_http_request_duration_seconds",
        "touchpoints_b24_calls_total",
        "touchpoints_b24_call_duration_seconds",
        "touchpoints_b24_retries_total",
        "touchpoints_b24_token_refreshes_total",
        "touchpoints_events_total",
        "touchpoints_digest_notifications_total",
    ):
        assert f"# HELP {family} " in text


def test_request_latency_keeps_its_own_buckets_and_call_latency_the_default_ones() -> None:
    metrics = Metrics()

    metrics.latency.labels("/api/v1/board").observe(0.02)
    metrics.b24_latency.labels("crm.item.list").observe(0.02)
    text = metrics.render().decode()

    assert 'touchpoints_http_request_duration_seconds_bucket{le="30.0",route="/api/v1/board"}' in (
        text
    )
    assert 'touchpoints_b24_call_duration_seconds_bucket{le="7.5",method="crm.item.list"}' in text
