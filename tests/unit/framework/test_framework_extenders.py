"""The framework consulting kube-scheduler's extenders (a recording fake of the
SchedulerExtenders protocol): filter statuses in the FitError, an extender error aborting the
attempt, extender scores added to the in-tree totals, no prioritize with one feasible node,
and the binding cycle — PreBind first, then the extender's bind, SKIP falling through to the
Bind plugins, a failure unreserving."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from scheduler.cluster.snapshot import Snapshot
from scheduler.framework.cycle_state import CycleState
from scheduler.framework.extenders import ExtenderFilterResult, PreemptionVictims
from scheduler.framework.podinfo import PodInfo
from scheduler.framework.profiles import Profile
from scheduler.framework.runtime import Framework
from scheduler.framework.status import Code, Status
from scheduler.plugins.defaultbinder import DefaultBinder
from tests.builders import FakeBackend, FakeHandle, info, make_handle, make_node, make_pod

NodeIds = npt.NDArray[np.intp]


@dataclass
class FakeExtenders:
    """Scripted extenders: keep ``keep`` (names) with ``statuses``, add ``scores``, answer
    ``bind_status``; every call is logged."""

    keep: list[str] | None = None
    statuses: dict[str, Status] = field(default_factory=dict)
    scores: dict[str, int] = field(default_factory=dict)
    filter_error: str = ""
    bind_status: Status = field(default_factory=Status.success)
    binder: bool = True
    log: list[str] = field(default_factory=list)

    configured = True
    has_filters = True
    has_prioritizers = True

    def filter(
        self, pod: PodInfo, snapshot: Snapshot, nodes: NodeIds
    ) -> tuple[ExtenderFilterResult, Status]:
        self.log.append("filter")
        if self.filter_error:
            return ExtenderFilterResult(nodes[:0]), Status.error(self.filter_error)
        names = [snapshot.node_names[i] for i in nodes]
        kept = [snapshot.node_index[n] for n in names if self.keep is None or n in self.keep]
        statuses = {snapshot.node_index[n]: s for n, s in self.statuses.items()}
        return (
            ExtenderFilterResult(np.asarray(kept, dtype=np.intp), statuses, len(kept) < len(nodes)),
            Status.success(),
        )

    def prioritize(self, pod: PodInfo, snapshot: Snapshot, nodes: NodeIds) -> Any:
        self.log.append("prioritize")
        return np.array([self.scores.get(snapshot.node_names[i], 0) for i in nodes], np.int64)

    def preempt(
        self, pod: PodInfo, snapshot: Snapshot, candidates: Mapping[str, PreemptionVictims]
    ) -> tuple[dict[str, PreemptionVictims], Status]:
        self.log.append("preempt")
        return dict(candidates), Status.success()

    def binds(self, pod: PodInfo) -> bool:
        return self.binder

    def bind(self, pod: PodInfo, node: str) -> Status:
        self.log.append(f"bind {node}")
        return self.bind_status


class Prefers:
    """Score: ``points`` for node n0, 0 elsewhere (normalized as given)."""

    name = "Prefers"

    def __init__(self, points: int) -> None:
        self.points = points

    def score(self, state: CycleState, pod: PodInfo, snapshot: Snapshot, nodes: Any) -> Any:
        return np.array([self.points if i == 0 else 0 for i in nodes], dtype=np.int64)

    def normalize(self, state: CycleState, pod: PodInfo, scores: Any) -> Any:
        return scores


class LogPreBind:
    name = "LogPreBind"

    def __init__(self, log: list[str]) -> None:
        self.log = log

    def pre_bind(self, state: CycleState, pod: PodInfo, node: str) -> Status:
        self.log.append(f"prebind {node}")
        return Status.success()


def framework(handle: FakeHandle, extenders: FakeExtenders, *plugins: Any) -> Framework:
    chosen = [*plugins, DefaultBinder({}, handle)]
    prof = Profile.of("kube", [p.name for p in chosen], tie_break="first")
    return Framework(prof, chosen, handle, extenders=extenders)


def handle_of(count: int = 3) -> FakeHandle:
    return make_handle([make_node(f"n{i}") for i in range(count)])


def schedule(fw: Framework, handle: FakeHandle) -> Any:
    pod = make_pod("p", cpu="1", memory="1Gi")
    handle.cache.add_pod(pod)
    return fw.schedule_one(info(pod))


def backend(handle: FakeHandle) -> FakeBackend:
    found = handle.cluster
    assert isinstance(found, FakeBackend)
    return found


def test_extender_statuses_make_the_fit_error() -> None:
    handle = handle_of()
    ext = FakeExtenders(
        keep=[],
        statuses={
            "n0": Status.unschedulable("busy"),
            "n1": Status.unresolvable("wrong rack"),
            "n2": Status.unresolvable("wrong rack"),
        },
    )
    result = schedule(framework(handle, ext), handle)
    assert result.status.code == Code.UNSCHEDULABLE
    assert result.status.message() == "0/3 nodes are available: 1 busy, 2 wrong rack."
    assert result.diagnosis.might_help(3).tolist() == [0]


def test_an_extender_error_aborts_the_attempt() -> None:
    handle = handle_of()
    ext = FakeExtenders(filter_error="extender down")
    result = schedule(framework(handle, ext), handle)
    assert result.status.code == Code.ERROR
    assert result.status.message() == "extender down"
    assert result.status.plugin == "Extender"
    assert ext.log == ["filter"]


def test_extender_scores_are_added_to_the_in_tree_totals() -> None:
    """In-tree, n0 leads by 50; the extender's 60 for n1 overtakes it, 40 does not."""
    for extra, winner in ((60, "n1"), (40, "n0")):
        handle = handle_of()
        ext = FakeExtenders(scores={"n1": extra})
        result = schedule(framework(handle, ext, Prefers(50)), handle)
        assert result.node == winner
        assert ext.log == ["filter", "prioritize", f"bind {winner}"]


def test_one_feasible_node_is_not_prioritized() -> None:
    handle = handle_of()
    ext = FakeExtenders(keep=["n2"])
    result = schedule(framework(handle, ext, Prefers(50)), handle)
    assert result.node == "n2"
    assert ext.log == ["filter", "bind n2"]


def test_prebind_runs_before_the_extender_bind_and_the_binder_is_not_called() -> None:
    handle = handle_of()
    ext = FakeExtenders(keep=["n1"])
    result = schedule(framework(handle, ext, LogPreBind(ext.log)), handle)
    assert result.status.ok and result.node == "n1"
    assert ext.log == ["filter", "prebind n1", "bind n1"]
    assert backend(handle).binds == []  # DefaultBinder did not bind
    record = handle.cache.pods["default/p"]
    assert record.node == "n1" and not record.assumed


def test_skip_falls_through_to_the_bind_plugins() -> None:
    handle = handle_of()
    ext = FakeExtenders(keep=["n1"], bind_status=Status.skip())
    result = schedule(framework(handle, ext), handle)
    assert result.status.ok
    assert backend(handle).binds == [("default/p", "n1")]


def test_a_failed_extender_bind_unreserves() -> None:
    handle = handle_of()
    ext = FakeExtenders(keep=["n1"], bind_status=Status.error("hold expired"))
    result = schedule(framework(handle, ext), handle)
    assert result.status.code == Code.ERROR and result.status.message() == "hold expired"
    assert handle.cache.pods["default/p"].node is None
    assert backend(handle).binds == []


def test_deferred_binding_finishes_with_the_extender_outcome() -> None:
    """``bind=False`` stops after Permit; pre_bind, extender_bind and finish_bind complete
    the binding cycle later (what the replay does with binds in flight)."""
    handle = handle_of()
    ext = FakeExtenders(keep=["n0"])
    fw = framework(handle, ext)
    pod = make_pod("p", cpu="1", memory="1Gi")
    handle.cache.add_pod(pod)
    result = fw.schedule_one(info(pod), bind=False)
    binding = result.binding
    assert binding is not None and binding.node == "n0"
    assert handle.cache.pods["default/p"].assumed
    assert fw.pre_bind(binding.state, binding.pod, binding.node).ok
    outcome = fw.extender_bind(binding.pod, binding.node)
    assert fw.finish_bind(binding.state, binding.pod, binding.node, outcome).ok
    assert not handle.cache.pods["default/p"].assumed
