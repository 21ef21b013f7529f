"""Stage names read live (``crm.status.list``, §12.2) in the same batch as the records."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from touchpoints.adapters.bitrix24.batch import BatchReply, Command
from touchpoints.adapters.bitrix24.rows import list_rows, parse_stage_names
from touchpoints.domain.model import OwnerRef, OwnerType


def known_directories(refs: Sequence[OwnerRef]) -> list[str]:
    """Stage directories named by the owner types alone: leads, the general deal pipeline."""
    types = {ref.type for ref in refs}
    known = []
    if OwnerType.LEAD in types:
        known.append("STATUS")
    if OwnerType.DEAL in types:
        known.append("DEAL_STAGE")
    return known


def stage_commands(directories: Iterable[str]) -> dict[str, Command]:
    """``crm.status.list`` of each directory: it takes only ``order`` and ``filter``, and any
    user may read it (§12.2)."""
    return {
        f"s{index}": Command(
            "crm.status.list",
            {"order": {"SORT": "ASC"}, "filter": {"ENTITY_ID": directory}},
        )
        for index, directory in enumerate(directories)
    }


def stage_names(reply: BatchReply) -> dict[tuple[str, str], str]:
    names: dict[tuple[str, str], str] = {}
    for key, result in reply.results.items():
        if key.startswith("s"):
            names |= parse_stage_names(list_rows(result))
    return names
