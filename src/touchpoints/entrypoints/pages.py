"""HTML pages: the app shell Bitrix24 frames, the installer's finish page, the privacy policy."""

from __future__ import annotations

import html
import json
import secrets
from functools import cache
from importlib import resources
from string import Template
from typing import Any

from aiohttp import web

from touchpoints.entrypoints.config import PrivacyConfig
from touchpoints.entrypoints.http import frame_csp

STATIC_PREFIX = "/static/v1"
PRIVACY_UPDATED = "2026-12-02"


@cache
def _template(name: str) -> Template:
    path = resources.files("touchpoints.entrypoints").joinpath("templates", name)
    return Template(path.read_text(encoding="utf-8"))


def app_page(
    *,
    session: str,
    lang: str,
    placement: str,
    placement_options: dict[str, Any],
    portal_domain: str | None,
    demo: bool = False,
) -> web.Response:
    """The single-page app, with the session in a meta tag (never in a URL or cookie).

    ``demo`` marks a page served outside Bitrix24 by the demo plugin: no frame API, a
    switcher of demo users.
    """
    nonce = secrets.token_urlsafe(16)
    body = _template("app.html").safe_substitute(
        session=html.escape(session, quote=True),
        lang=html.escape(lang, quote=True),
        placement=html.escape(placement, quote=True),
        placement_options=html.escape(json.dumps(placement_options), quote=True),
        demo="true" if demo else "false",
        static=STATIC_PREFIX,
        csp_nonce=nonce,
        font_preloads=font_preloads(lang),
    )
    return web.Response(
        text=body,
        content_type="text/html",
        headers={"Content-Security-Policy": frame_csp(nonce, portal_domain)},
    )


FONT_WEIGHTS = (400, 600, 700)
# The Open Sans subsets a language's text is set in (static/fonts); Latin serves every page.
_SUBSETS = {"ru": ("latin", "cyrillic")}


def font_preloads(lang: str) -> str:
    """``<link rel=preload>`` lines for the font files a page in ``lang`` lays out first."""
    return "\n".join(
        f'  <link rel="preload" href="{STATIC_PREFIX}/fonts/open-sans-{subset}-{weight}-normal.woff2"'
        ' as="font" type="font/woff2" crossorigin>'
        for subset in _SUBSETS.get(lang, ("latin",))
        for weight in FONT_WEIGHTS
    )


def install_finish_page(*, portal_domain: str | None, ok: bool, message: str = "") -> web.Response:
    """Calls ``BX24.installFinish()`` (BITRIX24.md §8.2); Bitrix24 then opens the app itself."""
    nonce = secrets.token_urlsafe(16)
    if ok:
        script = (
            f'<script src="https://api.bitrix24.com/api/v1/"></script>'
            f'<script nonce="{nonce}">'
            "BX24.init(function(){BX24.installFinish();});"
            "</script>"
        )
        text = "Touch-points is installed. Opening the board…"
    else:
        script = ""
        text = "Touch-points could not be installed: " + html.escape(message)
    body = (
        "<!doctype html><html><head><meta charset='utf-8'><title>Touch-points</title>"
        "<style>body{font:15px/1.5 system-ui,'Open Sans',sans-serif;color:#333;"
        "margin:40px;text-align:center}</style>"
        f"</head><body><p>{text}</p>{script}</body></html>"
    )
    return web.Response(
        text=body,
        content_type="text/html",
        status=200 if ok else 403,
        headers={"Content-Security-Policy": frame_csp(nonce, portal_domain)},
    )


def privacy_page(privacy: PrivacyConfig) -> web.Response:
    values = {
        "operator": html.escape(privacy.operator_name),
        "email": html.escape(privacy.contact_email),
        "region": html.escape(privacy.data_region),
        "subprocessors": html.escape(privacy.subprocessors),
        "updated": PRIVACY_UPDATED,
    }
    body = _template("privacy.html").safe_substitute(values)
    return web.Response(
        text=body,
        content_type="text/html",
        headers={"Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'"},
    )
