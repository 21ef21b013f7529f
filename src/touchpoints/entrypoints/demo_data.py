"""Made-up demo data for the simulated portal: people, CRM records and touch-point plans.

Everything here is fictional (Market rule: demo data must not be real). Deadlines are
offsets from "now" so the board always has cards in every column.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Iterator
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import attrs

from touchpoints.domain.crm import Department, RecordCard, TodoSpec, UserInfo
from touchpoints.domain.model import EntityType, OwnerRef, OwnerType, SmartProcess, TouchPointType

DEMO_TIME_ZONE = "Europe/Berlin"
DEMO_MEMBER_ID = "demo0000000000000000000000000001"
DEMO_DOMAIN = "demo.touchpoints.local"

MANAGEMENT = Department(id=1, name="Management")
SALES = Department(id=2, name="Sales", parent_id=MANAGEMENT.id)
DEPARTMENTS = (MANAGEMENT, SALES)


@attrs.frozen(kw_only=True)
class DemoUser:
    """A demo employee: what ``user.get`` tells of them, and the roles the demo gives them."""

    info: UserInfo
    admin: bool = False
    team_viewer: bool = False

    @property
    def id(self) -> int:
        return self.info.id


@attrs.frozen(kw_only=True)
class DemoPlan:
    """One touch-point to seed: its to-do, its result note once done, and the index of an
    earlier plan it is the follow-up of."""

    todo: TodoSpec
    done_note: str | None = None
    follows: int | None = None


def _employee(user_id: int, name: str, department: Department) -> UserInfo:
    return UserInfo(
        id=user_id, name=name, department_ids=(department.id,), time_zone=DEMO_TIME_ZONE
    )


USERS = (
    DemoUser(info=_employee(1, "Anna Berg", MANAGEMENT), admin=True),
    DemoUser(info=_employee(2, "Maxim Orlov", SALES), team_viewer=True),
    DemoUser(info=_employee(3, "Lena Kim", SALES)),
    DemoUser(info=_employee(4, "Tom Fischer", SALES)),
)

_COMPANIES = (
    "Nordwind Logistics",
    "Blue Harbor Foods",
    "Kestrel Robotics",
    "Alpenglow Hotels",
    "Mosaic Print Studio",
    "Granite & Oak Furniture",
    "Solaris Energy Systems",
    "Quill Legal Partners",
    "Riverbend Dental",
    "Helix Biolabs",
)
_PEOPLE = (
    ("Julia", "Wagner"),
    ("Pavel", "Sokolov"),
    ("Marta", "Nowak"),
    ("Erik", "Lund"),
    ("Sofia", "Rossi"),
    ("Ivan", "Petrov"),
    ("Clara", "Meier"),
    ("Omar", "Haddad"),
    ("Nina", "Volkova"),
    ("Lukas", "Brandt"),
)
_DEAL_TOPICS = (
    "Fleet tracking rollout",
    "Annual supply contract",
    "Warehouse automation pilot",
    "Conference package",
    "Brand refresh",
    "Showroom fit-out",
    "Rooftop solar array",
    "Contract review retainer",
    "Clinic software upgrade",
    "Lab equipment lease",
)
_LEAD_TOPICS = (
    "Inbound: pricing request",
    "Webinar sign-up",
    "Trade fair contact",
    "Referral from partner",
    "Chat enquiry: delivery times",
    "Newsletter reply",
    "Callback request",
    "Demo request",
    "Tender notice",
    "Cold outreach reply",
)
_STAGES = {
    OwnerType.DEAL: ("NEW", "PREPARATION", "PREPAYMENT_INVOICE", "EXECUTING"),
    OwnerType.LEAD: ("NEW", "IN_PROCESS", "PROCESSED"),
    OwnerType.CONTACT: ("",),
    OwnerType.COMPANY: ("",),
}
# The names the portal's stage settings give those stages (Bitrix24's defaults), and the
# projects' first stage.
STAGE_NAMES: tuple[tuple[EntityType, str, str], ...] = (
    (OwnerType.DEAL, "NEW", "New"),
    (OwnerType.DEAL, "PREPARATION", "Document preparation"),
    (OwnerType.DEAL, "PREPAYMENT_INVOICE", "Prepayment invoice"),
    (OwnerType.DEAL, "EXECUTING", "In progress"),
    (OwnerType.LEAD, "NEW", "Unassigned"),
    (OwnerType.LEAD, "IN_PROCESS", "In progress"),
    (OwnerType.LEAD, "PROCESSED", "Processed"),
    (SmartProcess(1038), "DT1038_1:NEW", "Planning"),
)
_TITLES = {
    TouchPointType.CALL: ("Call about the proposal", "Check budget by phone", "Follow-up call"),
    TouchPointType.MEETING: ("Meeting at their office", "Kick-off meeting", "Quarterly review"),
    TouchPointType.EMAIL: ("Send the revised quote", "E-mail case studies", "Send contract draft"),
    TouchPointType.MESSAGE: ("Message about delivery date", "Quick check-in on chat"),
    TouchPointType.VISIT: ("Site visit", "Visit the showroom together"),
    TouchPointType.OTHER: ("Prepare the offer", "Update the proposal"),
}
# What the to-do's description says; every third card has none.
_AGENDAS = (
    "Ask who else takes part in the decision and when the budget is set.",
    "Bring the updated price list and two references from their industry.",
    "Confirm the delivery window; they mentioned the warehouse moves in spring.",
    "Walk through the pilot results and agree on the next stage.",
    "They prefer mornings. Mention the volume discount only if asked.",
)
_NOTES = (
    "Interested, asked for a discount on volume.",
    "Decision maker is back next week.",
    "Sent the pricing sheet, they will compare with current supplier.",
    "Agreed on a pilot for one site.",
    "Needs approval from finance first.",
)


def records() -> list[RecordCard]:
    """Ten each of deals, leads, contacts and companies (40 records), amounts in euros."""
    rng = random.Random(7)  # noqa: S311 - made-up data, not secrets
    sellers = [user.id for user in USERS[1:]]

    def record(
        owner_type: OwnerType, index: int, title: str, stage: str = "", amount: float | None = None
    ) -> RecordCard:
        return RecordCard(
            ref=OwnerRef(owner_type, index),
            title=title,
            stage_id=stage or None,
            amount=amount,
            currency="EUR" if amount is not None else None,
            assigned_by_id=sellers[index % len(sellers)],
        )

    out = [
        record(OwnerType.COMPANY, index, company)
        for index, company in enumerate(_COMPANIES, start=1)
    ]
    out += [
        record(OwnerType.CONTACT, index, f"{first} {last}")
        for index, (first, last) in enumerate(_PEOPLE, start=1)
    ]
    for index, topic in enumerate(_DEAL_TOPICS, start=1):
        stage = rng.choice(_STAGES[OwnerType.DEAL])
        amount = float(rng.randrange(2_000, 90_000, 500))
        out.append(
            record(OwnerType.DEAL, index, f"{topic} — {_COMPANIES[index - 1]}", stage, amount)
        )
    for index, topic in enumerate(_LEAD_TOPICS, start=1):
        first, last = _PEOPLE[(index + 3) % len(_PEOPLE)]
        stage = rng.choice(_STAGES[OwnerType.LEAD])
        amount = float(rng.randrange(500, 20_000, 250))
        out.append(record(OwnerType.LEAD, index, f"{topic} ({first} {last})", stage, amount))
    return out


# One smart process, so that the demo shows its card tab, settings and cards (DESIGN.md §3.7).
PROJECTS = SmartProcess(1038)
PROJECTS_TITLE = "Projects"
_PROJECTS = ("Warehouse roll-out", "Fleet telematics pilot", "Training programme 2027")


def smart_process_items() -> list[RecordCard]:
    """The demo's three projects, one for each seller."""
    sellers = [user.id for user in USERS[1:]]
    return [
        RecordCard(
            ref=OwnerRef(PROJECTS, index),
            title=f"{title} — {_COMPANIES[index]}",
            stage_id="DT1038_1:NEW",
            amount=float(index * 12_500),
            currency="EUR",
            assigned_by_id=sellers[index % len(sellers)],
        )
        for index, title in enumerate(_PROJECTS, start=1)
    ]


def _later_today(now: datetime) -> Iterator[datetime]:
    """Half-hourly times after ``now`` (local) that stay on its day, so that the demo's Today
    column has cards at whatever hour the demo starts (until the last minutes of the day)."""
    last = datetime.combine(now.date(), time(23, 59), tzinfo=now.tzinfo)
    start = now.replace(minute=0 if now.minute < 30 else 30, second=0, microsecond=0)
    for slot in itertools.count(1):
        # Near midnight the remaining cards take the day's last minutes, one apart.
        yield min(start + timedelta(minutes=30 * slot), last - timedelta(minutes=max(0, 20 - slot)))


def plans(now: datetime) -> list[DemoPlan]:
    """About 60 touch-points across every board column, with a few completed chains."""
    rng = random.Random(11)  # noqa: S311 - made-up data, not secrets
    zone = ZoneInfo(DEMO_TIME_ZONE)
    today = now.astimezone(zone).date()
    all_records = records()
    # Day offsets spread over overdue, today, tomorrow, this week, next week and later.
    offsets = [-9, -4, -2, -1, 0, 0, 0, 1, 1, 2, 3, 4, 6, 8, 10, 13, 20, 30]
    out: list[DemoPlan] = []
    later_today = _later_today(now.astimezone(zone))
    for index in range(54):
        record = all_records[(index * 7) % len(all_records)]
        type_ = list(TouchPointType)[index % len(TouchPointType)]
        offset = offsets[index % len(offsets)]
        day = today + timedelta(days=offset)
        hour = 9 + (index * 3) % 9
        local = datetime.combine(day, time(hour, 30 if index % 2 else 0), tzinfo=zone)
        if offset == 0:
            local = next(later_today)
        responsible = USERS[1 + index % 3].id if index % 5 else USERS[0].id
        todo = TodoSpec(
            owner=record.ref,
            type=type_,
            deadline=local.astimezone(UTC),
            responsible_id=responsible,
            title=rng.choice(_TITLES[type_]),
            description="" if index % 3 == 2 else _AGENDAS[index % len(_AGENDAS)],
        )
        out.append(DemoPlan(todo=todo))
    # Chains: a completed touch-point followed by an open one on the same record.
    for chain_index in range(6):
        record = all_records[20 + chain_index]  # deals
        past = datetime.combine(today - timedelta(days=5 + chain_index), time(10), tzinfo=zone)
        responsible = USERS[1 + chain_index % 3].id
        first = TodoSpec(
            owner=record.ref,
            type=TouchPointType.CALL,
            deadline=past.astimezone(UTC),
            responsible_id=responsible,
            title="First call",
        )
        out.append(DemoPlan(todo=first, done_note=_NOTES[chain_index % len(_NOTES)]))
        future = datetime.combine(today + timedelta(days=chain_index - 1), time(11), tzinfo=zone)
        follow_up = attrs.evolve(
            first,
            type=TouchPointType.MEETING if chain_index % 2 else TouchPointType.CALL,
            deadline=future.astimezone(UTC),
            title="Follow-up",
        )
        out.append(DemoPlan(todo=follow_up, follows=len(out) - 1))
    for index, item in enumerate(smart_process_items()[:2]):
        local = datetime.combine(today + timedelta(days=2 + index), time(15), tzinfo=zone)
        todo = TodoSpec(
            owner=item.ref,
            type=TouchPointType.MEETING,
            deadline=local.astimezone(UTC),
            responsible_id=USERS[1 + index].id,
            title="Project check-in",
        )
        out.append(DemoPlan(todo=todo))
    return out
