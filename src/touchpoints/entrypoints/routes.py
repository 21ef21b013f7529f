"""The route table's machinery: one ``Route`` per operation, from which both the aiohttp
router and the OpenAPI document are made, and the one request pipeline every route runs.

The pipeline, in order: authenticate (``context.authenticate``: a 401 before anything of
the request is read) → parse the path and query (``converters.structure_params``) → read and
parse the body (``context.read_json``, ``converters.structure``) → the handler → the reply
(``replies.unstructure``) with the route's status.
"""

from __future__ import annotations

import functools
import inspect
import typing
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any, Generic, TypeVar

import attrs
from aiohttp import web

from touchpoints.entrypoints import converters, replies
from touchpoints.entrypoints.container import SERVICES, Services
from touchpoints.entrypoints.context import Context, authenticate, read_json
from touchpoints.entrypoints.http import MAX_BODY, json_reply
from touchpoints.entrypoints.wire import Empty

P = TypeVar("P")
B = TypeVar("B")


@attrs.frozen(kw_only=True)
class Call(Generic[P, B]):
    """One request as a handler sees it: who asks (``ctx``), its parameters and its body."""

    request: web.Request
    services: Services
    params: P
    body: B
    context: Context | None

    @property
    def ctx(self) -> Context:
        """The caller's context; only routes with ``auth=False`` have none."""
        if self.context is None:
            raise RuntimeError("this route does not authenticate")
        return self.context


Handler = Callable[[Call[Any, Any]], Awaitable[Any]]


@attrs.frozen
class Declared:
    """What a handler's annotations say it reads and answers: ``Call[params, body] -> reply``.

    A body of ``Empty`` is none; a reply of ``None`` is no content, and so is a response the
    handler makes itself (a CSV file, or JSON with headers of its own: such a route names
    its ``reply`` class).
    """

    params: type
    body: type | None
    reply: type | None

    @classmethod
    @functools.cache
    def of(cls, handler: Handler) -> Declared:
        hints = typing.get_type_hints(handler)
        first = next(iter(inspect.signature(handler).parameters))
        params, body = typing.get_args(hints[first])
        reply = hints["return"]
        answers_itself = reply is type(None) or (
            isinstance(reply, type) and issubclass(reply, web.StreamResponse)
        )
        return cls(
            params=params,
            body=None if body is Empty else body,
            reply=None if answers_itself else reply,
        )


def _params(route: Route) -> type:
    return Declared.of(route.handler).params


def _docs(handler: Handler) -> tuple[str, str]:
    """A handler's summary (its docstring's first paragraph, without the full stop) and
    description (the rest), each on one line as the OpenAPI document shows them."""
    summary, _, rest = (inspect.getdoc(handler) or "").partition("\n\n")
    return " ".join(summary.split()).removesuffix("."), " ".join(rest.split())


def _summary(route: Route) -> str:
    summary = _docs(route.handler)[0]
    if not summary:
        raise TypeError(f"{route.path}: its handler's docstring is the route's summary")
    return summary


def _description(route: Route) -> str:
    return _docs(route.handler)[1]


def _body(route: Route) -> type | None:
    return Declared.of(route.handler).body


def _reply(route: Route) -> type | None:
    return Declared.of(route.handler).reply


@attrs.frozen
class Route:
    """One operation: where it is, what it reads, what it answers; a row of a route table,
    ``Route(method, path, handler)`` with the rest by name.

    The summary and description are the handler's docstring (its first paragraph, the rest).

    ``params``, ``body`` and ``reply`` (the attrs classes of the path and query, of the JSON
    body and of the JSON reply) are read off the handler's annotations (``Declared``);
    ``csv``: the handler answers a CSV file itself. ``headers`` go on every reply;
    ``reply_headers`` documents headers a handler adds (name → (schema, description)).
    """

    method: str
    path: str
    handler: Handler
    summary: str = attrs.field(default=attrs.Factory(_summary, takes_self=True))
    params: type = attrs.field(default=attrs.Factory(_params, takes_self=True), kw_only=True)
    body: type | None = attrs.field(default=attrs.Factory(_body, takes_self=True), kw_only=True)
    reply: type | None = attrs.field(default=attrs.Factory(_reply, takes_self=True), kw_only=True)
    status: int = attrs.field(default=200, kw_only=True)
    auth: bool = attrs.field(default=True, kw_only=True)
    csv: bool = attrs.field(default=False, kw_only=True)
    max_body: int = attrs.field(default=MAX_BODY, kw_only=True)
    description: str = attrs.field(
        default=attrs.Factory(_description, takes_self=True),
        kw_only=True,
    )
    headers: Mapping[str, str] = attrs.field(factory=dict, kw_only=True)
    reply_headers: Mapping[str, tuple[dict[str, Any], str]] = attrs.field(
        factory=dict, kw_only=True
    )


def query_lists(request: web.Request) -> dict[str, list[str]]:
    """The query string as each name's list of values, as ``structure_params`` reads it."""
    return {name: request.query.getall(name) for name in set(request.query)}


def pipeline(route: Route) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    """The aiohttp handler of ``route`` (see the module docstring for the order)."""

    async def handle(request: web.Request) -> web.StreamResponse:
        services = request.app[SERVICES]
        context = await authenticate(request) if route.auth else None
        params: Any = converters.structure_params(
            query_lists(request), request.match_info, route.params
        )
        body: Any = Empty()
        if route.body is not None:
            body = converters.structure(
                await read_json(request, max_size=route.max_body), route.body
            )
        call = Call(request=request, services=services, params=params, body=body, context=context)
        result = await route.handler(call)
        if isinstance(result, web.StreamResponse):
            return result
        if route.reply is None:
            return web.Response(status=route.status, headers=route.headers or None)
        return json_reply(replies.for_orjson(result), status=route.status, headers=route.headers)

    handle.__name__ = route.handler.__name__
    return handle


def add_routes(app: web.Application, routes: Iterable[Route]) -> None:
    for route in routes:
        app.router.add_route(route.method, route.path, pipeline(route))
