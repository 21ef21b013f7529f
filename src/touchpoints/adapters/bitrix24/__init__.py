"""The Bitrix24 REST adapter: OAuth, batching, paging, throttling and error mapping."""

from __future__ import annotations

from touchpoints.adapters.bitrix24.connector import BitrixConnector
from touchpoints.adapters.bitrix24.crm import BitrixCrm
from touchpoints.adapters.bitrix24.messenger import BitrixMessenger
from touchpoints.adapters.bitrix24.oauth import BitrixOAuthServer
from touchpoints.adapters.bitrix24.throttle import (
    ENTERPRISE,
    STANDARD,
    BucketLimits,
    RetryPolicy,
    Throttle,
)

__all__ = [
    "ENTERPRISE",
    "STANDARD",
    "BitrixConnector",
    "BitrixCrm",
    "BitrixMessenger",
    "BitrixOAuthServer",
    "BucketLimits",
    "RetryPolicy",
    "Throttle",
]
