"""``touchpoints demo`` started again on its own data: the same secret, the page still answers."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.net import free_port

pytestmark = [pytest.mark.postgres, pytest.mark.slow]


def _start(data_dir: Path, port: int, secret_key: str | None = None) -> subprocess.Popen[str]:
    env = {**os.environ, "TOUCHPOINTS_DATA_DIR": str(data_dir), "TOUCHPOINTS_LOG_LEVEL": "WARNING"}
    env.pop("TOUCHPOINTS_DATABASE_URL", None)
    env.pop("TOUCHPOINTS_SECRET_KEY", None)
    if secret_key is not None:
        env["TOUCHPOINTS_SECRET_KEY"] = secret_key
    return subprocess.Popen(
        [sys.executable, "-m", "touchpoints", "demo", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _demo_page_status(process: subprocess.Popen[str], port: int) -> int:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            output = process.stdout.read() if process.stdout else ""
            raise AssertionError(f"the demo exited with {process.returncode}: {output[-3000:]}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/demo", timeout=5) as reply:
                status: int = reply.status
                return status
        except OSError:
            time.sleep(0.2)
    raise AssertionError("the demo never answered")


def _stop(process: subprocess.Popen[str], sig: signal.Signals) -> str:
    process.send_signal(sig)
    output, _ = process.communicate(timeout=30)
    assert process.returncode == 0, output
    return output


def test_the_demo_starts_again_on_the_data_of_its_previous_run(tmp_path: Path) -> None:
    data_dir = tmp_path / "demo-data"
    port = free_port()
    for stop_with in (signal.SIGINT, signal.SIGTERM, signal.SIGINT):
        process = _start(data_dir, port)
        try:
            assert _demo_page_status(process, port) == 200
        finally:
            output = _stop(process, stop_with)
        assert "Traceback" not in output
    secret = data_dir / "demo-secret"
    assert stat.S_IMODE(secret.stat().st_mode) == 0o600
    assert len(secret.read_text().strip()) >= 32


def test_demo_data_made_under_another_secret_is_seeded_afresh(tmp_path: Path) -> None:
    data_dir = tmp_path / "demo-data"
    port = free_port()
    process = _start(data_dir, port, secret_key="an-older-demo-secret-0123456789abcdef")
    try:
        assert _demo_page_status(process, port) == 200
    finally:
        _stop(process, signal.SIGTERM)
    process = _start(data_dir, port)
    try:
        assert _demo_page_status(process, port) == 200
    finally:
        _stop(process, signal.SIGTERM)


def test_a_busy_port_names_the_way_to_pick_another(tmp_path: Path) -> None:
    port = free_port()
    first = _start(tmp_path / "one", port)
    try:
        assert _demo_page_status(first, port) == 200
        second = _start(tmp_path / "one", port)
        output, _ = second.communicate(timeout=60)
        assert second.returncode == 1
        assert f"make run PORT={port + 1}" in output
        assert "Traceback" not in output
    finally:
        _stop(first, signal.SIGTERM)
