"""The board's rendering in Chromium with 200 cards: first paint and re-render times.

    .venv/bin/python bench/board_render.py            # 200 cards, 7 rounds
    .venv/bin/python bench/board_render.py --quick    # 200 cards, 2 rounds

Starts ``touchpoints demo`` on a free port and drives Debian's headless Chromium with
Playwright (as the browser tests do). The demo seeds about 60 cards, so the board's JSON is
widened to ``--cards`` by cloning its items under fresh ids (spread over the same columns);
everything else (page, modules, users, presets) comes from the demo server. Measured:
"first frame" from navigation start to the end of the first paint (on the renderer's main
thread, from the trace) after the first cards entered the DOM: the cards above each column's
fold, the others follow in the next frames; "first cards" the same frame from the board's
JSON arriving (the page's own work, as "render"),
"load" from navigation start to every card in the DOM (performance.now() in the page),
"render" from the board's JSON arriving (its resource timing) to the first frame after every
card is in the DOM (the page's own work, without the server's), "render CPU" the renderer main
thread's CPU time over that span (from a DevTools trace: on a shared machine, wall times
include waiting for a core, CPU time does not), and "re-render" the rebuild after selecting a
card (checkbox click to the next frame).

    .venv/bin/python bench/board_render.py --app-src /work/main/src   # another checkout's page

``--app-src`` serves the page of another checkout (its static files and templates), for
before/after figures taken in the same session.
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


def start_demo(data_dir: Path, app_src: Path | None = None) -> tuple[subprocess.Popen[bytes], str]:
    log_path = data_dir / "demo.log"
    env = {**os.environ, "TOUCHPOINTS_DATA_DIR": str(data_dir)}
    env.pop("TOUCHPOINTS_DATABASE_URL", None)
    if app_src is not None:
        env["PYTHONPATH"] = str(app_src)
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


FIRST_CARDS = """(() => {
    const shown = () => document.querySelector("[data-testid=board] [data-testid=card]");
    new MutationObserver((_, observer) => {
        if (!shown()) return;
        observer.disconnect();
        window.firstCardsAt = performance.now();
    }).observe(document, { childList: true, subtree: true });
})();"""

RENDERED = """async () => {
    await new Promise((done) => requestAnimationFrame(() => setTimeout(done)));
    const board = performance.getEntriesByType("resource").find((e) => e.name.includes("/api/v1/board"));
    return performance.now() - board.responseEnd;
}"""

ARRIVED = """() => performance.getEntriesByType("resource")
    .find((e) => e.name.includes("/api/v1/board")).responseEnd"""

RERENDER = """async () => {
    const box = document.querySelector('[data-testid=card-select]');
    const t0 = performance.now();
    box.click();
    await new Promise((done) => requestAnimationFrame(() => setTimeout(done)));
    return performance.now() - t0;
}"""


def _main_thread(events: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], float]:
    """The renderer main thread's complete events, and the page's time origin on the trace's
    clock (its navigationStart mark, in µs)."""
    threads = {
        (e["pid"], e["tid"])
        for e in events
        if e.get("name") == "thread_name" and e.get("args", {}).get("name") == "CrRendererMain"
    }
    origins = [
        e["ts"]
        for e in events
        if e.get("name") == "navigationStart" and "/demo" in json.dumps(e.get("args", {}))
    ]
    main = [e for e in events if (e.get("pid"), e.get("tid")) in threads and e.get("ph") == "X"]
    return main, max(origins)


def main_thread_cpu_ms(events: list[dict[str, Any]], since_ms: float) -> float:
    """CPU time of the renderer's main thread in its top-level tasks from ``since_ms``.

    ``since_ms`` is a page time (performance.now()); the trace's clock is placed by the
    page's navigationStart mark, which is the page's time origin.
    """
    main, origin = _main_thread(events)
    start = origin + since_ms * 1000
    tasks = [
        e
        for e in main
        if e.get("name") in {"RunTask", "ThreadControllerImpl::RunTask"} and e["ts"] >= start
    ]
    return sum(e.get("tdur", e.get("dur", 0)) for e in tasks) / 1000


def first_paint_after_ms(events: list[dict[str, Any]], since_ms: float) -> float:
    """The page time at which the main thread finished the first ``Paint`` begun after
    ``since_ms`` (the frame that first shows what the page had built by then)."""
    main, origin = _main_thread(events)
    start = origin + since_ms * 1000
    paints = [e for e in main if e.get("name") == "Paint" and e["ts"] >= start]
    first = min(paints, key=lambda e: e["ts"])
    return (first["ts"] + first.get("dur", 0) - origin) / 1000


def measure(url: str, cards: int, rounds: int) -> dict[str, list[float]]:
    figures: dict[str, list[float]] = {
        "first frame": [],
        "first cards": [],
        "load": [],
        "render": [],
        "render CPU": [],
        "re-render": [],
    }
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
            page.add_init_script(FIRST_CARDS)
            cdp = context.new_cdp_session(page)
            events: list[dict[str, Any]] = []
            finished: list[bool] = []
            cdp.on("Tracing.dataCollected", lambda data, into=events: into.extend(data["value"]))
            cdp.on("Tracing.tracingComplete", lambda _, into=finished: into.append(True))
            categories = [
                "toplevel",
                "blink.user_timing",
                "devtools.timeline",
                "disabled-by-default-devtools.timeline",
            ]
            cdp.send("Tracing.start", {"traceConfig": {"includedCategories": categories}})
            page.goto(url)
            page.wait_for_function(
                "(n) => document.querySelectorAll('[data-testid=board] [data-testid=card]').length >= n",
                arg=cards,
                polling="raf",
                timeout=30_000,
            )
            figures["load"].append(page.evaluate("performance.now()"))
            figures["render"].append(page.evaluate(RENDERED))
            cdp.send("Tracing.end")
            while not finished:
                page.wait_for_timeout(50)
            arrived = page.evaluate(ARRIVED)
            cards_in = page.evaluate("window.firstCardsAt")
            first_frame = first_paint_after_ms(events, cards_in)
            figures["first frame"].append(first_frame)
            figures["first cards"].append(first_frame - arrived)
            figures["render CPU"].append(main_thread_cpu_ms(events, arrived))
            figures["re-render"].append(page.evaluate(RERENDER))
            context.close()
        browser.close()
    return {name: values[1:] for name, values in figures.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--cards", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=None)
    parser.add_argument("--app-src", type=Path, default=None)
    args = parser.parse_args()
    rounds = args.rounds or (2 if args.quick else 7)
    with tempfile.TemporaryDirectory(prefix="board-render-") as data:
        process, url = start_demo(Path(data), args.app_src)
        try:
            figures = measure(f"{url}?user=1", args.cards, rounds)
        finally:
            process.terminate()
            process.wait(timeout=20)
    names = list(figures)
    print(
        "| cards | rounds | " + " | ".join(f"{name} median | {name} max" for name in names) + " |"
    )
    print("|---|---|" + "---|---|" * len(names))
    cells = " | ".join(
        f"{statistics.median(values):.0f} ms | {max(values):.0f} ms" for values in figures.values()
    )
    print(f"| {args.cards} | {rounds} | {cells} |")


if __name__ == "__main__":
    main()
