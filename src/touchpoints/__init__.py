"""Touch-points: one board of CRM follow-ups for Bitrix24 sales teams."""

from __future__ import annotations

__version__ = "0.1.0"
