"""The what-if rows of a plan: the recommended mix under a change it did not plan for.

Who calls: :mod:`simulator.plans.run`, after the search, for the answer's mix and policy.
Each case is a cluster spec and a scenario (as data) plus faults; the run replays it on every
seed like a point. Cases (``whatIf`` in the plan, :class:`simulator.plans.model.WhatIf`):

* ``lose-rack`` — the last full rack of the largest candidate pool (its only rack when it has
  fewer nodes than a rack holds) fails at ``whatIf.loseRack.at``
  (default: half-way through the scenario): every node of it is lost then (the node
  lifecycle controller's NoExecute taint; its pods are evicted and recreated), for good;
* ``mig-layout`` — the named pool's GPUs carry the static MIG layout ``whatIf.migLayout``
  instead of their own partitioning;
* ``device-plugin`` — every NVIDIA candidate pool offers its GPUs through the device plugin
  (``nvidia.com/gpu``) instead of DRA, and the scenario's pods ask for ``nvidia.com/gpu: N``
  instead of a DRA claim of N GPUs. Workloads asking for MIG partitions or GPU shares cannot
  be expressed that way (the device plugin's MIG strategies are not modelled) and are left
  out, which the row says; on a cluster of TPU pools the row is skipped.

:func:`check_what_ifs` validates the MIG layout when the plan is loaded (a layout that cannot
be placed on the GPU is bad input, not a failed row).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

from simulator.drivers.build import build_cluster
from simulator.drivers.spec import parse_cluster_spec
from simulator.plans.model import ResolvedPlan
from simulator.plans.search import Mix

__all__ = ["WhatIfCase", "check_what_ifs", "what_if_cases"]


@dataclass(frozen=True, slots=True)
class WhatIfCase:
    """One what-if row: what changes (``title``, ``detail``), its inputs, or why it was
    skipped (``skipped``: the inputs are then unused)."""

    name: str
    title: str
    detail: str
    scenario: dict[str, Any]
    cluster: dict[str, Any]
    faults: tuple[tuple[float, str], ...] = ()
    skipped: str = ""
    left_out: tuple[str, ...] = ()
    """Workloads of the scenario this case cannot run (the row is then not like for like)."""


def _mig_pools(resolved: ResolvedPlan) -> tuple[dict[str, Any], ...]:
    layout = resolved.plan.what_if.mig_layout
    assert layout is not None
    out = []
    for spec in resolved.pool_specs:
        if spec["name"] == layout.pool:
            accel = {
                **spec["accelerator"],
                "mig": {"mode": "static", "layout": list(layout.layout)},
            }
            out.append({**spec, "accelerator": accel})
        else:
            out.append(spec)
    return tuple(out)


def check_what_ifs(resolved: ResolvedPlan) -> None:
    """ValueError naming the plan file and ``whatIf.migLayout`` when the layout cannot be
    built on the pool's GPUs."""
    if resolved.plan.what_if.mig_layout is None:
        return
    pools = _mig_pools(resolved)
    counts = tuple(1 for _ in pools)
    try:
        build_cluster(parse_cluster_spec(resolved.cluster_data(counts, pools), "whatIf"))
    except ValueError as exc:
        text = " ".join(str(exc).split())
        raise ValueError(
            f"{resolved.source}: invalid plan: whatIf.migLayout.layout: "
            f"{list(resolved.plan.what_if.mig_layout.layout)}: {text}"
        ) from None


def _lose_rack(resolved: ResolvedPlan, mix: Mix) -> WhatIfCase:
    at = resolved.plan.what_if.lose_rack.at if resolved.plan.what_if.lose_rack else None
    when = at if at is not None else round(resolved.scenario.duration / 2)
    i = max(range(len(mix)), key=lambda k: (mix[k], -k))
    spec = resolved.pool_specs[i]
    count = mix[i]
    per_rack = int(spec.get("placement", {}).get("nodesPerRack", 32))
    prefix = spec.get("nodeNamePrefix", spec["name"])
    rack = count // per_rack - 1 if count >= per_rack else 0  # the last full rack
    nodes = [f"{prefix}-{k:04d}" for k in range(rack * per_rack, min((rack + 1) * per_rack, count))]
    data = resolved.cluster_data(mix)
    detail = (
        f"rack {rack + 1} of pool {spec['name']} ({len(nodes)} node{'s' if len(nodes) > 1 else ''},"
        f" {nodes[0]}..{nodes[-1]}) fails at {when / 3600:g} h and stays down"
    )
    return WhatIfCase(
        "lose-rack",
        "lose a rack",
        detail,
        copy.deepcopy(resolved.scenario_data),
        data,
        tuple((float(when), n) for n in nodes),
    )


def _device_plugin(resolved: ResolvedPlan, mix: Mix) -> WhatIfCase:
    pools = []
    nvidia = False
    for spec in resolved.pool_specs:
        accel = spec.get("accelerator", {})
        if accel.get("kind") == "nvidia":
            nvidia = True
            accel = {k: v for k, v in accel.items() if k != "mig"}
            pools.append({**spec, "accelerator": {**accel, "exposure": "device-plugin"}})
        else:
            pools.append(spec)
    scenario = copy.deepcopy(resolved.scenario_data)
    kept, dropped = [], []
    for workload in scenario.get("workloads", []):
        pod = workload.get("pod") or {}
        accel = pod.get("accelerator")
        if accel is None:
            kept.append(workload)
        elif "gpus" in accel:
            pod["accelerator"] = {"nvidiaGpu": accel["gpus"]}
            kept.append(workload)
        elif "nvidiaGpu" in accel:
            kept.append(workload)
        else:
            dropped.append(str(workload.get("name")))
    scenario["workloads"] = kept
    title = "device plugin instead of DRA"
    if not nvidia:
        return WhatIfCase(
            "device-plugin", title, "", {}, {}, skipped="no candidate pool has NVIDIA GPUs"
        )
    if not kept:
        return WhatIfCase(
            "device-plugin", title, "", {}, {}, skipped="every workload needs DRA (MIG or shares)"
        )
    detail = "GPUs offered as nvidia.com/gpu; pods ask for nvidia.com/gpu: N"
    if dropped:
        detail += f"; left out (need DRA: MIG partitions or shares): {', '.join(dropped)}"
    return WhatIfCase(
        "device-plugin",
        title,
        detail,
        scenario,
        resolved.cluster_data(mix, tuple(pools)),
        left_out=tuple(dropped),
    )


def _mig_layout(resolved: ResolvedPlan, mix: Mix) -> WhatIfCase:
    layout = resolved.plan.what_if.mig_layout
    assert layout is not None
    detail = f"pool {layout.pool}: static MIG layout {' + '.join(layout.layout)} on every GPU"
    return WhatIfCase(
        "mig-layout",
        "another MIG layout",
        detail,
        copy.deepcopy(resolved.scenario_data),
        resolved.cluster_data(mix, _mig_pools(resolved)),
    )


def what_if_cases(resolved: ResolvedPlan, mix: Mix) -> list[WhatIfCase]:
    """The plan's what-if cases for ``mix`` (see the module docstring)."""
    what_if = resolved.plan.what_if
    out = []
    if what_if.lose_rack is not None and any(mix):
        out.append(_lose_rack(resolved, mix))
    if what_if.mig_layout is not None:
        index = [p.name for p in resolved.pools].index(what_if.mig_layout.pool)
        if mix[index] > 0:
            out.append(_mig_layout(resolved, mix))
        else:
            out.append(
                WhatIfCase(
                    "mig-layout",
                    "another MIG layout",
                    "",
                    {},
                    {},
                    skipped=f"pool {what_if.mig_layout.pool} has no node in the answer",
                )
            )
    if what_if.device_plugin:
        out.append(_device_plugin(resolved, mix))
    return out
