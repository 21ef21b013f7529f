"""``touchpoints feedback`` shows users' text to operators with control characters escaped."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest

from tests.integration.conftest import Harness
from tests.integration.test_digest_cli import TIMEOUT_S, environment

pytestmark = pytest.mark.postgres

ANSI = "\x1b[2J\x1b[H\x1b]0;pwned\x07\x1b[31mred\x1b[0m"


async def test_the_feedback_command_escapes_terminal_controls_in_users_text(
    harness: Harness, tmp_path: Path
) -> None:
    member_id = await harness.install()
    session = await harness.session_for(member_id, 1)
    message = f"Hi{ANSI}\nsecond line\r\u202eevil\u2066\x9b6n\x7f"
    status, body = await harness.api(
        "POST",
        "/api/v1/feedback",
        session,
        json={"message": message, "email": "ops\x1b[8m@example.com"},
    )
    assert status == 201, body
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "touchpoints",
        "feedback",
        env=environment(harness, tmp_path),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), TIMEOUT_S)
    assert process.returncode == 0, err.decode()
    text = out.decode()
    for raw in ("\x1b", "\x07", "\r", "\u202e", "\u2066", "\x9b", "\x7f"):
        assert raw not in text
    assert "Hi\\x1b[2J\\x1b[H\\x1b]0;pwned\\x07\\x1b[31mred\\x1b[0m\\nsecond line\\r" in text
    assert "\\u202eevil\\u2066\\x9b6n\\x7f" in text
    assert "<ops\\x1b[8m@example.com>" in text
    lines = text.splitlines()
    assert len(lines) == 3  # the header line, the message on one line, the count
    assert lines[-1] == "1 message(s)"
