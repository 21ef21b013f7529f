"""IM notifications: batches of 50 with the app's tokens, one delivery result per notification."""

from __future__ import annotations

import attrs
import pytest

from tests.unit.test_b24_support import Scripted, local_env
from touchpoints.adapters.bitrix24.messenger import BitrixMessenger
from touchpoints.domain.portal import PortalStatus
from touchpoints.ports.crm import CrmRateLimited, PortalGone
from touchpoints.ports.messaging import Delivery, Notification


def note(user_id: int, **overrides: object) -> Notification:
    fields: dict[str, object] = {
        "user_id": user_id,
        "message": f"[b]Today: 3 touch-points[/b] for {user_id}",
        "tag": f"touchpoints.digest.{user_id}.2026-09-01",
    }
    fields.update(overrides)
    return Notification(**fields)  # type: ignore[arg-type]


async def test_notifications_go_fifty_to_a_batch_with_one_delivery_each() -> None:
    async with local_env() as env:
        notes = [note(i) for i in range(1, 121)]
        notes[60] = note(0)  # refused by Bitrix24: USER_ID_EMPTY
        deliveries = await BitrixMessenger(env.connector).notify(env.portal, notes)
        assert len(env.server.calls) == 3
        assert [len(body["cmd"]) for _, body in env.server.calls] == [50, 50, 20]
        assert [delivery.user_id for delivery in deliveries] == [n.user_id for n in notes]
        assert deliveries[60] == Delivery(user_id=0, ok=False, error="USER_ID_EMPTY")
        assert sum(delivery.ok for delivery in deliveries) == 119


async def test_a_notification_carries_its_tag_and_link_attachment() -> None:
    async with local_env() as env:
        link = ("Open board", "https://acme.bitrix24.com/marketplace/app/12/")
        deliveries = await BitrixMessenger(env.connector).notify(
            env.portal, [note(17, attach=(link,)), note(18)]
        )
        assert deliveries == [Delivery(user_id=17, ok=True), Delivery(user_id=18, ok=True)]
        sent = env.server.notifications[0]
        assert sent["TAG"] == "touchpoints.digest.17.2026-09-01"
        assert sent["ATTACH"] == [{"LINK": {"NAME": link[0], "LINK": link[1]}}]


async def test_a_single_notification_is_one_plain_call() -> None:
    async with local_env() as env:
        deliveries = await BitrixMessenger(env.connector).notify(env.portal, [note(5)])
        assert deliveries == [Delivery(user_id=5, ok=True)]
        assert env.server.methods() == ["im.notify.system.add"]


async def test_nothing_to_send_sends_nothing() -> None:
    async with local_env() as env:
        assert await BitrixMessenger(env.connector).notify(env.portal, []) == []
        assert env.server.calls == []


async def test_a_first_batch_failing_as_a_whole_raises() -> None:
    async with local_env() as env:
        env.server.script("batch", Scripted(status=503, json={"error": "OVERLOAD_LIMIT"}))
        with pytest.raises(CrmRateLimited):
            await BitrixMessenger(env.connector).notify(env.portal, [note(i) for i in range(1, 4)])


async def test_a_later_batch_failing_marks_only_its_own_notifications() -> None:
    async with local_env() as env:
        env.server.script(
            "batch",
            Scripted(
                json={"result": {"result": {"n0": False} | {f"n{i}": i for i in range(1, 50)}}}
            ),
            Scripted(status=503, json={"error": "OVERLOAD_LIMIT"}),
        )
        deliveries = await BitrixMessenger(env.connector).notify(
            env.portal, [note(i) for i in range(1, 61)]
        )
        # ``false``: Bitrix24 created nothing (§15).
        assert deliveries[0] == Delivery(user_id=1, ok=False, error="NOT_CREATED")
        assert all(delivery.ok for delivery in deliveries[1:50])
        assert {delivery.error for delivery in deliveries[50:]} == {"OVERLOAD_LIMIT"}


async def test_a_portal_needing_reauthorisation_gets_no_notifications() -> None:
    async with local_env() as env:
        gone = attrs.evolve(env.portal, status=PortalStatus.NEEDS_REAUTH)
        with pytest.raises(PortalGone):
            await BitrixMessenger(env.connector).notify(gone, [note(1)])
        assert env.server.calls == []
