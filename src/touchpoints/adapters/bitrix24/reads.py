"""Batched reads: ids in chunks of 50 to a list call, 50 list calls to a batch (§5, §6)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from touchpoints.adapters.bitrix24.batch import BatchReply, Caller, Command, run_commands
from touchpoints.adapters.bitrix24.rows import ITEM_SELECT, list_rows
from touchpoints.domain.model import EntityType
from touchpoints.ports.crm import CrmError

PAGE = 50  # fixed page size of every list method (§5)
IDS_PER_CALL = 50


def chunks(values: Sequence[int], size: int) -> list[list[int]]:
    return [list(values[offset : offset + size]) for offset in range(0, len(values), size)]


def unique(values: Iterable[int]) -> list[int]:
    return list(dict.fromkeys(values))


def raise_first(reply: BatchReply, *, tolerate: tuple[type[CrmError], ...] = ()) -> None:
    """Raises the first command error that is not of a tolerated kind."""
    for error in reply.errors.values():
        if not isinstance(error, tolerate):
            raise error


def item_params(owner_type: EntityType, item_filter: Mapping[str, Any]) -> dict[str, Any]:
    """``crm.item.list`` params for one entity type, a filter and the card's fields."""
    params: dict[str, Any] = {
        "entityTypeId": owner_type.type_id,
        "select": ITEM_SELECT,
        "filter": dict(item_filter),
    }
    if "@id" in item_filter or ">id" in item_filter:
        params["start"] = -1  # one page by construction: skip the count (§5)
    return params


async def list_all(client: Caller, method: str, params: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Every page of an offset-paged list: the first page tells ``total``; the remaining
    pages go 50 to a batch (§5, §6)."""
    first = await client.call(method, params, safe=True)
    found = list_rows(first.result)
    if first.next is None or first.total is None:
        return found
    commands = {
        f"p{start}": Command(method, {**params, "start": start})
        for start in range(first.next, first.total, PAGE)
    }
    reply = await run_commands(client, commands, safe=True)
    raise_first(reply)
    for key in sorted(reply.results, key=lambda key: int(key[1:])):
        found.extend(list_rows(reply.results[key]))
    return found
