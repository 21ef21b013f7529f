"""Benchmark: batched reads by id vs one call per record, and pacing under the leaky bucket.

Runs the real Bitrix24 adapter against the HTTP emulator (tests/fakes/bitrix24.py) with an
injected per-request latency. Usage, from the repository root:

    .venv/bin/python bench/bitrix_reads.py [--latency-ms 10] [--sizes 100,1000,10000]
        [--bucket-requests 300] [--quick]

``--quick`` shrinks everything for a smoke run (sizes 100,1000; 120 bucket requests).
"""

from __future__ import annotations

import argparse
import asyncio
import math
import sys
import time
from pathlib import Path

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # for tests.fakes

from tests.fakes.bitrix24 import Bitrix24Emulator, RateLimit

from touchpoints.adapters.bitrix24.client import RestClient
from touchpoints.adapters.bitrix24.connector import BitrixConnector
from touchpoints.adapters.bitrix24.oauth import BitrixOAuthServer
from touchpoints.adapters.bitrix24.throttle import (
    STANDARD,
    BucketLimits,
    RetryPolicy,
    Throttle,
)
from touchpoints.adapters.memory.storage import MemoryStorage
from touchpoints.domain.model import OwnerRef, OwnerType
from touchpoints.domain.portal import Portal, PortalInstall
from touchpoints.domain.secrets import Secret

UNLIMITED = BucketLimits(burst=1_000_000, drain_per_s=1e9)
PATIENT = RetryPolicy(budget_s=3600.0)  # a background job: no per-call deadline to speak of


async def _install(
    b24: Bitrix24Emulator, session: aiohttp.ClientSession, throttle: Throttle
) -> tuple[BitrixConnector, Portal, MemoryStorage]:
    launch = b24.install(admin_id=1)
    oauth = BitrixOAuthServer(
        session,
        b24.client_id,
        Secret(b24.client_secret),
        b24.oauth_url,
        clock=b24.clock,
        allow_http=True,
    )
    grant = await oauth.refresh(Secret(launch.form["REFRESH_ID"]))
    storage = MemoryStorage()
    async with storage.unit_of_work() as uow:
        portal = await uow.portals.create(
            PortalInstall(
                member_id=grant.member_id,
                client_endpoint=grant.client_endpoint,
                domain=grant.domain,
                application_token=Secret(launch.form["APPLICATION_TOKEN"]),
                tokens=grant.tokens,
                installed_by=grant.user_id,
            ),
            now=b24.clock.now(),
        )
    connector = BitrixConnector(
        session, oauth, storage, b24.clock, throttle, retry=PATIENT, allow_http=True
    )
    return connector, portal, storage


async def _one_by_one(client: RestClient, refs: list[OwnerRef]) -> None:
    """The naive baseline: ``crm.item.get`` for each record, one request after another."""
    for ref in refs:
        await client.call(
            "crm.item.get", {"entityTypeId": ref.type.type_id, "id": ref.id}, safe=True
        )


async def bench_reads(latency_s: float, sizes: list[int]) -> list[dict[str, float]]:
    rows = []
    async with Bitrix24Emulator(latency=latency_s) as b24, aiohttp.ClientSession() as session:
        connector, portal, storage = await _install(b24, session, Throttle(UNLIMITED))
        member = portal.member_id
        refs = [
            b24.add_record(member, OwnerType.DEAL, title=f"Deal {i}") for i in range(max(sizes))
        ]
        crm = connector.as_app(portal)
        client = connector.app_client(portal)
        for size in sizes:
            wanted = refs[:size]
            b24.reset_counters()
            started = time.perf_counter()
            cards = await crm.read_records(wanted)
            batched_s = time.perf_counter() - started
            batched_requests = b24.requests(member)
            assert len(cards) == size
            b24.reset_counters()
            started = time.perf_counter()
            await _one_by_one(client, wanted)
            baseline_s = time.perf_counter() - started
            baseline_requests = b24.requests(member)
            rows.append(
                {
                    "m": size,
                    "floor": math.ceil(size / 2500),
                    "requests": batched_requests,
                    "seconds": batched_s,
                    "baseline_requests": baseline_requests,
                    "baseline_seconds": baseline_s,
                }
            )
            print(
                f"M={size:>6}: batched {batched_requests} requests in {batched_s:.2f} s "
                f"(floor {math.ceil(size / 2500)}); one-per-call {baseline_requests} requests "
                f"in {baseline_s:.2f} s",
                flush=True,
            )
        await storage.close()
    return rows


async def bench_bucket(latency_s: float, requests: int, limits: BucketLimits) -> dict[str, float]:
    rate = RateLimit(burst=limits.burst, per_second=limits.drain_per_s)
    async with Bitrix24Emulator(latency=latency_s) as b24, aiohttp.ClientSession() as session:
        connector, portal, storage = await _install(b24, session, Throttle(limits))
        b24.set_rate_limit(portal.member_id, rate)  # a fresh, empty bucket on the portal side
        b24.reset_counters()
        client = connector.app_client(portal)
        started = time.perf_counter()
        for _ in range(requests):
            await client.call("profile", {}, safe=True)
        seconds = time.perf_counter() - started
        refused = sum(1 for record in b24.log if record.status == 503)
        sent = b24.requests(portal.member_id)
        await storage.close()
    floor = (requests - limits.burst) / limits.drain_per_s
    print(
        f"{requests} requests under a {limits.burst}/{limits.drain_per_s:g}-per-second bucket: "
        f"{seconds:.1f} s (floor {floor:.1f} s), {sent} sent, {refused} refused with 503",
        flush=True,
    )
    return {
        "requests": requests,
        "seconds": seconds,
        "floor": floor,
        "sent": sent,
        "refused": refused,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--latency-ms", type=float, default=10.0)
    parser.add_argument("--sizes", default="100,1000,10000")
    parser.add_argument("--bucket-requests", type=int, default=300)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    sizes = [int(size) for size in args.sizes.split(",")]
    requests = args.bucket_requests
    if args.quick:
        sizes, requests = [100, 1000], 120
    latency = args.latency_ms / 1000
    print(f"latency {args.latency_ms:g} ms per request", flush=True)
    rows = asyncio.run(bench_reads(latency, sizes))
    bucket = asyncio.run(bench_bucket(latency, requests, STANDARD))
    print()
    print(
        "| M | floor ceil(M/2500) | requests | wall time | one-per-call requests | one-per-call wall time |"
    )
    print("|---|---|---|---|---|---|")
    for row in rows:
        print(
            f"| {row['m']:,} | {row['floor']} | {row['requests']} | {row['seconds']:.2f} s "
            f"| {row['baseline_requests']:,} | {row['baseline_seconds']:.2f} s |"
        )
    print()
    print(
        f"| requests | bucket | wall time | floor (N-50)/2 | 503s |\n|---|---|---|---|---|\n"
        f"| {bucket['requests']} | 50 burst, 2/s | {bucket['seconds']:.1f} s "
        f"| {bucket['floor']:.1f} s | {bucket['refused']} |"
    )


if __name__ == "__main__":
    main()
