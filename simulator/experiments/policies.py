"""Placement policies of the experiments, as scheduler profiles.

``profile_for(policy, workload, config)`` returns the profile an experiment runs: the
filters every policy shares (NodeResourcesFit, DynamicResources), the policy's scorer,
node-order tie-breaking (the FGD simulator's rule) and the binder. The paper's six
policies map one-to-one onto score plugins; ``tessera`` is tessera's own default, the
Tessera plugin (FGD plus CPU-stranding and GPU-model pressure terms, with its default
weights; see scheduler/plugins/gpu/tessera.py). Both fragmentation-based policies get
the experiment's target workload.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from scheduler.framework.profiles import PluginConfig, Profile
from scheduler.plugins.gpu.measure import TaskShape

POLICY_PLUGINS: dict[str, str] = {
    "fgd": "Fragmentation",
    "bestfit": "BestFit",
    "packing": "GpuPacking",
    "clustering": "GpuClustering",
    "dotprod": "DotProd",
    "random": "Random",
    "tessera": "Tessera",
}
"""Policy name -> its main score plugin."""

WORKLOAD_PLUGINS = frozenset({"Fragmentation", "Tessera"})
"""Score plugins that take the target workload as their ``workload`` argument."""

PAPER_POLICIES = ("random", "dotprod", "clustering", "packing", "bestfit", "fgd")
POLICIES = (*PAPER_POLICIES, "tessera")


class PolicySettings(Protocol):
    """What a profile needs from an experiment's configuration."""

    @property
    def seed(self) -> int: ...

    @property
    def device_choice(self) -> str: ...


def workload_args(workload: Sequence[tuple[TaskShape, float]]) -> list[dict[str, Any]]:
    """The target workload as Fragmentation plugin arguments."""
    return [
        {
            "cpuMilli": s.cpu_milli,
            "gpuMilli": s.gpu_milli,
            "numGpu": s.num_gpu,
            "gpuSpec": s.gpu_spec,
            "weight": w,
        }
        for s, w in workload
    ]


def profile_for(
    policy: str, workload: Sequence[tuple[TaskShape, float]], config: PolicySettings
) -> Profile:
    """The scheduler profile of a policy (ValueError for an unknown policy name)."""
    if policy not in POLICY_PLUGINS:
        raise ValueError(f"policy {policy!r}: expected one of {sorted(POLICY_PLUGINS)}")
    args: dict[str, Any] = {"deviceChoice": config.device_choice, "seed": config.seed}
    if POLICY_PLUGINS[policy] in WORKLOAD_PLUGINS:
        args["workload"] = workload_args(workload)
    plugins = [
        PluginConfig(name="NodeResourcesFit"),
        PluginConfig(name="DynamicResources"),
        PluginConfig(name=POLICY_PLUGINS[policy], weight=1, args=args),
        PluginConfig(name="DefaultBinder"),
    ]
    return Profile(
        name=f"inflate-{policy}", tie_break="nodeOrder", seed=config.seed, plugins=tuple(plugins)
    )
