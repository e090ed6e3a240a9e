"""Inter-pod affinity terms, processed once per pod (kube-scheduler's ``AffinityTerm``).

Who uses it: InterPodAffinity (the incoming pod's terms and every placed pod's terms) and
PodTopologySpread (the ``matchLabelKeys`` merge and the "selects everything" test). The
semantics follow ``pkg/scheduler/framework/types.go`` (1.35; the types live in
``staging/src/k8s.io/kube-scheduler/framework`` since 1.34) and the API server's pod
strategy (``pkg/registry/core/pod/strategy.go``); see
``docs/semantics/interpodaffinity-podtopologyspread.md``:

* a term's ``labelSelector`` is parsed like ``metav1.LabelSelectorAsSelector`` (nil selects
  no pod, ``{}`` every pod); ``matchLabelKeys`` / ``mismatchLabelKeys`` add ``key In
  (value)`` / ``key NotIn (value)`` for each listed key present in the *owning* pod's labels
  (the API server does this at pod creation when ``labelSelector`` is set; doing it again is
  harmless, the requirements are idempotent);
* namespaces: the listed ``namespaces``; when there are none and ``namespaceSelector`` is
  nil, the owning pod's own namespace. A pod's namespace qualifies if it is listed or its
  namespace's labels match ``namespaceSelector`` (nil: none; ``{}``: every namespace);
* a pod matches a term when its namespace qualifies and its labels match the selector.

Namespace labels: tessera's cache holds no Namespace objects. :class:`NamespaceLabels`
gives every namespace the label the API server always sets
(``kubernetes.io/metadata.name: <name>``) plus whatever labels the caller supplies; other
labels of real namespaces are unknown. Evaluating a ``namespaceSelector`` against the
labels of each pod's namespace is what upstream does for the incoming pod's terms too (it
lists the namespaces the selector matches and keeps their names), since every pod's
namespace exists.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from scheduler.api.errors import InvalidSelectorError
from scheduler.api.pod import Pod, PodAffinityTerm, WeightedPodAffinityTerm, pod_key
from scheduler.api.selectors import (
    CompiledLabelSelector,
    LabelSelector,
    LabelSelectorRequirement,
    compile_label_selector,
)

__all__ = [
    "METADATA_NAME_LABEL",
    "AffinityTerm",
    "NamespaceLabels",
    "Narrowing",
    "PodAffinityTerms",
    "WeightedTerm",
    "merge_label_keys",
    "narrowing",
    "parse_pod_affinity",
    "selects_everything",
]

log = logging.getLogger(__name__)

METADATA_NAME_LABEL = "kubernetes.io/metadata.name"


def selects_everything(selector: CompiledLabelSelector) -> bool:
    """True for the selector of ``{}`` (``labels.Selector.Empty()``): no requirement at all."""
    return not selector.match_nothing and not selector.requirements


Narrowing = tuple[str, frozenset[str] | None]
"""A necessary condition of a label selector: label ``key`` is present and, unless ``None``,
has one of the values; lets callers visit only the pods that carry the label."""


def narrowing(selector: LabelSelector | None) -> Narrowing | None:
    """A necessary condition of ``selector`` (a ``matchLabels`` pair, else an ``In``
    requirement, else an ``Exists`` one), or None when it has none to offer."""
    if selector is None:
        return None
    for key, value in selector.match_labels.items():
        return key, frozenset({value})
    exists: Narrowing | None = None
    for req in selector.match_expressions:
        if req.operator == "In" and req.values:
            return req.key, frozenset(req.values)
        if req.operator == "Exists" and exists is None:
            exists = (req.key, None)
    return exists


def merge_label_keys(
    selector: LabelSelector | None,
    labels: Mapping[str, str],
    match_keys: Sequence[str] = (),
    mismatch_keys: Sequence[str] = (),
) -> LabelSelector | None:
    """``selector`` with ``key In (v)`` per ``match_keys`` entry and ``key NotIn (v)`` per
    ``mismatch_keys`` entry whose key is in ``labels``; a nil selector stays nil."""
    if selector is None or not (match_keys or mismatch_keys):
        return selector
    added = [
        LabelSelectorRequirement(key=key, operator=operator, values=(labels[key],))
        for keys, operator in ((match_keys, "In"), (mismatch_keys, "NotIn"))
        for key in keys
        if key in labels
    ]
    if not added:
        return selector
    return selector.model_copy(update={"match_expressions": (*selector.match_expressions, *added)})


class NamespaceLabels:
    """Labels of namespaces by name (see the module docstring): the supplied labels plus
    ``kubernetes.io/metadata.name``. Unknown namespaces have only that label."""

    def __init__(self, known: Mapping[str, Mapping[str, str]] | None = None) -> None:
        self._known = {ns: dict(labels) for ns, labels in (known or {}).items()}
        self._memo: dict[str, Mapping[str, str]] = {}

    def of(self, namespace: str) -> Mapping[str, str]:
        """The labels of ``namespace``."""
        found = self._memo.get(namespace)
        if found is None:
            found = {**self._known.get(namespace, {}), METADATA_NAME_LABEL: namespace}
            self._memo[namespace] = found
        return found


@dataclass(frozen=True, slots=True)
class AffinityTerm:
    """One processed ``PodAffinityTerm`` (see the module docstring)."""

    selector: CompiledLabelSelector
    namespaces: frozenset[str]
    namespace_selector: CompiledLabelSelector
    topology_key: str
    narrowing: Narrowing | None = None

    def matches(
        self, namespace: str, labels: Mapping[str, str], namespace_labels: NamespaceLabels
    ) -> bool:
        """Whether a pod of ``namespace`` with ``labels`` is selected by this term."""
        if namespace not in self.namespaces and not self.namespace_selector.matches(
            namespace_labels.of(namespace)
        ):
            return False
        return self.selector.matches(labels)


@dataclass(frozen=True, slots=True)
class WeightedTerm:
    """A preferred term and its weight."""

    term: AffinityTerm
    weight: int


@dataclass(frozen=True, slots=True)
class PodAffinityTerms:
    """A pod's four groups of processed terms (upstream ``PodInfo``).

    ``problems`` lists the groups that failed to parse, with the error; such a group is
    empty, as upstream's cache keeps it. ``has_affinity`` is true when the pod sets
    ``podAffinity`` or ``podAntiAffinity`` at all (upstream ``PodsWithAffinity``).
    """

    required_affinity: tuple[AffinityTerm, ...] = ()
    required_anti_affinity: tuple[AffinityTerm, ...] = ()
    preferred_affinity: tuple[WeightedTerm, ...] = ()
    preferred_anti_affinity: tuple[WeightedTerm, ...] = ()
    problems: tuple[str, ...] = ()
    has_affinity: bool = False


_NO_TERMS = PodAffinityTerms()


def _term(pod: Pod, term: PodAffinityTerm) -> AffinityTerm:
    labels = pod.metadata.labels
    selector = merge_label_keys(
        term.label_selector, labels, term.match_label_keys, term.mismatch_label_keys
    )
    if term.namespaces or term.namespace_selector is not None:
        namespaces = frozenset(term.namespaces)
    else:
        namespaces = frozenset({pod.metadata.namespace or "default"})
    return AffinityTerm(
        selector=compile_label_selector(selector),
        namespaces=namespaces,
        namespace_selector=compile_label_selector(term.namespace_selector),
        topology_key=term.topology_key,
        narrowing=narrowing(selector),
    )


def _group(
    pod: Pod, terms: Sequence[PodAffinityTerm], name: str, problems: list[str]
) -> tuple[AffinityTerm, ...]:
    try:
        return tuple(_term(pod, t) for t in terms)
    except InvalidSelectorError as err:
        problems.append(f"{name}: {err}")
        return ()


def _weighted(
    pod: Pod, terms: Sequence[WeightedPodAffinityTerm], name: str, problems: list[str]
) -> tuple[WeightedTerm, ...]:
    try:
        return tuple(WeightedTerm(_term(pod, t.pod_affinity_term), t.weight) for t in terms)
    except InvalidSelectorError as err:
        problems.append(f"{name}: {err}")
        return ()


def parse_pod_affinity(pod: Pod) -> PodAffinityTerms:
    """The pod's processed inter-pod affinity terms (``framework.NewPodInfo``)."""
    affinity = pod.spec.affinity
    if affinity is None or (affinity.pod_affinity is None and affinity.pod_anti_affinity is None):
        return _NO_TERMS
    problems: list[str] = []
    near = affinity.pod_affinity
    far = affinity.pod_anti_affinity
    terms = PodAffinityTerms(
        required_affinity=_group(
            pod,
            near.required_during_scheduling_ignored_during_execution if near else (),
            "requiredAffinityTerms",
            problems,
        ),
        required_anti_affinity=_group(
            pod,
            far.required_during_scheduling_ignored_during_execution if far else (),
            "requiredAntiAffinityTerms",
            problems,
        ),
        preferred_affinity=_weighted(
            pod,
            near.preferred_during_scheduling_ignored_during_execution if near else (),
            "preferredAffinityTerms",
            problems,
        ),
        preferred_anti_affinity=_weighted(
            pod,
            far.preferred_during_scheduling_ignored_during_execution if far else (),
            "preferredAntiAffinityTerms",
            problems,
        ),
        problems=tuple(problems),
        has_affinity=True,
    )
    if problems:
        log.debug("Pod %s: inter-pod affinity terms dropped: %s", pod_key(pod), "; ".join(problems))
    return terms
