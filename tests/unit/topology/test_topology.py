"""Topology: dense domain ids per label level, the networkx tree, and when they are rebuilt."""

from __future__ import annotations

import networkx as nx
import pytest

from scheduler.topology.domains import DEFAULT_LEVELS, TopologyDomains
from scheduler.topology.graph import ROOT, build_graph, clique_stats, level_stats
from tests.builders import make_cache, make_node, make_pod

ZONE, BLOCK, RACK, HOST = DEFAULT_LEVELS


def labels(zone: str | None, block: str | None, rack: str | None, host: str) -> dict[str, str]:
    """Node labels for the default levels (None = label absent)."""
    out = {HOST: host}
    for key, value in ((ZONE, zone), (BLOCK, block), (RACK, rack)):
        if value is not None:
            out[key] = value
    return out


# Two zones; rack "r1" exists in block b1 and in block b2 (different racks); n5 lacks a block.
NODES = [
    labels("z1", "b1", "r1", "n0"),
    labels("z1", "b1", "r2", "n1"),
    labels("z1", "b2", "r1", "n2"),
    labels("z2", "b1", "r1", "n3"),
    labels("z1", "b1", "r1", "n4"),
    labels("z2", None, "r9", "n5"),
]


def test_domain_ids_are_dense_per_level_in_first_seen_order() -> None:
    """Domain ids are dense per level in node order; a domain is its whole path of label values."""
    domains = TopologyDomains.build(NODES)
    assert domains.levels == DEFAULT_LEVELS
    # zones: z1 (n0) = 0, z2 (n3) = 1
    assert domains.domain_of[0].tolist() == [0, 0, 0, 1, 0, 1]
    # blocks: z1/b1 = 0, z1/b2 = 1, z2/b1 = 2 (not z1/b1); n5 has none
    assert domains.domain_of[1].tolist() == [0, 0, 1, 2, 0, -1]
    assert domains.names[1] == ("z1/b1", "z1/b2", "z2/b1")
    # racks: z1/b1/r1 = 0, z1/b1/r2 = 1, z1/b2/r1 = 2, z2/b1/r1 = 3
    assert domains.domain_of[2].tolist() == [0, 1, 2, 3, 0, -1]
    assert domains.names[2] == ("z1/b1/r1", "z1/b1/r2", "z1/b2/r1", "z2/b1/r1")
    assert domains.domain_of[3].tolist() == [0, 1, 2, 3, 4, -1]
    assert [domains.count(level) for level in range(4)] == [2, 3, 4, 5]


def test_parents_link_each_domain_to_its_enclosing_domain() -> None:
    """parent[l][d] is the id at level l-1 that contains domain d; -1 at the top level."""
    domains = TopologyDomains.build(NODES)
    assert domains.parent[0].tolist() == [-1, -1]
    # z1/b1 and z1/b2 in z1 (0); z2/b1 in z2 (1)
    assert domains.parent[1].tolist() == [0, 0, 1]
    # racks in blocks 0, 0, 1, 2
    assert domains.parent[2].tolist() == [0, 0, 1, 2]
    # hosts n0..n4 in racks 0, 1, 2, 3, 0
    assert domains.parent[3].tolist() == [0, 1, 2, 3, 0]


def test_node_missing_a_level_has_no_domain_there_or_below() -> None:
    """n5 has zone z2 and rack r9 but no block: it is in z2 only; r9 makes no rack domain."""
    domains = TopologyDomains.build(NODES)
    assert [int(domains.domain_of[level][5]) for level in range(4)] == [1, -1, -1, -1]
    assert "r9" not in "".join(domains.names[2])


def test_members_lists_the_nodes_of_each_domain() -> None:
    """members(level) lists each domain's dense node ids; nodes without a domain appear nowhere."""
    domains = TopologyDomains.build(NODES)
    assert [m.tolist() for m in domains.members(0)] == [[0, 1, 2, 4], [3, 5]]
    assert [m.tolist() for m in domains.members(2)] == [[0, 4], [1], [2], [3]]


def test_custom_levels_and_level_lookup() -> None:
    """Any label keys may be levels; level() names an unknown key and the known levels."""
    clique = "nvidia.com/gpu.clique"
    nodes = [{clique: "a.1", HOST: "h0"}, {clique: "b.1", HOST: "h1"}, {clique: "a.1", HOST: "h2"}]
    domains = TopologyDomains.build(nodes, (clique, HOST))
    assert domains.level(clique) == 0
    assert domains.domain_of[0].tolist() == [0, 1, 0]
    with pytest.raises(ValueError, match=r"topology level 'rack' is not one of the cluster's"):
        domains.level("rack")


def test_empty_cluster_has_empty_levels() -> None:
    """No nodes: every level has zero domains."""
    domains = TopologyDomains.build([])
    assert [domains.count(level) for level in range(4)] == [0, 0, 0, 0]
    assert domains.members(0) == []


def test_graph_is_a_tree_from_the_cluster_root_to_the_nodes() -> None:
    """build_graph is a root-to-node tree; a node missing a level hangs from its deepest domain."""
    domains = TopologyDomains.build(NODES)
    names = [n[HOST] for n in NODES]
    graph = build_graph(domains, names)
    assert nx.is_tree(graph)
    assert set(graph.successors(ROOT)) == {(ZONE, "z1"), (ZONE, "z2")}
    assert set(graph.successors((BLOCK, "z1/b1"))) == {(RACK, "z1/b1/r1"), (RACK, "z1/b1/r2")}
    assert graph.nodes[(HOST, "z1/b1/r1/n4")]["node"] == "n4"
    assert list(graph.predecessors(("node", "n5"))) == [(ZONE, "z2")]
    # 1 root + 2 zones + 3 blocks + 4 racks + 5 hosts + 1 dangling node
    assert graph.number_of_nodes() == 16
    assert graph.nodes[(RACK, "z2/b1/r1")]["level"] == 2


def test_cache_topology_is_rebuilt_only_when_the_node_set_changes() -> None:
    """cache.topology is rebuilt only when node_generation (or the levels asked for) changes."""
    nodes = [make_node(f"n{i}", labels={ZONE: "z1", RACK: f"r{i % 2}"}) for i in range(3)]
    cache = make_cache(nodes)
    levels = (ZONE, RACK, HOST)
    first = cache.topology(levels)
    assert first.domain_of[1].tolist() == [0, 1, 0]
    cache.add_pod(make_pod("p", cpu="1", node_name="n1"))
    cache.add_node(make_node("n1", cpu="2", labels={ZONE: "z1", RACK: "r1"}))  # same labels
    assert cache.topology(levels) is first
    assert cache.snapshot().topology(levels) is first
    cache.add_node(make_node("n1", labels={ZONE: "z1", RACK: "r0"}))  # relabelled
    relabelled = cache.topology(levels)
    assert relabelled is not first
    assert relabelled.domain_of[1].tolist() == [0, 0, 0]
    cache.add_node(make_node("n3", labels={ZONE: "z2", RACK: "r0"}))
    grown = cache.topology(levels)
    assert grown is not relabelled
    assert grown.domain_of[0].tolist() == [0, 0, 0, 1]
    cache.remove_node("n0")
    shrunk = cache.topology(levels)
    assert shrunk.domain_of[0].tolist() == [0, 0, 1]
    other = cache.topology((ZONE, HOST))
    assert other is not shrunk and other.levels == (ZONE, HOST)


def test_snapshot_topology_uses_the_default_levels() -> None:
    """Snapshot.topology() without levels numbers zone > block > rack > hostname."""
    nodes = [make_node("a", labels={ZONE: "z", BLOCK: "b", RACK: "r"}), make_node("b")]
    domains = make_cache(nodes).snapshot().topology()
    assert domains.levels == DEFAULT_LEVELS
    assert [int(domains.domain_of[level][0]) for level in range(4)] == [0, 0, 0, 0]
    # b only has the hostname label the builder adds: no zone, so no domain at any level
    assert [int(domains.domain_of[level][1]) for level in range(4)] == [-1, -1, -1, -1]


def test_level_stats_sum_nodes_and_accelerators_per_domain() -> None:
    """Per level: domains, nodes and accelerators per domain (min/median/max), unlabelled."""
    domains = TopologyDomains.build(NODES)
    names = [n[HOST] for n in NODES]
    # 8 accelerators on every node but n5 (which has 4 and no block/rack/host labels)
    accel = {name: 4 if name == "n5" else 8 for name in names}
    stats = {s.key: s for s in level_stats(build_graph(domains, names), accel)}
    # zones: z1 = n0 n1 n2 n4 (4 x 8 = 32), z2 = n3 n5 (8 + 4 = 12)
    # -> nodes 2 / 3 / 4, accelerators 12 / 22 / 32
    assert stats[ZONE].domains == 2
    assert stats[ZONE].nodes == (2, 3.0, 4)
    assert stats[ZONE].accelerators == (12, 22.0, 32)
    assert stats[ZONE].unlabelled == 0
    # racks: z1/b1/r1 = n0 n4, z1/b1/r2 = n1, z1/b2/r1 = n2, z2/b1/r1 = n3; n5 has no block
    assert stats[RACK].domains == 4
    assert stats[RACK].nodes == (1, 1.0, 2)
    assert stats[RACK].unlabelled == 1


def test_clique_stats_counts_cliques_spanning_racks() -> None:
    """NVLink cliques against the finest level above hosts: one clique crosses racks."""
    domains = TopologyDomains.build(NODES)
    names = [n[HOST] for n in NODES]
    graph = build_graph(domains, names)
    # n1 (rack z1/b1/r2) and n2 (rack z1/b2/r1) share clique A: it spans two racks; n3: B
    found = clique_stats(graph, {"n1": "A", "n2": "A", "n3": "B"}, (ZONE, BLOCK, RACK, HOST))
    assert found is not None
    assert (found.cliques, found.hosts, found.within) == (2, (1, 2), RACK)
    assert found.spanning == 1
    assert clique_stats(graph, {}, (ZONE, RACK, HOST)) is None
