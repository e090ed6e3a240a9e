"""The topology tree as a networkx graph (root -> level domains -> nodes).

Built from :class:`~scheduler.topology.domains.TopologyDomains` once per node-set
generation and shared read-only; used for reporting (``tessera cluster show``), for
walking a domain's sub-domains, and by anything that wants graph algorithms over the
fabric. Per-cycle numbers never live on graph nodes (STYLE.md habit 4).
"""

from __future__ import annotations

from collections.abc import Sequence

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
