"""``labelSelector`` and ``fieldSelector`` query strings: parsing and matching.

Label selectors follow ``k8s.io/apimachinery/pkg/labels/selector.go``: comma-separated
requirements ``k``, ``!k``, ``k=v``, ``k==v``, ``k!=v``, ``k in (a,b)``, ``k notin (a,b)``,
``k>n``, ``k<n``; ``!=`` and ``notin`` also match objects without the label; keys must be
qualified names and values label values. Field selectors follow
``k8s.io/apimachinery/pkg/fields/selector.go``: ``f=v``, ``f==v``, ``f!=v`` joined by commas,
with ``\\`` escaping ``,``, ``=`` and ``\\`` in values; only the fields a resource declares
(:attr:`Resource.field_labels`) may be used, any other one is a 400 (upstream's
``field label not supported``). Parse errors raise :class:`ApiError` 400.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from simulator.apiserver.resources import Resource
from simulator.apiserver.status import ApiError, bad_request

_NAME = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)$")
_PREFIX = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")

LabelMatcher = Callable[[Mapping[str, str]], bool]


def _check_key(key: str) -> None:
    prefix, _, name = key.rpartition("/")
    if "/" in key and (not prefix or len(prefix) > 253 or not _PREFIX.match(prefix)):
        raise bad_request(f"unable to parse requirement: key {key!r}: invalid prefix")
    if not name or len(name) > 63 or not _NAME.match(name):
        raise bad_request(
            f"unable to parse requirement: key {key!r}: name part must consist of alphanumeric "
            "characters, '-', '_' or '.', and must start and end with an alphanumeric character"
        )


def _check_value(key: str, value: str) -> None:
    if len(value) > 63 or not _VALUE.match(value):
        raise bad_request(
            f"unable to parse requirement: values[0][{key}]: Invalid value: {value!r}: a valid "
            "label must be an empty string or consist of alphanumeric characters, '-', '_' or "
            "'.', and must start and end with an alphanumeric character"
        )


def _split_top(text: str) -> list[str]:
    """Split on commas outside parentheses."""
    parts: list[str] = []
    depth = 0
    start = 0
    for i, ch in enumerate(text):
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
            if depth < 0:
                raise bad_request(f"unable to parse requirement: unbalanced ')' in {text!r}")
        elif ch == "," and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    if depth != 0:
        raise bad_request(f"unable to parse requirement: unbalanced '(' in {text!r}")
    parts.append(text[start:])
    return parts


_SET = re.compile(r"^\s*([^\s!=<>()]+)\s+(in|notin)\s*\((.*)\)\s*$")
_CMP = re.compile(r"^\s*([^\s!=<>()]+)\s*(==|!=|=|<|>)\s*(.*?)\s*$")
_EXISTS = re.compile(r"^\s*(!?)\s*([^\s!=<>(),]+)\s*$")


def _requirement(text: str) -> LabelMatcher:
    m = _SET.match(text)
    if m:
        key, op, inner = m.group(1), m.group(2), m.group(3)
        _check_key(key)
        values = frozenset(v.strip() for v in inner.split(",")) if inner.strip() else frozenset()
        if not values:
            raise bad_request(f"unable to parse requirement: {key} {op}: values: Required value")
        for v in values:
            _check_value(key, v)
        if op == "in":
            return lambda labels: labels.get(key) in values
        return lambda labels: key not in labels or labels[key] not in values
    m = _CMP.match(text)
    if m:
        key, op, value = m.group(1), m.group(2), m.group(3)
        _check_key(key)
        if op in ("<", ">"):
            try:
                limit = int(value)
            except ValueError:
                raise bad_request(
                    f"unable to parse requirement: for 'Gt', 'Lt' operators, the value must be "
                    f"an integer: {value!r}"
                ) from None
            greater = op == ">"
            return lambda labels: _int_compare(labels.get(key), limit, greater=greater)
        _check_value(key, value)
        if op == "!=":
            return lambda labels: labels.get(key) != value
        return lambda labels: labels.get(key) == value
    m = _EXISTS.match(text)
    if m:
        negate, key = m.group(1) == "!", m.group(2)
        _check_key(key)
        if negate:
            return lambda labels: key not in labels
        return lambda labels: key in labels
    raise bad_request(f"unable to parse requirement: {text.strip()!r}")


def _int_compare(value: str | None, limit: int, *, greater: bool) -> bool:
    if value is None:
        return False
    try:
        n = int(value)
    except ValueError:
        return False
    return n > limit if greater else n < limit


def parse_label_selector(text: str | None) -> LabelMatcher | None:
    """A matcher for a ``labelSelector`` query value (None: no selector, matches all)."""
    if text is None or not text.strip():
        return None
    matchers = [_requirement(part) for part in _split_top(text)]
    if len(matchers) == 1:
        return matchers[0]
    return lambda labels: all(m(labels) for m in matchers)


@dataclass(frozen=True, slots=True)
class FieldTerm:
    """One ``field=value`` or ``field!=value`` term of a field selector."""

    field: str
    value: str
    equal: bool


def _split_unescaped(text: str, sep: str) -> list[str]:
    parts: list[str] = []
    current: list[str] = []
    escaped = False
    for ch in text:
        if escaped:
            current.append("\\" + ch)
            escaped = False
        elif ch == "\\":
            escaped = True
        elif ch == sep:
            parts.append("".join(current))
            current = []
        else:
            current.append(ch)
    if escaped:
        raise bad_request(f"invalid field selector: trailing backslash in {text!r}")
    parts.append("".join(current))
    return parts


def _unescape(text: str) -> str:
    out: list[str] = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch == "\\" and i + 1 < len(text):
            nxt = text[i + 1]
            if nxt not in "\\,=":
                raise bad_request(f"invalid field selector: invalid escape sequence \\{nxt}")
            out.append(nxt)
            i += 2
            continue
        out.append(ch)
        i += 1
    return "".join(out)


def parse_field_selector(text: str | None, resource: Resource) -> tuple[FieldTerm, ...]:
    """The terms of a ``fieldSelector`` query value; 400 for bad syntax or unknown fields."""
    if text is None or not text.strip():
        return ()
    terms: list[FieldTerm] = []
    allowed = resource.field_labels
    for part in _split_unescaped(text, ","):
        if not part:
            continue
        for op in ("!=", "==", "="):
            index = _find_unescaped(part, op)
            if index >= 0:
                field_name = _unescape(part[:index]).strip()
                value = _unescape(part[index + len(op) :])
                break
        else:
            raise bad_request(f"invalid selector: '{text}'; can't understand '{part}'")
        if field_name not in allowed:
            raise bad_request(f"field label not supported: {field_name}")
        terms.append(FieldTerm(field_name, value, op != "!="))
    return tuple(terms)


def _find_unescaped(text: str, op: str) -> int:
    i = 0
    while i < len(text):
        if text[i] == "\\":
            i += 2
            continue
        if text.startswith(op, i):
            return i
        i += 1
    return -1


def fields_match(terms: tuple[FieldTerm, ...], fields: Mapping[str, str]) -> bool:
    """Whether an object's selectable fields satisfy every term."""
    return all((fields.get(t.field, "") == t.value) == t.equal for t in terms)


def _dig(obj: Mapping[str, Any], path: str) -> str:
    value: Any = obj
    for part in path.split("."):
        if not isinstance(value, Mapping):
            return ""
        value = value.get(part)
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, int | float):
        return str(value)
    return ""


def selectable_fields(resource: Resource, obj: Mapping[str, Any]) -> dict[str, str]:
    """The values of the resource's selectable fields in ``obj`` (absent reads as ``""``).

    Special cases follow the upstream ``ToSelectableFields`` functions: a pod's
    ``spec.hostNetwork`` and a node's ``spec.unschedulable`` read ``"false"`` when unset,
    and an event's ``source`` is ``source.component``.
    """
    out = {name: _dig(obj, name) for name in resource.field_labels}
    if "spec.hostNetwork" in out and not out["spec.hostNetwork"]:
        out["spec.hostNetwork"] = "false"
    if "spec.unschedulable" in out and not out["spec.unschedulable"]:
        out["spec.unschedulable"] = "false"
    if "source" in out:
        out["source"] = _dig(obj, "source.component") or _dig(obj, "reportingComponent")
    return out


__all__ = [
    "ApiError",
    "FieldTerm",
    "LabelMatcher",
    "fields_match",
    "parse_field_selector",
    "parse_label_selector",
    "selectable_fields",
]
