"""The CRM permission rule both simulated Bitrix24 worlds apply (the demo's and the tests').

Bitrix24's real rules are role-based and configurable; the simulations keep three levels
per user (every record, the records assigned to them, none) plus per-record grants, with
admins seeing everything (BITRIX24.md §20.40, §20.48).
"""

from __future__ import annotations

from typing import Literal

CrmAccess = Literal["all", "own", "none"]
Grant = Literal["read", "edit"]


def crm_allows(
    *,
    admin: bool,
    access: CrmAccess,
    user_id: int,
    assigned_by_id: int | None,
    grant: str | None,
    edit: bool,
) -> bool:
    """Whether a user may read (or, with ``edit``, change) one existing record."""
    if admin or access == "all":
        return True
    if access == "own" and assigned_by_id == user_id:
        return True
    return grant == "edit" or (grant == "read" and not edit)
