"""TaintToleration: filter on NoSchedule/NoExecute taints, reversed score on PreferNoSchedule."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest

from scheduler.api.node import Node
from scheduler.api.pod import Pod
from scheduler.framework.cycle_state import CycleState
from scheduler.framework.status import Code
from scheduler.plugins.tainttoleration import TaintToleration
from tests.builders import info, make_handle, make_node, make_pod, rejections

UU = Code.UNSCHEDULABLE_AND_UNRESOLVABLE


def run_filter(nodes: Sequence[Node], pod: Pod) -> list[tuple[Code, str] | None]:
    """Filter over every node: None if passed, else (code, message)."""
    handle = make_handle(nodes)
    snapshot = handle.cache.snapshot()
    ids = np.arange(snapshot.size, dtype=np.intp)
    result = TaintToleration({}, handle).filter(CycleState(), info(pod), snapshot, ids)
    return [None if s is None else (s.code, s.message()) for s in rejections(result)]


@pytest.mark.parametrize(
    ("taints", "tolerations", "expected"),
    [
        ([], [], None),
        (["gpu=true:NoSchedule"], [], (UU, "node(s) had untolerated taint {gpu: true}")),
        (["gpu=true:NoSchedule"], ["gpu=true:NoSchedule"], None),
        # Exists on the key tolerates any value
        (["gpu=true:NoSchedule"], ["gpu:NoSchedule"], None),
        # a toleration's effect must equal the taint's: NoExecute does not tolerate NoSchedule
        (
            ["gpu=true:NoSchedule"],
            ["gpu:NoExecute"],
            (UU, "node(s) had untolerated taint {gpu: true}"),
        ),
        # wrong value under Equal
        (
            ["gpu=true:NoSchedule"],
            ["gpu=false:NoSchedule"],
            (UU, "node(s) had untolerated taint {gpu: true}"),
        ),
        # PreferNoSchedule never filters
        (["gpu=true:PreferNoSchedule"], [], None),
        # NoExecute filters too; a taint without value prints an empty value
        (["dedicated:NoExecute"], [], (UU, "node(s) had untolerated taint {dedicated: }")),
        # the first *untolerated* taint is reported
        (
            ["a=1:NoSchedule", "b=2:NoSchedule"],
            ["a=1:NoSchedule"],
            (UU, "node(s) had untolerated taint {b: 2}"),
        ),
        # empty key + Exists (no effect) tolerates everything
        (["a=1:NoSchedule", "b:NoExecute"], [{"operator": "Exists"}], None),
    ],
)
def test_taint_filter_table(
    taints: list[str], tolerations: list[object], expected: tuple[Code, str] | None
) -> None:
    """Each row's node taints and pod tolerations give kube-scheduler's verdict."""
    node = make_node("n", taints=taints)
    assert run_filter([node], make_pod("p", tolerations=tolerations)) == [expected]  # type: ignore[arg-type]


def test_taint_filter_groups_nodes() -> None:
    """Nodes sharing a taint list share a verdict; different first taints, separate statuses."""
    nodes = [
        make_node("a", taints=["gpu=true:NoSchedule"]),
        make_node("b"),
        make_node("c", taints=["gpu=true:NoSchedule"]),
        make_node("d", taints=["spot=yes:NoExecute"]),
    ]
    gpu = (UU, "node(s) had untolerated taint {gpu: true}")
    spot = (UU, "node(s) had untolerated taint {spot: yes}")
    assert run_filter(nodes, make_pod("p")) == [gpu, None, gpu, spot]


def run_score(nodes: Sequence[Node], pod: Pod) -> tuple[list[int], list[int]]:
    """PreScore + Score + normalize over every node: (raw, normalized)."""
    handle = make_handle(nodes)
    plugin = TaintToleration({}, handle)
    snapshot = handle.cache.snapshot()
    ids = np.arange(snapshot.size, dtype=np.intp)
    state = CycleState()
    assert plugin.pre_score(state, info(pod), snapshot, ids).ok
    raw = plugin.score(state, info(pod), snapshot, ids)
    return raw.tolist(), plugin.normalize(state, info(pod), raw).tolist()


def test_taint_score_counts_intolerable_prefer_no_schedule() -> None:
    """Raw = intolerable PreferNoSchedule taints; normalized in reverse against the maximum."""
    nodes = [
        make_node("a"),
        make_node("b", taints=["x=1:PreferNoSchedule"]),
        make_node("c", taints=["x=1:PreferNoSchedule", "y=1:PreferNoSchedule", "z=1:NoSchedule"]),
        make_node("d", taints=["t=1:PreferNoSchedule"]),
        make_node("e", taints=["y=1:PreferNoSchedule"]),
    ]
    # t tolerated (effect PreferNoSchedule); y's toleration has effect NoSchedule: does not count
    pod = make_pod("p", tolerations=["t=1:PreferNoSchedule", "y:NoSchedule"])
    # raw [0, 1, 2, 0, 1]; max 2: 100*s//2 = [0, 50, 100, 0, 50]; reversed [100, 50, 0, 100, 50]
    assert run_score(nodes, pod) == ([0, 1, 2, 0, 1], [100, 50, 0, 100, 50])


def test_taint_score_all_tolerated_is_all_max() -> None:
    """When no node has an intolerable taint every node scores 100 (reverse of all zero)."""
    nodes = [make_node("a"), make_node("b", taints=["x=1:PreferNoSchedule"])]
    # raw [0, 0] -> reverse special case -> [100, 100]
    assert run_score(nodes, make_pod("p", tolerations=["x:PreferNoSchedule"])) == (
        [0, 0],
        [100, 100],
    )


def test_taint_toleration_takes_no_args() -> None:
    """Any arg is rejected with the plugin's name and the field."""
    with pytest.raises(ValueError, match=r"plugin TaintToleration: args\.weight: Extra inputs"):
        TaintToleration({"weight": 2}, make_handle())
