"""The daily digest's content for one user, rendered as a Bitrix24 IM notification (BB-code).

Its words come from the message catalogue the UI speaks (``domain.messages``), passed in.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import attrs

from touchpoints.domain.handover import Handover
from touchpoints.domain.messages import Catalogue
from touchpoints.domain.model import (
    SMART_PROCESS_LABEL,
    OwnerRef,
    OwnerType,
    Status,
    TouchPoint,
    TouchPointType,
)
from touchpoints.domain.scheduling import (
    current_local_day,
    digest_due_at,
    is_working_day,
    start_of_local_day,
)
from touchpoints.domain.settings import PortalSettings

DEFAULT_ITEM_LIMIT = 10
# Long CRM titles are cut so a digest of 20 items stays a readable notification.
TITLE_LIMIT = 100

RecordUrl = Callable[[OwnerRef], str]

_PHRASES = (
    "header",
    "overdue",
    "today",
    "more",
    "nothing",
    "open_board",
    "hidden",
    "handover_covering",
    "handover_away",
    "handover_returned",
)
_FORMATS = ("date_format", "time_format")


def catalogue_keys() -> frozenset[str]:
    """Every key of the message catalogue that ``render_digest`` reads."""
    return frozenset(
        {f"digest.{name}" for name in (*_PHRASES, *_FORMATS)}
        | {f"type.{kind.value}" for kind in TouchPointType}
        | {owner.label_key for owner in OwnerType}
        | {SMART_PROCESS_LABEL}
    )


@attrs.frozen(kw_only=True)
class DigestItem:
    """One touch-point listed in a digest; ``title`` None means the record is hidden or gone."""

    touch_point_id: int
    owner: OwnerRef
    type: TouchPointType
    deadline: datetime
    title: str | None


class HandoverRole(enum.Enum):
    """How a hand-over concerns the digest's reader."""

    COVERING = "covering"  # they took a colleague's touch-points for the period
    AWAY = "away"  # their touch-points are with a colleague for the period
    RETURNED = "returned"  # the period ended and what was still open came back to them


@attrs.frozen(kw_only=True)
class HandoverNote:
    """One line of a digest about a hand-over: who the other person is, until when, how
    many touch-points were handed over."""

    role: HandoverRole
    other_user_id: int
    other_name: str
    last_day: date
    count: int


def handover_notes(
    user_id: int,
    handovers: Iterable[Handover],
    *,
    now: datetime,
    settings: PortalSettings,
    names: Mapping[int, str],
) -> tuple[HandoverNote, ...]:
    """What ``user_id``'s digest for the local day of ``now`` says about hand-overs.

    An open hand-over is told to both people (the one covering and the one away); one
    given back is told to its owner once: in the digest of the first working day whose
    digest hour comes after the return (from the previous working day's digest hour up to
    today's), so every return falls in exactly one day's digest.
    """
    today = current_local_day(now, settings.zone)
    since = digest_due_at(previous_working_day(today, settings), settings)
    until = digest_due_at(today, settings)
    notes: list[HandoverNote] = []
    for handover in sorted(handovers, key=lambda h: (h.last_day, h.id or 0)):
        if handover.returned_at is None:
            if user_id == handover.to_user_id:
                role, other = HandoverRole.COVERING, handover.from_user_id
            elif user_id == handover.from_user_id:
                role, other = HandoverRole.AWAY, handover.to_user_id
            else:
                continue
        elif user_id == handover.from_user_id and since <= handover.returned_at < until:
            role, other = HandoverRole.RETURNED, handover.to_user_id
        else:
            continue
        notes.append(
            HandoverNote(
                role=role,
                other_user_id=other,
                other_name=names.get(other) or f"#{other}",
                last_day=handover.last_day,
                count=len(handover.touch_point_ids),
            )
        )
    return tuple(notes)


def previous_working_day(day: date, settings: PortalSettings) -> date:
    """The last working day before ``day`` (``day`` itself when none is found within a
    year, which settings that keep a working weekday rule out)."""
    before = day
    for _ in range(400):
        before -= timedelta(days=1)
        if is_working_day(before, settings):
            return before
    return day


def handover_lines(notes: Sequence[HandoverNote], texts: Mapping[str, str]) -> list[str]:
    """One line per hand-over note, names made safe for BB-code."""
    return [
        texts[f"digest.handover_{note.role.value}"].format(
            name=_safe_text(note.other_name),
            day=_format_day(note.last_day, texts),
            count=note.count,
        )
        for note in notes
    ]


@attrs.frozen(kw_only=True)
class DigestContent:
    """What one user's digest says, before rendering.

    ``overdue_count`` and ``today_count`` count every matching touch-point; the item tuples
    hold at most the first ``limit`` of each, ordered by deadline, then id.
    """

    user_id: int
    local_day: date
    time_zone: str
    overdue_count: int
    today_count: int
    overdue: tuple[DigestItem, ...]
    today: tuple[DigestItem, ...]
    handovers: tuple[HandoverNote, ...] = ()

    @property
    def is_empty(self) -> bool:
        return self.overdue_count == 0 and self.today_count == 0


@attrs.frozen(kw_only=True)
class RenderedDigest:
    """A digest ready for ``im.notify.system.add``: BB-code text, TAG and ATTACH links."""

    user_id: int
    message: str
    tag: str
    attach: tuple[tuple[str, str], ...]


def digest_tag(user_id: int, local_day: date) -> str:
    """The per-user-per-day TAG: a resend replaces the earlier notification (BITRIX24.md §15)."""
    return f"touchpoints.digest.{user_id}.{local_day.isoformat()}"


def compute_digest(
    *,
    user_id: int,
    touch_points: Iterable[TouchPoint],
    now: datetime,
    settings: PortalSettings,
    titles: Mapping[OwnerRef, str | None],
    limit: int = DEFAULT_ITEM_LIMIT,
    include_empty: bool = False,
    handovers: tuple[HandoverNote, ...] = (),
) -> DigestContent | None:
    """What ``user_id``'s digest for the local day of ``now`` lists.

    Overdue: open touch-points of the user whose deadline is before ``now``. Due today:
    open ones from ``now`` to the end of the local day in the portal's zone. Touch-points
    of other users or not open are ignored. A record missing from ``titles`` counts as
    hidden. Returns None when nothing is due, unless ``include_empty`` asks for a
    "nothing due" digest; ``handovers`` are told in a digest, never a reason for one.
    """
    zone = settings.zone
    day = current_local_day(now, zone)
    day_end = start_of_local_day(day + timedelta(days=1), zone)
    mine = sorted(
        (tp for tp in touch_points if tp.responsible_id == user_id and tp.status is Status.OPEN),
        key=lambda tp: (tp.deadline, tp.id),
    )
    overdue = [tp for tp in mine if tp.deadline < now]
    today = [tp for tp in mine if now <= tp.deadline < day_end]
    if not overdue and not today and not include_empty:
        return None
    return DigestContent(
        user_id=user_id,
        local_day=day,
        time_zone=settings.time_zone,
        overdue_count=len(overdue),
        today_count=len(today),
        overdue=tuple(_item(tp, titles) for tp in overdue[:limit]),
        today=tuple(_item(tp, titles) for tp in today[:limit]),
        handovers=handovers,
    )


def _item(touch_point: TouchPoint, titles: Mapping[OwnerRef, str | None]) -> DigestItem:
    return DigestItem(
        touch_point_id=touch_point.id,
        owner=touch_point.owner,
        type=touch_point.type,
        deadline=touch_point.deadline,
        title=titles.get(touch_point.owner),
    )


def crm_record_links(portal_url: str) -> RecordUrl:
    """Links to CRM record cards of the portal at ``portal_url`` (``https://acme.bitrix24.com``).

    Path form ``/crm/{lead|deal|contact|company}/details/<id>/`` (BITRIX24.md §16.1), or
    ``/crm/type/<entityTypeId>/details/<id>/`` for a smart process's item (§22.3).
    """
    base = portal_url.rstrip("/")

    def link(owner: OwnerRef) -> str:
        return f"{base}{owner.type.card_path(owner.id)}"

    return link


def render_digest(
    content: DigestContent,
    *,
    language: str | None,
    board_url: str,
    record_url: RecordUrl,
    catalogue: Catalogue,
) -> RenderedDigest:
    """Render ``content`` as BB-code (``[b]``, ``[url=..]``, ``[br]``; no Markdown).

    The texts are the catalogue's ``digest.*``, ``type.*`` and ``owner.*`` in the user's
    language. Times are shown in the portal's zone. Titles come from CRM users, so square
    brackets in them are replaced by look-alikes: they cannot open or close a BB-code tag.
    """
    texts = catalogue.for_language(language)
    zone = ZoneInfo(content.time_zone)
    lines = [header_line(content, texts), *handover_lines(content.handovers, texts)]
    for label, count, items, with_day in due_sections(content, texts):
        if count == 0:
            continue
        lines.append(f"[b]{label.format(count=count)}[/b]")
        lines.extend(item_line(item, zone, texts, record_url, with_day=with_day) for item in items)
        if count > len(items):
            lines.append(texts["digest.more"].format(count=count - len(items)))
    if content.is_empty:
        lines.append(texts["digest.nothing"])
    lines.append(board_line(board_url, texts))
    return RenderedDigest(
        user_id=content.user_id,
        message="[br]".join(lines),
        tag=digest_tag(content.user_id, content.local_day),
        attach=((texts["digest.open_board"], board_url),),
    )


def header_line(content: DigestContent, texts: Mapping[str, str]) -> str:
    """A digest's first line: its day, in bold."""
    return f"[b]{texts['digest.header'].format(day=_format_day(content.local_day, texts))}[/b]"


def due_sections(
    content: DigestContent, texts: Mapping[str, str]
) -> list[tuple[str, int, tuple[DigestItem, ...], bool]]:
    """The overdue and due-today sections: label, how many in all, the listed items, and
    whether an item's line shows its day."""
    return [
        (texts["digest.overdue"], content.overdue_count, content.overdue, True),
        (texts["digest.today"], content.today_count, content.today, False),
    ]


def board_line(board_url: str, texts: Mapping[str, str]) -> str:
    """A digest's last line: the link to the board."""
    return f"[url={_safe_url(board_url)}]{texts['digest.open_board']}[/url]"


def item_line(
    item: DigestItem,
    zone: ZoneInfo,
    texts: Mapping[str, str],
    record_url: RecordUrl,
    *,
    with_day: bool,
) -> str:
    local = item.deadline.astimezone(zone)
    when = local.strftime(texts["digest.time_format"])
    if with_day:
        when = f"{_format_day(local.date(), texts)} {when}"
    kind = texts[f"type.{item.type.value}"]
    return f"{when} · {kind} · {record_link(item.owner, item.title, texts, record_url)}"


def record_link(
    owner: OwnerRef, title: str | None, texts: Mapping[str, str], record_url: RecordUrl
) -> str:
    """A record as a BB-code link to its card, or "Deal #12" when it is hidden or gone."""
    safe = _safe_text(title) if title is not None else ""
    if not safe:
        # Hidden or deleted record: no title, and no link that would only answer "access denied".
        return texts["digest.hidden"].format(owner=texts[owner.type.label_key], id=owner.id)
    return f"[url={_safe_url(record_url(owner))}]{safe}[/url]"


def _format_day(day: date, texts: Mapping[str, str]) -> str:
    return day.strftime(texts["digest.date_format"])


# Full-width brackets look the same to a reader but are not BB-code syntax.
_NO_TAGS = str.maketrans({"[": "\uff3b", "]": "\uff3d"})
_URL_UNSAFE = str.maketrans({"[": "%5B", "]": "%5D", " ": "%20", "\n": "", "\r": "", "\t": ""})


def _safe_text(value: str) -> str:
    text = " ".join(value.split()).translate(_NO_TAGS)
    if len(text) > TITLE_LIMIT:
        text = text[: TITLE_LIMIT - 1].rstrip() + "\u2026"
    return text


def _safe_url(value: str) -> str:
    return value.strip().translate(_URL_UNSAFE)


safe_url = _safe_url
safe_text = _safe_text
