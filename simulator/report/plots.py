"""The plots of a plan report, as PNG bytes (matplotlib, Agg canvas, no global state).

Who calls: :func:`simulator.report.html.write_report`, which writes each PNG to
``DIR/plots/`` and inlines it in ``report.html`` as a data URI. Every function takes the
plan's summary (:mod:`simulator.plans.run`) — plus, for the timelines, the plot-only data —
and returns one figure; none reads files or the clock, and PNG metadata carries no software
version, so the same summary gives the same bytes.

* :func:`pareto` — cost per hour against the achieved serving pending p99 (worst seed), one
  series per policy, the Pareto front of all evaluated (point, policy) pairs drawn through;
* :func:`batch_hours` — batch GPU-hours per day (worst seed) against cost, per policy, with
  the target;
* :func:`search_path` — the cost of every point the search asked about, in order, marked
  passed or failed;
* :func:`timelines` — GPU allocation and fragmentation over time at the answer (and at the
  mix one node smaller in a binding pool, when it was evaluated), per policy, first seed;
* :func:`stranded` — free accelerators and how many more pods of each probe shape fit.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from typing import Any

from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

__all__ = [
    "batch_hours",
    "pareto",
    "pareto_front",
    "search_path",
    "stranded",
    "timelines",
    "worst",
]

COLORS = ("#1f6feb", "#d1242f", "#1a7f37", "#9a6700", "#8250df", "#bf3989", "#57606a")
DPI = 110


def _figure(width: float = 7.0, height: float = 3.6) -> tuple[Figure, Axes]:
    figure = Figure(figsize=(width, height), dpi=DPI, layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    axes.grid(True, color="#d0d7de", linewidth=0.6)
    axes.set_axisbelow(True)
    return figure, axes


def _png(figure: Figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", metadata={"Software": None})
    return buffer.getvalue()


def worst(point: Mapping[str, Any], policy: str, metric: str) -> float | None:
    """A policy's worst value over the seeds at a point: the largest for waits (``*_p99``
    names and pending), the smallest for batch GPU-hours; None when no seed measured it."""
    seeds = point["policies"][policy]["seeds"].values()
    values = []
    for seed in seeds:
        metrics = seed.get("metrics")
        if metrics is None:
            continue
        if metric == "serving_p99":
            value = metrics["serving_pending_seconds"]["p99"]
        elif metric == "gang_p99":
            value = metrics["gang_wait_seconds"]["p99"]
        else:
            value = metrics[metric]
        if value is not None:
            values.append(float(value))
    if not values:
        return None
    return min(values) if metric == "batch_gpu_hours_per_day" else max(values)


def _search_points(summary: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return [p for p in summary["points"] if p["variant"] == "search"]


def pareto_front(summary: Mapping[str, Any]) -> list[tuple[float, float, str, str]]:
    """The (cost, serving p99, point id, policy) pairs no other pair beats on both (lower
    cost and lower p99), by increasing cost."""
    pairs = []
    for point in _search_points(summary):
        for policy in point["policies"]:
            p99 = worst(point, policy, "serving_p99")
            if p99 is not None:
                pairs.append((float(point["cost_per_hour"]), p99, point["id"], policy))
    pairs.sort(key=lambda x: (x[0], x[1]))
    front: list[tuple[float, float, str, str]] = []
    for pair in pairs:
        if not front or pair[1] < front[-1][1] - 1e-9:
            front.append(pair)
    return front


def _policies(summary: Mapping[str, Any]) -> list[str]:
    return list(summary["inputs"]["plan"].get("policies", ["tessera"]))


def _mark_answer(axes: Axes, summary: Mapping[str, Any], y: float | None) -> None:
    rec = summary.get("recommendation")
    if rec is not None and y is not None:
        axes.scatter(
            [rec["cost_per_hour"]],
            [y],
            s=220,
            facecolors="none",
            edgecolors="#000000",
            linewidths=1.6,
            label="recommended",
            zorder=5,
        )


def _series(
    points: list[Mapping[str, Any]], policy: str, metric: str
) -> tuple[list[float], list[float]]:
    """(cost per hour, worst-seed ``metric``) of ``policy`` at each point that has a value."""
    xs, ys = [], []
    for point in points:
        value = worst(point, policy, metric)
        if value is not None:
            xs.append(point["cost_per_hour"])
            ys.append(value)
    return xs, ys


def _finish_against_cost(
    figure: Figure, axes: Axes, summary: Mapping[str, Any], metric: str, target: str, ylabel: str
) -> bytes:
    """Draw the plan's ``target`` bound and circle the recommendation's worst-seed ``metric``
    on a metric-against-cost plot; label the axes and return the PNG."""
    bound = summary["inputs"]["targets"].get(target)
    if bound is not None:
        axes.axhline(bound, color="#d1242f", linewidth=0.8, linestyle=":", label="target")
    rec = summary.get("recommendation")
    if rec is not None:
        point = next(p for p in summary["points"] if p["id"] == rec["point"])
        _mark_answer(axes, summary, worst(point, rec["policy"], metric))
    axes.set_xlabel("cost per hour")
    axes.set_ylabel(ylabel)
    axes.legend(fontsize=8, loc="best")
    return _png(figure)


def pareto(summary: Mapping[str, Any]) -> bytes:
    """Cost against serving pending p99 (see the module docstring)."""
    figure, axes = _figure()
    points = _search_points(summary)
    for k, policy in enumerate(_policies(summary)):
        xs, ys = _series(points, policy, "serving_p99")
        axes.scatter(xs, ys, color=COLORS[k % len(COLORS)], label=policy, s=28, zorder=3)
    front = pareto_front(summary)
    if front:
        axes.step(
            [f[0] for f in front],
            [f[1] for f in front],
            where="post",
            color="#57606a",
            linewidth=1.0,
            linestyle="--",
            label="Pareto front",
        )
    return _finish_against_cost(
        figure,
        axes,
        summary,
        "serving_p99",
        "serving_pending_p99",
        "serving pending p99 (s, worst seed)",
    )


def batch_hours(summary: Mapping[str, Any]) -> bytes:
    """Batch GPU-hours per day against cost (see the module docstring)."""
    figure, axes = _figure()
    points = sorted(_search_points(summary), key=lambda p: p["cost_per_hour"])
    for k, policy in enumerate(_policies(summary)):
        xs, ys = _series(points, policy, "batch_gpu_hours_per_day")
        axes.plot(xs, ys, marker="o", markersize=4, color=COLORS[k % len(COLORS)], label=policy)
    return _finish_against_cost(
        figure,
        axes,
        summary,
        "batch_gpu_hours_per_day",
        "batch_gpu_hours_per_day",
        "batch GPU-hours per day (worst seed)",
    )


def search_path(summary: Mapping[str, Any]) -> bytes:
    """Every point the search asked about (see the module docstring)."""
    figure, axes = _figure(7.0, 3.0)
    path = summary["search"]["path"]
    steps = [s["step"] for s in path]
    costs = [s["cost_per_hour"] for s in path]
    axes.plot(steps, costs, color="#8c959f", linewidth=0.8, zorder=1)
    for passed, color, label in ((True, "#1a7f37", "passes"), (False, "#d1242f", "fails")):
        xs = [s["step"] for s in path if s["passed"] is passed]
        ys = [s["cost_per_hour"] for s in path if s["passed"] is passed]
        axes.scatter(xs, ys, color=color, label=label, s=30, zorder=3)
    axes.set_xlabel("question asked (in order)")
    axes.set_ylabel("cost per hour")
    if steps:
        axes.set_xticks(steps)
    axes.legend(fontsize=8, loc="best")
    return _png(figure)


def timelines(
    series: Sequence[tuple[str, Mapping[str, Sequence[float]]]],
) -> bytes:
    """GPU allocation (solid) and fragmentation (dotted) over time, one colour per labelled
    timeline."""
    figure, axes = _figure(7.0, 3.6)
    for k, (label, columns) in enumerate(series):
        hours = [m / 60.0 for m in columns["minute"]]
        color = COLORS[k % len(COLORS)]
        axes.plot(hours, columns["alloc_pct"], color=color, linewidth=1.2, label=f"{label} alloc")
        axes.plot(
            hours,
            columns["frag_pct"],
            color=color,
            linewidth=1.0,
            linestyle=":",
            label=f"{label} frag",
        )
    axes.set_xlabel("hours")
    axes.set_ylabel("% of GPU capacity")
    axes.set_ylim(0, 105)
    axes.legend(fontsize=7, loc="lower right", ncol=2)
    return _png(figure)


def stranded(shapes: Sequence[Mapping[str, Any]], free: float) -> bytes:
    """Per probe shape: how many more fit, and the accelerators left stranded."""
    figure, axes = _figure(7.0, 2.6)
    labels = [s["label"] for s in shapes]
    fits = [s["fits"] for s in shapes]
    bars = axes.barh(labels, fits, color="#1f6feb")
    for bar, shape in zip(bars, shapes, strict=True):
        text = (
            f" {shape['fits']}{'+' if shape['capped'] else ''} fit; {shape['stranded']:g} stranded"
        )
        axes.text(
            bar.get_width(), bar.get_y() + bar.get_height() / 2, text, va="center", fontsize=8
        )
    axes.set_xlabel(f"more pods that fit now ({free:g} accelerators free)")
    axes.invert_yaxis()
    axes.set_xlim(0, max([*fits, 1]) * 1.6)
    return _png(figure)
