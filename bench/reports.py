"""Benchmark: a year's report over 100k touch-points, in Python (domain) vs SQL aggregates.

Seeds one portal of a fresh Postgres database (``TOUCHPOINTS_DATABASE_URL``'s server, or an
embedded one under the system's temporary directory) with ``--rows`` touch-points spread over a year,
then times, for a whole-year and a one-month period:

- **python**: read the portal's touch-points through the storage port and run
  ``domain.reports.compute_report`` on them (read and compute timed apart); then the same
  with only the rows a report over the period can count (open, or changed since its start);
- **sql**: ``ReportRepository.report``, the Postgres adapter's SQL aggregates, checked
  equal to the Python figures, and ``unfollowed_owners`` (the other query of a report);
- **export**: the CSV listing of the month (``in_period_matching``) rendered to CSV bytes.

Usage, from the repository root:

    .venv/bin/python bench/reports.py [--rows 100000] [--repeat 3] [--quick]

``--quick`` is a smoke run (10,000 rows, one repetition).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import sys
import tempfile
import time
import warnings
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import asyncpg

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # for tests.postgres

from tests.postgres import create_database, drop_database

from touchpoints.adapters.postgres.crypto import TokenCipher
from touchpoints.adapters.postgres.dsn import libpq_url
from touchpoints.adapters.postgres.embedded import ensure_embedded
from touchpoints.adapters.postgres.migrate import apply_migrations
from touchpoints.adapters.postgres.rows import touch_point_from_row
from touchpoints.adapters.postgres.storage import PostgresStorage
from touchpoints.domain.model import OwnerType, TouchPoint, TouchPointType
from touchpoints.domain.portal import OAuthTokens, PortalInstall
from touchpoints.domain.reports import ReportPeriod, compute_report
from touchpoints.domain.secrets import Secret
from touchpoints.entrypoints.reports_api import CsvStyle, csv_document
from touchpoints.ports.reports import PeriodListing, ReportQuery

T = TypeVar("T")

ZONE = "Europe/Berlin"  # two DST changes inside the year
YEAR = ReportPeriod(date(2025, 1, 1), date(2025, 12, 31))
MONTH = ReportPeriod(date(2025, 10, 1), date(2025, 10, 31))
NOW = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
USERS = 50
RECORDS = 30_000
_COLUMNS = (
    "portal_id", "activity_id", "owner_type", "owner_id", "type", "status", "deadline",
    "responsible_id", "result_note", "created_by", "created_at", "updated_at", "completed_at",
)  # fmt: skip


def _rows(portal_id: int, count: int, seed: int = 7) -> list[tuple[Any, ...]]:
    """``count`` touch-points created over 2025: most done (some late), some open or dropped."""
    rnd = random.Random(seed)
    zone = ZoneInfo(ZONE)
    year_start = datetime(2025, 1, 1, tzinfo=zone).astimezone(UTC)
    owner_types = list(OwnerType)
    kinds = [kind.value for kind in TouchPointType]
    rows = []
    for n in range(1, count + 1):
        created = year_start + timedelta(seconds=rnd.randrange(365 * 86_400))
        deadline = created + timedelta(hours=rnd.randrange(2, 24 * 10))
        roll = rnd.random()
        completed = None
        note = None
        updated = created
        if roll < 0.70:
            status = "done"
            completed = max(created, deadline + timedelta(hours=rnd.randrange(-48, 120)))
            completed = min(completed, NOW)
            updated = completed
            note = "Talked; next step agreed" if rnd.random() < 0.8 else None
        elif roll < 0.80:
            status = "cancelled"
            updated = min(created + timedelta(days=rnd.randrange(0, 20)), NOW)
        elif roll < 0.82:
            status = "orphaned"
            updated = min(created + timedelta(days=rnd.randrange(0, 20)), NOW)
        else:
            status = "open"
        user = rnd.randrange(1, USERS + 1)
        rows.append(
            (
                portal_id, n, rnd.choice(owner_types).value, rnd.randrange(1, RECORDS),
                rnd.choice(kinds), status, deadline, user, note, user, created, updated,
                completed,
            )
        )  # fmt: skip
    return rows


async def _seed(storage: PostgresStorage, dsn: str, count: int) -> int:
    install = PortalInstall(
        member_id="bench-reports",
        client_endpoint="https://bench.bitrix24.example/rest/",
        domain="bench.bitrix24.example",
        application_token=Secret("bench-application-token"),
        tokens=OAuthTokens(
            access_token=Secret("bench-access"),
            refresh_token=Secret("bench-refresh"),
            expires_at=NOW + timedelta(hours=1),
        ),
        installed_by=1,
    )
    async with storage.unit_of_work() as uow:
        portal = await uow.portals.create(install, now=NOW)
    connection = await asyncpg.connect(libpq_url(dsn))
    try:
        await connection.copy_records_to_table(
            "touchpoints", records=_rows(portal.id, count), columns=_COLUMNS
        )
        # A third of the completed ones got a follow-up: the next touch-point of the portal.
        await connection.execute(
            """
            UPDATE touchpoints SET next_id = id + 1
            WHERE portal_id = $1 AND status = 'done' AND id % 3 = 0
              AND id < (SELECT max(id) FROM touchpoints WHERE portal_id = $1)
            """,
            portal.id,
        )
        await connection.execute("ANALYZE touchpoints")
    finally:
        await connection.close()
    return portal.id


async def _timed(repeat: int, run: Callable[[], Awaitable[T]]) -> tuple[list[float], T]:
    times = []
    result: Any = None
    for _ in range(repeat):
        started = time.perf_counter()
        result = await run()
        times.append(time.perf_counter() - started)
    return times, result


def _fmt(times: list[float]) -> str:
    return f"{statistics.median(times):.3f} s (min {min(times):.3f})"


async def bench(dsn: str, count: int, repeat: int) -> None:
    storage = await PostgresStorage.open(
        dsn, TokenCipher(Secret("bench-secret-key-0123456789abcdef"))
    )
    try:
        started = time.perf_counter()
        portal_id = await _seed(storage, dsn, count)
        print(f"seeded {count:,} touch-points in {time.perf_counter() - started:.1f} s")
        for label, period in (("year", YEAR), ("month", MONTH)):
            start, end = period.bounds(ZoneInfo(ZONE))
            query = ReportQuery(period=period, now=NOW, time_zone=ZONE)

            async def read() -> list[Any]:
                async with storage.unit_of_work() as uow:
                    return await uow.touch_points.all(portal_id)

            read_times, rows = await _timed(repeat, read)

            async def compute(rows: list[Any] = rows, period: ReportPeriod = period) -> Any:
                return compute_report(rows, period=period, now=NOW, time_zone=ZONE)

            compute_times, python_report = await _timed(repeat, compute)

            async def read_relevant(start: datetime = start) -> list[TouchPoint]:
                """Only the rows a report can count: open, or with an event since the start."""
                connection = await asyncpg.connect(libpq_url(dsn))
                try:
                    found = await connection.fetch(
                        """
                        SELECT * FROM touchpoints WHERE portal_id = $1
                          AND (status = 'open' OR created_at >= $2 OR completed_at >= $2
                               OR updated_at >= $2)
                        """,
                        portal_id,
                        start,
                    )
                finally:
                    await connection.close()
                return [touch_point_from_row(row) for row in found]

            relevant_times, relevant = await _timed(repeat, read_relevant)

            async def compute_relevant(
                relevant: list[TouchPoint] = relevant, period: ReportPeriod = period
            ) -> Any:
                return compute_report(relevant, period=period, now=NOW, time_zone=ZONE)

            relevant_compute_times, _ = await _timed(repeat, compute_relevant)

            async def sql(query: ReportQuery = query) -> Any:
                async with storage.unit_of_work() as uow:
                    return await uow.reports.report(portal_id, query)

            sql_times, sql_report = await _timed(repeat, sql)
            same = (sql_report.team, sql_report.users, sql_report.daily) == (
                python_report.team,
                python_report.users,
                python_report.daily,
            )

            async def owners(start: datetime = start, end: datetime = end) -> int:
                async with storage.unit_of_work() as uow:
                    found = await uow.reports.unfollowed_owners(
                        portal_id, PeriodListing(start=start, end=end, limit=5_001)
                    )
                return len(found)

            owner_times, owner_count = await _timed(repeat, owners)
            totals = [r + c for r, c in zip(read_times, compute_times, strict=True)]
            print(f"\n{label} ({period.length} days), {len(rows):,} rows read for Python:")
            print(f"  python: read {_fmt(read_times)} + compute {_fmt(compute_times)}"
                  f" = {_fmt(totals)}")  # fmt: skip
            relevant_totals = [
                r + c for r, c in zip(relevant_times, relevant_compute_times, strict=True)
            ]
            print(
                f"  python, {len(relevant):,} relevant rows only: read {_fmt(relevant_times)}"
                f" + compute {_fmt(relevant_compute_times)} = {_fmt(relevant_totals)}"
            )
            print(f"  sql:    {_fmt(sql_times)}   same figures as Python: {same}")
            print(
                f"  records to check for closing (unfollowed_owners, {owner_count:,}):"
                f" {_fmt(owner_times)}"
            )

            if label == "month":

                async def export(start: datetime = start, end: datetime = end) -> int:
                    async with storage.unit_of_work() as uow:
                        listed = await uow.reports.in_period_matching(
                            portal_id, PeriodListing(start=start, end=end, limit=50_001)
                        )
                    body = csv_document(
                        ["id", "deadline", "note"],
                        ([tp.id, tp.deadline.isoformat(), tp.result_note] for tp in listed),
                        CsvStyle.for_lang("en"),
                    )
                    return len(listed) + 0 * len(body)

                export_times, listed_count = await _timed(repeat, export)
                print(
                    f"  export: {listed_count:,} rows listed and rendered in {_fmt(export_times)}"
                )
    finally:
        await storage.close()


def main() -> None:
    # pgserver's platformdirs complains at exit where XDG_RUNTIME_DIR is unset; harmless.
    warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    count, repeat = (10_000, 1) if args.quick else (args.rows, args.repeat)
    # The embedded server stops when this process exits; its data directory is reused.
    server = os.environ.get("TOUCHPOINTS_DATABASE_URL", "").strip() or ensure_embedded(
        Path(tempfile.gettempdir()) / "touchpoints-bench"
    )
    dsn = create_database(server, "touchpoints_bench")
    try:
        apply_migrations(dsn)
        asyncio.run(bench(dsn, count, repeat))
    finally:
        drop_database(server, dsn)


if __name__ == "__main__":
    main()
