"""A route reads what its handler's annotations declare (``Call[params, body] -> reply``)."""

from __future__ import annotations

import pytest
from aiohttp import web

from touchpoints.entrypoints.replies import Ok
from touchpoints.entrypoints.routes import Call, Route
from touchpoints.entrypoints.wire import Empty, FeedbackBody, TouchPointPath


async def _answers_ok(call: Call[TouchPointPath, FeedbackBody]) -> Ok:
    return Ok(ok=True)


async def _answers_nothing(call: Call[Empty, Empty]) -> None:
    return None


async def _answers_itself(call: Call[Empty, Empty]) -> web.Response:
    return web.Response()


def test_a_route_takes_its_params_body_and_reply_from_the_handler_annotations() -> None:
    route = Route(method="POST", path="/x/{id}", handler=_answers_ok, summary="x")

    assert (route.params, route.body, route.reply) == (TouchPointPath, FeedbackBody, Ok)


def test_an_empty_body_is_no_body_and_a_none_reply_is_no_content() -> None:
    route = Route(method="DELETE", path="/x", handler=_answers_nothing, summary="x")

    assert (route.params, route.body, route.reply) == (Empty, None, None)


def test_a_handler_making_its_own_response_names_its_reply_on_the_route() -> None:
    bare = Route(method="GET", path="/x", handler=_answers_itself, summary="x")
    named = Route(method="GET", path="/x", handler=_answers_itself, summary="x", reply=Ok)

    assert (bare.reply, named.reply) == (None, Ok)


async def _documented(call: Call[Empty, Empty]) -> Ok:
    """Say hello.

    The longer story, over
    two lines.
    """
    return Ok(ok=True)


def test_a_route_takes_its_summary_and_description_from_the_handler_docstring() -> None:
    route = Route("GET", "/x", _documented)
    assert (route.summary, route.description) == ("Say hello", "The longer story, over two lines.")


def test_a_route_whose_handler_has_no_docstring_needs_a_summary() -> None:
    with pytest.raises(TypeError, match="/x"):
        Route("GET", "/x", _answers_ok)
