"""Bitrix24's bracket-keyed form posts (``auth[member_id]=…``) parsed into nested dicts."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

MAX_DEPTH = 6
MAX_FIELDS = 500


class FormError(ValueError):
    """The form cannot be read as Bitrix24 sends it."""


def parse_bracket_form(items: Iterable[tuple[str, str]]) -> dict[str, Any]:
    """``a[b][c]=v`` → ``{"a": {"b": {"c": "v"}}}``; ``a[]=v`` appends to a list.

    Malformed keys (unbalanced brackets, too deep, conflicting shapes) are skipped rather
    than trusted; too many fields raise ``FormError``.
    """
    result: dict[str, Any] = {}
    for count, (key, value) in enumerate(items):
        if count >= MAX_FIELDS:
            raise FormError("too many form fields")
        parts = split_key(key)
        if parts is not None:
            _assign(result, parts, value)
    return result


def split_key(key: str) -> list[str] | None:
    """``a[b][]`` → ``["a", "b", ""]``; None when malformed or deeper than ``MAX_DEPTH``.

    A name without brackets, then ``[...]`` groups without nested brackets. One forward
    pass with ``str.find`` (no regular expression), so any key costs linear time.
    """
    open_at = key.find("[")
    head = key if open_at == -1 else key[:open_at]
    if not head or "]" in head:
        return None
    parts = [head]
    position = len(head)
    while position < len(key):
        if key[position] != "[" or len(parts) == MAX_DEPTH:
            return None
        close_at = key.find("]", position + 1)
        if close_at == -1:
            return None
        inner = key[position + 1 : close_at]
        if "[" in inner:
            return None
        parts.append(inner)
        position = close_at + 1
    return parts


def _assign(target: dict[str, Any], parts: list[str], value: str) -> None:
    node: Any = target
    for index, part in enumerate(parts):
        last = index == len(parts) - 1
        if isinstance(node, list):
            if part != "":
                return
            if last:
                node.append(value)
                return
            child: Any = {} if parts[index + 1] != "" else []
            node.append(child)
            node = child
            continue
        if not isinstance(node, dict) or part == "":
            return
        if last:
            if part not in node or isinstance(node[part], str):
                node[part] = value
            return
        wanted: type = list if parts[index + 1] == "" else dict
        existing = node.get(part)
        if existing is None:
            existing = wanted()
            node[part] = existing
        elif not isinstance(existing, wanted):
            return  # conflicting shapes: ignore the later key
        node = existing


def text(data: dict[str, Any], *path: str) -> str | None:
    """The string at ``path``, or None when absent or not a string."""
    node: Any = data
    for part in path:
        if not isinstance(node, dict):
            return None
        node = node.get(part)
    return node if isinstance(node, str) else None
