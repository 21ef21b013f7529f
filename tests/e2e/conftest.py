"""Browser tests: the real ``touchpoints demo`` in a subprocess, driven by Debian's Chromium."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import attrs
import pytest
from playwright.sync_api import APIRequestContext, Browser, Page, Playwright, sync_playwright

from tests.e2e.support import ApiAs, ConsoleWatch, DemoApi, DemoPeople
from tests.net import free_port

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
START_TIMEOUT_S = 90
URL_LINE = re.compile(r"(https?://\S+/demo)\b")
# The demo's clock and the browser's both start at this instant and run on from there, so
# that no test depends on the hour the suite runs at: a Wednesday, 10:00 in Berlin (the
# demo portal's zone), with the working day ahead.
DEMO_START = datetime(2026, 9, 2, 8, 0, tzinfo=UTC)


def _demo_command(port: int) -> list[str]:
    args = ["demo", "--port", str(port), "--now", DEMO_START.isoformat()]
    console_script = Path(sys.executable).with_name("touchpoints")
    if console_script.exists():
        return [str(console_script), *args]
    return [sys.executable, "-m", "touchpoints", *args]


@attrs.frozen
class DemoServer:
    url: str
    offset: timedelta  # the demo's clock minus the real one

    def now(self) -> datetime:
        return datetime.now(UTC) + self.offset


@pytest.fixture(scope="session")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoServer]:
    """Start ``touchpoints demo`` on a free port with its own data dir, its clock at
    ``DEMO_START``; yield the URL it prints."""
    data_dir = tmp_path_factory.mktemp("demo-data")
    log_path = data_dir / "demo.log"
    env = {**os.environ, "TOUCHPOINTS_DATA_DIR": str(data_dir)}
    env.pop("TOUCHPOINTS_DATABASE_URL", None)
    # The process's clock starts a little after this, so the browser's runs at most the
    # start-up time (about a second) ahead of the demo's.
    offset = DEMO_START - datetime.now(UTC)
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            _demo_command(free_port()),
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=REPO,
        )
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        url = None
        while url is None:
            match = URL_LINE.search(log_path.read_text(errors="replace"))
            if match:
                url = match.group(1)
            elif process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(
                    f"touchpoints demo did not start:\n{log_path.read_text(errors='replace')}"
                )
            else:
                time.sleep(0.1)
        yield DemoServer(url, offset)
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


@pytest.fixture(scope="session")
def demo_url(demo: DemoServer) -> str:
    return demo.url


@pytest.fixture(scope="session")
def base_url(demo_url: str) -> str:
    return demo_url.removesuffix("/demo")


@pytest.fixture(scope="session")
def playwright_instance() -> Iterator[Playwright]:
    with sync_playwright() as playwright:
        yield playwright


@pytest.fixture(scope="session")
def browser(playwright_instance: Playwright) -> Iterator[Browser]:
    browser = playwright_instance.chromium.launch(
        executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
    )
    yield browser
    browser.close()


@pytest.fixture
def console() -> ConsoleWatch:
    return ConsoleWatch()


@pytest.fixture
def page(browser: Browser, console: ConsoleWatch, demo: DemoServer) -> Iterator[Page]:
    """A fresh 1280 px wide page on the demo's clock; the test fails on any console error it
    did not allow."""
    context = browser.new_context(
        viewport={"width": 1280, "height": 800}, locale="en-US", timezone_id="UTC"
    )
    context.clock.install(time=demo.now())
    context.set_default_timeout(15_000)
    page = context.new_page()
    page.on("console", console.on_console)
    page.on("pageerror", console.on_page_error)
    yield page
    context.close()
    assert console.unexpected() == [], "the browser console reported errors"


@pytest.fixture(scope="session")
def http(playwright_instance: Playwright, base_url: str) -> Iterator[APIRequestContext]:
    context = playwright_instance.request.new_context(base_url=base_url)
    yield context
    context.dispose()


@pytest.fixture(scope="session")
def people(http: APIRequestContext) -> DemoPeople:
    """The seeded admin, the team-viewing manager who is no admin, and a regular user."""
    anyone = DemoApi.as_user(http, 1)
    roles: dict[str, int] = {}
    for user in anyone.get("/users")["users"]:
        me = DemoApi.as_user(http, user["id"]).get("/me")
        if me["user"]["is_admin"]:
            roles.setdefault("admin", user["id"])
        elif me["sees_team"]:
            roles.setdefault("manager", user["id"])
        else:
            roles.setdefault("regular", user["id"])
    return DemoPeople(**roles)


@pytest.fixture
def api_as(http: APIRequestContext) -> ApiAs:
    """The API as any demo user: ``api_as(user_id)``."""

    def make(user_id: int) -> DemoApi:
        return DemoApi.as_user(http, user_id)

    return make


@pytest.fixture
def api(http: APIRequestContext, people: DemoPeople) -> DemoApi:
    """The API as the demo admin (who sees everyone's touch-points)."""
    return DemoApi.as_user(http, people.admin)
