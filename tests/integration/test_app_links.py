"""Links into the app from the digest (DESIGN.md §3.7, BITRIX24.md §22.1.11): the
``REST_APP_URI`` placement bound once per app at install and on update, its launches read
strictly, forged or garbled ones refused."""

from __future__ import annotations

import pytest

from tests.integration.conftest import Harness
from tests.integration.test_placements import page_options
from touchpoints.domain.placements import APP_LINK

ADMIN = 1


def link_bindings(harness: Harness, member_id: str) -> list[str]:
    return [b.handler for b in harness.b24.placement_bindings(member_id) if b.placement == APP_LINK]


def link(harness: Harness, key: str, value: int) -> str:
    """The link the digest puts into a message (``services.bot_digest.app_links``)."""
    return f"/marketplace/view/{harness.b24.client_id}/?params[{key}]={value}"


async def test_install_binds_the_link_placement_to_the_app_once(harness: Harness) -> None:
    member_id = await harness.install()

    assert link_bindings(harness, member_id) == [f"{harness.base_url}/b24/app"]


async def test_updates_bind_the_link_placement_again_without_a_refusal(harness: Harness) -> None:
    member_id = await harness.install()

    deliveries = await harness.b24.update_app(member_id)
    deliveries += await harness.b24.update_app(member_id)

    assert [d.status for d in deliveries] == [200, 200]
    assert link_bindings(harness, member_id) == [f"{harness.base_url}/b24/app"]


@pytest.mark.parametrize("key", ["complete", "responsible_id"])
async def test_a_link_launch_opens_the_page_with_its_id(harness: Harness, key: str) -> None:
    member_id = await harness.install()
    session = await harness.session_for(member_id, ADMIN)
    touch_point = await harness.create_touch_point(member_id, session)
    value = touch_point["id"] if key == "complete" else ADMIN

    launch = harness.b24.app_link_launch(member_id, ADMIN, link(harness, key, value))
    response = await harness.post_frame("/b24/app", launch)

    body = await response.text()
    assert response.status == 200, body
    assert "URI" in launch.form["PLACEMENT_OPTIONS"]
    assert page_options(body) == (APP_LINK, {key: str(value)})


async def test_a_forged_link_launch_is_refused(harness: Harness) -> None:
    member_id = await harness.install()

    launch = harness.b24.app_link_launch(
        member_id, ADMIN, link(harness, "complete", 7), forged=True
    )
    response = await harness.post_frame("/b24/app", launch)

    body = await response.text()
    assert response.status == 401
    assert "tp-session" not in body


@pytest.mark.parametrize(
    "options",
    [
        "[]",
        '{"URI":"/marketplace/view/x/"}',
        '{"complete":"0"}',
        '{"complete":"-3"}',
        '{"complete":"abc"}',
        '{"responsible_id":"1.5"}',
        '{"complete":"1","responsible_id":"2"}',
        '{"complete":"1","other":"y"}',
        '{"complete":"<script>alert(1)</script>"}',
        "{" * 50_000,
    ],
)
async def test_garbled_link_options_answer_a_clear_page(harness: Harness, options: str) -> None:
    member_id = await harness.install()
    launch = harness.b24.frame_launch(member_id, ADMIN, APP_LINK)
    launch.form["PLACEMENT_OPTIONS"] = options

    response = await harness.post_frame("/b24/app", launch)

    body = await response.text()
    assert response.status == 400
    assert "reopen it from Bitrix24" in body
    assert "tp-session" not in body
    assert "<script>" not in body
