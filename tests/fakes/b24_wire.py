"""Bitrix24 wire helpers for the emulator: bracket forms, PHP-shaped JSON, filters, paging."""

from __future__ import annotations

import codecs
import re
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from datetime import datetime, tzinfo
from typing import Any
from urllib.parse import unquote

PAGE_SIZE = 50  # fixed page size of every list method (BITRIX24.md §5)

_BRACKET = re.compile(r"\[([^\[\]]*)\]")


class RestError(Exception):
    """A REST error reply: ``{"error": code, "error_description": description}`` with ``status``."""

    def __init__(self, code: str, description: str, status: int = 400, **extra: Any) -> None:
        super().__init__(f"{code or '<empty>'}: {description}")
        self.code = code
        self.description = description
        self.status = status
        self.extra = extra

    def body(self) -> dict[str, Any]:
        return {"error": self.code, "error_description": self.description, **self.extra}


# ------------------------------------------------------------------ bracket forms (§3)

_NOT_AN_ESCAPE = re.compile(r"%(?![0-9A-Fa-f]{2})")


def _unquote(text: str) -> str:
    """``urllib.parse.unquote_plus``: in C where the text is ASCII with well-formed
    escapes (each ``%XX`` made a ``\\xXX`` for the ``unicode_escape`` codec, which yields
    the bytes as Latin-1 characters), ``urllib``'s own loop otherwise."""
    text = text.replace("+", " ")
    if "%" not in text:
        return text
    if not text.isascii() or _NOT_AN_ESCAPE.search(text):
        return unquote(text, errors="replace")
    escaped = text.replace("\\", "\\\\").replace("%", "\\x")
    return codecs.decode(escaped, "unicode_escape").encode("latin-1").decode("utf-8", "replace")


def parse_query(query: str) -> list[tuple[str, str]]:
    """``urllib.parse.parse_qsl(query, keep_blank_values=True)``, about four times as fast
    on a bot digest's batch commands (mostly escapes): the emulator shares the benchmark's
    cores with the pass it measures."""
    pairs: list[tuple[str, str]] = []
    for part in query.split("&"):
        if part:
            key, _, value = part.partition("=")
            pairs.append((_unquote(key), _unquote(value)))
    return pairs


def parse_bracket_pairs(pairs: Iterable[tuple[str, str]]) -> dict[str, Any]:
    """Nest PHP-style keys (``fields[TITLE]=X``, ``ids[]=1``) into dicts and lists.

    Numbered keys stay dict keys (``{"0": ...}``) as PHP keeps them; use ``as_list``.
    """
    root: dict[str, Any] = {}
    for raw_key, value in pairs:
        head, _, rest = raw_key.partition("[")
        parts = [head, *_BRACKET.findall("[" + rest)] if rest else [head]
        node: Any = root
        for index, part in enumerate(parts):
            last = index == len(parts) - 1
            if isinstance(node, list):
                if last:
                    node.append(value)
                    break
                child: Any = {}
                node.append(child)
                node = child
                continue
            if last:
                node[part] = value
                break
            next_is_append = parts[index + 1] == ""
            existing = node.get(part)
            if next_is_append:
                if not isinstance(existing, list):
                    existing = [] if not isinstance(existing, dict) else list(existing.values())
                    node[part] = existing
            elif not isinstance(existing, dict):
                existing = (
                    {}
                    if not isinstance(existing, list)
                    else {str(i): v for i, v in enumerate(existing)}
                )
                node[part] = existing
            node = existing
    return root


def flatten_form(data: Mapping[str, Any], prefix: str = "") -> list[tuple[str, str]]:
    """The inverse of ``parse_bracket_pairs``: nested data as bracket-keyed form pairs."""
    pairs: list[tuple[str, str]] = []
    for key, value in data.items():
        name = f"{prefix}[{key}]" if prefix else str(key)
        if isinstance(value, Mapping):
            pairs.extend(flatten_form(value, name))
        elif isinstance(value, list | tuple):
            pairs.extend(flatten_form({str(i): v for i, v in enumerate(value)}, name))
        else:
            pairs.append((name, php_str(value)))
    return pairs


def php_str(value: Any) -> str:
    """How PHP turns a scalar into a string (``true`` → ``"1"``, ``null``/``false`` → ``""``)."""
    if value is None or value is False:
        return ""
    if value is True:
        return "1"
    return str(value)


def as_list(value: Any) -> list[Any]:
    """A JSON array, a PHP numbered dict or a scalar, as a list."""
    if value is None:
        return []
    if isinstance(value, list | tuple):
        return list(value)
    if isinstance(value, Mapping):
        if all(str(key).isdigit() for key in value):
            return [value[key] for key in sorted(value, key=lambda k: int(str(k)))]
        return list(value.values())
    if isinstance(value, str) and value == "":
        return []
    return [value]


def php_array(value: Mapping[str, Any]) -> Any:
    """Serialise a keyed collection as PHP's ``json_encode`` would.

    Empty → ``[]``; keys exactly ``0..n-1`` in order → a JSON array; else an object
    (BITRIX24.md §6: empty batch parts come back as ``[]``).
    """
    if not value:
        return []
    keys = list(value)
    if all(str(key) == str(i) for i, key in enumerate(keys)):
        return [value[key] for key in keys]
    return dict(value)


def get_ci(params: Mapping[str, Any], name: str, default: Any = None) -> Any:
    """A parameter by name, case-insensitively (legacy methods, BITRIX24.md §3 and §21.23)."""
    if name in params:
        return params[name]
    lowered = name.lower()
    for key, value in params.items():
        if str(key).lower() == lowered:
            return value
    return default


# ------------------------------------------------------------------ scalars


def to_int(value: Any) -> int | None:
    """An int from JSON or form input (``"12"``, ``12``, ``12.0``); None when it is not one."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        text = value.strip()
        if re.fullmatch(r"[+-]?\d+", text):
            return int(text)
    return None


def to_flag(value: Any) -> bool:
    """Bitrix24's many spellings of a boolean (``Y``/``N``, ``1``/``0``, ``true``)."""
    if isinstance(value, bool):
        return value
    if value is None:
        return False
    return str(value).strip().lower() in {"y", "1", "true", "yes", "on"}


def yn(flag: bool) -> str:
    return "Y" if flag else "N"


def parse_datetime(value: Any, zone: tzinfo) -> datetime | None:
    """An ISO 8601 datetime; one without an offset is read in the portal's zone (§21.16)."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=zone)
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip()
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=zone)


def format_datetime(value: datetime | None, zone: tzinfo) -> str | None:
    """``YYYY-MM-DDThh:mm:ss±hh:mm`` in the portal's zone (BITRIX24.md §17)."""
    if value is None:
        return None
    return value.astimezone(zone).isoformat(timespec="seconds")


# ------------------------------------------------------------------ filters (§5)

_PREFIXES = ("!=%", "!%=", ">=", "<=", "!@", "=%", "%=", "!%", "!=", ">", "<", "@", "%", "=", "!")


def split_filter_key(key: str) -> tuple[str, str]:
    """``">=DEADLINE"`` → ``(">=", "DEADLINE")``; no prefix means ``=``."""
    for prefix in _PREFIXES:
        if key.startswith(prefix):
            return prefix, key[len(prefix) :]
    return "=", key


def _like(pattern: str, text: str) -> bool:
    regex = "".join(".*" if ch == "%" else re.escape(ch) for ch in pattern)
    return re.fullmatch(regex, text, flags=re.IGNORECASE | re.DOTALL) is not None


def match_condition(actual: Any, op: str, wanted: Any, zone: tzinfo) -> bool:
    """Whether a row value satisfies one filter condition; ``wanted`` is typed after ``actual``."""
    if op in {"@", "!@"} or (op in {"=", "!", "!="} and isinstance(wanted, list | tuple | dict)):
        inside = actual in _coerced_set(actual, wanted, zone)
        return inside if op in {"@", "="} else not inside
    value = coerce_like(actual, wanted, zone)
    if op == "=":
        return _equal(actual, value)
    if op in {"!", "!="}:
        return not _equal(actual, value)
    if op in {">", ">=", "<", "<="}:
        if actual is None or value is None:
            return False
        try:
            if op == ">":
                return bool(actual > value)
            if op == ">=":
                return bool(actual >= value)
            if op == "<":
                return bool(actual < value)
            return bool(actual <= value)
        except TypeError:
            return False
    text = "" if actual is None else str(actual)
    needle = php_str(wanted)
    if op == "%":
        return needle.lower() in text.lower()
    if op == "!%":
        return needle.lower() not in text.lower()
    if op in {"=%", "%="}:
        return _like(needle, text)
    return not _like(needle, text)  # "!=%" / "!%="


# An IN list is typed once per (list, row type), not once per row: reading 2,500 records by
# id in one batch would otherwise coerce 125,000 values. Entries keep their list alive, so an
# id() is never reused while cached.
_IN_CACHE: dict[tuple[int, type, tzinfo], tuple[Any, Collection[Any]]] = {}


def _coerced_set(actual: Any, wanted: Any, zone: tzinfo) -> Collection[Any]:
    key = (id(wanted), type(actual), zone)
    hit = _IN_CACHE.get(key)
    if hit is not None and hit[0] is wanted:
        return hit[1]
    values = [coerce_like(actual, v, zone) for v in as_list(wanted)]
    lookup: Collection[Any]
    try:
        lookup = set(values)
    except TypeError:  # unhashable filter values: compare one by one
        lookup = values
    if len(_IN_CACHE) > 256:
        _IN_CACHE.clear()
    _IN_CACHE[key] = (wanted, lookup)
    return lookup


def _equal(actual: Any, value: Any) -> bool:
    if actual is None:
        return value in (None, "", 0, False)
    return bool(actual == value)


def coerce_like(actual: Any, wanted: Any, zone: tzinfo) -> Any:
    """Type a filter value after the row's value (ints, Y/N flags, datetimes, strings)."""
    if wanted is None:
        return None
    if isinstance(actual, bool):
        return to_flag(wanted)
    if isinstance(actual, int):
        number = to_int(wanted)
        if number is not None:
            return number
        try:
            return float(wanted)
        except (TypeError, ValueError):
            return wanted
    if isinstance(actual, float):
        try:
            return float(wanted)
        except (TypeError, ValueError):
            return wanted
    if isinstance(actual, datetime):
        return parse_datetime(wanted, zone)
    if actual is None:
        return wanted if not isinstance(wanted, bool) else php_str(wanted)
    return php_str(wanted)


# ------------------------------------------------------------------ ordering and paging


def sort_rows(
    rows: list[dict[str, Any]], order: Sequence[tuple[str, bool]]
) -> list[dict[str, Any]]:
    """Stable multi-key sort; ``order`` is ``[(field, descending)]``; None sorts first."""
    result = list(rows)
    for field, descending in reversed(order):
        result.sort(
            key=lambda row, f=field: _sort_key(row.get(f)),  # type: ignore[misc]
            reverse=descending,
        )
    return result


def _sort_key(value: Any) -> tuple[bool, Any]:
    return (value is not None, value if value is not None else 0)


def page_rows(rows: list[Any], start: Any) -> tuple[list[Any], int, int | None]:
    """One page of 50 from ``start``; ``start=-1`` skips counting: total 0, no next (§5)."""
    offset = to_int(start) if start not in (None, "") else 0
    if offset is None:
        offset = 0
    if offset == -1:
        return rows[:PAGE_SIZE], 0, None
    offset = max(offset, 0)
    page = rows[offset : offset + PAGE_SIZE]
    following = offset + PAGE_SIZE
    return page, len(rows), following if following < len(rows) else None


def iter_conditions(flt: Mapping[str, Any]) -> Iterator[tuple[str, Any]]:
    """The (key, value) pairs of a filter, skipping ``logic`` markers."""
    for key, value in flt.items():
        if str(key).lower() == "logic":
            continue
        yield str(key), value
