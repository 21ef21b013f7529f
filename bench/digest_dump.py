"""Print one user's bot digest and one manager's team roll-up (a message of its own), in
English and Russian, as text: what Bitrix24 would show, BB-code turned into plain marks and
each keyboard button as ``[label → action]``. Built with the same rendering the app sends
(domain.bot); the rep is covering for a colleague on hand-over, so that line shows too.

    .venv/bin/python bench/digest_dump.py
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from touchpoints.domain.bot import (
    RenderedBotDigest,
    RenderedRollup,
    RollupRow,
    StalledDeal,
    render_bot_digest,
    render_rollup,
)
from touchpoints.domain.digest import (
    HandoverNote,
    HandoverRole,
    compute_digest,
    crm_record_links,
)
from touchpoints.domain.model import OwnerRef, OwnerType, Status, TouchPoint, TouchPointType
from touchpoints.domain.settings import PortalSettings
from touchpoints.entrypoints.catalogue import load_catalogue

# Wednesday 2 December 2026, 09:00 in Berlin.
NOW = datetime(2026, 12, 2, 8, 0, tzinfo=UTC)
SETTINGS = PortalSettings.defaults("Europe/Berlin")
PORTAL = "https://acme.bitrix24.de"
APP = "/marketplace/view/touchpoints/"


def _touch_point(tp_id: int, owner: OwnerRef, kind: TouchPointType, due: datetime) -> TouchPoint:
    return TouchPoint(
        id=tp_id,
        portal_id=1,
        activity_id=1000 + tp_id,
        owner=owner,
        type=kind,
        status=Status.OPEN,
        deadline=due,
        responsible_id=5,
        created_by=5,
        created_at=NOW - timedelta(days=10),
        updated_at=NOW - timedelta(days=10),
    )


TOUCH_POINTS = [
    _touch_point(
        1, OwnerRef(OwnerType.DEAL, 314), TouchPointType.CALL, NOW - timedelta(days=2, hours=1)
    ),
    _touch_point(2, OwnerRef(OwnerType.LEAD, 27), TouchPointType.EMAIL, NOW - timedelta(hours=20)),
    _touch_point(
        3, OwnerRef(OwnerType.DEAL, 318), TouchPointType.MEETING, NOW + timedelta(hours=3)
    ),
    _touch_point(
        4,
        OwnerRef(OwnerType.COMPANY, 12),
        TouchPointType.CALL,
        NOW + timedelta(hours=6, minutes=30),
    ),
]
TITLES = {
    OwnerRef(OwnerType.DEAL, 314): "Fleet renewal — Nordwind Logistics",
    OwnerRef(OwnerType.LEAD, 27): "Webinar sign-up (Ivan Petrov)",
    OwnerRef(OwnerType.DEAL, 318): "Clinic software upgrade — Helix Biolabs",
    OwnerRef(OwnerType.COMPANY, 12): "Kestrel Robotics",
}
STALLED = [
    StalledDeal(owner=OwnerRef(OwnerType.DEAL, 320), title="Showroom fit-out — Granite & Oak")
]
ROLLUP = [
    RollupRow(user_id=7, name="Maxim Orlov", overdue=6, today=3, stalled=2),
    RollupRow(user_id=8, name="Lena Kim", overdue=4, today=2, stalled=0),
    RollupRow(user_id=9, name="Tom Fischer", overdue=2, today=1, stalled=1),
]


COVERING = HandoverNote(
    role=HandoverRole.COVERING,
    other_user_id=7,
    other_name="Maxim Orlov",
    last_day=datetime(2026, 12, 4, tzinfo=UTC).date(),
    count=3,
)


def render(language: str) -> RenderedBotDigest:
    content = compute_digest(
        user_id=5,
        touch_points=TOUCH_POINTS,
        now=NOW,
        settings=SETTINGS,
        titles=TITLES,
        limit=10,
        include_empty=True,
        handovers=(COVERING,),
    )
    assert content is not None
    return render_bot_digest(
        content,
        STALLED,
        versions={tp.id: tp.version for tp in TOUCH_POINTS},
        language=language,
        board_url=f"{PORTAL}{APP}",
        record_url=crm_record_links(PORTAL),
        done_url=lambda tp_id: f"{APP}?params[complete]={tp_id}",
        catalogue=load_catalogue(),
    )


def render_team(language: str) -> RenderedRollup:
    rollup = render_rollup(
        ROLLUP,
        user_id=1,
        local_day=NOW.date(),
        language=language,
        board_url=f"{PORTAL}{APP}",
        rep_url=lambda user_id: f"{APP}?params[responsible_id]={user_id}",
        catalogue=load_catalogue(),
    )
    assert rollup is not None
    return rollup


def plain(text: str) -> str:
    text = text.replace("[br]", "\n")
    text = re.sub(r"\[url=([^\]]+)\](.*?)\[/url\]", r"\2 <\1>", text)
    return re.sub(r"\[/?[bi]\]", "*", text)


def as_text(message: RenderedBotDigest) -> str:
    text = plain(message.text)
    rows: list[list[str]] = [[]]
    for button in message.keyboard:
        if button.newline:
            rows.append([])
            continue
        action = button.link or f"command {button.command} {button.params}"
        rows[-1].append(f"[{button.text} → {action}]")
    keys = "\n".join("  " + " ".join(row) for row in rows if row)
    return f"{text}\n-- buttons --\n{keys}"


def main() -> None:
    for language in ("en", "ru"):
        print(f"===== {language}: a rep's digest (covering for a colleague) =====")
        print(as_text(render(language)))
        print()
        print(f"===== {language}: a manager's team roll-up (its own message, links only) =====")
        print(plain(render_team(language).text))
        print()


if __name__ == "__main__":
    main()
