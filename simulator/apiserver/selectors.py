"""``labelSelector`` and ``fieldSelector`` query strings: parsing and matching.

Label selectors follow ``k8s.io/apimachinery/pkg/labels/selector.go``: comma-separated
requirements ``k``, ``!k``, ``k=v``, ``k==v``, ``k!=v``, ``k in (a,b)``, ``k notin (a,b)``,
``k>n``, ``k<n``; ``!=`` and ``notin`` also match objects without the label; keys must be
qualified names and values label values. Field selectors follow
``k8s.io/apimachinery/pkg/fields/selector.go``: ``f=v``, ``f==v``, ``f!=v`` joined by commas,
with ``\\`` escaping ``,``, ``=`` and ``\\`` in values; only the fields a resource's field-label
conversion accepts (:meth:`Resource.field_label`) may be used. Every parse error is an
:class:`ApiError` 400 with upstream's message.
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
    """One ``field=value`` (``equal``) or ``field!=value`` term of a field selector."""

    field: str
    value: str
    equal: bool


_OPERATORS = ("!=", "==", "=")


def _split_terms(text: str) -> list[str]:
    """Split on commas not preceded by a backslash (upstream ``splitTerms``: a backslash
    skips the next character, a trailing one is left to :func:`_unescape_value`)."""
    terms: list[str] = []
    start = 0
    escaped = False
    for i, ch in enumerate(text):
        if escaped:
            escaped = False
        elif ch == "\\":
            escaped = True
        elif ch == ",":
            terms.append(text[start:i])
            start = i + 1
    terms.append(text[start:])
    return terms


def _split_term(term: str) -> tuple[str, str, str] | None:
    """(field, operator, raw value) at the first position where an operator starts, trying
    ``!=``, ``==``, ``=`` there in that order (upstream ``splitTerm``); None if there is none."""
    for i in range(len(term)):
        for op in _OPERATORS:
            if term.startswith(op, i):
                return term[:i], op, term[i + len(op) :]
    return None


def _unescape_value(value: str) -> str:
    """A field selector value with ``\\\\``, ``\\,`` and ``\\=`` unescaped (upstream
    ``UnescapeValue``): any other escape, a trailing backslash, or an unescaped ``,`` or
    ``=`` is a 400 with upstream's message (the rune printed as its code point, Go's ``%v``)."""
    if not any(ch in value for ch in "\\,="):
        return value
    out: list[str] = []
    escaped = False
    for ch in value:
        if escaped:
            if ch not in "\\,=":
                raise bad_request(f"invalid field selector: invalid escape sequence: \\{ch}")
            out.append(ch)
            escaped = False
        elif ch == "\\":
            escaped = True
        elif ch in ",=":
            raise bad_request(f"invalid field selector: unescaped character in value: {ord(ch)}")
        else:
            out.append(ch)
    if escaped:
        raise bad_request("invalid field selector: invalid escape sequence: \\")
    return "".join(out)


def parse_field_selector(text: str | None, resource: Resource) -> tuple[FieldTerm, ...]:
    """The terms of a ``fieldSelector`` query value, as kube-apiserver parses and converts it.

    Parsing follows ``k8s.io/apimachinery/pkg/fields/selector.go`` (``parseSelector``): terms
    are sorted, empty ones skipped, each split at its first operator (the field is taken as
    written, spaces included) and its value unescaped; then every field goes through the
    kind's field-label conversion (:meth:`Resource.field_label`), which renames aliases and
    rejects fields the kind cannot select on. Every failure is a 400 with upstream's message.
    """
    if not text:
        return ()
    parsed: list[tuple[str, str, bool]] = []
    for part in sorted(_split_terms(text)):
        if not part:
            continue
        split = _split_term(part)
        if split is None:
            raise bad_request(f"invalid selector: '{text}'; can't understand '{part}'")
        field_name, op, raw = split
        parsed.append((field_name, _unescape_value(raw), op != "!="))
    return tuple(
        FieldTerm(resource.field_label(field_name), value, equal)
        for field_name, value, equal in parsed
    )


def fields_match(terms: tuple[FieldTerm, ...], fields: Mapping[str, str]) -> bool:
    """Whether an object's selectable fields satisfy every term (a field the object does not
    carry reads as ``""``, as upstream's ``fields.Set.Get``)."""
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

    Each is the JSON field of the same path, except where the upstream ``ToSelectableFields``
    / ``GetAttrs`` of the kind computes it: a pod's ``spec.hostNetwork`` and a node's
    ``spec.unschedulable`` read ``"false"`` when unset (``pkg/registry/core/pod/strategy.go``,
    ``pkg/registry/core/node/strategy.go``); a pod's ``status.podIPs`` is accepted by the
    field-label conversion but not a selectable field, so it reads ``""``; an event's
    ``source`` is ``source.component``, or ``reportingComponent`` when that is empty
    (``pkg/registry/core/event/strategy.go`` ``ToSelectableFields``); a Job's
    ``status.successful`` is ``status.succeeded`` as a number
    (``pkg/registry/batch/job/strategy.go``).
    """
    out = {name: _dig(obj, name) for name in resource.field_labels}
    kind = resource.kind
    if kind == "Pod":
        out["spec.hostNetwork"] = out["spec.hostNetwork"] or "false"
        out["status.podIPs"] = ""
    elif kind == "Node":
        out["spec.unschedulable"] = out["spec.unschedulable"] or "false"
    elif kind == "Event":
        out["source"] = _dig(obj, "source.component") or _dig(obj, "reportingComponent")
    elif kind == "Job":
        out["status.successful"] = _dig(obj, "status.succeeded") or "0"
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
