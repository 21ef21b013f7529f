"""The shared Bitrix24 budget's cost: one statement per request against a lease of a few tokens.

    .venv/bin/python bench/rate_budget.py            # about half a minute

Runs ``PostgresRateBudget`` on a fresh database of the embedded Postgres (real migrations),
with a bucket too large to make anyone wait, so only the statement's cost shows. "Lease of
k" takes k tokens with one statement (what a leasing design would send): its cost per
request is the statement's divided by k. Results print as Markdown.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
from pathlib import Path

import asyncpg

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.stack import percentile
from touchpoints.adapters.postgres.dsn import libpq_url
from touchpoints.adapters.postgres.embedded import ensure_embedded
from touchpoints.adapters.postgres.migrate import apply_migrations
from touchpoints.adapters.postgres.rate_budget import PostgresRateBudget

PORTALS = 100
REQUESTS = 2_000
HUGE = 1e12

_LOAD_PORTALS = """
INSERT INTO portals (member_id, client_endpoint, domain, access_token, refresh_token,
                     application_token, token_expires_at, created_at, updated_at)
SELECT 'member' || g, 'https://p' || g || '.example/rest/', 'p' || g || '.example',
       '\\x00'::bytea, '\\x00'::bytea, '\\x00'::bytea, now(), now(), now()
FROM generate_series(1, $1) AS g
"""


async def _run(budgets: list[PostgresRateBudget], keys: list[str], total: int) -> list[float]:
    """``total`` admissions split over the budgets (one task each), keys round-robin."""
    latencies: list[float] = []

    async def replica(budget: PostgresRateBudget, share: int, offset: int) -> None:
        for n in range(share):
            started = time.perf_counter()
            admission = await budget.admit(
                keys[(offset + n) % len(keys)],
                "batch",
                capacity=HUGE,
                drain_per_s=2.0,
                max_wait_s=0.0,
            )
            latencies.append(time.perf_counter() - started)
            assert admission is not None
            assert admission.reserved

    share = total // len(budgets)
    await asyncio.gather(*(replica(b, share, i) for i, b in enumerate(budgets)))
    return latencies


async def main() -> None:
    dsn = ensure_embedded(Path(tempfile.mkdtemp(prefix="tp-bench-budget-")))
    apply_migrations(dsn)
    connection = await asyncpg.connect(libpq_url(dsn))
    await connection.execute(_LOAD_PORTALS, PORTALS)
    await connection.close()
    budgets = [await PostgresRateBudget.open(dsn, max_size=1) for _ in range(4)]
    try:
        await _run(budgets[:1], [f"member{n}" for n in range(1, PORTALS + 1)], PORTALS * 2)
        print("| replicas | portals | statements | wall | statements/s | p50 | p95 |")
        print("|---|---|---|---|---|---|---|")
        rows: dict[tuple[int, int], float] = {}
        for replicas, portals in ((1, 1), (2, 1), (4, 1), (4, PORTALS)):
            keys = [f"member{n}" for n in range(1, portals + 1)]
            started = time.perf_counter()
            latencies = await _run(budgets[:replicas], keys, REQUESTS)
            wall = time.perf_counter() - started
            rows[(replicas, portals)] = len(latencies) / wall
            print(
                f"| {replicas} | {portals} | {len(latencies)} | {wall:.2f} s | "
                f"{len(latencies) / wall:.0f} | {percentile(latencies, 0.5) * 1000:.2f} ms | "
                f"{percentile(latencies, 0.95) * 1000:.2f} ms |"
            )
        per_request = 1000 / rows[(1, 1)]
        print("\n| design | statements per Bitrix24 request | database time per request |")
        print("|---|---|---|")
        for k in (1, 5, 10):
            name = "one statement per request" if k == 1 else f"lease of {k}"
            print(f"| {name} | {1 / k:.2f} | {per_request / k:.2f} ms |")
    finally:
        for budget in budgets:
            await budget.close()


if __name__ == "__main__":
    asyncio.run(main())
