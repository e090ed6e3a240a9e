"""Writing a plan report: ``report.html``, ``plots/*.png`` and ``summary.json``, all at once.

Who calls: ``tessera plan`` (:mod:`simulator.cli.plan`) with the outcome of
:func:`simulator.plans.run.run_plan`. :func:`write_report` renders the plots
(:mod:`simulator.report.plots`, :mod:`simulator.report.topology`), the findings
(:mod:`simulator.report.findings`) and the Jinja2 template ``templates/report.html.j2``
(package data) into a staging directory that replaces ``DIR`` whole when everything is
written (:func:`simulator.atomic.staged_tree`).

``report.html`` is self-contained: its CSS is inline and every image is a ``data:image/png``
URI of the same bytes as the PNG in ``plots/``; it runs no script and loads nothing.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from simulator.atomic import staged_tree
from simulator.plans.run import PlanOutcome
from simulator.report import plots
from simulator.report.findings import findings
from simulator.report.summary_json import summary_bytes
from simulator.report.topology import draw, topology_graph

__all__ = ["REPORT_FILES", "render_html", "report_plots", "write_report"]

REPORT_FILES = ("report.html", "summary.json", "plots")


def _timeline_series(outcome: PlanOutcome) -> list[tuple[str, Mapping[str, Any]]]:
    """The answer's timelines (first seed, each policy), and the one-node-smaller mix's."""
    summary = outcome.summary
    seed = summary["inputs"]["seeds"][0]
    answer = summary["answer_point"]
    by_id = {p["id"]: p for p in summary["points"]}
    series: list[tuple[str, Mapping[str, Any]]] = []
    for policy in by_id[answer]["policies"]:
        found = outcome.timelines.get((answer, policy, seed))
        if found is not None:
            series.append((f"{policy} @ answer", found))
    rec = summary.get("recommendation")
    if rec is not None:
        for name in rec["binding_pools"][:1]:
            pools = {**rec["pools"], name: rec["pools"][name] - 1}
            below = next(
                (p for p in summary["points"] if p["variant"] == "search" and p["pools"] == pools),
                None,
            )
            if below is not None:
                found = outcome.timelines.get((below["id"], rec["policy"], seed))
                if found is not None:
                    series.append((f"{rec['policy']} @ {name} -1", found))
    return series


def report_plots(outcome: PlanOutcome) -> dict[str, bytes]:
    """File name -> PNG bytes of every plot of the report."""
    summary = outcome.summary
    out = {
        "pareto.png": plots.pareto(summary),
        "batch-hours.png": plots.batch_hours(summary),
        "search-path.png": plots.search_path(summary),
    }
    series = _timeline_series(outcome)
    if series:
        out["timeline.png"] = plots.timelines(series)
    snapshot = outcome.snapshot
    if snapshot is not None and "error" not in snapshot:
        if snapshot["shapes"]:
            out["stranded.png"] = plots.stranded(snapshot["shapes"], snapshot["free"])
        out["topology.png"] = draw(snapshot)
    return out


def _racks(snapshot: Mapping[str, Any] | None) -> list[tuple[str, float, int]]:
    if snapshot is None or "error" in snapshot:
        return []
    graph = topology_graph(snapshot)
    rack_level = next((k for k in snapshot["levels"] if k.endswith("/rack")), None)
    if rack_level is None:
        return []
    return [
        (v[1], float(graph.nodes[v]["used"]), int(graph.nodes[v]["total"]))
        for v in graph
        if v[0] == rack_level and graph.nodes[v]["total"] > 0
    ]


def _environment() -> Environment:
    return Environment(
        loader=PackageLoader("simulator.report", "templates"),
        autoescape=select_autoescape(["html", "j2"]),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def render_html(outcome: PlanOutcome, images: Mapping[str, bytes]) -> str:
    """``report.html`` for the outcome, with ``images`` inlined."""
    summary = outcome.summary
    context = findings(summary, _racks(outcome.snapshot), outcome.snapshot)
    uris = {
        name: "data:image/png;base64," + base64.b64encode(data).decode("ascii")
        for name, data in images.items()
    }
    plan = summary["inputs"]["plan"]
    return (
        _environment()
        .get_template("report.html.j2")
        .render(
            summary=summary,
            plan=plan,
            images=uris,
            stranded=summary.get("stranded"),
            **context,
        )
    )


def write_report(outcome: PlanOutcome, out: Path) -> list[Path]:
    """Write ``out/report.html``, ``out/plots/*.png`` and ``out/summary.json`` (replacing
    ``out`` whole; see the module docstring); the files written."""
    data = summary_bytes(outcome.summary)
    images = report_plots(outcome)
    html = render_html(outcome, images)
    with staged_tree(Path(out)) as staging:
        (staging / "plots").mkdir()
        for name, png in images.items():
            (staging / "plots" / name).write_bytes(png)
        (staging / "summary.json").write_bytes(data)
        (staging / "report.html").write_text(html, encoding="utf-8")
    root = Path(out)
    return [root / "report.html", root / "summary.json", *(root / "plots" / n for n in images)]
