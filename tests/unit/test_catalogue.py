"""One message catalogue: the UI's translation files also word the digest and the CSV exports."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.unit.factories import build_digest, touch_point
from touchpoints.domain import digest
from touchpoints.domain.messages import Catalogue
from touchpoints.domain.model import OwnerRef, OwnerType, Status, TouchPointType
from touchpoints.domain.settings import PortalSettings
from touchpoints.entrypoints import reports_api
from touchpoints.entrypoints.catalogue import load_catalogue

I18N = (
    Path(__file__).resolve().parents[2] / "src" / "touchpoints" / "entrypoints" / "static" / "i18n"
)
NOW = datetime(2026, 9, 1, 7, 0, tzinfo=UTC)


def plain_texts(lang: str) -> dict[str, str]:
    data = json.loads((I18N / f"{lang}.json").read_text(encoding="utf-8"))
    return {key: value for key, value in data.items() if isinstance(value, str)}


@pytest.mark.parametrize("lang", ["en", "ru"])
def test_every_label_the_digest_and_the_csv_use_is_in_both_translation_files(lang: str) -> None:
    used = digest.catalogue_keys() | reports_api.label_keys()
    assert {"digest.header", "status.orphaned", "csv.yes", "reports.col.orphaned"} <= used
    missing = sorted(used - set(plain_texts(lang)))
    assert missing == [], f"{lang}.json lacks {missing}"


def test_the_catalogue_is_the_translation_files_read_once() -> None:
    catalogue = load_catalogue()
    assert catalogue is load_catalogue()
    assert (
        catalogue.for_language("ru-RU")["status.orphaned"] == plain_texts("ru")["status.orphaned"]
    )
    assert catalogue.for_language("de") == catalogue.for_language("en")


def test_the_csv_calls_an_orphaned_touch_point_what_the_board_calls_it() -> None:
    for lang in ("en", "ru"):
        texts = load_catalogue().for_language(lang)
        board = plain_texts(lang)
        user_headers = [texts[key] for key in reports_api._USER_HEADERS]
        assert board["status.orphaned"] == texts[reports_api._label_key(Status.ORPHANED)]
        assert board["reports.col.orphaned"] in user_headers
    assert "Deleted in CRM" not in json.dumps(plain_texts("en"))


def test_the_digest_reads_nothing_but_its_catalogue_keys() -> None:
    english = load_catalogue().for_language("en")
    only = {key: english[key] for key in digest.catalogue_keys()}
    reworded = Catalogue.of(
        {"en": {**only, "type.call": "Ring", "digest.overdue": "Late: {count}"}}
    )
    owners = [OwnerRef(owner, n) for n, owner in enumerate(OwnerType, start=1)]
    due = [
        touch_point(
            id=n,
            activity_id=100 + n,
            owner=owners[n % len(owners)],
            type=kind,
            deadline=NOW - timedelta(hours=n),
        )
        for n, kind in enumerate(TouchPointType, start=1)
    ]
    today = touch_point(id=99, activity_id=199, deadline=NOW + timedelta(hours=1))

    def render(limit: int) -> str:
        rendered = build_digest(
            user_id=5,
            touch_points=[*due, today],
            now=NOW,
            settings=PortalSettings(time_zone="Europe/Berlin"),
            titles={},
            language="en",
            board_url="https://acme.bitrix24.com/marketplace/app/1/",
            record_url=digest.crm_record_links("https://acme.bitrix24.com"),
            catalogue=reworded,
            limit=limit,
        )
        assert rendered is not None
        return rendered.message

    everything = render(limit=10)
    assert "Late: 6" in everything
    assert "Ring" in everything
    assert english["digest.more"].format(count=4) in render(limit=2)
    empty = build_digest(
        user_id=5,
        touch_points=[],
        now=NOW,
        settings=PortalSettings(time_zone="Europe/Berlin"),
        titles={},
        language="en",
        board_url="https://acme.bitrix24.com/marketplace/app/1/",
        record_url=digest.crm_record_links("https://acme.bitrix24.com"),
        catalogue=reworded,
        include_empty=True,
    )
    assert empty is not None
    assert english["digest.nothing"] in empty.message
