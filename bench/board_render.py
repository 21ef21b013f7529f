"""The board's rendering in Chromium with 200 cards: first paint and re-render times.

    .venv/bin/python bench/board_render.py            # 200 cards, 7 rounds
    .venv/bin/python bench/board_render.py --quick    # 200 cards, 2 rounds

Starts ``touchpoints demo`` on a free port and drives Debian's headless Chromium with
Playwright (as the browser tests do). The demo seeds about 60 cards, so the board's JSON is
widened to ``--cards`` by cloning its items under fresh ids (spread over the same columns);
everything else (page, modules, users, presets) comes from the demo server. Measured:
"load" from navigation start to every card in the DOM (performance.now() in the page), and
"re-render" the synchronous rebuild after selecting a card (checkbox click to the next frame).
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from playwright.sync_api import Route, sync_playwright

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.net import free_port  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
URL_LINE = re.compile(r"(https?://\S+/demo)\b")


def start_demo(data_dir: Path) -> tuple[subprocess.Popen[bytes], str]:
    log_path = data_dir / "demo.log"
    env = {**os.environ, "TOUCHPOINTS_DATA_DIR": str(data_dir)}
    env.pop("TOUCHPOINTS_DATABASE_URL", None)
    command = [sys.executable, "-m", "touchpoints", "demo", "--port", str(free_port())]
    with log_path.open("wb") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=REPO)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        match = URL_LINE.search(log_path.read_text(errors="replace"))
        if match:
            return process, match.group(1)
        if process.poll() is not None:
            break
        time.sleep(0.1)
    process.kill()
    raise SystemExit(f"the demo did not start:\n{log_path.read_text(errors='replace')}")


def widen(board: dict[str, Any], cards: int) -> dict[str, Any]:
    """The board with ``cards`` items: the real ones, then clones under fresh ids."""
    wide = copy.deepcopy(board)
    columns = [c for c in wide["columns"] if c["items"]]
    originals = [(c, item) for c in columns for item in c["items"]]
    next_id = 1_000_000
    n = 0
    while sum(len(c["items"]) for c in wide["columns"]) < cards:
        column, item = originals[n % len(originals)]
        clone = {**copy.deepcopy(item), "id": next_id, "activity_id": next_id}
        column["items"].append(clone)
        next_id += 1
        n += 1
    return wide


def measure(url: str, cards: int, rounds: int) -> tuple[list[float], list[float]]:
    loads: list[float] = []
    renders: list[float] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=["--no-sandbox", "--disable-gpu"]
        )
        wide: dict[str, Any] | None = None

        def board(route: Route) -> None:
            nonlocal wide
            if wide is None:
                wide = widen(route.fetch().json(), cards)
            route.fulfill(status=200, content_type="application/json", body=json.dumps(wide))

        for _ in range(rounds + 1):  # the first round warms the caches and is dropped
            context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-US")
            page = context.new_page()
            page.route("**/api/v1/board*", board)
            page.goto(url)
            page.wait_for_function(
                "(n) => document.querySelectorAll('[data-testid=board] [data-testid=card]').length >= n",
                arg=cards,
                polling="raf",
                timeout=30_000,
            )
            loads.append(page.evaluate("performance.now()"))
            renders.append(
                page.evaluate(
                    """async () => {
                        const box = document.querySelector('[data-testid=card-select]');
                        const t0 = performance.now();
                        box.click();
                        await new Promise((done) => requestAnimationFrame(() => setTimeout(done)));
                        return performance.now() - t0;
                    }"""
                )
            )
            context.close()
        browser.close()
    return loads[1:], renders[1:]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--cards", type=int, default=200)
    args = parser.parse_args()
    rounds = 2 if args.quick else 7
    with tempfile.TemporaryDirectory(prefix="board-render-") as data:
        process, url = start_demo(Path(data))
        try:
            loads, renders = measure(f"{url}?user=1", args.cards, rounds)
        finally:
            process.terminate()
            process.wait(timeout=20)
    print("| cards | rounds | load median | load max | re-render median | re-render max |")
    print("|---|---|---|---|---|---|")
    print(
        f"| {args.cards} | {rounds} | {statistics.median(loads):.0f} ms | {max(loads):.0f} ms"
        f" | {statistics.median(renders):.0f} ms | {max(renders):.0f} ms |"
    )


if __name__ == "__main__":
    main()
