"""The ``Messenger`` port over the in-memory Bitrix24 world: IM system notifications."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING

from touchpoints.adapters.memory.state import InboxMessage, MemoryPortal
from touchpoints.adapters.memory.world import MemoryCrm
from touchpoints.domain.portal import Portal
from touchpoints.ports.messaging import Delivery, Messenger, Notification

ATTACH_MAX = 60_000  # serialised ATTACH characters (BITRIX24.md §15)


class MemoryMessenger:
    """``Messenger``: system notifications into the world's inboxes, TAG replacing."""

    def __init__(self, world: MemoryCrm) -> None:
        self._world = world

    async def notify(self, portal: Portal, notifications: Sequence[Notification]) -> list[Delivery]:
        self._world.enter("notify")
        state = self._world.live_portal(portal.member_id)
        return [self._send(state, n) for n in notifications]

    def _send(self, portal: MemoryPortal, notification: Notification) -> Delivery:
        user_id = notification.user_id
        if user_id <= 0:
            return Delivery(user_id=user_id, ok=False, error="USER_ID_EMPTY")
        message = notification.message.strip()
        if not message:
            return Delivery(user_id=user_id, ok=False, error="MESSAGE_EMPTY")
        attach = [{"LINK": {"NAME": name, "LINK": url}} for name, url in notification.attach]
        if len(json.dumps(attach, ensure_ascii=False)) > ATTACH_MAX:
            return Delivery(user_id=user_id, ok=False, error="ATTACH_OVERSIZE")
        recipient = portal.users.get(user_id)
        if recipient is None or not recipient.info.active:
            # im.notify.system.add answers `false`: nothing was created (BITRIX24.md §15).
            return Delivery(user_id=user_id, ok=False, error="NOT_CREATED")
        if notification.tag:
            portal.inbox = [m for m in portal.inbox if m.tag != notification.tag]
        portal.inbox.append(
            InboxMessage(
                id=portal.seq("im"),
                user_id=user_id,
                message=message,
                tag=notification.tag,
                attach=notification.attach,
                created_at=self._world.clock.now(),
            )
        )
        return Delivery(user_id=user_id, ok=True)


if TYPE_CHECKING:  # mypy checks that the fake conforms to the port

    def _conforms(world: MemoryCrm) -> Messenger:
        return MemoryMessenger(world)
