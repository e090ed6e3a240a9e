"""The topology tree as a networkx graph (root -> level domains -> nodes), and its analysis.

Built from :class:`~scheduler.topology.domains.TopologyDomains`; read by ``tessera cluster
show`` (:func:`level_stats`, :func:`clique_stats`) and by the capacity-planning reports
(which draw it with each domain's use). The scheduler's hot paths use the dense domain
arrays of ``domains.py``, never this graph; per-cycle numbers never live on graph nodes.
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import networkx as nx

from scheduler.topology.domains import TopologyDomains

ROOT = ("cluster", "")


def build_graph(domains: TopologyDomains, node_names: Sequence[str]) -> nx.DiGraph:
    """A tree: ``("cluster", "")`` -> ``(level key, domain name)`` ... -> ``("node", name)``.

    A node without a domain at some level hangs from the deepest level it has.
    """
    graph = nx.DiGraph()
    graph.add_node(ROOT, level=-1)
    for level, key in enumerate(domains.levels):
        for d, name in enumerate(domains.names[level]):
            parent_id = int(domains.parent[level][d]) if level > 0 else -1
            parent = (
                ROOT
                if parent_id < 0
                else (domains.levels[level - 1], domains.names[level - 1][parent_id])
            )
            graph.add_node((key, name), level=level)
            graph.add_edge(parent, (key, name))
    for i, node in enumerate(node_names):
        parent = ROOT
        for level, key in enumerate(domains.levels):
            d = int(domains.domain_of[level][i])
            if d < 0:
                break
            parent = (key, domains.names[level][d])
        if parent[0] == "kubernetes.io/hostname" and parent[1].rpartition("/")[2] == node:
            graph.nodes[parent]["node"] = node
            continue
        graph.add_node(("node", node), level=len(domains.levels))
        graph.add_edge(parent, ("node", node))
    return graph


def leaf_of(graph: nx.DiGraph, vertex: tuple[str, str]) -> str | None:
    """The Kubernetes node a graph vertex stands for (a host-level domain or a dangling node
    vertex), else None."""
    data = graph.nodes[vertex]
    if "node" in data:
        return str(data["node"])
    return vertex[1] if vertex[0] == "node" else None


@dataclass(frozen=True, slots=True)
class LevelStats:
    """One topology level: how many domains, how many nodes lack its label, and how big its
    domains are (nodes and accelerators per domain: min, median, max)."""

    key: str
    domains: int
    unlabelled: int
    nodes: tuple[int, float, int]
    accelerators: tuple[int, float, int]


def level_stats(graph: nx.DiGraph, accelerators: Mapping[str, int]) -> list[LevelStats]:
    """Per level of the tree (coarse to fine): domain counts and sizes.

    ``accelerators`` maps node name -> physical accelerators (GPUs, TPU chips) on it; nodes
    not in it count 0. One post-order walk sums nodes and accelerators into every domain.
    """
    nodes_under: dict[tuple[str, str], int] = {}
    accel_under: dict[tuple[str, str], int] = {}
    for vertex in nx.dfs_postorder_nodes(graph, ROOT):
        leaf = leaf_of(graph, vertex)
        nodes = 1 if leaf is not None else 0
        accel = accelerators.get(leaf, 0) if leaf is not None else 0
        for child in graph.successors(vertex):
            nodes += nodes_under[child]
            accel += accel_under[child]
        nodes_under[vertex] = nodes
        accel_under[vertex] = accel
    total = nodes_under[ROOT]
    by_level: dict[int, list[tuple[str, str]]] = {}
    keys: dict[int, str] = {}
    for vertex, data in graph.nodes(data=True):
        level = int(data.get("level", -1))
        if vertex == ROOT or vertex[0] == "node":
            continue
        by_level.setdefault(level, []).append(vertex)
        keys[level] = vertex[0]
    out = []
    for level in sorted(by_level):
        members = by_level[level]
        sizes = [nodes_under[v] for v in members]
        accels = [accel_under[v] for v in members]
        out.append(
            LevelStats(
                key=keys[level],
                domains=len(members),
                unlabelled=total - sum(sizes),
                nodes=(min(sizes), float(statistics.median(sizes)), max(sizes)),
                accelerators=(min(accels), float(statistics.median(accels)), max(accels)),
            )
        )
    return out


@dataclass(frozen=True, slots=True)
class CliqueStats:
    """NVLink cliques given by a node label that is not a topology level: how many, hosts per
    clique (min, max), and how many span more than one domain of ``within`` (the finest
    level above the hosts)."""

    cliques: int
    hosts: tuple[int, int]
    within: str | None
    spanning: int


def clique_stats(
    graph: nx.DiGraph, cliques: Mapping[str, str], levels: Sequence[str]
) -> CliqueStats | None:
    """Analyse ``cliques`` (node name -> clique id) against the tree; None when no node has
    one. A clique spans a domain boundary when its hosts sit under more than one domain of
    the finest level above ``kubernetes.io/hostname`` (a bipartite clique-domain graph: a
    clique with degree > 1)."""
    if not cliques:
        return None
    above = [key for key in levels if key != "kubernetes.io/hostname"]
    within = above[-1] if above else None
    bipartite = nx.Graph()
    members: dict[str, int] = {}
    for vertex in graph.nodes:
        leaf = leaf_of(graph, vertex)
        if leaf is None or leaf not in cliques:
            continue
        clique = ("clique", cliques[leaf])
        members[clique[1]] = members.get(clique[1], 0) + 1
        bipartite.add_node(clique)
        if within is None:
            continue
        for ancestor in nx.ancestors(graph, vertex):
            if ancestor[0] == within:
                bipartite.add_edge(clique, ancestor)
    spanning = sum(1 for c in members if bipartite.degree(("clique", c)) > 1)
    sizes = list(members.values())
    return CliqueStats(len(members), (min(sizes), max(sizes)), within, spanning)
