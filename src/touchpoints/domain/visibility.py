"""Team visibility: a user sees and edits their own touch-points; admins and team viewers see all."""

from __future__ import annotations

import attrs

from touchpoints.domain.model import TouchPoint
from touchpoints.domain.settings import PortalSettings


@attrs.frozen
class Viewer:
    """The user behind a request: their Bitrix24 id and whether they may manage the app."""

    user_id: int
    is_admin: bool = False


def sees_team(viewer: Viewer, settings: PortalSettings) -> bool:
    """Portal admins and listed team viewers see everyone's touch-points."""
    return viewer.is_admin or viewer.user_id in settings.team_viewers


def may_view_user(viewer: Viewer, user_id: int, settings: PortalSettings) -> bool:
    """Whether ``viewer`` may see the touch-points (or figures) of ``user_id``."""
    return viewer.user_id == user_id or sees_team(viewer, settings)


def may_view(viewer: Viewer, touch_point: TouchPoint, settings: PortalSettings) -> bool:
    """A touch-point is visible to its responsible user, its creator, and the team's viewers."""
    return (
        may_view_user(viewer, touch_point.responsible_id, settings)
        or viewer.user_id == touch_point.created_by
    )


def may_edit(viewer: Viewer, touch_point: TouchPoint, settings: PortalSettings) -> bool:
    """Editing follows viewing: whoever may see a touch-point may move, complete or cancel it.

    Bitrix24 still applies the user's own CRM permissions to the to-do behind it.
    """
    return may_view(viewer, touch_point, settings)


def visible_responsibles(
    viewer: Viewer, settings: PortalSettings, requested: int | None
) -> frozenset[int] | None:
    """The responsible-user filter a board query must apply.

    None means "everyone" (team viewers with no filter). A user without team visibility
    always gets just themselves, whatever they asked for; asking for a colleague raises
    nothing here: callers compare the result with the request and refuse.
    """
    if not sees_team(viewer, settings):
        return frozenset({viewer.user_id})
    if requested is not None:
        return frozenset({requested})
    return None
