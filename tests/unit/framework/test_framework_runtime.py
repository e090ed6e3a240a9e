"""The framework runtime on tiny clusters with recording fake plugins: extension-point order,
status attribution, Filter narrowing and the diagnosis sentence, scoring, tie-breaks, and the
Reserve / Permit / PreBind / Bind failure paths."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

from scheduler.cluster.snapshot import Snapshot
from scheduler.framework.cycle_state import CycleState
from scheduler.framework.interfaces import (
    FilterResult,
    Plugin,
    PostFilterResult,
    PreFilterResult,
)
from scheduler.framework.podinfo import PodInfo
from scheduler.framework.profiles import Profile
from scheduler.framework.runtime import PLUGIN_METRICS_SAMPLE_EVERY, Framework, ScheduleResult
from scheduler.framework.status import Code, Status
from scheduler.plugins.defaultbinder import DefaultBinder
from tests.builders import FakeHandle, info, make_handle, make_node, make_pod

Log = list[tuple[str, str]]
NODES = ("n0", "n1", "n2", "n3")

_METHOD_POINT = {
    "pre_enqueue": "PreEnqueue",
    "less": "QueueSort",
    "pre_filter": "PreFilter",
    "filter": "Filter",
    "post_filter": "PostFilter",
    "pre_score": "PreScore",
    "score": "Score",
    "normalize": "Normalize",
    "reserve": "Reserve",
    "unreserve": "Unreserve",
    "permit": "Permit",
    "pre_bind": "PreBind",
    "bind": "Bind",
}


def fake(name: str, log: Log, **methods: Callable[..., Any]) -> Plugin:
    """A plugin named ``name`` with exactly the given extension-point methods; every call
    is appended to ``log`` as ``(point, name)`` before the behaviour runs."""

    def wrap(method: str, behaviour: Callable[..., Any]) -> Callable[..., Any]:
        def call(self: object, *args: Any) -> Any:
            log.append((_METHOD_POINT[method], name))
            return behaviour(*args)

        return call

    attrs: dict[str, Any] = {"name": name}
    attrs.update({m: wrap(m, b) for m, b in methods.items()})
    plugin: Plugin = type(f"Fake{name}", (), attrs)()
    return plugin


def ok_prefilter(*_: Any) -> tuple[PreFilterResult | None, Status]:
    """PreFilter: nothing to narrow."""
    return None, Status.success()


def pass_all(state: CycleState, pod: PodInfo, snap: Snapshot, nodes: Any) -> FilterResult:
    """Filter: every candidate passes."""
    return FilterResult.all(len(nodes))


def reject(
    names: Sequence[str], status: Status
) -> Callable[[CycleState, PodInfo, Snapshot, Any], FilterResult]:
    """Filter: the named nodes fail with ``status``."""

    def run(state: CycleState, pod: PodInfo, snap: Snapshot, nodes: Any) -> FilterResult:
        failed = np.array([snap.node_names[i] in names for i in nodes], dtype=bool)
        return FilterResult.from_checks([(status, failed)], len(nodes))

    return run


def fixed_scores(
    by_node: dict[str, int],
) -> Callable[[CycleState, PodInfo, Snapshot, Any], npt.NDArray[np.int64]]:
    """Score: a fixed raw score per node name (0 for others)."""

    def run(state: CycleState, pod: PodInfo, snap: Snapshot, nodes: Any) -> npt.NDArray[np.int64]:
        return np.array([by_node.get(snap.node_names[i], 0) for i in nodes], dtype=np.int64)

    return run


def identity(state: CycleState, pod: PodInfo, scores: npt.NDArray[np.int64]) -> Any:
    """Normalize: unchanged."""
    return scores


def success(*_: Any) -> Status:
    """Any point: SUCCESS."""
    return Status.success()


def nothing(*_: Any) -> None:
    """Unreserve: nothing to undo."""


def allow(*_: Any) -> tuple[Status, float]:
    """Permit: allowed."""
    return Status.success(), 0.0


def profile(
    plugins: Sequence[Plugin],
    *,
    weights: dict[str, int] | None = None,
    tie_break: str = "first",
    seed: int = 0,
    disabled: dict[str, list[str]] | None = None,
) -> Profile:
    """A profile running ``plugins`` in order at every point each implements (multiPoint),
    with the given score weights (default 1), minus ``disabled`` per point."""
    chosen = weights or {}
    entries = [(p.name, chosen[p.name]) if p.name in chosen else p.name for p in plugins]
    return Profile.of("test", entries, disabled=disabled, tie_break=tie_break, seed=seed)


def cluster(nodes: Sequence[str] = NODES) -> FakeHandle:
    """Identical 8-cpu nodes, in the given order (dense ids 0..)."""
    return make_handle([make_node(n, cpu="8", memory="32Gi") for n in nodes])


def framework(
    handle: FakeHandle,
    plugins: Sequence[Plugin],
    *,
    weights: dict[str, int] | None = None,
    tie_break: str = "first",
    seed: int = 0,
    node_rank: npt.NDArray[np.int64] | None = None,
    disabled: dict[str, list[str]] | None = None,
) -> Framework:
    """A Framework over ``handle`` running ``plugins`` (a DefaultBinder is not added)."""
    prof = profile(plugins, weights=weights, tie_break=tie_break, seed=seed, disabled=disabled)
    return Framework(prof, plugins, handle, node_rank=node_rank)


def run_cycle(fw: Framework, handle: FakeHandle, name: str = "p", cpu: str = "1") -> ScheduleResult:
    """Add a pending pod to the cache (as an informer would) and run one cycle."""
    pod = make_pod(name, cpu=cpu, memory="1Gi")
    handle.cache.add_pod(pod)
    return fw.schedule_one(info(pod))


def binder(handle: FakeHandle) -> DefaultBinder:
    """The real DefaultBinder over the fake backend."""
    return DefaultBinder({}, handle)


def test_plugin_timings_are_sampled_one_cycle_in_ten() -> None:
    """Like kube-scheduler's pluginMetricsSamplePercent: cycles 1 and 11 of 20 are timed,
    every cycle still runs every plugin."""
    handle = cluster()
    log: Log = []
    fw = framework(handle, [fake("A", log, filter=pass_all), binder(handle)])
    for n in range(20):
        assert run_cycle(fw, handle, name=f"p{n}", cpu="0.1").status.ok
    assert log.count(("Filter", "A")) == 20
    assert fw.timings[("Filter", "A")].calls == 2
    assert fw.timings[("Bind", "DefaultBinder")].calls == 2
    assert PLUGIN_METRICS_SAMPLE_EVERY == 10


# -- order and attribution ----------------------------------------------------------------------


def test_extension_points_run_in_kube_scheduler_order() -> None:
    """Extension points run in kube-scheduler's order, plugins in profile order."""
    # the first non-SKIP Bind wins
    log: Log = []
    handle = cluster()
    common: dict[str, Callable[..., Any]] = {
        "pre_filter": ok_prefilter,
        "filter": pass_all,
        "pre_score": lambda *_: Status.success(),
        "score": fixed_scores({}),
        "normalize": identity,
        "reserve": success,
        "unreserve": nothing,
        "permit": allow,
        "pre_bind": success,
    }
    a = fake("A", log, **common, bind=lambda *_: Status.skip())
    b = fake("B", log, **common)
    fw = framework(handle, [a, b, binder(handle)])
    result = run_cycle(fw, handle)
    assert result.status.code == Code.SUCCESS
    assert log == [
        ("PreFilter", "A"),
        ("PreFilter", "B"),
        ("Filter", "A"),
        ("Filter", "B"),
        ("PreScore", "A"),
        ("PreScore", "B"),
        ("Score", "A"),
        ("Normalize", "A"),
        ("Score", "B"),
        ("Normalize", "B"),
        ("Reserve", "A"),
        ("Reserve", "B"),
        ("Permit", "A"),
        ("Permit", "B"),
        ("PreBind", "A"),
        ("PreBind", "B"),
        ("Bind", "A"),
    ]
    # A skipped Bind, so the DefaultBinder (after it) bound the pod; all scores tie -> n0
    assert handle.backend.binds == [("default/p", "n0")]
    assert {(point, name) for point, name in fw.timings} >= {("Bind", "DefaultBinder")}


def test_statuses_are_attributed_to_the_plugin_that_returned_them() -> None:
    """The runtime stamps the plugin name on Filter, Reserve, Permit and PreBind statuses."""
    log: Log = []
    handle = cluster(("n0",))
    fw = framework(
        handle,
        [fake("Picky", log, filter=reject(["n0"], Status.unschedulable("too picky")))],
    )
    result = run_cycle(fw, handle, "p0")
    assert result.diagnosis is not None
    assert list(result.diagnosis.failed) == [("Picky", "too picky", int(Code.UNSCHEDULABLE))]

    for point, behaviour in (
        ("reserve", lambda *_: Status.unschedulable("no room")),
        ("permit", lambda *_: (Status.unschedulable("denied"), 0.0)),
        ("pre_bind", lambda *_: Status.error("write failed")),
    ):
        extra: dict[str, Callable[..., Any]] = {point: behaviour}
        if point == "reserve":
            extra["unreserve"] = nothing
        plugin = fake("Gate", log, **extra)
        fw = framework(handle, [plugin, binder(handle)])
        result = run_cycle(fw, handle, f"p-{point}")
        assert result.status.plugin == "Gate", point
        assert not result.status.ok


def test_pre_enqueue_returns_first_rejection_with_plugin_name() -> None:
    """PreEnqueue stops at the first non-success and names its plugin; all-success is SUCCESS."""
    log: Log = []
    handle = cluster()
    yes = fake("Yes", log, pre_enqueue=success)
    no = fake("No", log, pre_enqueue=lambda *_: Status.unresolvable("gated"))
    never = fake("Never", log, pre_enqueue=success)
    pod = info(make_pod("p"))
    status = framework(handle, [yes, no, never]).pre_enqueue(pod)
    assert (status.code, status.plugin, status.message()) == (
        Code.UNSCHEDULABLE_AND_UNRESOLVABLE,
        "No",
        "gated",
    )
    assert ("PreEnqueue", "Never") not in log
    assert framework(handle, [yes]).pre_enqueue(pod).ok


def test_queue_order_without_queue_sort_plugin_is_priority_then_time() -> None:
    """Without a QueueSort plugin: higher priority first, then the earlier enqueue time."""
    fw = framework(cluster(), [])
    high, low = info(make_pod("h", priority=10)), info(make_pod("l", priority=1))
    assert fw.less(high, 5.0, low, 1.0)
    assert not fw.less(low, 1.0, high, 5.0)
    same = info(make_pod("s", priority=10))
    assert fw.less(same, 1.0, high, 2.0) and not fw.less(high, 2.0, same, 1.0)


def test_two_queue_sort_plugins_are_a_configuration_error() -> None:
    """A profile with two QueueSort plugins is rejected, naming both."""
    log: Log = []
    first = fake("SortA", log, less=lambda *_: True)
    second = fake("SortB", log, less=lambda *_: True)
    with pytest.raises(ValueError, match=r"more than one QueueSort plugin: \['SortA', 'SortB'\]"):
        framework(cluster(), [first, second])


# -- filtering ----------------------------------------------------------------------------------


def test_each_filter_sees_only_the_nodes_still_feasible() -> None:
    """Filters narrow in profile order: the second sees only what the first passed."""
    log: Log = []
    seen: list[list[str]] = []
    handle = cluster()

    def record(state: CycleState, pod: PodInfo, snap: Snapshot, nodes: Any) -> FilterResult:
        seen.append([snap.node_names[i] for i in nodes])
        return FilterResult.all(len(nodes))

    first = fake("First", log, filter=reject(["n1", "n3"], Status.unschedulable("odd")))
    second = fake("Second", log, filter=record)
    result = run_cycle(framework(handle, [first, second, binder(handle)]), handle)
    assert seen == [["n0", "n2"]]
    assert (result.node, result.feasible) == ("n0", 2)


def test_diagnosis_sentence_counts_and_sorts_reasons_across_plugins() -> None:
    """kube-scheduler's FitError text: counts summed per reason across plugins, sorted."""
    log: Log = []
    handle = cluster()
    # A rejects n0 "Insufficient cpu"; B rejects n1 with the same reason and n2, n3 with
    # "node(s) had untolerated taint" -> 2 Insufficient cpu, 2 node(s) had untolerated taint
    a = fake("A", log, filter=reject(["n0"], Status.unschedulable("Insufficient cpu")))

    def two_reasons(state: CycleState, pod: PodInfo, snap: Snapshot, nodes: Any) -> FilterResult:
        names = [snap.node_names[i] for i in nodes]
        cpu = np.array([n == "n1" for n in names])
        taint = np.array([n in ("n2", "n3") for n in names])
        return FilterResult.from_checks(
            [
                (Status.unschedulable("Insufficient cpu"), cpu),
                (Status.unresolvable("node(s) had untolerated taint"), taint),
            ],
            len(nodes),
        )

    b = fake("B", log, filter=two_reasons)
    result = run_cycle(framework(handle, [a, b]), handle)
    assert result.status.code == Code.UNSCHEDULABLE
    assert result.status.message() == (
        "0/4 nodes are available: 2 Insufficient cpu, 2 node(s) had untolerated taint."
    )
    assert result.diagnosis is not None
    assert result.diagnosis.failed == {
        ("A", "Insufficient cpu", 2): 1,
        ("B", "Insufficient cpu", 2): 1,
        ("B", "node(s) had untolerated taint", 3): 2,
    }
    assert result.diagnosis.resolvable


def test_prefilter_narrowing_is_counted_and_rejection_ends_the_cycle() -> None:
    """PreFilter narrowing is counted; a PreFilter rejection ends the cycle before Filter."""
    log: Log = []
    handle = cluster()
    narrow = fake(
        "Narrow",
        log,
        pre_filter=lambda *_: (PreFilterResult(np.array([1, 2], dtype=np.intp)), Status.success()),
    )
    seen: list[list[int]] = []

    def watch_nodes(state: CycleState, pod: PodInfo, snap: Snapshot, nodes: Any) -> FilterResult:
        seen.append([int(i) for i in nodes])
        return FilterResult.all(len(nodes))

    watch = fake("Watch", log, filter=watch_nodes)
    result = run_cycle(framework(handle, [narrow, watch, binder(handle)]), handle, "p1")
    assert seen == [[1, 2]]
    assert result.node == "n1"

    stop = fake("Stop", log, pre_filter=lambda *_: (None, Status.unresolvable("claim missing")))
    log.clear()
    result = run_cycle(framework(handle, [stop, watch]), handle, "p2")
    assert result.status.message() == "0/4 nodes are available: claim missing."
    assert result.diagnosis is not None and result.diagnosis.prefilter is not None
    assert result.diagnosis.prefilter.plugin == "Stop"
    assert ("Filter", "Watch") not in log


def test_prefilter_skip_turns_off_that_plugins_filter_only() -> None:
    """A PreFilter SKIP disables the same plugin's Filter for the cycle; others still run."""
    log: Log = []
    handle = cluster()
    skipper = fake("Skipper", log, pre_filter=lambda *_: (None, Status.skip()), filter=pass_all)
    other = fake("Other", log, filter=pass_all)
    run_cycle(framework(handle, [skipper, other, binder(handle)]), handle)
    assert ("Filter", "Skipper") not in log
    assert ("Filter", "Other") in log


def test_filter_error_aborts_the_cycle_before_later_filters() -> None:
    """A Filter ERROR ends the cycle at once with ERROR attributed to the plugin."""
    log: Log = []
    handle = cluster()
    broken = fake("Broken", log, filter=reject(list(NODES), Status.error("CEL runtime error")))
    later = fake("Later", log, filter=pass_all)
    result = run_cycle(framework(handle, [broken, later]), handle)
    assert result.status.code == Code.ERROR
    assert (result.status.plugin, result.status.message()) == ("Broken", "CEL runtime error")
    assert ("Filter", "Later") not in log
    assert handle.cache.pods["default/p"].node is None


def test_filter_error_does_not_run_post_filter() -> None:
    """A Filter ERROR never runs PostFilter (no preemption for an internal error)."""
    log: Log = []
    handle = cluster()
    broken = fake("Broken", log, filter=reject(list(NODES), Status.error("CEL runtime error")))
    preempt = fake(
        "Preempt",
        log,
        post_filter=lambda *_: (PostFilterResult("n0", ("default/victim",)), Status.success()),
    )
    result = run_cycle(framework(handle, [broken, preempt]), handle)
    assert result.status.code == Code.ERROR
    assert ("PostFilter", "Preempt") not in log
    assert result.victims == ()


def test_post_filter_runs_when_nothing_fits_and_reports_nomination() -> None:
    """PostFilter runs until one succeeds; its nomination and victims are reported."""
    log: Log = []
    handle = cluster(("n0", "n1"))
    full = fake("Full", log, filter=reject(["n0", "n1"], Status.unschedulable("full")))
    no_help = fake("NoHelp", log, post_filter=lambda *_: (None, Status.unschedulable("nothing")))
    helps = fake(
        "Helps",
        log,
        post_filter=lambda *_: (PostFilterResult("n1", ("default/v",)), Status.success()),
    )
    after = fake("After", log, post_filter=lambda *_: (None, Status.unschedulable("unused")))
    result = run_cycle(framework(handle, [full, no_help, helps, after]), handle)
    assert result.status.code == Code.UNSCHEDULABLE
    assert result.status.message() == "0/2 nodes are available: 2 full."
    assert (result.nominated, result.victims) == ("n1", ("default/v",))
    assert [e for e in log if e[0] == "PostFilter"] == [
        ("PostFilter", "NoHelp"),
        ("PostFilter", "Helps"),
    ]


# -- scoring ------------------------------------------------------------------------------------


def test_weighted_normalised_scores_pick_the_best_total() -> None:
    """Weighted normalised scores are summed and the best total wins."""
    # a scorer disabled at Score is never called; one feasible node skips scoring
    log: Log = []
    handle = cluster()
    # Alpha (weight 1): n0 100, n1 0,  n2 50, n3 0
    # Beta  (weight 3): n0 0,   n1 40, n2 10, n3 0
    # totals: n0 100, n1 120, n2 80, n3 0 -> n1
    alpha = fake("Alpha", log, score=fixed_scores({"n0": 100, "n2": 50}), normalize=identity)
    beta = fake("Beta", log, score=fixed_scores({"n1": 40, "n2": 10}), normalize=identity)
    muted = fake("Muted", log, score=fixed_scores({"n3": 100}), normalize=identity)
    fw = framework(
        handle,
        [alpha, beta, muted, binder(handle)],
        weights={"Beta": 3},
        disabled={"score": ["Muted"]},
    )
    snapshot = handle.cache.snapshot()
    state = CycleState()
    nodes = np.arange(4, dtype=np.intp)
    totals, status = fw.score(state, info(make_pod("x")), snapshot, nodes)
    assert status.ok
    assert totals.tolist() == [100, 120, 80, 0]
    assert ("Score", "Muted") not in log
    assert run_cycle(fw, handle).node == "n1"

    log.clear()
    lone = cluster(("only",))
    single = framework(
        lone, [fake("Alpha", log, score=fixed_scores({}), normalize=identity), binder(lone)]
    )
    assert run_cycle(single, lone).node == "only"
    assert log == []


def test_normalised_scores_must_stay_within_0_and_100() -> None:
    """Normalised scores outside 0..100 or of the wrong length raise, naming the plugin."""
    handle = cluster()
    snapshot = handle.cache.snapshot()
    nodes = np.arange(4, dtype=np.intp)
    pod = info(make_pod("x"))
    for bad, pattern in (
        (
            np.array([0, 101, 5, 5]),
            r"plugin Bad: normalized scores must be within 0..100, got 0..101",
        ),
        (np.array([-1, 0, 5, 5]), r"got -1..5"),
        (np.array([1, 2]), r"plugin Bad: \(2,\) scores for 4 nodes"),
    ):
        plugin = fake("Bad", [], score=fixed_scores({}), normalize=lambda s, p, x, bad=bad: bad)
        with pytest.raises(ValueError, match=pattern):
            framework(handle, [plugin]).score(CycleState(), pod, snapshot, nodes)


def test_pre_score_error_aborts_scoring_and_skip_disables_that_score() -> None:
    """PreScore ERROR -> the cycle fails with that status; PreScore SKIP -> its Score is skipped."""
    log: Log = []
    handle = cluster()
    skipper = fake(
        "Skipper",
        log,
        pre_score=lambda *_: Status.skip(),
        score=fixed_scores({"n3": 100}),
        normalize=identity,
    )
    fw = framework(handle, [skipper, binder(handle)])
    assert run_cycle(fw, handle, "p1").node == "n0"  # n3's 100 was never counted
    assert ("Score", "Skipper") not in log
    broken = fake("Broken", log, pre_score=lambda *_: Status.error("bad state"))
    result = run_cycle(framework(handle, [broken, binder(handle)]), handle, "p2")
    assert (result.status.code, result.status.plugin) == (Code.ERROR, "Broken")
    assert handle.cache.pods["default/p2"].node is None


# -- tie-breaks ---------------------------------------------------------------------------------


def test_tie_break_first_takes_the_lowest_node_index() -> None:
    """tieBreak first: among equal totals the lowest dense node id."""
    fw = framework(cluster(), [], tie_break="first")
    nodes = np.array([3, 1, 2], dtype=np.intp)
    assert fw.select(nodes, np.array([7, 9, 9], dtype=np.int64)) == 1
    assert fw.select(nodes, np.array([9, 1, 2], dtype=np.int64)) == 3


def test_tie_break_node_order_uses_the_callers_rank() -> None:
    """tieBreak nodeOrder: the tied node of lowest rank; without a rank, a configuration error."""
    rank = np.array([3, 0, 2, 1], dtype=np.int64)  # n1 first, then n3, n2, n0
    fw = framework(cluster(), [], tie_break="nodeOrder", node_rank=rank)
    nodes = np.arange(4, dtype=np.intp)
    assert fw.select(nodes, np.array([5, 5, 5, 5], dtype=np.int64)) == 1
    assert fw.select(nodes, np.array([5, 1, 5, 5], dtype=np.int64)) == 3
    no_rank = framework(cluster(), [], tie_break="nodeOrder")
    with pytest.raises(ValueError, match="tieBreak nodeOrder needs a node order"):
        no_rank.select(nodes, np.zeros(4, dtype=np.int64))


def test_tie_break_random_is_seeded_and_only_picks_tied_nodes() -> None:
    """tieBreak random repeats with its seed and draws among the tied nodes only."""
    nodes = np.arange(4, dtype=np.intp)
    totals = np.array([9, 3, 9, 9], dtype=np.int64)
    one = framework(cluster(), [], tie_break="random", seed=7)
    two = framework(cluster(), [], tie_break="random", seed=7)
    first = [one.select(nodes, totals) for _ in range(40)]
    assert first == [two.select(nodes, totals) for _ in range(40)]
    assert set(first) <= {0, 2, 3} and len(set(first)) > 1


# -- binding cycle ------------------------------------------------------------------------------


def test_reserve_failure_unreserves_all_in_reverse_and_forgets_the_pod() -> None:
    """A Reserve failure unreserves every plugin in reverse and forgets the pod."""
    log: Log = []
    handle = cluster(("n0",))
    r1 = fake("R1", log, reserve=success, unreserve=nothing)
    r2 = fake("R2", log, reserve=lambda *_: Status.unschedulable("lost race"), unreserve=nothing)
    r3 = fake("R3", log, reserve=success, unreserve=nothing)
    result = run_cycle(framework(handle, [r1, r2, r3, binder(handle)]), handle, cpu="2")
    assert (result.status.code, result.status.plugin) == (Code.UNSCHEDULABLE, "R2")
    assert log == [
        ("Reserve", "R1"),
        ("Reserve", "R2"),
        ("Unreserve", "R3"),
        ("Unreserve", "R2"),
        ("Unreserve", "R1"),
    ]
    record = handle.cache.pods["default/p"]
    assert (record.node, record.assumed) == (None, False)
    assert int(handle.cache.requested[0, handle.cache.resources.index("cpu")]) == 0
    assert handle.backend.binds == []


@pytest.mark.parametrize("failing", ["permit", "pre_bind", "bind"])
def test_failure_after_reserve_unreserves_and_forgets(failing: str) -> None:
    """Permit, PreBind or Bind failure unreserves in reverse and forgets the pod."""
    log: Log = []
    handle = cluster(("n0",))
    holder = fake("Holder", log, reserve=success, unreserve=nothing)
    behaviours: dict[str, Callable[..., Any]] = {
        "permit": lambda *_: (Status.unschedulable("denied"), 0.0),
        "pre_bind": lambda *_: Status.error("claim write failed"),
        "bind": lambda *_: Status.error("conflict"),
    }
    gate = fake("Gate", log, reserve=success, unreserve=nothing, **{failing: behaviours[failing]})
    result = run_cycle(framework(handle, [holder, gate, binder(handle)]), handle)
    assert result.status.plugin == "Gate"
    assert not result.status.ok
    assert log[-2:] == [("Unreserve", "Gate"), ("Unreserve", "Holder")]
    record = handle.cache.pods["default/p"]
    assert (record.node, record.assumed) == (None, False)
    assert handle.backend.binds == []


def test_backend_bind_exception_becomes_error_and_forgets() -> None:
    """DefaultBinder turns a backend exception into ERROR; the runtime forgets the pod."""
    handle = cluster(("n0",))
    handle.backend.fail_bind = RuntimeError("409 conflict")
    result = run_cycle(framework(handle, [binder(handle)]), handle)
    assert (result.status.code, result.status.plugin) == (Code.ERROR, "DefaultBinder")
    assert "binding pod default/p to node n0: 409 conflict" in result.status.message()
    assert handle.cache.pods["default/p"].node is None


def test_no_bind_plugin_binding_is_an_error_and_forgets() -> None:
    """When every Bind plugin SKIPs, the cycle fails with ERROR and the pod is forgotten."""
    log: Log = []
    handle = cluster(("n0",))
    shy = fake("Shy", log, bind=lambda *_: Status.skip())
    result = run_cycle(framework(handle, [shy]), handle)
    assert (result.status.code, result.status.message()) == (
        Code.ERROR,
        "no Bind plugin bound the pod",
    )
    assert handle.cache.pods["default/p"].node is None


def test_permit_wait_leaves_the_pod_assumed() -> None:
    """A Permit WAIT holds the pod: result WAIT with the node, the pod assumed, not bound."""
    log: Log = []
    handle = cluster(("n0",))
    hold = fake("Hold", log, permit=lambda *_: (Status.wait("gang"), 30.0))
    result = run_cycle(framework(handle, [hold, binder(handle)]), handle)
    assert (result.status.code, result.status.plugin, result.node) == (Code.WAIT, "Hold", "n0")
    record = handle.cache.pods["default/p"]
    assert (record.node, record.assumed) == ("n0", True)
    assert handle.backend.binds == []


def test_bind_false_reserves_without_binding() -> None:
    """schedule_one(bind=False) stops after Permit: the pod stays assumed on its node."""
    handle = cluster(("n0",))
    pod = make_pod("p", cpu="1")
    handle.cache.add_pod(pod)
    result = framework(handle, [binder(handle)]).schedule_one(info(pod), bind=False)
    assert (result.status.code, result.node) == (Code.SUCCESS, "n0")
    assert handle.cache.pods["default/p"].assumed
    assert handle.backend.binds == []


def test_bind_reserved_binds_a_pod_into_its_reservation() -> None:
    """bind_reserved runs only PreBind and Bind; without a reservation it is an ERROR."""
    log: Log = []
    handle = cluster(("n0", "n1"))
    pre = fake("Pre", log, pre_bind=success, filter=pass_all)
    fw = framework(handle, [pre, binder(handle)])
    pod = make_pod("w-1", cpu="1")
    handle.cache.add_pod(pod)
    handle.cache.assume_pod("default/w-1", "n1")
    status = fw.bind_reserved(info(pod))
    assert status.ok
    assert log == [("PreBind", "Pre")]
    assert handle.backend.binds == [("default/w-1", "n1")]
    assert not handle.cache.pods["default/w-1"].assumed

    stranger = make_pod("stranger", cpu="1")
    handle.cache.add_pod(stranger)
    missing = fw.bind_reserved(info(stranger))
    assert (missing.code, missing.message()) == (
        Code.ERROR,
        "Pod default/stranger: no reservation to bind",
    )


def test_bind_reserved_failure_releases_the_reservation() -> None:
    """When binding into a reservation fails, the pod is forgotten (its node charge freed)."""
    handle = cluster(("n0",))
    handle.backend.fail_bind = RuntimeError("gone")
    fw = framework(handle, [binder(handle)])
    pod = make_pod("w-1", cpu="3")
    handle.cache.add_pod(pod)
    handle.cache.assume_pod("default/w-1", "n0")
    status = fw.bind_reserved(info(pod))
    assert (status.code, status.plugin) == (Code.ERROR, "DefaultBinder")
    assert handle.cache.pods["default/w-1"].node is None
    assert int(handle.cache.requested[0, handle.cache.resources.index("cpu")]) == 0


def test_profile_weights_come_from_the_profile_entries() -> None:
    """Framework.weights maps score plugins to their profile weights (1 when unset)."""
    log: Log = []
    scorers = [fake(n, log, score=fixed_scores({}), normalize=identity) for n in ("A", "B")]
    prof = Profile.of("w", [("A", 5), "B", "DefaultBinder"])
    handle = cluster()
    fw = Framework(prof, [*scorers, binder(handle)], handle)
    assert fw.weights == {"A": 5, "B": 1}


def test_plugins_the_profile_does_not_enable_are_not_wired() -> None:
    """An instance the profile does not name takes part in no extension point."""
    log: Log = []
    handle = cluster()
    named = fake("Named", log, filter=pass_all)
    stray = fake("Stray", log, filter=pass_all)
    fw = Framework(Profile.of("p", ["Named"]), [named, stray], handle)
    assert fw.points.filter == [named]


def test_profile_naming_a_missing_instance_is_an_error() -> None:
    """A plugin the profile enables but nobody instantiated is a ValueError naming it."""
    with pytest.raises(ValueError, match=r"profile p: plugins.multiPoint: plugin 'Ghost' does"):
        Framework(Profile.of("p", ["Ghost"]), [], cluster())
