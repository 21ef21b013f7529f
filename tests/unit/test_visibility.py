"""Team visibility: own touch-points only, unless a portal admin or a listed team viewer."""

from __future__ import annotations

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from tests.strategies import touch_points, user_ids
from tests.unit.factories import touch_point
from touchpoints.domain.model import TouchPoint
from touchpoints.domain.settings import PortalSettings
from touchpoints.domain.visibility import (
    Viewer,
    may_edit,
    may_view,
    may_view_user,
    sees_team,
    visible_responsibles,
)

TEAM = PortalSettings(team_viewers=frozenset({7}))


@pytest.mark.parametrize(
    ("viewer", "sees"),
    [
        (Viewer(5), False),
        (Viewer(5, is_admin=True), True),
        (Viewer(7), True),
    ],
)
def test_admins_and_listed_team_viewers_see_the_team(viewer: Viewer, sees: bool) -> None:
    assert sees_team(viewer, TEAM) is sees


def test_a_user_sees_their_own_figures_but_not_a_colleagues() -> None:
    assert may_view_user(Viewer(5), 5, TEAM)
    assert not may_view_user(Viewer(5), 6, TEAM)
    assert may_view_user(Viewer(7), 6, TEAM)


@pytest.mark.parametrize(
    ("viewer", "responsible_id", "created_by", "visible"),
    [
        (Viewer(5), 5, 6, True),
        (Viewer(5), 6, 5, True),
        (Viewer(5), 6, 6, False),
        (Viewer(5, is_admin=True), 6, 6, True),
        (Viewer(7), 6, 6, True),
    ],
)
def test_a_touch_point_is_visible_to_its_responsible_its_creator_and_the_team_viewers(
    viewer: Viewer, responsible_id: int, created_by: int, visible: bool
) -> None:
    tp = touch_point(responsible_id=responsible_id, created_by=created_by)
    assert may_view(viewer, tp, TEAM) is visible
    assert may_edit(viewer, tp, TEAM) is visible


@pytest.mark.parametrize(
    ("viewer", "requested", "expected"),
    [
        (Viewer(5), None, frozenset({5})),
        (Viewer(5), 5, frozenset({5})),
        (Viewer(5), 6, frozenset({5})),
        (Viewer(7), None, None),
        (Viewer(7), 6, frozenset({6})),
        (Viewer(1, is_admin=True), None, None),
        (Viewer(1, is_admin=True), 6, frozenset({6})),
    ],
)
def test_the_board_filter_never_widens_a_users_view(
    viewer: Viewer, requested: int | None, expected: frozenset[int] | None
) -> None:
    assert visible_responsibles(viewer, TEAM, requested) == expected


@st.composite
def viewers(draw: st.DrawFn) -> Viewer:
    return Viewer(draw(user_ids()), is_admin=draw(st.booleans()))


def team_settings() -> st.SearchStrategy[PortalSettings]:
    return st.builds(PortalSettings, team_viewers=st.frozensets(user_ids(), max_size=3))


@given(viewers(), touch_points(), team_settings())
def test_a_user_never_sees_a_colleagues_touch_point_unless_admin_or_team_viewer(
    viewer: Viewer, tp: TouchPoint, settings: PortalSettings
) -> None:
    colleagues = viewer.user_id not in (tp.responsible_id, tp.created_by)
    if colleagues and not viewer.is_admin and viewer.user_id not in settings.team_viewers:
        assert not may_view(viewer, tp, settings)
        assert not may_edit(viewer, tp, settings)
    else:
        assert may_view(viewer, tp, settings)


@example(viewer=Viewer(1), requested=2, settings=PortalSettings())
@given(viewers(), st.none() | user_ids(), team_settings())
def test_a_board_query_never_returns_a_colleagues_touch_points_to_a_plain_user(
    viewer: Viewer, requested: int | None, settings: PortalSettings
) -> None:
    # Regression (pinned above): a plain user asking for a colleague used to get the
    # colleague's filter back, so a caller that trusted it would have shown their board.
    allowed = visible_responsibles(viewer, settings, requested)
    if sees_team(viewer, settings):
        assert allowed == (None if requested is None else frozenset({requested}))
    else:
        assert allowed == frozenset({viewer.user_id})
