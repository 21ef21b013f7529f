"""The page shell and the static assets agree with each other and with the server's template contract."""

from __future__ import annotations

import re
import string
import xml.etree.ElementTree as ET
from pathlib import Path

ENTRYPOINTS = Path(__file__).resolve().parents[2] / "src" / "touchpoints" / "entrypoints"
STATIC = ENTRYPOINTS / "static"
TEMPLATE = ENTRYPOINTS / "templates" / "app.html"
SERVER_FILLS = {
    "session",
    "lang",
    "placement",
    "placement_options",
    "demo",
    "static",
    "csp_nonce",
    "font_preloads",
}
SVG = "{http://www.w3.org/2000/svg}"


def scripts() -> dict[str, str]:
    return {path.name: path.read_text("utf-8") for path in (STATIC / "js").glob("*.js")}


def test_the_app_shell_uses_exactly_the_placeholders_the_server_fills() -> None:
    identifiers = string.Template(TEMPLATE.read_text("utf-8")).get_identifiers()

    assert set(identifiers) == SERVER_FILLS


def test_every_script_tag_of_the_shell_carries_the_csp_nonce() -> None:
    tags = re.findall(r"<script\b[^>]*>", TEMPLATE.read_text("utf-8"))

    assert tags
    assert all('nonce="$csp_nonce"' in tag for tag in tags)


def test_every_module_is_preloaded_by_the_shell() -> None:
    preloaded = set(
        re.findall(
            r'rel="modulepreload" href="\$static/js/([\w-]+\.js)"', TEMPLATE.read_text("utf-8")
        )
    )

    assert preloaded == set(scripts()) - {"main.js"}


def test_modules_import_only_modules_that_exist() -> None:
    names = set(scripts())
    for name, source in scripts().items():
        for imported in re.findall(r'from "\./([\w-]+\.js)"', source):
            assert imported in names, f"{name} imports missing {imported}"


def test_every_icon_the_code_draws_is_in_the_sprite() -> None:
    sprite = ET.parse(STATIC / "icons" / "sprite.svg").getroot()
    symbols = {
        (symbol.get("id") or "").removeprefix("tp-icon-") for symbol in sprite.iter(f"{SVG}symbol")
    }
    drawn: set[str] = set()
    for source in scripts().values():
        drawn.update(re.findall(r'\bicon\("([\w-]+)"', source))
        drawn.update(re.findall(r'iconName: "([\w-]+)"', source))
    drawn.update(["call", "meeting", "email", "message", "visit", "other"])  # icon(type)

    assert drawn - symbols == set()


def test_no_script_touches_cookies_session_storage_or_raw_html() -> None:
    for name, source in scripts().items():
        assert "document.cookie" not in source, name
        assert "sessionStorage" not in source, name
        assert "innerHTML" not in source, name
