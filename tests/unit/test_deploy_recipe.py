"""The Railway recipe at the repository root runs commands and checks routes that exist."""

from __future__ import annotations

import re
import shlex
import tomllib
from pathlib import Path

import pytest

from touchpoints.entrypoints import config as config_module
from touchpoints.entrypoints.app import _application
from touchpoints.entrypoints.cli import build_parser

ROOT = Path(__file__).resolve().parents[2]
RECIPES = {"web": ROOT / "railway.toml", "digest": ROOT / "railway.digest.toml"}


def _deploy(service: str) -> dict[str, object]:
    recipe = tomllib.loads(RECIPES[service].read_text(encoding="utf-8"))
    deploy: dict[str, object] = recipe["deploy"]
    return deploy


def _touchpoints_args(command: str) -> list[str]:
    words = shlex.split(command.replace("$PORT", "8080"))
    assert words[:3] == ["python", "-m", "touchpoints"], command
    return words[3:]


@pytest.mark.parametrize("service", sorted(RECIPES))
def test_every_railway_command_is_one_the_command_line_accepts(service: str) -> None:
    deploy = _deploy(service)
    commands = [str(deploy["startCommand"])]
    commands += [str(c) for c in deploy.get("preDeployCommand", [])]  # type: ignore[attr-defined]
    for command in commands:
        build_parser().parse_args(_touchpoints_args(command))


def test_the_web_service_listens_on_railways_port_and_the_digest_loops() -> None:
    web = build_parser().parse_args(_touchpoints_args(str(_deploy("web")["startCommand"])))
    assert (web.command, web.host, web.port) == ("serve", "0.0.0.0", 8080)
    digest = build_parser().parse_args(_touchpoints_args(str(_deploy("digest")["startCommand"])))
    assert (digest.command, digest.once) == ("digest", False)


def test_the_web_health_check_is_the_readiness_route_of_the_app() -> None:
    app = _application(https=True)
    paths = {resource.canonical for resource in app.router.resources()}
    assert _deploy("web")["healthcheckPath"] == "/readyz"
    assert {"/readyz", "/healthz"} <= paths


def test_every_variable_the_deploy_guide_names_is_one_the_configuration_reads() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.partition("## Deploy on Railway and Supabase")[2].partition("\n## ")[0]
    named = set(re.findall(r"TOUCHPOINTS_[A-Z0-9_]+", section))
    read = set(re.findall(r"TOUCHPOINTS_[A-Z0-9_]+", Path(config_module.__file__).read_text()))
    assert named >= {"TOUCHPOINTS_DATABASE_URL", "TOUCHPOINTS_DB_STATEMENT_CACHE"}
    assert named <= read
