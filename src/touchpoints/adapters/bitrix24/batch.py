"""The ``batch`` method: up to 50 commands per request, per-command results and errors (§6)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol, TypeVar

import attrs

from touchpoints.adapters.bitrix24.errors import map_error
from touchpoints.adapters.bitrix24.redact import clip
from touchpoints.adapters.bitrix24.transport import RestReply
from touchpoints.adapters.bitrix24.wire import WireError, as_dict, php_query, to_opt_int, to_str
from touchpoints.ports.crm import CrmAuthExpired, CrmError, CrmUnavailable, PortalGone

MAX_COMMANDS = 50

_Item = TypeVar("_Item")
_Outcome = TypeVar("_Outcome")


class Caller(Protocol):
    """Makes one REST call for a bound portal and token (see ``client.RestClient``)."""

    async def call(self, method: str, params: Mapping[str, Any], *, safe: bool) -> RestReply: ...


@attrs.frozen
class Command:
    """One command of a batch: a method and its params."""

    method: str
    params: Mapping[str, Any] = attrs.field(factory=dict)

    def encode(self) -> str:
        """``method?query`` with every query part URL-encoded (§6: plain in a JSON body)."""
        if not self.params:
            return self.method
        return f"{self.method}?{php_query(self.params)}"


@attrs.frozen(kw_only=True)
class BatchReply:
    """Per-command outcomes, keyed by command id. A command in neither ``results`` nor
    ``errors`` did not run (skipped after a halt, §21.8)."""

    results: Mapping[str, Any]
    errors: Mapping[str, CrmError]
    totals: Mapping[str, int]
    nexts: Mapping[str, int]
    requests: int = 1

    def merge(self, other: BatchReply) -> BatchReply:
        return BatchReply(
            results={**self.results, **other.results},
            errors={**self.errors, **other.errors},
            totals={**self.totals, **other.totals},
            nexts={**self.nexts, **other.nexts},
            requests=self.requests + other.requests,
        )


EMPTY = BatchReply(results={}, errors={}, totals={}, nexts={}, requests=0)


def parse_batch(result: Any, commands: Mapping[str, Command]) -> BatchReply:
    """Read ``result.{result,result_error,result_total,result_next}``.

    Empty parts arrive as ``[]`` instead of ``{}``; a non-empty part keyed ``0..n-1`` may
    arrive as a JSON array (PHP's list serialisation), so arrays are read by position.
    """
    body = as_dict(result)
    results = as_dict(body.get("result"))
    raw_errors = as_dict(body.get("result_error"))
    errors: dict[str, CrmError] = {}
    for key, raw in raw_errors.items():
        envelope = as_dict(raw)
        command = commands.get(key)
        errors[key] = map_error(
            to_str(envelope.get("error")),
            clip(to_str(envelope.get("error_description"))),
            method=command.method if command else "batch",
            status=400,
        )
    return BatchReply(
        results={key: value for key, value in results.items() if key not in errors},
        errors=errors,
        totals=_ints(body.get("result_total")),
        nexts=_ints(body.get("result_next")),
    )


def _ints(raw: Any) -> dict[str, int]:
    out: dict[str, int] = {}
    for key, value in as_dict(raw).items():
        try:
            number = to_opt_int(value)
        except WireError:
            continue
        if number is not None:
            out[key] = number
    return out


async def batch(
    caller: Caller, commands: Mapping[str, Command], *, safe: bool, halt: bool = False
) -> BatchReply:
    """One ``batch`` request of at most 50 commands.

    Command ids must not look like list indexes (use ``c0``, not ``0``) so that the
    reply's parts stay keyed. Raises when the request as a whole fails; a failing command
    only lands in ``errors``.
    """
    if len(commands) > MAX_COMMANDS:
        raise ValueError(f"a batch holds at most {MAX_COMMANDS} commands")
    if not commands:
        return EMPTY
    cmd = {key: command.encode() for key, command in commands.items()}
    reply = await caller.call("batch", {"halt": 1 if halt else 0, "cmd": cmd}, safe=safe)
    return parse_batch(reply.result, commands)


async def run_commands(
    caller: Caller, commands: Mapping[str, Command], *, safe: bool
) -> BatchReply:
    """Run any number of independent commands in as few requests as possible.

    One command goes as a plain call; more are packed 50 to a ``batch``, one request after
    another (BITRIX24.md §7.1 advises against parallel request series).
    """
    if len(commands) == 1:
        ((key, command),) = commands.items()
        try:
            reply = await caller.call(command.method, command.params, safe=safe)
        except (CrmUnavailable, CrmAuthExpired, PortalGone):
            raise
        except CrmError as exc:
            return BatchReply(results={}, errors={key: exc}, totals={}, nexts={})
        return BatchReply(
            results={key: reply.result},
            errors={},
            totals={} if reply.total is None else {key: reply.total},
            nexts={} if reply.next is None else {key: reply.next},
        )
    merged = EMPTY
    items = list(commands.items())
    for offset in range(0, len(items), MAX_COMMANDS):
        chunk = dict(items[offset : offset + MAX_COMMANDS])
        merged = merged.merge(await batch(caller, chunk, safe=safe))
    return merged


async def send_each(
    caller: Caller,
    items: Sequence[_Item],
    *,
    key: str,
    command: Callable[[_Item], Command],
    safe: bool,
    outcome: Callable[[_Item, str, BatchReply], _Outcome],
    failed: Callable[[_Item, str], _Outcome],
) -> list[_Outcome]:
    """One command per item (ids ``<key><index>``), ``MAX_COMMANDS`` to a request, one
    request after another; the outcomes in the items' order.

    A request that fails as a whole after an earlier one went out marks its own items
    ``failed`` with the error's code instead of raising (the earlier ones were delivered).

    Raises: the CRM port's failures, when the first request fails as a whole.
    """
    outcomes: list[_Outcome] = []
    for offset in range(0, len(items), MAX_COMMANDS):
        chunk = items[offset : offset + MAX_COMMANDS]
        commands = {f"{key}{offset + index}": command(item) for index, item in enumerate(chunk)}
        try:
            reply = await run_commands(caller, commands, safe=safe)
        except CrmError as exc:
            if offset == 0:
                raise
            code = exc.code or type(exc).__name__
            outcomes.extend(failed(item, code) for item in chunk)
            continue
        outcomes.extend(
            outcome(item, command_id, reply)
            for command_id, item in zip(commands, chunk, strict=True)
        )
    return outcomes
