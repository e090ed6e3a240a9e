"""TaintToleration: node taints against pod tolerations (kube-scheduler 1.35 semantics).

* Filter: the node's first taint with effect ``NoSchedule`` or ``NoExecute`` that no pod
  toleration tolerates rejects the pod with UNSCHEDULABLE_AND_UNRESOLVABLE
  ``node(s) had untolerated taint {<key>: <value>}``.
* Score: the number of ``PreferNoSchedule`` taints the pod does not tolerate (only
  tolerations with an empty or ``PreferNoSchedule`` effect count), normalised in reverse
  (:func:`~scheduler.plugins.helper.normalize.default_normalize`): fewest intolerable taints = 100.

Both are evaluated once per distinct taint list (``Snapshot.taint_groups``), not per node.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from scheduler.api.taints import Toleration, find_untolerated
from scheduler.framework.cycle_state import CycleState, StateKey
from scheduler.framework.interfaces import FilterResult, Handle, NodeIds
from scheduler.framework.podinfo import PodInfo
from scheduler.framework.status import Status
from scheduler.plugins.helper.args import NoArgs, parse_args
from scheduler.plugins.helper.normalize import default_normalize

if TYPE_CHECKING:
    from scheduler.cluster.snapshot import Snapshot

__all__ = ["PLUGINS", "TaintToleration"]

_DO_NOT_SCHEDULE = frozenset({"NoSchedule", "NoExecute"})
_PREFER = frozenset({"PreferNoSchedule"})
_PREFER_KEY = StateKey[tuple[Toleration, ...]]("PreScoreTaintToleration")


class TaintToleration:
    """Filter + Score on node taints; see the module docstring."""

    name = "TaintToleration"

    def __init__(self, args: Mapping[str, Any], handle: Handle) -> None:
        parse_args(self.name, NoArgs, args)
        self.handle = handle

    def filter(
        self, state: CycleState, pod: PodInfo, snapshot: Snapshot, nodes: NodeIds
    ) -> FilterResult:
        """Reject nodes whose taint list has an untolerated NoSchedule/NoExecute taint."""
        groups, group_of = snapshot.taint_groups
        tolerations = pod.pod.spec.tolerations
        reasons: dict[str, Status] = {}
        verdict: list[str | None] = []
        for taints in groups:
            untolerated = find_untolerated(taints, tolerations, _DO_NOT_SCHEDULE)
            if not untolerated:
                verdict.append(None)
                continue
            first = untolerated[0]
            text = f"node(s) had untolerated taint {{{first.key}: {first.value or ''}}}"
            reasons.setdefault(text, Status.unresolvable(text))
            verdict.append(text)
        mine = group_of[nodes]
        checks: list[tuple[Status, npt.NDArray[np.bool_]]] = []
        for text, status in reasons.items():
            hit = np.array([v == text for v in verdict], dtype=bool)
            checks.append((status, hit[mine]))
        return FilterResult.from_checks(checks, len(nodes))

    def pre_score(
        self, state: CycleState, pod: PodInfo, snapshot: Snapshot, nodes: NodeIds
    ) -> Status:
        """Keep the tolerations that can tolerate PreferNoSchedule taints."""
        prefer = tuple(
            t for t in pod.pod.spec.tolerations if not t.effect or t.effect == "PreferNoSchedule"
        )
        state.write(_PREFER_KEY, prefer)
        return Status.success()

    def score(
        self, state: CycleState, pod: PodInfo, snapshot: Snapshot, nodes: NodeIds
    ) -> npt.NDArray[np.int64]:
        """Raw score: how many PreferNoSchedule taints of each node the pod does not tolerate."""
        prefer = state.get(_PREFER_KEY)
        if prefer is None:
            self.pre_score(state, pod, snapshot, nodes)
            prefer = state.read(_PREFER_KEY)
        groups, group_of = snapshot.taint_groups
        counts = np.array(
            [len(find_untolerated(taints, prefer, _PREFER)) for taints in groups], dtype=np.int64
        )
        return counts[group_of[nodes]] if len(groups) else np.zeros(len(nodes), dtype=np.int64)

    def normalize(
        self, state: CycleState, pod: PodInfo, scores: npt.NDArray[np.int64]
    ) -> npt.NDArray[np.int64]:
        """Reverse default normalisation: the fewest intolerable taints score 100."""
        return default_normalize(scores, reverse=True)


PLUGINS: dict[str, type] = {TaintToleration.name: TaintToleration}
