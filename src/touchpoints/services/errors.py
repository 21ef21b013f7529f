"""Service-layer failures: what a use case refuses, in terms the API can map to statuses."""

from __future__ import annotations

from collections.abc import Mapping


class ServiceError(Exception):
    """Root of the use cases' refusals."""


class NotFound(ServiceError):
    """No such object in the caller's portal (another portal's ids look the same)."""


class Forbidden(ServiceError):
    """Team visibility or an admin-only action refuses the caller."""


class Conflict(ServiceError):
    """The object's state forbids the action, or it changed concurrently."""


class InvalidInput(ServiceError):
    """Values that parse but break a rule; ``errors`` maps field to reason."""

    def __init__(self, errors: Mapping[str, str]) -> None:
        super().__init__("; ".join(f"{k}: {v}" for k, v in sorted(errors.items())))
        self.errors = dict(errors)


class RateLimited(ServiceError):
    """The user sent too many requests of this kind; try again after ``retry_after_s``."""

    def __init__(self, message: str, *, retry_after_s: int = 60) -> None:
        super().__init__(message)
        self.retry_after_s = max(1, retry_after_s)


class Unauthenticated(ServiceError):
    """A Bitrix24 request or frame launch could not be verified."""
