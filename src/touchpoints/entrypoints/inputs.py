"""Untrusted text at the edge: linear-time readers (ids, bounded JSON, e-mail shape) and
escaping for terminals and logs.

No regular expressions: each reader walks its input a bounded number of times with string
operations, so a pathological request costs time in proportion to its size (DESIGN.md §4,
"Unauthenticated surface"). Inputs are bounded before they get here (1 MiB bodies).
"""

from __future__ import annotations

import json
import operator
from itertools import accumulate, count
from typing import Any

from touchpoints.domain.limits import MAX_ID, MAX_ID_DIGITS

MAX_JSON_DEPTH = 32
"""Arrays and objects nested deeper than this are refused before ``json.loads`` runs."""

_JSON_STRUCTURE = frozenset(b'"[]{}')
_NOT_STRUCTURE = bytes(byte for byte in range(256) if byte not in _JSON_STRUCTURE)
# An opener steps +1 and a closer -1; stored as 2 and 0 so bytes can carry them.
_STEPS = bytes.maketrans(b"[{]}", b"\x02\x02\x00\x00")


class JsonRefused(ValueError):
    """The bytes are not a JSON document we read: not UTF-8, not JSON, or nested too deep."""


def parse_id(raw: object) -> int | None:
    """A positive id written as 1–18 ASCII decimal digits; None for anything else.

    ``str.isdigit`` alone also accepts ``²`` or ``١`` (which ``int`` then refuses or
    reads), so the text must be ASCII too; signs, spaces and ``_`` are not digits.
    """
    if not isinstance(raw, str) or not 0 < len(raw) <= MAX_ID_DIGITS:
        return None
    if not (raw.isascii() and raw.isdigit()):
        return None
    value = int(raw)
    return value if value > 0 else None


def nesting_exceeds(raw: bytes, limit: int) -> bool:
    """Whether arrays and objects in UTF-8 JSON ``raw`` nest deeper than ``limit``.

    Strings are skipped. Linear: a few passes of C-level byte operations and iterators,
    no Python loop per byte. In UTF-8 every byte below 0x80 is the ASCII character
    itself, so quotes, backslashes and brackets can be found bytewise.
    """
    # Inside a string a backslash escapes the next character: drop ``\\`` pairs (left to
    # right, as JSON reads them), then escaped quotes; what remains of ``"`` delimits strings.
    unescaped = raw.replace(b"\\\\", b"").replace(b'\\"', b"")
    skeleton = unescaped.translate(None, _NOT_STRUCTURE)
    steps = b"".join(skeleton.split(b'"')[::2]).translate(_STEPS)
    if steps.count(b"\x02") <= limit:
        return False
    if b"\x02" * (limit + 1) in steps:
        return True
    # The depth after the i-th bracket is (the sum of its 2/0 steps) - i.
    deepest: int = max(map(operator.sub, accumulate(steps), count(1)))
    return deepest > limit


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def loads_bounded(raw: bytes | str, *, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """Parse a JSON document whose nesting is at most ``max_depth``.

    Raises:
        JsonRefused: not UTF-8, not JSON (``NaN`` and ``Infinity`` included), or nested
            deeper than ``max_depth`` (checked first, so the parser never recurses deeply).
    """
    try:
        data = raw.encode("utf-8") if isinstance(raw, str) else raw
        text = raw if isinstance(raw, str) else raw.decode("utf-8")
    except UnicodeError:
        raise JsonRefused("not UTF-8") from None
    if nesting_exceeds(data, max_depth):
        raise JsonRefused(f"nested deeper than {max_depth} levels")
    try:
        return json.loads(text, parse_constant=_no_constants)
    except (ValueError, RecursionError):
        raise JsonRefused("not valid JSON") from None


# C0 controls, DEL, C1 controls (ESC and CSI start terminal escape sequences), and the
# invisible marks that reorder or break what an operator reads (bidi overrides and
# isolates, directional marks, line and paragraph separators).
_UNPRINTABLE = [
    *range(0x20),
    0x7F,
    *range(0x80, 0xA0),
    0x061C,
    0x200E,
    0x200F,
    0x2028,
    0x2029,
    *range(0x202A, 0x202F),
    *range(0x2066, 0x206A),
]
_ESCAPED = {code: f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" for code in _UNPRINTABLE}
_ESCAPED.update({ord("\n"): "\\n", ord("\r"): "\\r", ord("\t"): "\\t"})


def printable(text: str, *, limit: int | None = None) -> str:
    """``text`` made safe to show in a terminal or a log line.

    Control and bidi characters become visible escapes (``\\x1b``, ``\\n``, ``\\u202e``), so
    user text cannot recolour, move the cursor, retitle the terminal or reorder a line.
    With ``limit``, only that many characters are kept and an ellipsis marks the cut.
    """
    if limit is not None and len(text) > limit:
        return text[:limit].translate(_ESCAPED) + "…"
    return text.translate(_ESCAPED)


__all__ = [
    "MAX_ID",
    "MAX_ID_DIGITS",
    "MAX_JSON_DEPTH",
    "JsonRefused",
    "loads_bounded",
    "nesting_exceeds",
    "parse_id",
    "printable",
]
