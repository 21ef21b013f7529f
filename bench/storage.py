"""Storage benchmark: a portal's board query as the touch-points table grows from 10k to 1M rows.

    .venv/bin/python bench/storage.py             # 10k and 1M touch-points (a few minutes)
    .venv/bin/python bench/storage.py --quick     # 10k and 100k (under a minute)

Runs on the embedded Postgres (under ``.touchpoints/bench-storage`` unless ``--data-dir``),
in a fresh database made by the real migrations. For each size the table is bulk-loaded with
``generate_series``: one target portal with 1,000 open touch-points (10 responsible users,
deadlines spread over two months) and the rest spread over 1,999 other portals with mixed
statuses. Each measurement is one whole unit of work through ``PostgresStorage`` (pool
acquire, BEGIN, the query, decoding into domain objects, COMMIT), run sequentially.
Results print as Markdown.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from touchpoints.adapters.postgres.crypto import TokenCipher
from touchpoints.adapters.postgres.dsn import libpq_url, with_database
from touchpoints.adapters.postgres.embedded import ensure_embedded
from touchpoints.adapters.postgres.migrate import apply_migrations
from touchpoints.adapters.postgres.storage import PostgresStorage
from touchpoints.domain.secrets import Secret
from touchpoints.ports.storage import BoardQuery

PORTALS = 2_000
TARGET_OPEN = 1_000
TARGET_USERS = 10
BASE = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
SECRET = Secret("benchmark-secret-key-0123456789abcdefgh")

_LOAD_PORTALS = """
INSERT INTO portals (member_id, client_endpoint, domain, access_token, refresh_token,
                     application_token, token_expires_at, created_at, updated_at)
SELECT 'member' || g, 'https://p' || g || '.example/rest/', 'p' || g || '.example',
       '\\x00'::bytea, '\\x00'::bytea, '\\x00'::bytea, $1, $1, $1
FROM generate_series(1, $2) AS g
"""

# The target portal (id 1): TARGET_OPEN open touch-points, deadlines every ~hour over 2 months.
_LOAD_TARGET = """
INSERT INTO touchpoints (portal_id, activity_id, owner_type, owner_id, type, status, deadline,
                         responsible_id, created_by, created_at, updated_at)
SELECT 1, g, 'deal', 1 + g % 300, 'call', 'open', $1::timestamptz + (g * interval '61 minutes'),
       1 + g % $3, 1, $1, $1
FROM generate_series(1, $2) AS g
"""

# Everyone else: 60% open, 30% done, 10% cancelled, spread over portals 2..PORTALS.
_LOAD_OTHERS = """
INSERT INTO touchpoints (portal_id, activity_id, owner_type, owner_id, type, status, deadline,
                         responsible_id, created_by, created_at, updated_at, completed_at,
                         result_note)
SELECT 2 + g % ($3 - 1), 1000000 + g,
       (ARRAY['lead', 'deal', 'contact', 'company'])[1 + g % 4], 1 + g % 5000,
       (ARRAY['call', 'meeting', 'email', 'message', 'visit', 'other'])[1 + g % 6],
       s.status, $1::timestamptz + ((g % 1440) * interval '61 minutes'), 1 + g % 20, 1, $1, $1,
       CASE WHEN s.status = 'done' THEN $1 END,
       CASE WHEN s.status = 'done' THEN 'called, will follow up' END
FROM generate_series(1, $2) AS g,
     LATERAL (SELECT CASE WHEN g % 10 < 6 THEN 'open'
                          WHEN g % 10 < 9 THEN 'done'
                          ELSE 'cancelled' END AS status) AS s
"""


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def load(dsn: str, total: int) -> float:
    started = time.perf_counter()
    connection = await asyncpg.connect(libpq_url(dsn))
    try:
        await connection.execute("SET synchronous_commit = off")
        await connection.execute("TRUNCATE portals RESTART IDENTITY CASCADE")
        await connection.execute(_LOAD_PORTALS, BASE, PORTALS)
        await connection.execute(_LOAD_TARGET, BASE - timedelta(days=10), TARGET_OPEN, TARGET_USERS)
        await connection.execute(
            _LOAD_OTHERS, BASE - timedelta(days=30), total - TARGET_OPEN, PORTALS
        )
        await connection.execute("VACUUM ANALYZE touchpoints")
        await connection.execute("ANALYZE portals")
    finally:
        await connection.close()
    return time.perf_counter() - started


async def plan(dsn: str, sql: str, *args: object) -> str:
    connection = await asyncpg.connect(libpq_url(dsn))
    try:
        rows = await connection.fetch(f"EXPLAIN {sql}", *args)
    finally:
        await connection.close()
    return " / ".join(
        row[0].strip().removeprefix("->  ").split("  (")[0]
        for row in rows
        if "Scan" in row[0] or "Sort" in row[0]
    )


async def measure(
    storage: PostgresStorage, query: BoardQuery, rounds: int
) -> tuple[int, list[float]]:
    rows = 0
    latencies: list[float] = []
    for n in range(rounds + 20):
        started = time.perf_counter()
        async with storage.unit_of_work() as uow:
            found = await uow.touch_points.board(1, query)
        elapsed = time.perf_counter() - started
        if n >= 20:  # warm-up: plans cached, pages in shared buffers
            latencies.append(elapsed)
            rows = len(found)
    return rows, latencies


QUERIES = {
    "team board (all open)": BoardQuery(),
    "one user's board": BoardQuery(responsible_ids=frozenset({3})),
    "digest (open, due by tomorrow)": BoardQuery(deadline_before=BASE + timedelta(days=1)),
}

# The SQL PostgresTouchPoints.board sends for each query above, timed on its own (no pool,
# no transaction, no decoding) to show the database's share.
_BOARD_SQL = "SELECT * FROM touchpoints WHERE portal_id = $1 AND status IN ('open')"
RAW = {
    "team board (all open)": (f"{_BOARD_SQL} ORDER BY deadline, id LIMIT 5000", ()),
    "one user's board": (
        f"{_BOARD_SQL} AND responsible_id = ANY($2::bigint[]) ORDER BY deadline, id LIMIT 5000",
        ([3],),
    ),
    "digest (open, due by tomorrow)": (
        f"{_BOARD_SQL} AND deadline < $2 ORDER BY deadline, id LIMIT 5000",
        (BASE + timedelta(days=1),),
    ),
}


async def measure_sql(dsn: str, sql: str, args: tuple[object, ...], rounds: int) -> list[float]:
    connection = await asyncpg.connect(libpq_url(dsn))
    latencies: list[float] = []
    try:
        for n in range(rounds + 20):
            started = time.perf_counter()
            await connection.fetch(sql, 1, *args)
            if n >= 20:
                latencies.append(time.perf_counter() - started)
    finally:
        await connection.close()
    return latencies


async def main(sizes: list[int], rounds: int, data_dir: Path) -> None:
    server = ensure_embedded(data_dir)
    database = f"bench_storage_{int(time.time())}"
    admin = await asyncpg.connect(libpq_url(server))
    await admin.execute(f'CREATE DATABASE "{database}"')
    dsn = with_database(server, database)
    try:
        apply_migrations(dsn)
        results: dict[tuple[int, str], tuple[int, list[float]]] = {}
        raw: dict[tuple[int, str], list[float]] = {}
        for total in sizes:
            seconds = await load(dsn, total)
            print(f"loaded {total:,} touch-points over {PORTALS:,} portals in {seconds:.1f} s")
            print(
                "  plan (team board):",
                await plan(
                    dsn,
                    "SELECT * FROM touchpoints WHERE portal_id = $1 AND status IN ('open')"
                    " ORDER BY deadline, id LIMIT 5000",
                    1,
                ),
            )
            print(
                "  plan (one user):",
                await plan(
                    dsn,
                    "SELECT * FROM touchpoints WHERE portal_id = $1 AND status IN ('open')"
                    " AND responsible_id = ANY($2::bigint[]) ORDER BY deadline, id LIMIT 5000",
                    1,
                    [3],
                ),
            )
            storage = await PostgresStorage.open(dsn, TokenCipher(SECRET), min_size=1, max_size=2)
            try:
                for name, query in QUERIES.items():
                    results[(total, name)] = await measure(storage, query, rounds)
            finally:
                await storage.close()
            for name, (sql, args) in RAW.items():
                raw[(total, name)] = await measure_sql(dsn, sql, args, rounds)

        print()
        print(
            "| query | rows | table size | p50 | p95 | rows/s (at p50) | SQL only p50 | SQL only p95 |"
        )
        print("|---|---|---|---|---|---|---|---|")
        for name in QUERIES:
            for total in sizes:
                rows, latencies = results[(total, name)]
                p50, p95 = percentile(latencies, 0.5), percentile(latencies, 0.95)
                sql_only = raw[(total, name)]
                print(
                    f"| {name} | {rows:,} | {total:,} | {p50 * 1000:.2f} ms | {p95 * 1000:.2f} ms "
                    f"| {rows / p50:,.0f} | {percentile(sql_only, 0.5) * 1000:.2f} ms "
                    f"| {percentile(sql_only, 0.95) * 1000:.2f} ms |"
                )
        print()
        small, large = sizes[0], sizes[-1]
        print(f"| query | p50 growth {small:,} → {large:,} | mean growth | SQL only p50 growth |")
        print("|---|---|---|---|")
        for name in QUERIES:
            a, b = results[(small, name)][1], results[(large, name)][1]
            sql_a, sql_b = raw[(small, name)], raw[(large, name)]
            print(
                f"| {name} | {percentile(b, 0.5) / percentile(a, 0.5):.2f}× "
                f"| {statistics.fmean(b) / statistics.fmean(a):.2f}× "
                f"| {percentile(sql_b, 0.5) / percentile(sql_a, 0.5):.2f}× |"
            )
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        await admin.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="10k and 100k rows, fewer rounds")
    parser.add_argument("--rounds", type=int, help="measured queries per case (default 300)")
    parser.add_argument(
        "--data-dir", type=Path, default=Path(".touchpoints/bench-storage"), help="embedded data"
    )
    args = parser.parse_args()
    sizes = [10_000, 100_000] if args.quick else [10_000, 1_000_000]
    rounds = args.rounds or (100 if args.quick else 300)
    asyncio.run(main(sizes, rounds, args.data_dir))
