"""PreferLabel: an out-of-tree tessera score plugin, registered through an entry point.

Score 100 on nodes whose label ``key`` has one of ``values`` (or has the label at all when
``values`` is empty), 0 elsewhere. With a weight above the other scorers' it steers pods to
a node pool (spot capacity, a newer GPU generation, a rack being drained into) while the
filters still decide what fits. Pods it should not steer can be left out with
``podSelector`` (labels the pod must carry).

Configured like any plugin, in a KubeSchedulerConfiguration::

    profiles:
    - schedulerName: default-scheduler
      plugins:
        multiPoint:
          enabled:
          - {name: PreferLabel, weight: 5}
      pluginConfig:
      - name: PreferLabel
        args: {key: example.com/spot, values: ["true"]}
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
from pydantic import Field

from scheduler.framework.cycle_state import CycleState
from scheduler.framework.interfaces import MAX_NODE_SCORE, Handle, NodeIds
from scheduler.framework.podinfo import PodInfo
from scheduler.framework.status import Status
from scheduler.plugins.helper.args import PluginArgs, parse_args

if TYPE_CHECKING:
    from scheduler.cluster.snapshot import Snapshot

__all__ = ["PreferLabel", "PreferLabelArgs"]


class PreferLabelArgs(PluginArgs):
    """Args of PreferLabel."""

    key: str = Field(min_length=1, description="The node label to look at.")
    values: tuple[str, ...] = Field(
        default=(), description="Preferred values; empty: any node with the label."
    )
    pod_selector: dict[str, str] = Field(
        default_factory=dict,
        alias="podSelector",
        description="Only pods carrying all these labels are steered (empty: every pod).",
    )


class PreferLabel:
    """PreScore + Score plugin (see the module docstring)."""

    name = "PreferLabel"

    def __init__(self, args: Mapping[str, Any], handle: Handle) -> None:
        self.args = parse_args(self.name, PreferLabelArgs, args)
        self.handle = handle

    def pre_score(
        self, state: CycleState, pod: PodInfo, snapshot: Snapshot, nodes: NodeIds
    ) -> Status:
        """SKIP pods the selector leaves out (their Score is not called)."""
        labels = pod.pod.metadata.labels
        wanted = self.args.pod_selector.items()
        return Status.success() if all(labels.get(k) == v for k, v in wanted) else Status.skip()

    def score(
        self, state: CycleState, pod: PodInfo, snapshot: Snapshot, nodes: NodeIds
    ) -> npt.NDArray[np.int64]:
        """100 on preferred nodes, 0 elsewhere (one label column per cycle, no loop)."""
        codes, values = snapshot.label_column(self.args.key)
        if self.args.values:
            good = np.array([v in self.args.values for v in values] + [False], dtype=bool)
            hit = good[codes[nodes]]  # code -1 (no label) indexes the trailing False
        else:
            hit = codes[nodes] >= 0
        return np.where(hit, MAX_NODE_SCORE, 0).astype(np.int64)

    def normalize(
        self, state: CycleState, pod: PodInfo, scores: npt.NDArray[np.int64]
    ) -> npt.NDArray[np.int64]:
        """Already 0..100."""
        return scores
