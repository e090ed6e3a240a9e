"""Stranded capacity probes (simulator.plans.stranded) and the topology's domain use
(simulator.report.topology) on a replay snapshot with known free capacity."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from simulator.plans.model import load_plan
from simulator.plans.points import ReplayTask, run_task
from simulator.plans.stranded import default_probes
from simulator.report.topology import draw, topology_graph

ROOT = Path(__file__).resolve().parents[2]
SMALL = ROOT / "tests" / "plans" / "fixtures" / "small.yaml"


@pytest.fixture(scope="module")
def snapshot() -> dict[str, Any]:
    """20 dynamic-MIG H100 nodes, only the 1-GPU eval jobs, stopped 10 minutes in: some GPUs
    held (each eval holds a whole GPU), most free."""
    resolved = load_plan(SMALL)
    cluster = resolved.cluster_data((20,))
    scenario = dict(resolved.scenario_data)
    scenario["workloads"] = [w for w in scenario["workloads"] if w["name"] == "eval"]
    task = ReplayTask(
        scenario, cluster, "tessera", 1, snapshot_at=600.0, probes=default_probes(cluster)
    )
    result: dict[str, Any] = run_task(task)["snapshot"]
    return result


def test_probes_count_what_the_free_devices_allow(snapshot: dict[str, Any]) -> None:
    """8-GPU pods fit exactly on the nodes with all 8 GPUs free; 3g.40gb slices fit two per
    free GPU (the evals hold whole GPUs); stranded = free - fits x size."""
    shapes = {s["probe"]: s for s in snapshot["shapes"]}
    assert set(shapes) == {"gpus:8", "mig:1g.10gb", "mig:3g.40gb"}
    used = snapshot["used"]
    assert 0 < sum(used) < sum(snapshot["accelerators"])
    empty_nodes = sum(
        1 for u, t in zip(used, snapshot["accelerators"], strict=True) if u == 0 and t == 8
    )
    assert shapes["gpus:8"]["fits"] == empty_nodes
    assert shapes["gpus:8"]["stranded"] == pytest.approx(snapshot["free"] - 8 * empty_nodes)
    assert shapes["mig:3g.40gb"]["fits"] == 2 * snapshot["free"]
    assert shapes["mig:1g.10gb"]["capped"]  # 7 per free GPU: more than the probe limit


def test_topology_sums_use_into_every_domain(snapshot: dict[str, Any]) -> None:
    """The root holds every accelerator and every one in use; racks hold 8 nodes' worth."""
    graph = topology_graph(snapshot)
    root = graph.nodes[("cluster", "")]
    assert root["total"] == sum(snapshot["accelerators"])
    assert root["used"] == pytest.approx(sum(snapshot["used"]))
    racks = [v for v in graph if v[0] == "topology.tessera.io/rack" and graph.nodes[v]["total"]]
    assert sorted(graph.nodes[v]["total"] for v in racks) == [32, 64, 64]  # 20 nodes / 8 per rack
    assert draw(snapshot).startswith(b"\x89PNG")
