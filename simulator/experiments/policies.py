"""The shipped placement policies: KubeSchedulerConfigurations built from one table.

``tessera replay --policy P`` and ``tessera inflate --policy P`` run a configuration of the
same shape a user gives with ``--config FILE``; both go through
:func:`scheduler.plugins.configuration.profiles_from_config`. The policies are built here in
Python, through the configuration models, rather than shipped as YAML: each is parameterised
by the run (seed, device choice, the cluster's topology levels, the trace's target workload),
and building them through the same models and validation keeps them ordinary configurations
(``policy_yaml`` prints one, to copy and edit).

* ``kube-default`` — a stock kube-scheduler: the default profile
  (``scheduler.plugins.configuration.DEFAULT_PLUGINS`` as far as tessera models it, with
  upstream's DefaultPreemption: priority preemption only, and none to free DRA devices, as
  1.35's DynamicResources reports device shortfalls as unresolvable); pods are scheduled one
  by one.
* ``kueue`` — what a stock cluster running Kueue's topology-aware scheduling does: the
  default profile, with whole gangs placed by GangTopology's ``algorithm: kueue`` (Kueue
  TAS's greedy BestFit over topology domains, no fragmentation scoring) and preempted whole
  by tessera's Preemption planner in place of DefaultPreemption (Kueue evicts whole
  workloads of lower priority; its own victim ordering is not modelled); no GPU scorer, no
  serving headroom;
* every other replay policy (:data:`REPLAY_POLICIES`) — tessera's profile: the filters
  (NodeUnschedulable, NodeName, NodeResourcesFit as a filter only, NodeAffinity,
  TaintToleration, NodePorts, PodTopologySpread, InterPodAffinity, DynamicResources with
  ``devicePreemption``), GangTopology
  placement, tessera's Preemption planner (which frees devices too), the policy's GPU scorer
  (:data:`GPU_SCORERS`) and ServingBatch, each scoring with weight 1;
* the inflate policies (:data:`POLICIES`, the FGD paper's six plus ``tessera``) — the FGD
  simulator's profile: NodeResourcesFit (filter only) and DynamicResources, the policy's
  scorer, DefaultBinder; node-order tie-breaking.

The FGD-family scorers (:data:`WORKLOAD_PLUGINS`) get the experiment's target workload.
Every solver a replay policy runs (GangTopology, Preemption) is in offline mode with the
run's seed, so that a replay repeats bit for bit whatever the machine's load.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

import yaml

from scheduler.api.kubeschedulerconfig import KubeSchedulerConfiguration
from scheduler.framework.profiles import Profile
from scheduler.plugins.configuration import profiles_from_config
from scheduler.plugins.gpu.base import DeviceChoice
from scheduler.plugins.gpu.fragmentation import Fragmentation
from scheduler.plugins.gpu.measure import TaskShape, WorkloadMix
from scheduler.plugins.registry import REGISTRY

__all__ = [
    "GPU_SCORERS",
    "PAPER_POLICIES",
    "POLICIES",
    "REPLAY_POLICIES",
    "WORKLOAD_PLUGINS",
    "DeviceChoice",
    "PolicySettings",
    "inflate_config",
    "inflate_profile",
    "policy_yaml",
    "replay_config",
    "replay_profile",
    "with_cluster_levels",
    "with_target_workload",
    "workload_args",
]

GPU_SCORERS: dict[str, str] = {
    "tessera": "Tessera",
    "fgd": "Fragmentation",
    "bestfit": "BestFit",
    "packing": "GpuPacking",
    "clustering": "GpuClustering",
    "dotprod": "DotProd",
    "random": "Random",
}
"""Policy name -> its GPU score plugin (every policy but kube-default has one)."""

WORKLOAD_PLUGINS = frozenset({"Fragmentation", "Tessera"})
"""Score plugins that take the target workload as their ``workload`` argument."""

PAPER_POLICIES = ("random", "dotprod", "clustering", "packing", "bestfit", "fgd")
POLICIES = (*PAPER_POLICIES, "tessera")
"""The inflate policies, in table order."""
REPLAY_POLICIES = (
    "kube-default",
    "kueue",
    "tessera",
    "fgd",
    "bestfit",
    "packing",
    "clustering",
    "dotprod",
    "random",
)
"""The replay policies."""

_TESSERA_FILTERS = (
    "NodeUnschedulable",
    "NodeName",
    "NodeResourcesFit",
    "NodeAffinity",
    "TaintToleration",
    "NodePorts",
    "PodTopologySpread",
    "InterPodAffinity",
    "DynamicResources",
)
_FILTER_ONLY = {
    "preScore": {"disabled": [{"name": "NodeResourcesFit"}]},
    "score": {"disabled": [{"name": "NodeResourcesFit"}]},
}
"""NodeResourcesFit scores (LeastAllocated) by default; tessera's profiles use it to filter."""


class PolicySettings(Protocol):
    """What an inflate profile needs from the experiment's configuration."""

    @property
    def seed(self) -> int: ...

    @property
    def device_choice(self) -> str: ...


def workload_args(workload: Sequence[tuple[TaskShape, float]]) -> list[dict[str, Any]]:
    """A target workload as Fragmentation plugin arguments."""
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


def _check(policy: str, allowed: Sequence[str]) -> None:
    if policy not in allowed:
        raise ValueError(f"policy {policy!r}: expected one of {', '.join(allowed)}")


def _document(
    name: str, plugins: dict[str, Any], args: dict[str, dict[str, Any]]
) -> dict[str, Any]:
    profile: dict[str, Any] = {"schedulerName": name}
    if plugins:
        profile["plugins"] = plugins
    if args:
        profile["pluginConfig"] = [{"name": n, "args": a} for n, a in args.items()]
    return {
        "apiVersion": "kubescheduler.config.k8s.io/v1",
        "kind": "KubeSchedulerConfiguration",
        "profiles": [profile],
    }


def _offline(seed: int) -> dict[str, Any]:
    """Solver args for a replay: CP-SAT bounded by deterministic time, one worker, the run's
    seed (a wall-time limit would make the plan depend on the machine's load, and a replay
    must repeat bit for bit)."""
    return {"solver": {"mode": "offline", "random_seed": seed}}


def _scorer_args(
    policy: str, seed: int, device_choice: str, workload: Sequence[dict[str, Any]]
) -> dict[str, Any]:
    args: dict[str, Any] = {"deviceChoice": device_choice, "seed": seed}
    if GPU_SCORERS[policy] in WORKLOAD_PLUGINS and workload:
        args["workload"] = list(workload)
    return args


def replay_config(
    policy: str,
    *,
    seed: int = 0,
    device_choice: DeviceChoice = "first-fit",
    levels: Sequence[str] | None = None,
    workload: Sequence[dict[str, Any]] = (),
) -> KubeSchedulerConfiguration:
    """The configuration a replay runs for ``policy`` (ValueError for an unknown name)."""
    _check(policy, REPLAY_POLICIES)
    topology = {"levels": list(levels)} if levels else {}
    if policy == "kube-default":
        stock: dict[str, Any] = {}
        return KubeSchedulerConfiguration.model_validate(
            _document(policy, stock, {"DefaultPreemption": {"seed": seed}})
        )
    if policy == "kueue":
        gangs = {
            "multiPoint": {
                "enabled": [{"name": "GangTopology"}, {"name": "Preemption"}],
                "disabled": [{"name": "DefaultPreemption"}],
            }
        }
        kueue_args: dict[str, dict[str, Any]] = {
            "GangTopology": {"algorithm": "kueue", **_offline(seed), **topology},
            "Preemption": {**_offline(seed), **topology},
            "DynamicResources": {"devicePreemption": True},
        }
        return KubeSchedulerConfiguration.model_validate(
            _document(policy, gangs, {n: a for n, a in kueue_args.items() if a})
        )
    scorer = GPU_SCORERS[policy]
    enabled = [
        "SchedulingGates",
        "PrioritySort",
        *_TESSERA_FILTERS,
        "GangTopology",
        "Preemption",
        scorer,
        "ServingBatch",
        "DefaultBinder",
    ]
    plugins: dict[str, Any] = {
        "multiPoint": {
            "enabled": [{"name": n} for n in enabled],
            "disabled": [{"name": "*"}],
        },
        **_FILTER_ONLY,
    }
    args: dict[str, dict[str, Any]] = {
        "GangTopology": {**_offline(seed), **topology},
        "Preemption": {**_offline(seed), **topology},
        "DynamicResources": {"devicePreemption": True},
        scorer: _scorer_args(policy, seed, device_choice, workload),
    }
    return KubeSchedulerConfiguration.model_validate(
        _document(policy, plugins, {n: a for n, a in args.items() if a})
    )


def inflate_config(
    policy: str, *, seed: int, device_choice: str, workload: Sequence[tuple[TaskShape, float]]
) -> KubeSchedulerConfiguration:
    """The configuration of an inflate run of ``policy`` (ValueError for an unknown name)."""
    _check(policy, POLICIES)
    scorer = GPU_SCORERS[policy]
    enabled = ("PrioritySort", "NodeResourcesFit", "DynamicResources", scorer, "DefaultBinder")
    plugins: dict[str, Any] = {
        "multiPoint": {"enabled": [{"name": n} for n in enabled], "disabled": [{"name": "*"}]},
        **_FILTER_ONLY,
    }
    args = {scorer: _scorer_args(policy, seed, device_choice, workload_args(workload))}
    return KubeSchedulerConfiguration.model_validate(_document(f"inflate-{policy}", plugins, args))


def replay_profile(
    policy: str,
    *,
    seed: int = 0,
    device_choice: DeviceChoice = "first-fit",
    levels: Sequence[str] | None = None,
    workload: Sequence[dict[str, Any]] = (),
) -> Profile:
    """The resolved profile of :func:`replay_config` (random tie-break, ``seed``)."""
    config = replay_config(
        policy, seed=seed, device_choice=device_choice, levels=levels, workload=workload
    )
    (profile,) = profiles_from_config(config, source=f"policy {policy}", seed=seed)
    return profile


def inflate_profile(
    policy: str, workload: Sequence[tuple[TaskShape, float]], settings: PolicySettings
) -> Profile:
    """The resolved profile of :func:`inflate_config` (node-order tie-break)."""
    config = inflate_config(
        policy, seed=settings.seed, device_choice=settings.device_choice, workload=workload
    )
    (profile,) = profiles_from_config(
        config, source=f"policy {policy}", tie_break="nodeOrder", seed=settings.seed
    )
    return profile


def policy_yaml(config: KubeSchedulerConfiguration) -> str:
    """A configuration as the YAML a user would write (defaults left out)."""
    data = config.model_dump(mode="json", by_alias=True, exclude_defaults=True)
    data = {"apiVersion": config.api_version, "kind": config.kind, **data}
    return yaml.safe_dump(data, sort_keys=False)


TOPOLOGY_PLUGINS = ("GangTopology", "Preemption")
"""Plugins whose ``levels`` arg names the cluster's topology label keys."""


def with_cluster_levels(profile: Profile, levels: Sequence[str]) -> Profile:
    """``profile`` with the cluster's topology ``levels`` for its topology plugins that set
    none (a configuration written for one cluster keeps working on a cluster spec with
    other level keys)."""
    for name in TOPOLOGY_PLUGINS:
        args = profile.args(name)
        if name in profile.plugins.names() and "levels" not in args and levels:
            profile = profile.with_args(name, {**args, "levels": list(levels)})
    return profile


def with_target_workload(profile: Profile, mix: WorkloadMix) -> Profile:
    """``profile`` with ``mix`` as the ``workload`` of its FGD-family scorers that have none
    (so that FGD measures fragmentation against the trace's typical pods, as in the paper,
    rather than against the pods running at the first cycle)."""
    classes = [
        {
            "cpuMilli": int(mix.cpu_milli[m]),
            "gpuMilli": int(mix.gpu_milli[m]),
            "numGpu": int(mix.num_gpu[m]),
            "gpuSpec": mix.gpu_spec[m] if mix.gpu_spec else "",
            "weight": float(mix.weight[m]),
        }
        for m in range(len(mix.weight))
        if mix.weight[m] > 0
    ]
    for name in profile.plugins.names():
        factory = REGISTRY.get(name)
        fgd = isinstance(factory, type) and issubclass(factory, Fragmentation)
        args = profile.args(name)
        if fgd and "workload" not in args:
            profile = profile.with_args(name, {**args, "workload": classes})
    return profile
