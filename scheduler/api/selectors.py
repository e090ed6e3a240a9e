"""Node selectors and label selectors: the models and Kubernetes' matching semantics.

Matching follows the upstream helpers exactly:

* **Node selectors** (``v1.NodeSelector``; pod ``requiredDuringScheduling…`` affinity,
  ResourceSlice ``nodeSelector``, allocation results) follow
  ``component-helpers/scheduling/corev1/nodeaffinity.LazyErrorNodeSelector``:

  - terms are ORed; the requirements inside a term (``matchExpressions`` and ``matchFields``)
    are ANDed;
  - a term with neither ``matchExpressions`` nor ``matchFields`` matches nothing, so a
    selector with no terms matches nothing;
  - a term with an invalid requirement (unknown operator, ``In``/``NotIn`` without values,
    ``Exists``/``DoesNotExist`` with values, ``Gt``/``Lt`` without exactly one integer value,
    an invalid label key or value) never matches, but the other terms still can;
  - operators on labels: ``In`` (label present and its value listed), ``NotIn`` (label
    absent, or its value not listed), ``Exists``, ``DoesNotExist``, ``Gt``/``Lt`` (label
    present, its value a base-10 int64, strictly greater/less than the single value);
  - ``matchFields`` supports ``In``/``NotIn`` with exactly one value. The only node field
    is ``metadata.name``; any other key reads as the empty string (upstream looks the key
    up in a field set holding only ``metadata.name``). A node with an empty name skips the
    ``matchFields`` check altogether, as upstream does;
  - a *nil* selector (``None``) is "no constraint" and matches every node — callers use it
    for an absent ``nodeSelector``.

* **Label selectors** (``metav1.LabelSelector``; pod affinity terms, namespace selectors)
  follow ``metav1.LabelSelectorAsSelector``: a nil selector matches nothing, an empty one
  (no ``matchLabels``, no ``matchExpressions``) matches everything; ``matchLabels`` entries
  are equality requirements; operators are ``In``, ``NotIn``, ``Exists``,
  ``DoesNotExist``. An invalid selector raises :class:`InvalidSelectorError` (upstream
  returns an error; it never silently matches).

For hot loops, compile once with :func:`compile_node_selector` /
:func:`compile_label_selector` and call ``matches`` per node.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from pydantic import Field

from .errors import InvalidSelectorError, format_field_path
from .meta import K8sModel

__all__ = [
    "CompiledLabelSelector",
    "CompiledNodeSelector",
    "LabelSelector",
    "LabelSelectorRequirement",
    "NodeSelector",
    "NodeSelectorRequirement",
    "NodeSelectorTerm",
    "compile_label_selector",
    "compile_node_selector",
    "label_selector_matches",
    "node_selector_matches",
]


class NodeSelectorRequirement(K8sModel):
    """``{key, operator, values}``; operator is one of In, NotIn, Exists, DoesNotExist, Gt, Lt."""

    key: str = ""
    operator: str = ""
    values: tuple[str, ...] = Field(default_factory=tuple)


class NodeSelectorTerm(K8sModel):
    """One ORed term: label requirements and field requirements, all ANDed."""

    match_expressions: tuple[NodeSelectorRequirement, ...] = Field(default_factory=tuple)
    match_fields: tuple[NodeSelectorRequirement, ...] = Field(default_factory=tuple)


class NodeSelector(K8sModel):
    """``v1.NodeSelector``: ``nodeSelectorTerms``, ORed."""

    node_selector_terms: tuple[NodeSelectorTerm, ...] = Field(default_factory=tuple)


class LabelSelectorRequirement(K8sModel):
    """``{key, operator, values}``; operator is one of In, NotIn, Exists, DoesNotExist."""

    key: str = ""
    operator: str = ""
    values: tuple[str, ...] = Field(default_factory=tuple)


class LabelSelector(K8sModel):
    """``metav1.LabelSelector``: ``matchLabels`` and ``matchExpressions``, all ANDed."""

    match_labels: dict[str, str] = Field(default_factory=dict)
    match_expressions: tuple[LabelSelectorRequirement, ...] = Field(default_factory=tuple)


# --- label key/value syntax (apimachinery validation.IsQualifiedName / IsValidLabelValue) ---

_NAME_PART = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
_DNS1123_SUBDOMAIN = re.compile(
    r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
)
_INT64 = re.compile(r"^[+-]?[0-9]+$")
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1


def label_key_problem(key: str) -> str | None:
    """Why ``key`` is not a valid label key (``[prefix/]name``), or ``None`` if it is."""
    prefix, slash, name = key.rpartition("/")
    if slash and "/" in prefix:
        return f"label key {key!r}: at most one '/' is allowed"
    if slash:
        if not prefix:
            return f"label key {key!r}: prefix part must be non-empty"
        if len(prefix) > 253 or not _DNS1123_SUBDOMAIN.match(prefix):
            return f"label key {key!r}: prefix must be a DNS subdomain of at most 253 characters"
    if not name:
        return f"label key {key!r}: name part must be non-empty"
    if len(name) > 63 or not _NAME_PART.match(name):
        return (
            f"label key {key!r}: name part must be at most 63 alphanumeric characters, "
            "'-', '_' or '.', starting and ending with an alphanumeric character"
        )
    return None


def label_value_problem(value: str) -> str | None:
    """Why ``value`` is not a valid label value, or ``None`` if it is (empty is valid)."""
    if len(value) > 63 or not _LABEL_VALUE.match(value):
        return (
            f"label value {value!r}: must be at most 63 alphanumeric characters, '-', '_' "
            "or '.', starting and ending with an alphanumeric character"
        )
    return None


def _parse_int64(text: str) -> int | None:
    """Go's ``strconv.ParseInt(text, 10, 64)``: ``None`` when it would fail."""
    if not _INT64.match(text):
        return None
    value = int(text)
    return value if _INT64_MIN <= value <= _INT64_MAX else None


_LabelMatcher = Callable[[Mapping[str, str]], bool]

_NODE_OPERATORS = ("In", "NotIn", "Exists", "DoesNotExist", "Gt", "Lt")
_LABEL_SELECTOR_OPERATORS = ("In", "NotIn", "Exists", "DoesNotExist")


def _requirement(key: str, operator: str, values: tuple[str, ...]) -> _LabelMatcher | str:
    """``labels.NewRequirement`` + ``Requirement.Matches``: a matcher, or why it is invalid."""
    problem = label_key_problem(key)
    if problem:
        return problem
    if operator in ("In", "NotIn") and not values:
        return f"operator {operator}: values must be non-empty"
    if operator in ("Exists", "DoesNotExist") and values:
        return f"operator {operator}: values must be empty, got {list(values)}"
    if operator in ("Gt", "Lt"):
        if len(values) != 1:
            return f"operator {operator}: exactly one value is required, got {list(values)}"
        bound = _parse_int64(values[0])
        if bound is None:
            return f"operator {operator}: value {values[0]!r} is not an integer"
    for value in values:
        problem = label_value_problem(value)
        if problem:
            return problem
    allowed = frozenset(values)
    if operator == "In":
        return lambda labels: key in labels and labels[key] in allowed
    if operator == "NotIn":
        return lambda labels: key not in labels or labels[key] not in allowed
    if operator == "Exists":
        return lambda labels: key in labels
    if operator == "DoesNotExist":
        return lambda labels: key not in labels
    if operator in ("Gt", "Lt"):
        return _compare(key, int(values[0]), greater=operator == "Gt")  # validated above
    return f"operator {operator!r} is not supported (one of {', '.join(_NODE_OPERATORS)})"


def _compare(key: str, limit: int, *, greater: bool) -> _LabelMatcher:
    """``Gt``/``Lt``: the label must exist and parse as an int64 beyond ``limit``."""

    def compare(labels: Mapping[str, str]) -> bool:
        raw = labels.get(key)
        number = None if raw is None else _parse_int64(raw)
        if number is None:
            return False
        return number > limit if greater else number < limit

    return compare


@dataclass(frozen=True, slots=True)
class _CompiledTerm:
    """A parsed node selector term; ``problems`` non-empty means it never matches."""

    labels: tuple[_LabelMatcher, ...]
    fields: tuple[tuple[str, bool, str], ...]  # (field key, equal?, value)
    problems: tuple[str, ...]

    def matches(self, node_name: str, node_labels: Mapping[str, str]) -> bool:
        if self.problems:
            return False
        for matcher in self.labels:
            if not matcher(node_labels):
                return False
        if self.fields and node_name:
            for field_key, equal, value in self.fields:
                actual = node_name if field_key == "metadata.name" else ""
                if (actual == value) != equal:
                    return False
        return True


def _compile_term(term: NodeSelectorTerm, index: int) -> _CompiledTerm:
    labels: list[_LabelMatcher] = []
    fields: list[tuple[str, bool, str]] = []
    problems: list[str] = []
    for i, req in enumerate(term.match_expressions):
        where = format_field_path(("nodeSelectorTerms", index, "matchExpressions", i))
        if req.operator not in _NODE_OPERATORS:
            problems.append(
                f"{where}.operator: {req.operator!r} is not supported "
                f"(one of {', '.join(_NODE_OPERATORS)})"
            )
            continue
        matcher = _requirement(req.key, req.operator, req.values)
        if isinstance(matcher, str):
            problems.append(f"{where}: {matcher}")
        else:
            labels.append(matcher)
    for i, req in enumerate(term.match_fields):
        where = format_field_path(("nodeSelectorTerms", index, "matchFields", i))
        if req.operator not in ("In", "NotIn"):
            problems.append(f"{where}.operator: {req.operator!r} is not supported (In, NotIn)")
        elif len(req.values) != 1:
            problems.append(f"{where}.values: must have one element, got {list(req.values)}")
        else:
            fields.append((req.key, req.operator == "In", req.values[0]))
    return _CompiledTerm(tuple(labels), tuple(fields), tuple(problems))


@dataclass(frozen=True, slots=True)
class CompiledNodeSelector:
    """A node selector parsed once; :meth:`matches` is cheap. ``problems`` lists the
    invalid requirements (their terms never match), for diagnostics."""

    terms: tuple[_CompiledTerm, ...]
    match_all: bool = False

    @property
    def problems(self) -> tuple[str, ...]:
        return tuple(p for term in self.terms for p in term.problems)

    def matches(self, node_name: str, node_labels: Mapping[str, str]) -> bool:
        """True iff some term matches the node (always true for a nil selector)."""
        if self.match_all:
            return True
        return any(term.matches(node_name, node_labels) for term in self.terms)


_MATCH_ALL_NODES = CompiledNodeSelector(terms=(), match_all=True)


def compile_node_selector(selector: NodeSelector | None) -> CompiledNodeSelector:
    """Parse a node selector (``None`` = no constraint, matches all nodes)."""
    if selector is None:
        return _MATCH_ALL_NODES
    terms = tuple(
        _compile_term(term, i)
        for i, term in enumerate(selector.node_selector_terms)
        if term.match_expressions or term.match_fields
    )
    return CompiledNodeSelector(terms=terms)


def node_selector_matches(
    selector: NodeSelector | None, node_name: str, node_labels: Mapping[str, str]
) -> bool:
    """Whether a node (its name and labels) satisfies ``selector``; see the module docstring."""
    return compile_node_selector(selector).matches(node_name, node_labels)


@dataclass(frozen=True, slots=True)
class CompiledLabelSelector:
    """A label selector parsed once; :meth:`matches` is cheap."""

    requirements: tuple[_LabelMatcher, ...]
    match_nothing: bool = False

    def matches(self, labels: Mapping[str, str]) -> bool:
        """True iff every requirement holds (never for a nil selector)."""
        if self.match_nothing:
            return False
        return all(req(labels) for req in self.requirements)


_MATCH_NOTHING = CompiledLabelSelector(requirements=(), match_nothing=True)


def compile_label_selector(selector: LabelSelector | None) -> CompiledLabelSelector:
    """Parse a label selector like ``metav1.LabelSelectorAsSelector``.

    ``None`` matches nothing; an empty selector matches everything. Raises
    :class:`InvalidSelectorError` naming the field and value of the first invalid requirement.
    """
    if selector is None:
        return _MATCH_NOTHING
    requirements: list[_LabelMatcher] = []
    for key, value in selector.match_labels.items():
        matcher = _requirement(key, "In", (value,))
        if isinstance(matcher, str):
            raise InvalidSelectorError(f"label selector matchLabels[{key}]: {matcher}")
        requirements.append(matcher)
    for i, req in enumerate(selector.match_expressions):
        if req.operator not in _LABEL_SELECTOR_OPERATORS:
            raise InvalidSelectorError(
                f"label selector matchExpressions[{i}].operator: {req.operator!r} is not a "
                f"valid label selector operator (one of {', '.join(_LABEL_SELECTOR_OPERATORS)})"
            )
        matcher = _requirement(req.key, req.operator, req.values)
        if isinstance(matcher, str):
            raise InvalidSelectorError(f"label selector matchExpressions[{i}]: {matcher}")
        requirements.append(matcher)
    return CompiledLabelSelector(requirements=tuple(requirements))


def label_selector_matches(selector: LabelSelector | None, labels: Mapping[str, str]) -> bool:
    """Whether ``labels`` satisfy ``selector``; nil matches nothing, empty matches all."""
    return compile_label_selector(selector).matches(labels)
