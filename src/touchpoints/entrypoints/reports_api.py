"""Report routes under ``/api/v1/reports/`` (filled in by the reports work)."""

from __future__ import annotations

from aiohttp import web


def add_routes(app: web.Application) -> None:
    """No report routes yet."""
    del app
