"""Who acts, and what every touch-point use case reads: settings, visible rows, live cards."""

from __future__ import annotations

from collections.abc import Sequence

import attrs

from touchpoints.domain.crm import RecordCard
from touchpoints.domain.model import OwnerRef, TouchPoint
from touchpoints.domain.portal import Portal
from touchpoints.domain.settings import PortalSettings
from touchpoints.domain.trusted import trusted
from touchpoints.domain.visibility import Viewer, may_view
from touchpoints.ports.clock import Clock
from touchpoints.ports.crm import Crm, CrmConnector, Hidden, RecordLookup
from touchpoints.ports.storage import Storage, UnitOfWork
from touchpoints.services.errors import Forbidden, NotFound


@attrs.frozen
class Actor:
    """Who acts: their portal and identity (from a verified session)."""

    portal: Portal
    viewer: Viewer


@attrs.frozen(kw_only=True, slots=False)  # a dict ``trusted`` fills in one step, 200 a board
class Card:
    """A touch-point with what the CRM says of it, read live with the user's token: the owner
    record's title and the to-do's own subject (``title``) and description (``note``), and
    the owner ``record`` itself (its stage and amount; the stage's name when read with
    ``stages``). ``None``: hidden from this user (or gone). Never stored: the privacy policy
    lists what we keep.
    """

    touch_point: TouchPoint
    owner_title: str | None
    title: str | None = None
    note: str | None = None
    record: RecordCard | None = None


@attrs.frozen(kw_only=True)
class UseCase:
    """What a use case of one request needs: who acts, the portal's settings (loaded once,
    with the caller), the CRM as the caller, storage, the clock, and the connector for what
    the app itself does on the portal (rebinding its placements)."""

    actor: Actor
    settings: PortalSettings
    crm: Crm
    storage: Storage
    clock: Clock
    connector: CrmConnector

    @classmethod
    async def load(
        cls, *, storage: Storage, crm: Crm, clock: Clock, connector: CrmConnector, actor: Actor
    ) -> UseCase:
        """For callers without a request context: loads the actor's portal settings."""
        settings = await portal_settings(storage, actor.portal.id)
        return cls(
            actor=actor,
            settings=settings,
            crm=crm,
            storage=storage,
            clock=clock,
            connector=connector,
        )


async def load_settings(uow: UnitOfWork, portal_id: int) -> PortalSettings:
    return await uow.settings.get(portal_id) or PortalSettings.defaults()


async def load_portal(uow: UnitOfWork, portal_id: int) -> tuple[Portal, PortalSettings] | None:
    """The portal and its settings (the defaults when never saved), in one read."""
    found = await uow.portals.get_with_settings(portal_id)
    if found is None:
        return None
    portal, settings = found
    return portal, settings or PortalSettings.defaults()


async def portal_settings(storage: Storage, portal_id: int) -> PortalSettings:
    async with storage.unit_of_work() as uow:
        return await load_settings(uow, portal_id)


def _record(lookup: RecordLookup, ref: OwnerRef) -> RecordCard | None:
    record = lookup.get(ref)
    if record is None or isinstance(record, Hidden):
        return None
    return record


async def cards_for(
    crm: Crm, touch_points: Sequence[TouchPoint], *, stages: bool = False
) -> list[Card]:
    """Cards with live owner records and to-do texts, one batched round for all of them
    (``stages``: with the records' stage names, at most one round more)."""
    if not touch_points:
        return []
    lookup = await crm.read_cards(
        dict.fromkeys(tp.owner for tp in touch_points),
        dict.fromkeys(tp.activity_id for tp in touch_points),
        stages=stages,
    )
    cards: list[Card] = []
    for tp in touch_points:
        text = lookup.todos.get(tp.activity_id)
        record = _record(lookup.records, tp.owner)
        # Our own stored value and the CRM's parsed reply: nothing to check again.
        cards.append(
            trusted(
                Card,
                {
                    "touch_point": tp,
                    "owner_title": None if record is None else record.title,
                    "title": None if text is None else text.subject,
                    "note": None if text is None else text.description,
                    "record": record,
                },
            )
        )
    return cards


async def card_for(crm: Crm, touch_point: TouchPoint) -> Card:
    """``cards_for`` of one touch-point."""
    return (await cards_for(crm, [touch_point]))[0]


async def visible_touch_point(
    uow: UnitOfWork, actor: Actor, touch_point_id: int, settings: PortalSettings
) -> TouchPoint:
    """The actor's portal's touch-point, if they may see it.

    Raises: NotFound (no such touch-point on the portal), Forbidden (a colleague's).
    """
    touch_point = await uow.touch_points.get(actor.portal.id, touch_point_id)
    if touch_point is None:
        raise NotFound(f"touch-point {touch_point_id} not found")
    if not may_view(actor.viewer, touch_point, settings):
        raise Forbidden("this touch-point belongs to a colleague")
    return touch_point
