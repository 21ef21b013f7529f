"""The actionable digest as a chat-bot message: sections, per-item buttons, size limits.

Bitrix24 takes at most 20,000 characters of text in a bot message; the keyboard's limit is
given only by the older pages (30 KB), so that is the budget kept here (BITRIX24.md §22.1.3,
§22.1.5, §22.7.2). Items past either budget are folded into the section's "and N more".
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import date, datetime
from zoneinfo import ZoneInfo

import attrs

from touchpoints.domain.digest import (
    DigestContent,
    DigestItem,
    RecordUrl,
    board_line,
    due_sections,
    handover_lines,
    header_line,
    item_line,
    record_link,
    safe_text,
    safe_url,
)
from touchpoints.domain.messages import Catalogue
from touchpoints.domain.model import OwnerRef, OwnerType, Status, TouchPoint
from touchpoints.domain.scheduling import add_working_days, current_local_day
from touchpoints.domain.settings import PortalSettings

BOT_CODE = "touchpoints"
# Latin letters and digits only (BITRIX24.md §22.1.7); registered hidden: buttons call it.
SNOOZE_COMMAND = "tpnextworkday"
COMMANDS = (SNOOZE_COMMAND,)
TEXT_LIMIT = 20_000
KEYBOARD_LIMIT = 30_000
# Room kept for the closing lines ("and N more", the board link) under both budgets.
_RESERVE = 600

DoneUrl = Callable[[int], str]
RepUrl = Callable[[int], str]

_PHRASES = (
    "no_next_step",
    "done",
    "snooze",
    "open",
    "moved",
    "changed",
    "refused",
    "failed",
    "team",
    "rollup_line",
    "rollup_header",
)


def bot_catalogue_keys() -> frozenset[str]:
    """Every key of the message catalogue that the bot's renderers read."""
    return frozenset({f"bot.{name}" for name in _PHRASES} | {f"status.{s.value}" for s in Status})


@attrs.frozen(kw_only=True)
class BotButton:
    """One keyboard button: a ``link`` to open, or a hidden ``command`` with its ``params``.

    ``newline`` is the row break (``{"TYPE": "NEWLINE"}``), with no text or action.
    """

    text: str = ""
    link: str | None = None
    command: str | None = None
    params: str = ""
    newline: bool = False

    def size(self) -> int:
        """Characters this button takes in the serialised keyboard (an upper estimate: the
        texts as ``\\uXXXX`` escapes where they are not ASCII, plus every key and quote)."""
        return (
            _json_length(self.text)
            + _json_length(self.link or "")
            + _json_length(self.command or "")
            + _json_length(self.params)
            + 120
        )


# Button texts repeat across every digest of a pass ("3. Done…"): measured once each.
@functools.lru_cache(maxsize=4096)
def _json_length(text: str) -> int:
    return len(text) if text.isascii() else len(json.dumps(text)) - 2


@attrs.frozen(kw_only=True)
class StalledDeal:
    """An open deal of the user with no open touch-point: no next step is planned."""

    owner: OwnerRef
    title: str | None


@attrs.frozen(kw_only=True)
class RenderedBotDigest:
    """BB-code text and its keyboard, both within Bitrix24's limits."""

    user_id: int
    text: str
    keyboard: tuple[BotButton, ...]
    shown: int  # items listed with buttons
    hidden: int  # items folded into "and N more"


@attrs.frozen(kw_only=True)
class RollupRow:
    """One rep's figures in a manager's roll-up."""

    user_id: int
    name: str
    overdue: int
    today: int
    stalled: int


def rollup_rows(
    touch_points: Iterable[TouchPoint],
    stalled: Mapping[int, int],
    *,
    now: datetime,
    settings: PortalSettings,
    names: Mapping[int, str],
) -> list[RollupRow]:
    """Per rep: open touch-points overdue and due today, and deals with no next step.

    Reps with nothing to report are left out; the most overdue come first.
    """
    zone = settings.zone
    today = current_local_day(now, zone)
    overdue: dict[int, int] = {}
    due_today: dict[int, int] = {}
    for tp in touch_points:
        if tp.status is not Status.OPEN:
            continue
        if tp.deadline < now:
            overdue[tp.responsible_id] = overdue.get(tp.responsible_id, 0) + 1
        elif tp.deadline.astimezone(zone).date() == today:
            due_today[tp.responsible_id] = due_today.get(tp.responsible_id, 0) + 1
    reps = {*overdue, *due_today, *(uid for uid, n in stalled.items() if n)}
    rows = [
        RollupRow(
            user_id=uid,
            name=names.get(uid) or f"#{uid}",
            overdue=overdue.get(uid, 0),
            today=due_today.get(uid, 0),
            stalled=stalled.get(uid, 0),
        )
        for uid in reps
    ]
    return sorted(rows, key=lambda r: (-r.overdue, -r.today, -r.stalled, r.name, r.user_id))


def stalled_deals(
    user_id: int,
    deals: Iterable[tuple[OwnerRef, int | None, str | None]],
    with_open: Iterable[OwnerRef],
) -> list[StalledDeal]:
    """The user's open deals (``(ref, assigned_by_id, title)``) that have no open touch-point."""
    covered = set(with_open)
    return [
        StalledDeal(owner=ref, title=title)
        for ref, assigned, title in deals
        if assigned == user_id and ref.type is OwnerType.DEAL and ref not in covered
    ]


def snooze_params(touch_point_id: int, version: int) -> str:
    """The command parameters of a "+1 working day" button: which touch-point, as shown."""
    return f"{touch_point_id}.{version}"


def parse_snooze(params: str) -> tuple[int, int] | None:
    """``(touch_point_id, version)`` from a button's parameters; None when malformed."""
    head, dot, tail = params.strip().partition(".")
    if not dot or not head.isdigit() or not tail.isdigit() or len(params) > 40:
        return None
    touch_point_id, version = int(head), int(tail)
    return (touch_point_id, version) if touch_point_id > 0 and version > 0 else None


def snooze_day(touch_point: TouchPoint, now: datetime, settings: PortalSettings) -> date:
    """The local day "+1 working day" moves to: one working day after today or its own day,
    whichever is later (an overdue one comes back to the next working day, not to the past)."""
    zone = settings.zone
    today = current_local_day(now, zone)
    own = touch_point.deadline.astimezone(zone).date()
    return add_working_days(max(today, own), 1, settings)


def render_bot_digest(
    content: DigestContent,
    stalled: Sequence[StalledDeal],
    *,
    versions: Mapping[int, int],
    language: str | None,
    board_url: str,
    record_url: RecordUrl,
    done_url: DoneUrl,
    catalogue: Catalogue,
    note: str | None = None,
    stalled_count: int | None = None,
) -> RenderedBotDigest:
    """The digest as one bot message: per item **Done…** (a link into the app), **+1 working
    day** (the hidden command, with the version shown) and **Open** (the record).

    ``note`` is a first line telling what a button press did. ``stalled_count`` counts
    every stalled deal when ``stalled`` holds only the first of them. A manager's team
    roll-up is a message of its own (``render_rollup``).
    """
    texts = catalogue.for_language(language)
    zone = ZoneInfo(content.time_zone)
    lines = [header_line(content, texts)]
    if note:
        lines.append(note)
    lines.extend(handover_lines(content.handovers, texts))
    keyboard: list[BotButton] = []
    budget = _Budget()
    number = 0
    shown = hidden = 0
    sections: list[tuple[str, int, Sequence[DigestItem | StalledDeal], bool]] = [
        *due_sections(content, texts),
        (
            texts["bot.no_next_step"],
            len(stalled) if stalled_count is None else stalled_count,
            stalled,
            False,
        ),
    ]
    for label, count, items, with_day in sections:
        if count == 0:
            continue
        lines.append(f"[b]{label.format(count=count)}[/b]")
        listed = 0
        for item in items:
            if isinstance(item, DigestItem):
                text = item_line(item, zone, texts, record_url, with_day=with_day)
                buttons = [
                    BotButton(
                        text=f"{number + 1}. {texts['bot.done']}",
                        link=done_url(item.touch_point_id),
                    ),
                    BotButton(
                        text=f"{number + 1}. {texts['bot.snooze']}",
                        command=SNOOZE_COMMAND,
                        params=snooze_params(
                            item.touch_point_id, versions.get(item.touch_point_id, 1)
                        ),
                    ),
                ]
                owner, title = item.owner, item.title
            else:
                owner, title = item.owner, item.title
                text = record_link(owner, title, texts, record_url)
                buttons = []
            if title:
                buttons.append(
                    BotButton(text=f"{number + 1}. {texts['bot.open']}", link=record_url(owner))
                )
            buttons.append(BotButton(newline=True))
            line = f"{number + 1}. {text}"
            if not budget.take(line, buttons):
                break
            number += 1
            listed += 1
            lines.append(line)
            keyboard.extend(buttons)
        shown += listed
        if count > listed:
            hidden += count - listed
            lines.append(texts["digest.more"].format(count=count - listed))
    if content.is_empty and not stalled:
        lines.append(texts["digest.nothing"])
    lines.append(board_line(board_url, texts))
    if keyboard and keyboard[-1].newline:
        keyboard.pop()
    return RenderedBotDigest(
        user_id=content.user_id,
        text="[br]".join(lines),
        keyboard=tuple(keyboard),
        shown=shown,
        hidden=hidden,
    )


@attrs.frozen(kw_only=True)
class RenderedRollup:
    """A manager's team roll-up as one message: BB-code text (a bot message, or with
    ``tag`` a system notification that a resend replaces), and how many reps it lists."""

    user_id: int
    text: str
    tag: str
    shown: int
    hidden: int
    board_link: str  # the board link's name, for a notification's ATTACH


def rollup_tag(user_id: int, local_day: date) -> str:
    """The roll-up's per-user-per-day TAG, apart from the digest's (BITRIX24.md §15)."""
    return f"touchpoints.rollup.{user_id}.{local_day.isoformat()}"


def render_rollup(
    rows: Sequence[RollupRow],
    *,
    user_id: int,
    local_day: date,
    language: str | None,
    board_url: str,
    rep_url: RepUrl,
    catalogue: Catalogue,
) -> RenderedRollup | None:
    """The team roll-up of ``user_id`` (an admin or team viewer) for ``local_day``: per
    rep overdue, due today and deals with no next step, each rep linking to the board
    filtered to them. None for a team with nothing to report (no message then)."""
    if not rows:
        return None
    texts = catalogue.for_language(language)
    day = local_day.strftime(texts["digest.date_format"])
    lines = [f"[b]{texts['bot.rollup_header'].format(day=day)}[/b]"]
    body, shown = _rollup_lines(rows, texts, rep_url, _Budget())
    lines.extend(body)
    lines.append(board_line(board_url, texts))
    return RenderedRollup(
        user_id=user_id,
        text="[br]".join(lines),
        tag=rollup_tag(user_id, local_day),
        shown=shown,
        hidden=len(rows) - shown,
        board_link=texts["digest.open_board"],
    )


def _rollup_lines(
    rollup: Sequence[RollupRow], texts: Mapping[str, str], rep_url: RepUrl, budget: _Budget
) -> tuple[list[str], int]:
    """The team section: one line per rep, linking to the board filtered to them; and how
    many reps fit."""
    lines = [f"[b]{texts['bot.team'].format(count=len(rollup))}[/b]"]
    listed = 0
    for row in rollup:
        name = f"[url={safe_url(rep_url(row.user_id))}]{safe_text(row.name)}[/url]"
        line = texts["bot.rollup_line"].format(
            name=name, overdue=row.overdue, today=row.today, stalled=row.stalled
        )
        if not budget.take(line, ()):
            break
        listed += 1
        lines.append(line)
    if len(rollup) > listed:
        lines.append(texts["digest.more"].format(count=len(rollup) - listed))
    return lines, listed


@attrs.define
class _Budget:
    text: int = TEXT_LIMIT - _RESERVE
    keys: int = KEYBOARD_LIMIT - _RESERVE

    def take(self, line: str, buttons: Sequence[BotButton]) -> bool:
        """Spend room for ``line`` and its ``buttons``; False (nothing spent) when they do
        not fit."""
        keys = sum(button.size() for button in buttons)
        text = len(line) + 4
        if text > self.text or keys > self.keys:
            return False
        self.text -= text
        self.keys -= keys
        return True


def moved_note(
    owner: OwnerRef,
    title: str | None,
    deadline: datetime,
    *,
    zone: ZoneInfo,
    texts: Mapping[str, str],
    record_url: RecordUrl,
) -> str:
    """ "✓ Moved Fleet to 2026-09-02 10:00"."""
    when = _when(deadline, zone, texts)
    return texts["bot.moved"].format(record=record_link(owner, title, texts, record_url), when=when)


def changed_note(
    touch_point: TouchPoint,
    title: str | None,
    *,
    zone: ZoneInfo,
    texts: Mapping[str, str],
    record_url: RecordUrl,
) -> str:
    """What a touch-point that changed since the digest is now: its status, or its new time."""
    state = (
        _when(touch_point.deadline, zone, texts)
        if touch_point.status is Status.OPEN
        else texts[f"status.{touch_point.status.value}"]
    )
    record = record_link(touch_point.owner, title, texts, record_url)
    return texts["bot.changed"].format(record=record, state=state)


def _when(deadline: datetime, zone: ZoneInfo, texts: Mapping[str, str]) -> str:
    local = deadline.astimezone(zone)
    return f"{local.strftime(texts['digest.date_format'])} {local.strftime(texts['digest.time_format'])}"
