"""``GET /api/v1/smart-processes``: the portal's smart-process types, read live, and whether
each is enabled (DESIGN.md §3.7). The settings page lists them next to the four entities;
the board names a smart process's cards by them."""

from __future__ import annotations

from typing import Annotated

import attrs

from touchpoints.domain.constraints import Describe, Title
from touchpoints.domain.model import EntityType
from touchpoints.entrypoints.routes import Call, Route
from touchpoints.entrypoints.wire import Empty
from touchpoints.services.account import smart_processes


@attrs.frozen(kw_only=True)
class SmartProcessItem:
    type: Annotated[EntityType, Describe("`dynamic_<entityTypeId>`, as in `owner.type`.")]
    title: Title
    enabled: Annotated[bool, Describe("Whether touch-points may be planned on its items.")]


@attrs.frozen(kw_only=True)
class SmartProcessesReply:
    items: list[SmartProcessItem]


async def listing(call: Call[Empty, Empty]) -> SmartProcessesReply:
    """The portal's smart-process types (read live from the CRM)."""
    ctx = call.ctx
    enabled = ctx.use_case.settings.enabled_entities
    return SmartProcessesReply(
        items=[
            SmartProcessItem(type=info.type, title=info.title, enabled=info.type in enabled)
            for info in await smart_processes(ctx.use_case)
        ]
    )


ROUTES: tuple[Route, ...] = (Route("GET", "/api/v1/smart-processes", listing),)
