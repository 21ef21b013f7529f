"""The command line: documented commands, and configuration errors that name the variable."""

from __future__ import annotations

import pytest

from touchpoints.entrypoints.cli import build_parser, main


@pytest.mark.parametrize("command", ["serve", "migrate", "digest", "feedback", "demo"])
def test_every_documented_command_has_help(
    command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        build_parser().parse_args([command, "--help"])
    assert exited.value.code == 0
    assert command in capsys.readouterr().out


def test_digest_now_must_carry_an_offset(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args(["digest", "--once", "--now", "2026-09-01T07:00:00"])
    assert "offset" in capsys.readouterr().err
    args = build_parser().parse_args(["digest", "--once", "--now", "2026-09-01T07:00:00+02:00"])
    assert args.now.utcoffset().total_seconds() == 7200


@pytest.mark.parametrize("command", [["serve"], ["digest", "--once"]])
def test_serving_commands_stop_at_once_naming_a_missing_variable(
    command: list[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in ("TOUCHPOINTS_PUBLIC_URL", "TOUCHPOINTS_SECRET_KEY", "TOUCHPOINTS_B24_CLIENT_ID"):
        monkeypatch.delenv(name, raising=False)
    assert main(command) == 78
    assert "TOUCHPOINTS_PUBLIC_URL" in capsys.readouterr().err


def test_a_malformed_variable_is_reported_without_its_value(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("TOUCHPOINTS_SECRET_KEY", "too-short-secret")
    assert main(["serve"]) == 78
    err = capsys.readouterr().err
    assert "TOUCHPOINTS_SECRET_KEY" in err
    assert "too-short-secret" not in err


def test_the_demo_clock_can_start_at_a_given_instant(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args(["demo", "--now", "tomorrow"])
    assert "ISO 8601" in capsys.readouterr().err
    args = build_parser().parse_args(["demo", "--port", "8181", "--now", "2026-09-02T08:00Z"])
    assert args.now.isoformat() == "2026-09-02T08:00:00+00:00"
    assert build_parser().parse_args(["demo"]).now is None
