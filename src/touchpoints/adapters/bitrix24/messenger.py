"""The messaging port over ``im.notify.system.add``, 50 notifications to a batch (§15)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from touchpoints.adapters.bitrix24.batch import MAX_COMMANDS, Command, run_commands
from touchpoints.adapters.bitrix24.connector import BitrixConnector
from touchpoints.domain.portal import Portal
from touchpoints.ports.crm import CrmError
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
        client = self._connector.app_client(portal)
        deliveries: list[Delivery] = []
        for offset in range(0, len(notifications), MAX_COMMANDS):
            chunk = notifications[offset : offset + MAX_COMMANDS]
            commands = {
                f"n{offset + index}": Command("im.notify.system.add", _params(notification))
                for index, notification in enumerate(chunk)
            }
            try:
                reply = await run_commands(client, commands, safe=True)
            except CrmError as exc:
                if offset == 0:
                    raise
                code = exc.code or type(exc).__name__
                deliveries.extend(Delivery(user_id=n.user_id, ok=False, error=code) for n in chunk)
                continue
            for key, notification in zip(commands, chunk, strict=True):
                deliveries.append(_delivery(notification, key, reply.results, reply.errors))
        return deliveries


def _delivery(
    notification: Notification,
    key: str,
    results: Mapping[str, Any],
    errors: Mapping[str, CrmError],
) -> Delivery:
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
