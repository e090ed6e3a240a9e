"""The cluster's topology tree, drawn with each domain's accelerator use (networkx + Agg).

Who calls: :func:`simulator.report.html.write_report`, with the stranded-capacity snapshot
(:func:`simulator.plans.stranded.measure`): node names, their topology labels, and per node
the accelerators in service and held at the snapshot time.

The tree is :func:`scheduler.topology.graph.build_graph` (cluster -> zone -> block -> rack ->
node). :func:`domain_use` sums accelerators and use into every vertex in one post-order walk.
The drawing is a layered tree (leaves left to right in tree order, one row per level): a
vertex's colour is its use (white = idle, dark = full, grey = no accelerators); racks and
coarser domains are labelled ``used/total``. Clusters of more than :data:`MAX_LEAVES` nodes are
drawn down to racks only, nodes folded into their rack.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from typing import Any

import networkx as nx
from matplotlib import colormaps
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import Normalize
from matplotlib.figure import Figure

from scheduler.topology.domains import TopologyDomains
from scheduler.topology.graph import ROOT, build_graph, leaf_of

__all__ = ["MAX_LEAVES", "domain_use", "draw", "topology_graph"]

MAX_LEAVES = 160


def topology_graph(snapshot: Mapping[str, Any]) -> nx.DiGraph:
    """The snapshot's topology tree with ``total``/``used`` accelerators on every vertex."""
    names: Sequence[str] = snapshot["nodes"]
    graph = build_graph(TopologyDomains.build(snapshot["labels"], snapshot["levels"]), names)
    per_node = {
        n: (int(t), float(u))
        for n, t, u in zip(names, snapshot["accelerators"], snapshot["used"], strict=True)
    }
    domain_use(graph, per_node)
    return graph


def domain_use(graph: nx.DiGraph, per_node: Mapping[str, tuple[int, float]]) -> None:
    """Set ``total`` and ``used`` on every vertex: a node's own, a domain's summed below."""
    for vertex in nx.dfs_postorder_nodes(graph, ROOT):
        leaf = leaf_of(graph, vertex)
        total, used = per_node.get(leaf, (0, 0.0)) if leaf is not None else (0, 0.0)
        for child in graph.successors(vertex):
            total += graph.nodes[child]["total"]
            used += graph.nodes[child]["used"]
        graph.nodes[vertex]["total"] = total
        graph.nodes[vertex]["used"] = round(used, 3)


def _folded(graph: nx.DiGraph) -> nx.DiGraph:
    """``graph`` without its leaves when there are too many to draw."""
    leaves = [v for v in graph if graph.out_degree(v) == 0]
    if len(leaves) <= MAX_LEAVES:
        return graph
    return graph.subgraph([v for v in graph if graph.out_degree(v) > 0]).copy()


def _layout(graph: nx.DiGraph) -> dict[Any, tuple[float, float]]:
    depth = nx.shortest_path_length(graph, ROOT)
    x: dict[Any, float] = {}
    order = 0
    for vertex in nx.dfs_postorder_nodes(graph, ROOT):
        children = list(graph.successors(vertex))
        if children:
            x[vertex] = sum(x[c] for c in children) / len(children)
        else:
            x[vertex] = float(order)
            order += 1
    return {v: (x[v], -float(depth[v])) for v in graph}


def _short(vertex: tuple[str, str]) -> str:
    key, name = vertex
    if vertex == ROOT:
        return "cluster"
    tail = name.rpartition("/")[2]
    return tail if key in ("node", "kubernetes.io/hostname") else f"{key.rpartition('/')[2]} {tail}"


def draw(snapshot: Mapping[str, Any]) -> bytes:
    """The tree as a PNG (see the module docstring)."""
    graph = _folded(topology_graph(snapshot))
    positions = _layout(graph)
    leaves = sum(1 for v in graph if graph.out_degree(v) == 0)
    width = min(max(7.0, 0.22 * leaves), 16.0)
    figure = Figure(figsize=(width, 3.8), dpi=110, layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    axes.set_axis_off()
    cmap = colormaps["Blues"]
    norm = Normalize(0.0, 1.0)
    colors = []
    for vertex in graph:
        total = graph.nodes[vertex]["total"]
        colors.append(
            "#d0d7de" if total == 0 else cmap(0.08 + 0.92 * graph.nodes[vertex]["used"] / total)
        )
    nx.draw_networkx_edges(graph, positions, ax=axes, edge_color="#8c959f", arrows=False, width=0.6)
    nx.draw_networkx_nodes(
        graph,
        positions,
        ax=axes,
        node_color=colors,
        node_size=[90 if graph.out_degree(v) == 0 else 260 for v in graph],
        edgecolors="#57606a",
        linewidths=0.5,
    )
    labels = {
        v: f"{_short(v)}\n{graph.nodes[v]['used']:g}/{graph.nodes[v]['total']}"
        for v in graph
        if graph.out_degree(v) > 0
    }
    nx.draw_networkx_labels(graph, positions, labels=labels, ax=axes, font_size=6)
    mappable = figure.colorbar(
        _scalar(cmap, norm), ax=axes, fraction=0.025, pad=0.01, label="accelerators in use"
    )
    mappable.ax.tick_params(labelsize=7)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", metadata={"Software": None})
    return buffer.getvalue()


def _scalar(cmap: Any, norm: Normalize) -> Any:
    from matplotlib.cm import ScalarMappable  # noqa: PLC0415 - only for the colour bar

    return ScalarMappable(norm=norm, cmap=cmap)
