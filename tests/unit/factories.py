"""Plain builders for domain values in example-based tests (hypothesis uses tests/strategies.py)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from touchpoints.domain.digest import RecordUrl, RenderedDigest, compute_digest, render_digest
from touchpoints.domain.messages import Catalogue
from touchpoints.domain.model import OwnerRef, OwnerType, Status, TouchPoint, TouchPointType

T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)  # a Monday


def touch_point(**overrides: Any) -> TouchPoint:
    """An open call on deal 7 for user 5, created at ``T0`` and due a day later."""
    fields: dict[str, Any] = {
        "id": 10,
        "portal_id": 1,
        "activity_id": 100,
        "owner": OwnerRef(OwnerType.DEAL, 7),
        "type": TouchPointType.CALL,
        "status": Status.OPEN,
        "deadline": datetime(2026, 3, 3, 10, 0, tzinfo=UTC),
        "responsible_id": 5,
        "created_by": 5,
        "created_at": T0,
        "updated_at": T0,
    }
    fields.update(overrides)
    return TouchPoint(**fields)


def build_digest(
    *,
    language: str | None,
    board_url: str,
    record_url: RecordUrl,
    catalogue: Catalogue,
    **content: Any,
) -> RenderedDigest | None:
    """``compute_digest(**content)`` then ``render_digest``, as the digest pass does them:
    None when the user gets no digest."""
    computed = compute_digest(**content)
    if computed is None:
        return None
    return render_digest(
        computed,
        language=language,
        board_url=board_url,
        record_url=record_url,
        catalogue=catalogue,
    )
