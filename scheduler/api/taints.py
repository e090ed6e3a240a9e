"""Taints, tolerations and Kubernetes' toleration matching, for nodes and DRA devices.

Node taints (``core/v1 Taint``) and device taints (``resource.k8s.io/v1 DeviceTaint``) have
the same fields (``key``, ``value``, ``effect``, ``timeAdded``), and so do tolerations
(``key``, ``operator``, ``value``, ``effect``, ``tolerationSeconds``); upstream matches both
with the same algorithm (``Toleration.ToleratesTaint`` and
``resourceclaim.ToleratesTaint``). One pair of models serves both; ``DeviceTaint`` and
``DeviceToleration`` are aliases.

Effects are plain strings: nodes use ``NoSchedule``, ``PreferNoSchedule``, ``NoExecute``;
devices use ``None``, ``NoSchedule``, ``NoExecute``. Unknown effects load and are matched
by the same rules (the DRA allocator ignores taints whose effect it does not know).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable

from .meta import K8sModel, StrictInt, Timestamp

__all__ = [
    "DeviceTaint",
    "DeviceToleration",
    "Taint",
    "Toleration",
    "find_untolerated",
    "is_tolerated",
    "taint_text",
    "tolerates",
]


class Taint(K8sModel):
    """A node or device taint. ``key`` and ``effect`` are required by the API; they default
    to ``""`` here so that bad input reaches the code that reports it."""

    key: str = ""
    value: str | None = None
    effect: str = ""
    time_added: Timestamp | None = None


class Toleration(K8sModel):
    """A pod or device-request toleration. ``operator`` absent means ``Equal``."""

    key: str | None = None
    operator: str | None = None
    value: str | None = None
    effect: str | None = None
    toleration_seconds: StrictInt | None = None


DeviceTaint = Taint
DeviceToleration = Toleration


def tolerates(toleration: Toleration, taint: Taint) -> bool:
    """Whether ``toleration`` tolerates ``taint`` (upstream ``ToleratesTaint``).

    Rules, in order:

    1. a toleration with an effect tolerates only taints with that exact effect; an empty
       effect tolerates every effect (so a ``NoExecute`` toleration does not tolerate a
       ``NoSchedule`` taint);
    2. a toleration with a key tolerates only taints with that key; an empty key is a
       wildcard, so ``key: ""`` + ``Exists`` tolerates everything;
    3. operator ``Exists`` ignores the value; ``Equal`` or empty compares the values (absent
       counts as ``""``); any other operator tolerates nothing (the 1.35 alpha ``Gt``/``Lt``
       operators are behind a gate that is off by default).
    """
    if toleration.effect and toleration.effect != taint.effect:
        return False
    if toleration.key and toleration.key != taint.key:
        return False
    operator = toleration.operator or "Equal"
    if operator == "Exists":
        return True
    if operator == "Equal":
        return (toleration.value or "") == (taint.value or "")
    return False


def is_tolerated(tolerations: Iterable[Toleration], taint: Taint) -> bool:
    """Whether some toleration in ``tolerations`` tolerates ``taint``."""
    return any(tolerates(t, taint) for t in tolerations)


def find_untolerated(
    taints: Iterable[Taint],
    tolerations: Collection[Toleration],
    effects: Collection[str] | None = None,
) -> list[Taint]:
    """The taints, in order, whose effect is in ``effects`` (all effects when ``None``) and
    that no toleration tolerates.

    ``effects={"NoSchedule", "NoExecute"}`` is the TaintToleration filter and the DRA
    allocator's device-taint check; the first element is what upstream reports
    (``FindMatchingUntoleratedTaint``).
    """
    return [
        taint
        for taint in taints
        if (effects is None or taint.effect in effects) and not is_tolerated(tolerations, taint)
    ]


def taint_text(taint: Taint) -> str:
    """``key=value:effect`` (``key:effect`` without a value), as upstream prints taints."""
    if taint.value:
        return f"{taint.key}={taint.value}:{taint.effect}"
    return f"{taint.key}:{taint.effect}"
