"""The garbage collector of a long-running process, told what will never be garbage."""

from __future__ import annotations

import gc


def settle_heap() -> None:
    """Once the process is set up (modules, routes, pools, catalogues), freeze what exists.

    ``gc.freeze`` moves every object tracked so far into a permanent generation that later
    collections skip. Without it, each collection of the oldest generation walks all of
    aiohttp, asyncpg and our own modules again, and the young collections that a board
    render's thousand values set off promote into that generation: about 5 % of a
    200-card render's instructions (``bench/app_process.py --instructions``). Objects
    created later are collected as before; what startup left behind is kept, so collect
    first.
    """
    gc.collect()
    gc.freeze()
