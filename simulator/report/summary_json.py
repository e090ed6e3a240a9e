"""``summary.json`` of a plan report: the outcome's summary as JSON bytes, finite numbers only.

Who calls: :func:`simulator.report.html.write_report`. orjson writes the document with
sorted keys and two-space indentation; it would write NaN and infinities as ``null``
silently, so :func:`summary_bytes` first walks the document and refuses them (ValueError
naming the JSON path), as a NaN in a metric is a bug to report, not a value to hide.
"""

from __future__ import annotations

import math
from typing import Any

import orjson

__all__ = ["check_finite", "summary_bytes"]


def check_finite(value: Any, path: str = "$") -> None:
    """ValueError naming the first non-finite float in ``value`` by its JSON path."""
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"summary.json: {path} is {value!r}; only finite numbers are written")
    elif isinstance(value, dict):
        for key, item in value.items():
            check_finite(item, f"{path}.{key}")
    elif isinstance(value, list | tuple):
        for i, item in enumerate(value):
            check_finite(item, f"{path}[{i}]")


def summary_bytes(summary: dict[str, Any]) -> bytes:
    """The document as UTF-8 JSON (sorted keys, indent 2, trailing newline)."""
    check_finite(summary)
    return orjson.dumps(summary, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS) + b"\n"
