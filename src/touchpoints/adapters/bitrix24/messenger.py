"""The messaging port over ``im.notify.system.add``, 50 notifications to a batch (§15)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from touchpoints.adapters.bitrix24.batch import BatchReply, Command, send_each
from touchpoints.adapters.bitrix24.connector import BitrixConnector
from touchpoints.domain.portal import Portal
from touchpoints.ports.messaging import Delivery, Notification

if TYPE_CHECKING:
    from touchpoints.adapters.bitrix24.oauth import BitrixOAuthServer
    from touchpoints.ports.crm import CrmConnector, OAuthServer
    from touchpoints.ports.messaging import Messenger


def _params(notification: Notification) -> dict[str, Any]:
    params: dict[str, Any] = {
        "USER_ID": notification.user_id,
        "MESSAGE": notification.message,
        "TAG": notification.tag,
    }
    if notification.attach:
        # The short ATTACH form: just the blocks (BITRIX24.md §15).
        params["ATTACH"] = [
            {"LINK": {"NAME": name, "LINK": url}} for name, url in notification.attach
        ]
    return params


class BitrixMessenger:
    """Implements ``Messenger`` with the portal's stored (app) tokens.

    A notification with a ``TAG`` replaces the earlier one with the same tag (§15), so a
    batch of them is safe to repeat after a lost answer.
    """

    def __init__(self, connector: BitrixConnector) -> None:
        self._connector = connector

    def __repr__(self) -> str:
        return "BitrixMessenger()"

    async def notify(self, portal: Portal, notifications: Sequence[Notification]) -> list[Delivery]:
        """Send in batches; a batch that fails after an earlier one went out marks its own
        notifications failed instead of raising (the earlier ones were delivered).

        Raises: PortalGone, CrmUnavailable, CrmError: the first batch failed as a whole.
        """
        return await send_each(
            self._connector.app_client(portal),
            notifications,
            key="n",
            command=lambda n: Command("im.notify.system.add", _params(n)),
            safe=True,
            outcome=_delivery,
            failed=lambda n, code: Delivery(user_id=n.user_id, ok=False, error=code),
        )


def _delivery(notification: Notification, key: str, reply: BatchReply) -> Delivery:
    results, errors = reply.results, reply.errors
    if key in errors:
        error = errors[key]
        return Delivery(user_id=notification.user_id, ok=False, error=error.code or "ERROR")
    if key not in results:
        return Delivery(user_id=notification.user_id, ok=False, error="NOT_RUN")
    if results[key] in (False, None, 0):
        # ``false``: Bitrix24 created nothing (§15).
        return Delivery(user_id=notification.user_id, ok=False, error="NOT_CREATED")
    return Delivery(user_id=notification.user_id, ok=True)


if TYPE_CHECKING:  # mypy checks that the adapter conforms to the ports

    def _conforms(
        connector: BitrixConnector, messenger: BitrixMessenger, oauth: BitrixOAuthServer
    ) -> tuple[CrmConnector, Messenger, OAuthServer]:
        return connector, messenger, oauth
