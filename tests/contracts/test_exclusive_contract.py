"""The storage-wide named lock that keeps background jobs to one replica at a time."""

from __future__ import annotations

import asyncio

from touchpoints.ports.storage import Storage


async def test_only_one_holder_at_a_time_and_the_lock_frees_afterwards(storage: Storage) -> None:
    entered = asyncio.Event()
    leave = asyncio.Event()
    results: list[bool] = []

    async def first() -> None:
        async with storage.exclusive("reconciliation") as got:
            results.append(got)
            entered.set()
            await leave.wait()

    holder = asyncio.create_task(first())
    await entered.wait()
    async with storage.exclusive("reconciliation") as second:
        results.append(second)
    async with storage.exclusive("another job") as other:
        results.append(other)
    leave.set()
    await holder
    async with storage.exclusive("reconciliation") as again:
        results.append(again)
    assert results == [True, False, True, True]
