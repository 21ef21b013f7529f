"""A portal's smart-process types (BITRIX24.md §22.3).

``crm.type.list`` is for CRM administrators only; everyone else gets ``ACCESS_DENIED`` and
reads the names from ``crm.enum.ownertype``, which any user may call and which lists each
type as ``DYNAMIC_<entityTypeId>``.
"""

from __future__ import annotations

from typing import Any

from touchpoints.adapters.bitrix24.batch import Caller
from touchpoints.adapters.bitrix24.rows import list_rows
from touchpoints.adapters.bitrix24.wire import as_dict, to_opt_int, to_str
from touchpoints.domain.crm import SmartProcessInfo
from touchpoints.domain.model import SmartProcess, is_dynamic_type_id
from touchpoints.ports.crm import CrmPermissionDenied

# crm.type.list answers pages of 50; a portal with more types than this is not one we
# expect, and the settings page could not list them usefully anyway.
MAX_PAGES = 10
_SYMBOL_PREFIX = "DYNAMIC_"


async def smart_processes(client: Caller) -> list[SmartProcessInfo]:
    try:
        return await _from_type_list(client)
    except CrmPermissionDenied:
        return await _from_owner_types(client)


async def _from_type_list(client: Caller) -> list[SmartProcessInfo]:
    found: dict[int, SmartProcessInfo] = {}
    start = 0
    for _page in range(MAX_PAGES):
        reply = await client.call(
            "crm.type.list", {"order": {"entityTypeId": "ASC"}, "start": start}, safe=True
        )
        for row in list_rows(as_dict(reply.result).get("types")):
            info = _info(to_opt_int(row.get("entityTypeId")), row.get("title"))
            if info is not None:
                found.setdefault(info.type.entity_type_id, info)
        if reply.next is None:
            break
        start = reply.next
    return list(found.values())


async def _from_owner_types(client: Caller) -> list[SmartProcessInfo]:
    reply = await client.call("crm.enum.ownertype", {}, safe=True)
    found: dict[int, SmartProcessInfo] = {}
    for row in list_rows(reply.result):
        if not to_str(row.get("SYMBOL_CODE")).upper().startswith(_SYMBOL_PREFIX):
            continue
        info = _info(to_opt_int(row.get("ID")), row.get("NAME"))
        if info is not None:
            found.setdefault(info.type.entity_type_id, info)
    return sorted(found.values(), key=lambda info: info.type.entity_type_id)


def _info(type_id: int | None, title: Any) -> SmartProcessInfo | None:
    if type_id is None or not is_dynamic_type_id(type_id):
        return None
    name = to_str(title).strip() or f"#{type_id}"
    return SmartProcessInfo(type=SmartProcess(type_id), title=name[:200])
