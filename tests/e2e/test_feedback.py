"""The feedback widget: always at hand, a message and an optional e-mail, then thanks."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.support import DemoPeople, demo_page, open_board

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def test_feedback_is_sent_and_thanked_for(page: Page, demo_url: str, people: DemoPeople) -> None:
    open_board(page, demo_page(demo_url, people.regular))
    sent: list[str] = []
    page.on(
        "request",
        lambda request: (
            sent.append(request.post_data or "")
            if request.url.endswith("/api/v1/feedback")
            else None
        ),
    )

    page.get_by_test_id("feedback").click()
    dialog = page.get_by_role("dialog", name="Send feedback")
    dialog.get_by_test_id("feedback-send").click()
    expect(dialog.get_by_text("Write a message first.")).to_be_visible()
    dialog.get_by_test_id("feedback-message").fill("The board saves me an hour a day.")
    dialog.get_by_test_id("feedback-email").fill("lena@example.com")
    dialog.get_by_test_id("feedback-send").click()

    expect(dialog.get_by_test_id("feedback-thanks")).to_contain_text("Thank you!")
    assert len(sent) == 1
    assert "The board saves me an hour a day." in sent[0]
    assert "lena@example.com" in sent[0]
    dialog.get_by_role("button", name="Close").first.click()
    expect(dialog).to_be_hidden()


def test_the_privacy_policy_is_linked_from_the_app(
    page: Page, demo_url: str, base_url: str, people: DemoPeople
) -> None:
    open_board(page, demo_page(demo_url, people.regular))

    link = page.get_by_test_id("privacy-link")
    expect(link).to_have_attribute("href", "/privacy")
    response = page.request.get(base_url + (link.get_attribute("href") or ""))
    assert response.ok
    assert "text/html" in response.headers["content-type"]
