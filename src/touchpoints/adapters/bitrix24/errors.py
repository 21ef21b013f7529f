"""Bitrix24 error envelopes mapped onto the CRM port's typed failures (BITRIX24.md §4)."""

from __future__ import annotations

from touchpoints.ports.crm import (
    CrmAuthExpired,
    CrmError,
    CrmInvalidInput,
    CrmNotFound,
    CrmPermissionDenied,
    CrmRateLimited,
    CrmUnavailable,
    PortalGone,
)


class TokenExpired(CrmAuthExpired):
    """``expired_token``: the app refreshes and repeats; a user's frame renews itself."""


class TokenRejected(CrmAuthExpired):
    """``NO_AUTH_FOUND`` / ``invalid_token``: the token is unknown to the portal."""


class QueryLimitExceeded(CrmRateLimited):
    """HTTP 503 from the leaky bucket: refused before running, so always safe to repeat (§7.1)."""


class OperationTimeLimit(CrmRateLimited):
    """HTTP 429: this method's operating time is used up until ``reset_at`` (§7.2).

    The check runs before the call, so the call did not run and may be repeated.
    """

    def __init__(self, message: str, *, code: str = "", reset_at: float | None = None) -> None:
        super().__init__(message, code=code)
        self.reset_at = reset_at


class NotSent(CrmUnavailable):
    """The connection could not be opened: the request never reached Bitrix24."""


class ServerError(CrmUnavailable):
    """A 5xx answer: the call may or may not have run."""


_AUTH = {
    "expired_token": TokenExpired,
    "no_auth_found": TokenRejected,
    "invalid_token": TokenRejected,
}
_DENIED = {
    "insufficient_scope",
    "invalid_scope",
    "invalid_credentials",
    "access_denied",
    "user_access_error",
    "allowed_only_intranet_user",
    "wrong_auth_type",
}
_GONE = {"portal_deleted", "payment_required"}
_NOT_FOUND = {"not_found", "owner_not_found", "error_not_found"}
# to-do validation codes (§11.5), IM (§15), event/placement arguments (§9.1, §10.3).
_INVALID = {
    "100",
    "wrong_datetime_format",
    "can_not_update_completed_todo",
    "can_not_update_responsible_user_completed_todo",
    "can_not_update_color_completed_todo",
    "can_not_update_wrong_color_todo",
    "error_parent_activity_restrict",
    "invalid_arg_value",
    "invalid_request",
    "error_argument",
    "error_core",
    "error_batch_length_exceeded",
    "error_event_not_found",
    "error_wrong_handler_url",
    "error_unsupported_protocol",
    "error_placement_not_found",
    "error_placement_max_count",
    "error_placement_user_mode",
    "user_id_empty",
    "message_empty",
    "attach_oversize",
    "attach_error",
}
_SERVER = {"internal_server_error", "error_unexpected_answer"}
# Legacy CRM methods answer with an empty code; the text is the only discriminator (§4.2).
_LEGACY_TEXT: dict[str, type[CrmError]] = {
    "not found": CrmNotFound,
    "activity is not found": CrmNotFound,
    "access denied": CrmPermissionDenied,
    "application context required": CrmPermissionDenied,
}


def map_error(
    code: str,
    description: str,
    *,
    method: str,
    status: int,
    reset_at: float | None = None,
) -> CrmError:
    """The typed failure for an error envelope. Codes compare case-insensitively (§4.2).

    ``description`` must already be redacted and clipped: it goes into the exception's text.
    """
    key = code.strip().lower()
    message = f"{method}: {code or 'error'} (HTTP {status}): {description}".rstrip(": ")
    if key in _AUTH:
        return _AUTH[key](message, code=code)
    if key == "query_limit_exceeded":
        return QueryLimitExceeded(message, code=code)
    if key == "operation_time_limit":
        return OperationTimeLimit(message, code=code, reset_at=reset_at)
    if key == "overload_limit":
        # A manual block by Bitrix24 support (§4.3): it does not clear within a retry budget.
        return CrmRateLimited(message, code=code)
    if key in _DENIED:
        return CrmPermissionDenied(message, code=code)
    if key in _GONE:
        return PortalGone(message, code=code)
    if key in _NOT_FOUND:
        return CrmNotFound(message, code=code)
    if key in _INVALID:
        return CrmInvalidInput(message, code=code)
    if key in _SERVER:
        return ServerError(message, code=code)
    # The pages list those texts under "Code" while their examples send them as the
    # description: either place is read.
    legacy = _LEGACY_TEXT.get(_normalise(code if key else description))
    if legacy is not None:
        return legacy(message, code=code)
    if status >= 500:
        return ServerError(message, code=code)
    if status == 403:
        return CrmPermissionDenied(message, code=code)
    return CrmError(message, code=code)


def _normalise(text: str) -> str:
    return text.strip().rstrip(".").strip().lower()
