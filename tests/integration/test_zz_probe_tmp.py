from __future__ import annotations
import collections
from zoneinfo import ZoneInfo
import attrs, pytest
from hypothesis import HealthCheck, given, settings
from tests.integration.test_reports_storage import cases, _at, new_portal, store
from touchpoints.adapters.memory.storage import MemoryStorage
STATS = collections.Counter()

@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=cases())
async def test_probe(pg_storage, case):
    zone, start, _length, rows, now_point, query = case
    now = _at(start, now_point, ZoneInfo(zone))
    STATS["n"] += 1
    if now is None:
        STATS["nonow"] += 1
        return
    query = attrs.evolve(query, now=now)
    reports = []
    for storage in (MemoryStorage(), pg_storage):
        portal_id = await new_portal(storage)
        if not await store(storage, portal_id, rows, start, zone):
            STATS["nostore"] += 1
            return
        async with storage.unit_of_work() as uow:
            reports.append(await uow.touch_points.report(portal_id, query))
    STATS["compared"] += 1
    STATS["completed"] += reports[0].team.completed
    STATS["ontime"] += reports[0].team.completed_on_time
    STATS["pg_ontime"] += reports[1].team.completed_on_time
    print(dict(STATS))
