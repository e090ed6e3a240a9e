"""DefaultPreemption in a kube-default-like profile on simulated 8-GPU nodes (64 cpu): the
preemptor evicts exactly the victims kube-scheduler would, binds on the nominated node when
retried, and (property) the profile's filters accept it there once the victims are gone."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scheduler.api.taints import Taint
from scheduler.cluster.whatif import without
from scheduler.framework.cycle_state import CycleState
from scheduler.framework.podinfo import PodInfo, pod_info
from scheduler.framework.profiles import Profile
from scheduler.framework.status import Code
from scheduler.plugins.defaultpreemption import DefaultPreemption
from scheduler.plugins.registry import build_framework
from tests.builders import FIT_FILTER_ONLY, RackEnv, gpu_claim_pod, gpu_rack_cluster

PREEMPTOR = 100


@dataclass(frozen=True)
class Running:
    """A pod bound on node ``node`` at time ``started`` (its start time for preemption)."""

    name: str
    node: int
    gpus: int
    priority: int
    started: float = 0.0
    cpu: str = "1"


class Env(RackEnv):
    """A simulated cluster and a framework running the kube-default-like profile."""

    @property
    def plugin(self) -> DefaultPreemption:
        """The profile's DefaultPreemption instance."""
        found = self.framework.points.post_filter[0]
        assert isinstance(found, DefaultPreemption)
        return found


def env(nodes: int = 3) -> Env:
    """``nodes`` nodes of 8 whole H100s; filters NodeUnschedulable, NodeResourcesFit,
    NodeAffinity, TaintToleration, DynamicResources (with ``devicePreemption``, so that GPU
    shortfalls are resolvable and DefaultPreemption's victim choice over devices is exercised;
    upstream 1.35 would not preempt for them at all); DefaultPreemption; DefaultBinder."""
    loaded, backend = gpu_rack_cluster(nodes, 3)
    names = (
        "NodeUnschedulable",
        "NodeResourcesFit",
        "NodeAffinity",
        "TaintToleration",
        "DynamicResources",
        "DefaultPreemption",
        "DefaultBinder",
    )
    profile = Profile.of(
        "kube-default",
        ["PrioritySort", *names],
        args={"DynamicResources": {"devicePreemption": True}},
        disabled=FIT_FILTER_ONLY,
        tie_break="first",
    )
    return Env(loaded.cache, backend, build_framework(profile, backend))


def start(e: Env, running: Sequence[Running]) -> None:
    """Bind every running pod on its node at its start time (the backend's clock)."""
    for r in sorted(running, key=lambda x: x.started):
        e.backend.clock = r.started
        pod = gpu_claim_pod(
            r.name, r.gpus, cpu=r.cpu, priority=r.priority, node=e.cache.node_names[r.node]
        )
        result = e.framework.schedule_one(pod_info(e.backend.create_pod(pod)))
        assert result.status.ok, (r, result.status)


def arrive(e: Env, gpus: int, *, cpu: str = "1", now: float = 1000.0) -> PodInfo:
    """Create the preemptor (priority 100) at ``now``."""
    e.backend.clock = now
    return pod_info(e.backend.create_pod(gpu_claim_pod("p", gpus, cpu=cpu, priority=PREEMPTOR)))


def taint(e: Env, node: int) -> None:
    """Taint node ``node`` NoSchedule (the preemptor does not tolerate it)."""
    name = e.cache.node_names[node]
    old = e.cache.nodes[name]
    spec = old.spec.model_copy(
        update={"taints": (Taint(key="maintenance", value="x", effect="NoSchedule"),)}
    )
    e.cache.add_node(old.model_copy(update={"spec": spec}))


@pytest.mark.parametrize(
    ("running", "gpus", "cpu", "tainted", "node", "evicted"),
    [
        pytest.param(
            # n0: a, b (-10); n1: c (-5); n2: d has p's priority (no victim).
            # highest victim: n0 -10 < n1 -5 -> n0, both a and b needed for 8 GPUs
            [
                Running("a", 0, 4, -10),
                Running("b", 0, 4, -10),
                Running("c", 1, 8, -5),
                Running("d", 2, 8, PREEMPTOR),
            ],
            8,
            "1",
            None,
            0,
            {"a", "b"},
            id="lowest highest-victim priority",
        ),
        pytest.param(
            # p wants 4 GPUs. n0 without a and b fits; reprieve a (-10) first: 4 GPUs free,
            # fits -> kept; b (-20): victim. n0's victim -20 < n1's -5 -> n0, only b
            [
                Running("a", 0, 4, -10),
                Running("b", 0, 4, -20, started=10.0),
                Running("c", 1, 8, -5),
                Running("d", 2, 8, 200),
            ],
            4,
            "1",
            None,
            0,
            {"b"},
            id="reprieve keeps the more important pod",
        ),
        pytest.param(
            # same priority, one victim each: the latest start wins (n1, started at 500)
            [
                Running("x", 0, 8, -10, started=100.0),
                Running("y", 1, 8, -10, started=500.0),
                Running("z", 2, 8, -10, started=300.0),
            ],
            8,
            "1",
            None,
            1,
            {"y"},
            id="latest start time of the highest-priority victims",
        ),
        pytest.param(
            # n0's victim would be cheapest, but n0 is tainted (unresolvable): never tried
            [
                Running("cheap", 0, 8, -20),
                Running("c", 1, 8, -5),
                Running("d", 2, 8, 200),
            ],
            8,
            "1",
            0,
            1,
            {"c"},
            id="unresolvable nodes are not candidates",
        ),
        pytest.param(
            # n0: big holds 60 cpu and 8 GPUs; p (8 cpu, 8 GPUs) fails NodeResourcesFit
            # there first. Without big both cpu and GPUs are free (the what-if frees its
            # claim's devices) -> big is the victim. n1, n2 hold priority-200 pods
            [
                Running("big", 0, 8, -10, cpu="60"),
                Running("h1", 1, 8, 200),
                Running("h2", 2, 8, 200),
            ],
            8,
            "8",
            None,
            0,
            {"big"},
            id="victim frees cpu and devices",
        ),
    ],
)
def test_preemptor_evicts_what_kube_scheduler_would(
    running: list[Running],
    gpus: int,
    cpu: str,
    tainted: int | None,
    node: int,
    evicted: set[str],
) -> None:
    """The hand-worked victims are evicted, their node nominated; the retry binds there."""
    e = env()
    start(e, running)
    if tainted is not None:
        taint(e, tainted)
    preemptor = arrive(e, gpus, cpu=cpu)
    result = e.framework.schedule_one(preemptor)
    assert result.status.code == Code.UNSCHEDULABLE
    nominated = e.cache.node_names[node]
    assert result.nominated == nominated
    assert {key.split("/")[1] for _, key, _ in e.backend.evictions} == evicted
    assert {key for _, key, _ in e.backend.evictions} == set(result.victims)
    assert all(
        reason == f"preempted by default/p on node {nominated}"
        for *_, reason in e.backend.evictions
    )
    retry = e.framework.schedule_one(preemptor)
    assert retry.status.ok, retry.status
    assert retry.node == nominated


def test_no_victims_when_every_pod_outranks_the_preemptor() -> None:
    """Every GPU held at priority 100 or 200: nothing is evicted, nothing nominated."""
    e = env()
    start(e, [Running("eq", 0, 8, PREEMPTOR), Running("hi", 1, 8, 200), Running("hi2", 2, 8, 200)])
    result = e.framework.schedule_one(arrive(e, 8))
    assert result.status.code == Code.UNSCHEDULABLE
    assert (result.nominated, result.victims, e.backend.evictions) == (None, (), [])


FILLS = ((8,), (4, 4), (4, 2, 2), (2, 4, 1), (4, 2), (1, 2, 4), (2, 2, 2, 2))
PRIORITIES = (-20, -10, -5, PREEMPTOR, 200)


@st.composite
def loads(draw: st.DrawFn) -> tuple[list[Running], int, list[bool]]:
    """3 nodes, each filled by one of FILLS (0-2 GPUs left free), random priorities (some
    not below the preemptor's) and start times; random cordons; a preemptor of 2, 4 or 8 GPUs."""
    running = [
        Running(
            f"n{node}p{k}",
            node,
            gpus,
            draw(st.sampled_from(PRIORITIES)),
            float(draw(st.integers(0, 3))),
        )
        for node in range(3)
        for k, gpus in enumerate(draw(st.sampled_from(FILLS)))
    ]
    cordons = draw(st.lists(st.booleans(), min_size=3, max_size=3))
    return running, draw(st.sampled_from([2, 4, 8])), cordons


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(loads())
def test_evicted_victims_make_room_and_are_all_lower_priority(
    case: tuple[list[Running], int, list[bool]],
) -> None:
    """Random loads: the victims are the nominated node's SelectVictimsOnNode answer, each of
    lower priority, none of which could have stayed on its own; once they are gone the
    profile's filters accept the preemptor on the nominated node."""
    running, gpus, cordons = case
    e = env()
    start(e, running)
    for i, cordoned in enumerate(cordons):
        old = e.cache.nodes[e.cache.node_names[i]]
        spec = old.spec.model_copy(update={"unschedulable": cordoned})
        e.cache.add_node(old.model_copy(update={"spec": spec}))
    preemptor = arrive(e, gpus)
    snapshot = e.cache.snapshot()
    feasible, diagnosis = e.framework.find_feasible(CycleState(), preemptor, snapshot)
    if len(feasible):
        return  # it fits without preemption
    # before anything is evicted: each potential node's victims, each one indispensable
    chosen: dict[str, set[str]] = {}
    for i in diagnosis.might_help(snapshot.size).tolist():
        victims, status = e.plugin.select_victims(preemptor, snapshot, i, 1000.0)
        if not status.ok:
            continue
        keys = {v.key for v in victims}
        chosen[snapshot.node_names[i]] = keys
        for key in keys:
            kept = without(snapshot, keys - {key})
            assert not e.plugin.fits(preemptor, kept, i).ok, (key, "could have stayed")
    result = e.framework.schedule_one(preemptor)
    evicted = {key for _, key, _ in e.backend.evictions}
    if not chosen:
        assert evicted == set() and result.nominated is None
        return
    assert result.nominated in chosen
    assert evicted == chosen[result.nominated] == set(result.victims)
    priorities = {f"default/{r.name}": r.priority for r in running}
    assert all(priorities[key] < PREEMPTOR for key in evicted)
    node = np.array([e.cache.node_index[result.nominated]], dtype=np.intp)
    fits, why = e.framework.find_feasible(CycleState(), preemptor, e.cache.snapshot(), node)
    assert len(fits) == 1, why.message(1)
