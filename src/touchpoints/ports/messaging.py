"""The messaging port: IM notifications to portal users (the daily digest)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import attrs

from touchpoints.domain.portal import Portal


@attrs.frozen(kw_only=True)
class Notification:
    """One system notification; a later one with the same ``tag`` replaces it in Bitrix24."""

    user_id: int
    message: str
    tag: str
    attach: tuple[tuple[str, str], ...] = ()  # (link name, URL) pairs


@attrs.frozen(kw_only=True)
class Delivery:
    """The outcome of one notification: sent, or the error that stopped it."""

    user_id: int
    ok: bool
    error: str = ""


class Messenger(Protocol):
    async def notify(self, portal: Portal, notifications: Sequence[Notification]) -> list[Delivery]:
        """Send with the portal's stored tokens, batched (≤50 per request).

        Raises: PortalGone, CrmUnavailable (the whole send failed; nothing is known sent).
        """
        ...
