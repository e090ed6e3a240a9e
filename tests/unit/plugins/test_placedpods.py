"""PlacedPods: per-node entries and the label index follow the cache across refreshes."""

from __future__ import annotations

from scheduler.plugins.helper.placedpods import PlacedPods
from tests.builders import make_handle, make_node, make_pod


def keys(placed: PlacedPods, narrowing: tuple[str, frozenset[str] | None] | None) -> set[str]:
    """Keys of the candidate pods for ``narrowing``."""
    return {p.key for _, p in placed.candidates(narrowing)}


def test_refresh_follows_adds_assumes_removals_and_node_changes() -> None:
    """Entries and label buckets track bound, assumed, forgotten and removed pods, and a node
    set change rebuilds everything."""
    handle = make_handle(
        [make_node("a"), make_node("b")],
        [make_pod("p1", labels={"app": "web"}, node_name="a")],
    )
    cache = handle.cache
    placed = PlacedPods()
    placed.refresh(cache.snapshot())
    assert [p.key for p in placed.on(0)] == ["default/p1"]
    assert keys(placed, ("app", frozenset({"web"}))) == {"default/p1"}
    # a pending pod is not placed until assumed; then it is indexed on its node
    cache.add_pod(make_pod("p2", labels={"app": "db"}))
    placed.refresh(cache.snapshot())
    assert keys(placed, ("app", None)) == {"default/p1"}
    cache.assume_pod("default/p2", "b")
    placed.refresh(cache.snapshot())
    assert keys(placed, ("app", None)) == {"default/p1", "default/p2"}
    assert keys(placed, ("app", frozenset({"db", "web"}))) == {"default/p1", "default/p2"}
    assert placed.occupied() == [0, 1]
    # forget and remove: both leave the entries and the index
    cache.forget_pod("default/p2")
    cache.remove_pod("default/p1")
    placed.refresh(cache.snapshot())
    assert placed.occupied() == []
    assert keys(placed, None) == set()
    assert keys(placed, ("app", None)) == set()
    # a new node: full rebuild, the new node's pods are seen
    cache.add_node(make_node("c"))
    cache.add_pod(make_pod("p3", labels={"app": "web"}, node_name="c"))
    placed.refresh(cache.snapshot())
    assert [(i, p.key) for i, p in placed.candidates(("app", frozenset({"web"})))] == [
        (2, "default/p3")
    ]


def test_unchanged_pod_objects_are_not_reparsed() -> None:
    """A refresh caused by another pod on the node keeps the existing entry object."""
    handle = make_handle([make_node("a")], [make_pod("p1", node_name="a")])
    placed = PlacedPods()
    placed.refresh(handle.cache.snapshot())
    before = placed.on(0)[0]
    handle.cache.add_pod(make_pod("p2", node_name="a"))
    placed.refresh(handle.cache.snapshot())
    assert placed.on(0)[0] is before
    assert len(placed.on(0)) == 2
