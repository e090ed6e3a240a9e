"""GangCycle on a small multi-rack cluster of simulated 8-GPU nodes: all-or-nothing, LWS
workers reserved before they exist and bound on arrival, rack-required and exclusive
placement, the infeasible reason, and rollback when a member's reservation fails."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from scheduler.api.pod import Pod
from scheduler.framework.backend import BackendHandle
from scheduler.framework.cycle_state import CycleState
from scheduler.framework.gang_cycle import GangCycle, GangResult
from scheduler.framework.interfaces import Plugin
from scheduler.framework.podinfo import PodInfo, pod_info
from scheduler.framework.profiles import Profile
from scheduler.framework.runtime import Framework
from scheduler.framework.status import Code, Status
from scheduler.plugins.defaultbinder import DefaultBinder
from scheduler.plugins.registry import REGISTRY, PluginFactory, build_plugins
from simulator.backend import SimulatedCluster
from tests.builders import FIT_FILTER_ONLY, gpu_claim_pod, gpu_rack_cluster
from tests.builders import RackEnv as Env

RACK = "topology.tessera.io/rack"
LWS = "leaderworkerset.sigs.k8s.io/"


class FailingBackend(SimulatedCluster):
    """A SimulatedCluster whose bind / claim write fails for chosen pods."""

    fail_bind_for: frozenset[str] = frozenset()
    fail_write_for: frozenset[str] = frozenset()

    def bind(self, pod_key: str, node: str) -> None:
        """Raise for pods in ``fail_bind_for``."""
        if pod_key in self.fail_bind_for:
            raise RuntimeError("409 conflict")
        super().bind(pod_key, node)

    def write_allocation(self, claim_key: str, allocation: Any, pod_key: str) -> None:
        """Raise for pods in ``fail_write_for``."""
        if pod_key in self.fail_write_for:
            raise RuntimeError("etcd timeout")
        super().write_allocation(claim_key, allocation, pod_key)


def env(
    racks: int = 3,
    per_rack: int = 3,
    *,
    backend: type[SimulatedCluster] = SimulatedCluster,
    extra: Sequence[Plugin] = (),
) -> Env:
    """Build the cluster, register GPU templates and the framework (tie-break first)."""
    loaded, sim = gpu_rack_cluster(racks * per_rack, per_rack, backend=backend)
    names = ["NodeResourcesFit", "NodeAffinity", "DynamicResources", "GangTopology"]
    profile = Profile.of(
        "gangs",
        [*(p.name for p in extra), *names, "DefaultBinder"],
        args={"GangTopology": {"levels": list(loaded.levels), "solver": {"mode": "offline"}}},
        disabled=FIT_FILTER_ONLY,
        tie_break="first",
    )
    handle = BackendHandle(sim)
    registry = {**REGISTRY, **{p.name: _returns(p) for p in extra}}
    plugins = build_plugins(profile, handle, registry)
    return Env(loaded.cache, sim, Framework(profile, plugins, handle))


def _returns(plugin: Plugin) -> PluginFactory:
    """A factory handing out ``plugin`` (a test double registered beside the built-ins)."""
    return lambda args, handle: plugin


def gpu_pod(
    name: str,
    gpus: int = 8,
    *,
    cpu: str = "8",
    labels: Mapping[str, str] | None = None,
    annotations: Mapping[str, str] | None = None,
    node_name: str | None = None,
) -> Pod:
    """An 8-cpu pod asking for ``gpus`` whole GPUs through a template claim."""
    return gpu_claim_pod(
        name, gpus, cpu=cpu, node=node_name, labels=labels, annotations=annotations
    )


def tessera_gang(name: str, size: int, gpus: int = 8, required: str | None = RACK) -> list[Pod]:
    """``size`` pods of a tessera.io/gang, optionally rack-required."""
    notes = {"tessera.io/gang": name, "tessera.io/gang-size": str(size)}
    if required:
        notes["tessera.io/topology-required"] = required
    return [gpu_pod(f"{name}-{i}", gpus, annotations=notes) for i in range(size)]


def lws_group(name: str, size: int, gpus: int = 8, exclusive: bool = True) -> list[Pod]:
    """Leader ``<name>`` and workers ``<name>-<w>`` of one LWS group."""
    notes = {LWS + "size": str(size)}
    if exclusive:
        notes[LWS + "exclusive-topology"] = RACK
    pods = []
    for w in range(size):
        labels = {
            LWS + "name": name,
            LWS + "group-key": f"key-{name}",
            LWS + "worker-index": str(w),
        }
        pods.append(
            gpu_pod(name if w == 0 else f"{name}-{w}", gpus, labels=labels, annotations=notes)
        )
    return pods


def occupy(e: Env, node: str, gpus: int, name: str) -> None:
    """Run a lone pod pinned to ``node`` holding ``gpus`` GPUs."""
    pod = e.create(gpu_pod(name, gpus, node_name=node))
    result = e.framework.schedule_one(pod)
    assert result.status.ok and result.node == node, result.status


def schedule(e: Env, pods: Sequence[Pod], created: int | None = None) -> GangResult:
    """Create the first ``created`` pods (all by default) and run one gang cycle."""
    count = len(pods) if created is None else created
    members = [e.create(p) for p in pods[:count]] + [pod_info(p) for p in pods[count:]]
    return GangCycle(e.framework).run(members, {m.key for m in members[:count]})


def test_gang_is_placed_and_bound_whole_in_one_rack() -> None:
    """A rack-required gang of 3 x 8 GPUs is bound whole, in one rack named by the plan."""
    e = env()
    result = schedule(e, tessera_gang("g", 3))
    assert result.status.ok, result.status
    assert sorted(result.bound) == ["default/g-0", "default/g-1", "default/g-2"]
    assert result.reserved == []
    racks = {e.rack(node) for node in result.assignments.values()}
    assert len(racks) == 1
    assert result.plan is not None and result.plan.domain is not None
    assert result.plan.domain.endswith(racks.pop())
    for key, node in result.assignments.items():
        record = e.cache.pods[key]
        assert (record.node, record.assumed) == (node, False)
    assert sum(e.held_claims().values()) == 24


def test_rack_required_gang_goes_where_the_whole_gang_fits() -> None:
    """Racks r000 and r001 each have a busy node; only rack r002 can hold 3 x 8 GPUs."""
    e = env()
    occupy(e, "gpu-0001", 4, "busy-a")
    occupy(e, "gpu-0004", 1, "busy-b")
    result = schedule(e, tessera_gang("g", 3))
    assert result.status.ok, result.status
    assert {e.rack(n) for n in result.assignments.values()} == {"r002"}


def test_gang_that_cannot_fit_leaves_nothing_assumed_and_names_level_and_shortfall() -> None:
    """An unfittable gang holds nothing, and the reason names the level and the shortfall."""
    # 4 x 8 GPUs rack-required on racks of 3 nodes: room for 3 of 4, short by 8 GPUs
    e = env()
    free_before = e.cache.snapshot().free.copy()
    result = schedule(e, tessera_gang("big", 4))
    assert result.status.code == Code.UNSCHEDULABLE
    assert result.status.plugin == "GangTopology"
    message = result.status.message()
    assert "rack" in message and "3 of 4 pods" in message and "short by 8" in message
    assert all(e.cache.pods[f"default/big-{i}"].node is None for i in range(4))
    assert e.held_claims() == {}
    assert (e.cache.snapshot().free == free_before).all()
    assert e.cache.devices.allocations == {}


def test_infeasible_lws_group_discards_workers_not_yet_created() -> None:
    """An infeasible LWS group leaves no worker pod, prepared claim or device behind."""
    e = env()
    result = schedule(e, lws_group("big", 4), created=1)
    assert result.status.code == Code.UNSCHEDULABLE
    assert sorted(e.cache.pods) == ["default/big"]
    assert e.cache.pods["default/big"].node is None
    assert sorted(e.cache.claims) == ["default/big-gpu"]
    assert e.held_claims() == {}


def test_lws_workers_are_reserved_under_their_future_names_and_bound_on_arrival() -> None:
    """LWS workers are reserved before they exist and bind_reserved binds them on arrival."""
    e = env()
    group = lws_group("llama", 3)
    result = schedule(e, group, created=1)
    assert result.status.ok, result.status
    assert result.bound == ["default/llama"]
    assert result.reserved == ["default/llama-1", "default/llama-2"]
    assert len({e.rack(n) for n in result.assignments.values()}) == 1
    for key in result.reserved:
        record = e.cache.pods[key]
        assert (record.node, record.assumed) == (result.assignments[key], True)
        claim = e.cache.claims[f"{key}-gpu"]
        assert (len(claim.results), claim.assumed) == (8, True)
    arrived = e.create(group[1])
    status = e.framework.bind_reserved(arrived)
    assert status.ok, status
    record = e.cache.pods["default/llama-1"]
    assert (record.node, record.assumed) == (result.assignments["default/llama-1"], False)
    claim = e.cache.claims["default/llama-1-gpu"]
    assert not claim.assumed and claim.claim.status.allocation is not None
    assert [r.name for r in claim.claim.status.reserved_for] == ["llama-1"]


def test_exclusive_gangs_avoid_racks_used_by_another_exclusive_gang() -> None:
    """Exclusive LWS groups never share a rack; a fourth finds none left."""
    # each group is 2 x 8 GPUs on racks of 3 nodes, so one rack could hold both
    e = env()
    racks = []
    for name in ("a", "b", "c"):
        result = schedule(e, lws_group(name, 2))
        assert result.status.ok, (name, result.status)
        used = {e.rack(n) for n in result.assignments.values()}
        assert len(used) == 1
        racks.append(used.pop())
    assert len(set(racks)) == 3
    fourth = schedule(e, lws_group("d", 2))
    assert fourth.status.code == Code.UNSCHEDULABLE
    assert e.cache.pods["default/d"].node is None


def test_non_exclusive_gang_may_share_a_rack_with_an_exclusive_one() -> None:
    """A plain gang may use free room in an exclusive gang's rack."""
    e = env(racks=2, per_rack=3)
    first = schedule(e, lws_group("a", 2))
    assert first.status.ok
    taken = {e.rack(n) for n in first.assignments.values()}.pop()
    other = "r001" if taken == "r000" else "r000"
    # fill the other rack completely
    for i, node in enumerate(n for n in e.cache.node_names if e.rack(n) == other):
        occupy(e, node, 8, f"fill-{i}")
    plain = schedule(e, tessera_gang("p", 1))
    assert plain.status.ok, plain.status
    assert {e.rack(n) for n in plain.assignments.values()} == {taken}


class FailReserveFor:
    """A Reserve plugin that fails for one pod (a member's reservation lost a race)."""

    name = "FailReserveFor"

    def __init__(self, victim: str) -> None:
        self.victim = victim
        self.unreserved: list[str] = []

    def reserve(self, state: CycleState, pod: PodInfo, node: str) -> Status:
        """Fail for the victim pod only."""
        return Status.unschedulable("lost the race") if pod.key == self.victim else Status()

    def unreserve(self, state: CycleState, pod: PodInfo, node: str) -> None:
        """Record the call."""
        self.unreserved.append(pod.key)


def test_member_reservation_failure_rolls_back_every_member() -> None:
    """One member's Reserve failure rolls back every member and the prepared workers."""
    failing = FailReserveFor("default/llama-2")
    e = env(extra=[failing])
    result = schedule(e, lws_group("llama", 3), created=1)
    assert result.status.code == Code.UNSCHEDULABLE
    assert result.status.plugin == "FailReserveFor"
    assert sorted(set(failing.unreserved)) == [
        "default/llama",
        "default/llama-1",
        "default/llama-2",
    ]
    assert sorted(e.cache.pods) == ["default/llama"]
    assert e.cache.pods["default/llama"].node is None
    assert e.held_claims() == {}
    assert "default/llama-1-gpu" not in e.cache.claims


def test_member_that_fits_nowhere_alone_fails_fast() -> None:
    """A member asking for more GPUs than any node has: the gang is rejected naming it."""
    e = env()
    notes = {"tessera.io/gang": "odd", "tessera.io/gang-size": "2"}
    pods = [
        gpu_pod("odd-0", 8, annotations=notes),
        gpu_pod("odd-1", 8, cpu="65", annotations=notes),
    ]
    result = schedule(e, pods)
    assert result.status.code == Code.UNSCHEDULABLE
    assert "default/odd-1 fit no node on their own" in result.status.message()
    assert e.held_claims() == {}


def test_profile_without_gang_placement_is_an_error() -> None:
    """schedule_gang on a profile with no GangPlacement plugin returns ERROR."""
    e = env()
    handle = e.framework.handle
    bare = Framework(Profile.of("bare", ["DefaultBinder"]), [DefaultBinder({}, handle)], handle)
    members = [e.create(p) for p in tessera_gang("g", 2)]
    result = GangCycle(bare).run(members, {m.key for m in members})
    assert result.status.code == Code.ERROR
    assert "no GangPlacement plugin" in result.status.message()


def test_bind_failure_mid_gang_leaves_no_member_half_reserved() -> None:
    """A Bind failure mid-gang leaves each member bound (and reported) or released."""
    e = env(backend=FailingBackend)
    assert isinstance(e.backend, FailingBackend)
    e.backend.fail_bind_for = frozenset({"default/g-1"})
    result = schedule(e, tessera_gang("g", 3))
    assert not result.status.ok
    for i in range(3):
        record = e.cache.pods[f"default/g-{i}"]
        assert not record.assumed, f"default/g-{i} left assumed on {record.node}"
        assert (record.node is not None) == (f"default/g-{i}" in result.bound)


def test_bind_reserved_failure_releases_the_reserved_devices() -> None:
    """A failed bind_reserved releases the member's reserved GPUs with the pod."""
    e = env(backend=FailingBackend)
    assert isinstance(e.backend, FailingBackend)
    group = lws_group("llama", 2)
    result = schedule(e, group, created=1)
    assert result.status.ok
    e.backend.fail_write_for = frozenset({"default/llama-1"})
    status = e.framework.bind_reserved(e.create(group[1]))
    assert status.code == Code.ERROR
    assert e.cache.pods["default/llama-1"].node is None
    assert e.held_claims().get("default/llama-1-gpu", 0) == 0
