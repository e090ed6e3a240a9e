"""Hypothesis properties of the gang cycle on random small clusters (racks of simulated 8-GPU
nodes, whole GPUs or dynamic MIG) and random gangs: after every gang cycle each gang is all
or nothing, no node is over-committed (cpu, memory, pods, devices, counters), required and
exclusive rack constraints hold, the solver's answer passes the validator, and the same
inputs give the same plans twice."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from unittest import mock

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scheduler.api.loaders import load_object
from scheduler.api.pod import Pod
from scheduler.cluster.cache import ClusterCache
from scheduler.framework.gang_cycle import GangCycle
from scheduler.framework.podinfo import pod_info
from scheduler.framework.profiles import Profile
from scheduler.plugins.registry import build_framework
from scheduler.solver import solve as solver_solve
from scheduler.solver.instance import GangInstance, GangSolution
from scheduler.solver.validate import validate_gang
from simulator.backend import SimulatedCluster
from simulator.clusters import cluster_from_spec
from simulator.drivers.spec import parse_cluster_spec
from tests.builders import FIT_FILTER_ONLY, claim_pod

RACK = "topology.tessera.io/rack"
LWS = "leaderworkerset.sigs.k8s.io/"
PROFILE = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
KINDS = ("plain", "rack", "lws-exclusive", "lws-reserved")


@dataclass(frozen=True)
class GangDraw:
    """One random gang: its convention, size and per-member demand."""

    kind: str
    size: int
    devices: int
    mig: bool
    cpu: int


@dataclass(frozen=True)
class Scenario:
    """A random cluster, its pre-existing load and the gangs to place in order."""

    racks: int
    per_rack: int
    dynamic_mig: bool
    load: tuple[tuple[int, int], ...]
    gangs: tuple[GangDraw, ...]


@st.composite
def scenarios(draw: st.DrawFn) -> Scenario:
    """2-3 racks of 2-3 nodes (64 cpu, 8 GPUs, whole or dynamic MIG), up to 4 pinned busy
    pods, and 1-3 gangs of 1-4 members asking 1-8 GPUs (or 1-4 MIG 1g.10gb slices)."""
    racks = draw(st.integers(2, 3))
    per_rack = draw(st.integers(2, 3))
    nodes = racks * per_rack
    dynamic_mig = draw(st.booleans())
    load = tuple(
        draw(
            st.lists(
                st.tuples(st.integers(0, nodes - 1), st.sampled_from([1, 2, 4, 8])), max_size=4
            )
        )
    )
    gangs = []
    for _ in range(draw(st.integers(1, 3))):
        mig = dynamic_mig and draw(st.booleans())
        gangs.append(
            GangDraw(
                kind=draw(st.sampled_from(KINDS)),
                size=draw(st.integers(1, 4)),
                devices=draw(st.sampled_from([1, 2, 4] if mig else [1, 2, 4, 8])),
                mig=mig,
                cpu=draw(st.sampled_from([4, 16, 40])),
            )
        )
    return Scenario(racks, per_rack, dynamic_mig, load, tuple(gangs))


def _template(name: str, cls: str, count: int, selector: str | None) -> Any:
    request: dict[str, Any] = {
        "deviceClassName": cls,
        "allocationMode": "ExactCount",
        "count": count,
    }
    if selector:
        request["selectors"] = [{"cel": {"expression": selector}}]
    return load_object(
        {
            "apiVersion": "resource.k8s.io/v1",
            "kind": "ResourceClaimTemplate",
            "metadata": {"name": name, "namespace": "default"},
            "spec": {"spec": {"devices": {"requests": [{"name": "dev", "exactly": request}]}}},
        }
    )


def _pod(
    name: str,
    template: str,
    cpu: int,
    *,
    labels: dict[str, str] | None = None,
    annotations: dict[str, str] | None = None,
    node: str | None = None,
) -> Pod:
    return claim_pod(
        name,
        template,
        requests={"cpu": str(cpu), "memory": "8Gi"},
        claim="dev",
        node=node,
        labels=labels,
        annotations=annotations,
    )


def _members(index: int, draw: GangDraw) -> list[Pod]:
    """The pods of gang ``index`` under its convention."""
    template = f"mig-{draw.devices}" if draw.mig else f"gpu-{draw.devices}"
    name = f"g{index}"
    if draw.kind in ("plain", "rack"):
        notes = {"tessera.io/gang": name, "tessera.io/gang-size": str(draw.size)}
        if draw.kind == "rack":
            notes["tessera.io/topology-required"] = RACK
        return [
            _pod(f"{name}-{i}", template, draw.cpu, annotations=notes) for i in range(draw.size)
        ]
    notes = {LWS + "size": str(draw.size), LWS + "exclusive-topology": RACK}
    pods = []
    for w in range(draw.size):
        labels = {
            LWS + "name": name,
            LWS + "group-key": f"key-{name}",
            LWS + "worker-index": str(w),
        }
        pod_name = name if w == 0 else f"{name}-{w}"
        pods.append(_pod(pod_name, template, draw.cpu, labels=labels, annotations=notes))
    return pods


@dataclass
class Run:
    """What one replay of a scenario produced, for the determinism check."""

    outcomes: list[tuple[str, tuple[tuple[str, str], ...]]] = field(default_factory=list)
    solved: int = 0


def _check_no_overcommit(cache: ClusterCache) -> None:
    """Recomputed from the pods: cpu, memory and pod count within allocatable; no device held
    exclusively twice; every counter set's consumption within its totals."""
    used: dict[str, Counter[str]] = {}
    for record in cache.pods.values():
        if record.node is None:
            continue
        per = used.setdefault(record.node, Counter())
        per.update({k: v for k, v in record.requests.items() if k in ("cpu", "memory")})
        per["pods"] += 1
    for node, per in used.items():
        i = cache.node_index[node]
        for resource, amount in per.items():
            cap = int(cache.allocatable[i, cache.resources.index(resource)])
            assert amount <= cap, f"{node}: {resource} {amount} > {cap}"
    holders: Counter[tuple[str, str, str]] = Counter()
    for record in cache.claims.values():
        holders.update(r.device_id for r in record.results if r.share_id is None)
    twice = [d for d, n in holders.items() if n > 1]
    assert not twice, f"devices held twice: {twice}"
    for device, held in cache.devices.allocations.items():
        assert sum(1 for a in held if not a.shared) <= 1, device
    snapshot = cache.snapshot()
    for i in range(snapshot.size):
        for pool in snapshot.node_pools(i):
            consumed: dict[tuple[str, str], int] = {}
            for s, d in pool.devices_in_order():
                if not snapshot.is_allocated((s.driver, s.pool, d.name)):
                    continue
                for counter_set, counters in d.consumes:
                    for counter, amount in counters.items():
                        key = (counter_set, counter)
                        consumed[key] = consumed.get(key, 0) + int(amount)
            for (counter_set, counter), amount in consumed.items():
                total = int(pool.counter_sets[counter_set][counter])
                assert amount <= total, f"{snapshot.node_names[i]}: {counter_set}/{counter}"


def _solve_and_validate(real: Callable[..., GangSolution], run: Run) -> Callable[..., GangSolution]:
    """Wrap the solver entry point so every answer is checked by the plain validator."""

    def wrapped(instance: GangInstance, *args: Any, **kwargs: Any) -> GangSolution:
        solution = real(instance, *args, **kwargs)
        assert validate_gang(instance, solution) == []
        run.solved += 1
        return solution

    return wrapped


def replay(scenario: Scenario) -> Run:
    """Build the cluster, add the load, place every gang, checking the invariants after each
    gang cycle."""
    spec = parse_cluster_spec(
        {
            "apiVersion": "tessera.io/v1alpha1",
            "kind": "ClusterSpec",
            "metadata": {"name": "prop"},
            "featureGates": {"DRAPartitionableDevices": True},
            "nodePools": [
                {
                    "name": "gpu",
                    "count": scenario.racks * scenario.per_rack,
                    "node": {"cpu": "64", "memory": "512Gi"},
                    "accelerator": {
                        "kind": "nvidia",
                        "model": "H100-80GB",
                        "count": 8,
                        "mig": {"mode": "dynamic" if scenario.dynamic_mig else "none"},
                    },
                    "placement": {
                        "zone": "z",
                        "nodesPerRack": scenario.per_rack,
                        "racksPerBlock": 4,
                    },
                }
            ],
        }
    )
    loaded = cluster_from_spec(spec)
    cache = loaded.cache
    backend = SimulatedCluster(cache)
    for count in (1, 2, 4, 8):
        backend.add_template(_template(f"gpu-{count}", "gpu.nvidia.com", count, None))
        backend.add_template(
            _template(
                f"mig-{count}",
                "mig.nvidia.com",
                count,
                "device.attributes['gpu.nvidia.com'].profile == '1g.10gb'",
            )
        )
    profile = Profile.of(
        "prop",
        [
            "PrioritySort",
            "NodeResourcesFit",
            "NodeAffinity",
            "DynamicResources",
            "GangTopology",
            "DefaultBinder",
        ],
        args={"GangTopology": {"levels": list(loaded.levels), "solver": {"mode": "offline"}}},
        disabled=FIT_FILTER_ONLY,
        tie_break="first",
    )
    framework = build_framework(profile, backend)
    for n, (node, gpus) in enumerate(scenario.load):
        pod = pod_info(
            backend.create_pod(_pod(f"busy-{n}", f"gpu-{gpus}", 4, node=cache.node_names[node]))
        )
        framework.schedule_one(pod)
    run = Run()
    exclusive_racks: dict[str, set[str]] = {}
    with mock.patch.object(
        solver_solve,
        "solve_gang_verified",
        _solve_and_validate(solver_solve.solve_gang_verified, run),
    ):
        for index, draw in enumerate(scenario.gangs):
            pods = _members(index, draw)
            created = 1 if draw.kind == "lws-reserved" else len(pods)
            members = [pod_info(backend.create_pod(p)) for p in pods[:created]]
            members += [pod_info(p) for p in pods[created:]]
            result = GangCycle(framework).run(members, {m.key for m in members[:created]})
            keys = [m.key for m in members]
            placed = {k: cache.pods[k].node for k in keys if k in cache.pods}
            on_node = [k for k in keys if placed.get(k) is not None]
            # all or nothing, and the result says which
            if result.status.ok:
                assert on_node == keys
                assert {k: placed[k] for k in keys} == result.assignments
                assert sorted(result.bound + result.reserved) == sorted(keys)
            else:
                assert on_node == [], (result.status, on_node)
                assert all(
                    cache.claims[f"{k}-dev"].results == []
                    for k in keys
                    if f"{k}-dev" in cache.claims
                )
            _check_no_overcommit(cache)
            racks = {cache.nodes[n].metadata.labels[RACK] for n in result.assignments.values()}
            if result.status.ok and draw.kind != "plain":
                assert len(racks) == 1, (draw, racks)
            if result.status.ok and draw.kind.startswith("lws"):
                for other, used in exclusive_racks.items():
                    assert not (used & racks), f"g{index} shares {used & racks} with {other}"
                exclusive_racks[f"g{index}"] = racks
            run.outcomes.append(
                (result.status.message(), tuple(sorted(result.assignments.items())))
            )
    return run


@PROFILE
@given(scenarios())
def test_gang_cycles_are_all_or_nothing_valid_and_deterministic(scenario: Scenario) -> None:
    """Gang cycles on random clusters keep every invariant and repeat exactly."""
    first = replay(scenario)
    second = replay(scenario)
    assert first.outcomes == second.outcomes
    assert first.solved == second.solved
