"""The one JSON writer of tessera's outputs: NaN and Infinity are refused.

``json.dumps`` writes ``NaN`` and ``Infinity`` by default — text no JSON parser but
Python's accepts — and orjson silently writes ``null`` for them. Every JSON tessera writes
(``summary.json``, ``placements.jsonl``, ``inflate --json``, ``dra allocate``'s answer)
goes through :func:`json_text` or :func:`json_line`, which refuse a non-finite number with a
``ValueError`` naming the output and the field path (``summary.json: gpu_hours.idle: nan is
not a finite number``): a NaN in an output is a bug upstream of the writer, and it must not
reach a file as a plausible-looking value.
"""

from __future__ import annotations

import json
import math
from typing import Any

from scheduler.api.errors import format_field_path

__all__ = ["check_finite", "json_line", "json_text"]


def _non_finite(value: Any, path: tuple[str | int, ...]) -> tuple[tuple[str | int, ...], float]:
    """The path and value of the first non-finite float in ``value`` (depth first)."""
    stack: list[tuple[Any, tuple[str | int, ...]]] = [(value, path)]
    while stack:
        item, where = stack.pop()
        if isinstance(item, float) and not math.isfinite(item):
            return where, item
        if isinstance(item, dict):
            stack.extend((v, (*where, str(k))) for k, v in reversed(list(item.items())))
        elif isinstance(item, list | tuple):
            stack.extend((v, (*where, i)) for i, v in reversed(list(enumerate(item))))
    raise AssertionError("no non-finite number found")  # pragma: no cover - caller checked


def _refuse(value: Any, what: str) -> ValueError:
    path, number = _non_finite(value, ())
    field = format_field_path(path) or "value"
    return ValueError(f"{what}: {field}: {number} is not a finite number (refused in JSON output)")


def check_finite(value: Any, what: str) -> None:
    """ValueError naming ``what`` and the field when ``value`` holds NaN or an infinity."""
    try:
        json.dumps(value, allow_nan=False)
    except ValueError:
        raise _refuse(value, what) from None


def json_text(value: Any, what: str, *, indent: int | None = 2, sort_keys: bool = True) -> str:
    """``value`` as JSON text, keys sorted unless ``sort_keys`` is False (indented, with a
    trailing newline, unless ``indent`` is None: then one line without one); NaN/Infinity
    refused."""
    try:
        text = json.dumps(value, sort_keys=sort_keys, indent=indent, allow_nan=False)
    except ValueError:
        raise _refuse(value, what) from None
    return text + "\n" if indent is not None else text


def json_line(value: Any, what: str) -> str:
    """One JSON Lines record (sorted keys, ``", "``/``": "`` separators as ``json.dumps``
    writes them, trailing newline); NaN/Infinity refused."""
    try:
        return json.dumps(value, sort_keys=True, allow_nan=False) + "\n"
    except ValueError:
        raise _refuse(value, what) from None
