"""What a plan report says: the tables' rows and one plain-language paragraph per finding.

Who calls: :func:`simulator.report.html.write_report`, which renders what :func:`findings`
returns through the Jinja2 template. Everything is computed from the plan's summary
(:mod:`simulator.plans.run`) — the report states nothing the summary does not hold.

"Worst seed" throughout: the largest value over the seeds for waits, the smallest for batch
GPU-hours; a target holds only if it holds on every seed.
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from typing import Any

from simulator.plans.points import TARGET_METRICS
from simulator.report.plots import pareto_front, worst

__all__ = ["findings", "fmt", "size_rows"]


def fmt(value: Any, digits: int = 1) -> str:
    """A number for a table: ``-`` for None, thousands separators, ``digits`` decimals
    (none for integers)."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    return str(value)


def _mix(pools: Mapping[str, int]) -> str:
    return ", ".join(f"{n} x {name}" for name, n in pools.items() if n) or "none"


def _mean(point: Mapping[str, Any], policy: str, key: str) -> float | None:
    values = [
        float(s["metrics"][key])
        for s in point["policies"][policy]["seeds"].values()
        if "metrics" in s and s["metrics"][key] is not None
    ]
    return round(statistics.fmean(values), 3) if values else None


def _worst_seed(point: Mapping[str, Any], policy: str, getter: Any, largest: bool) -> Any:
    values = [
        getter(s["metrics"])
        for s in point["policies"][policy]["seeds"].values()
        if "metrics" in s and getter(s["metrics"]) is not None
    ]
    if not values:
        return None
    return max(values) if largest else min(values)


def size_rows(summary: Mapping[str, Any], variant: str = "search") -> list[dict[str, Any]]:
    """Per evaluated point of ``variant`` and policy: pools, cost, serving pending
    p50/p95/p99 (worst seed), gang wait p99, batch GPU-hours done per day (worst seed) and
    lost (mean), allocation and fragmentation (mean), whether every target held."""
    rows = []
    points = sorted(
        (p for p in summary["points"] if p["variant"] == variant),
        key=lambda p: (p["cost_per_hour"], p["id"]),
    )
    for point in points:
        for policy, entry in point["policies"].items():
            serving = {
                q: _worst_seed(point, policy, lambda m, q=q: m["serving_pending_seconds"][q], True)
                for q in ("p50", "p95", "p99")
            }
            rows.append(
                {
                    "id": point["id"],
                    "pools": _mix(point["pools"]),
                    "cost": fmt(point["cost_per_hour"], 2),
                    "policy": policy,
                    "serving_p50": fmt(serving["p50"]),
                    "serving_p95": fmt(serving["p95"]),
                    "serving_p99": fmt(serving["p99"]),
                    "never": fmt(
                        _worst_seed(point, policy, lambda m: m["serving_never_placed"], True)
                    ),
                    "gang_p99": fmt(worst(point, policy, "gang_p99")),
                    "batch_day": fmt(worst(point, policy, "batch_gpu_hours_per_day"), 0),
                    "batch_done": fmt(_mean(point, policy, "batch_gpu_hours"), 0),
                    "batch_lost": fmt(_mean(point, policy, "batch_lost_gpu_hours"), 1),
                    "alloc": fmt(_mean(point, policy, "gpu_alloc_mean_pct")),
                    "frag": fmt(_mean(point, policy, "gpu_frag_mean_pct"), 2),
                    "ok": entry["ok"],
                    "error": next(
                        (s["error"] for s in entry["seeds"].values() if "error" in s), ""
                    ),
                }
            )
    return rows


def _target_words(name: str, bound: float) -> str:
    label, op, unit = TARGET_METRICS[name]
    return f"{label} {'at most' if op == '<=' else 'at least'} {bound:g}{unit and ' ' + unit}"


def _failed_targets(point: Mapping[str, Any], policy: str) -> list[str]:
    out = []
    for seed, entry in point["policies"][policy]["seeds"].items():
        for name, check in entry.get("checks", {}).items():
            if not check["ok"]:
                value = "never measured" if check["value"] is None else f"{check['value']:g}"
                out.append(f"{TARGET_METRICS[name][0]} {value} on seed {seed}")
    return out


def _answer(summary: Mapping[str, Any], by_id: Mapping[str, Any]) -> str:
    rec = summary["recommendation"]
    targets = summary["inputs"]["targets"]
    wanted = "; ".join(_target_words(n, b) for n, b in targets.items())
    if rec is None:
        return (
            f"{summary['result']['message']}. The targets were: {wanted}. Raise the pools' "
            "maximum counts, relax a target, or add a pool."
        )
    point = by_id[rec["point"]]
    policy = rec["policy"]
    text = (
        f"Buy {_mix(rec['pools'])} for {rec['cost_per_hour']:,.2f} per hour and schedule "
        f"with the {policy} policy: every target ({wanted}) holds on every seed "
        f"({', '.join(str(s) for s in summary['inputs']['seeds'])})."
    )
    p99 = worst(point, policy, "serving_p99")
    batch = worst(point, policy, "batch_gpu_hours_per_day")
    text += (
        f" There, serving pods wait at most {fmt(p99)} s at the 99th percentile and batch "
        f"gets at least {fmt(batch, 0)} GPU-hours a day (worst seed)."
    )
    smaller = []
    for name in rec["binding_pools"]:
        pools = {**rec["pools"], name: rec["pools"][name] - 1}
        below = next(
            (
                p
                for p in summary["points"]
                if p["variant"] == "search" and p["pools"] == pools and not p["passed"]
            ),
            None,
        )
        if below is not None:
            failed = _failed_targets(below, policy) if policy in below["policies"] else []
            smaller.append(
                f"with one {name} node fewer ({below['id']}) no policy meets every target"
                + (f" ({policy}: {'; '.join(failed[:3])})" if failed else "")
            )
    if smaller:
        text += " The answer is tight: " + "; ".join(smaller) + "."
    if rec["pools"] and not rec["binding_pools"]:
        text += " Every pool is at its minimum count, so the bounds, not the targets, decide."
    return text


def _policies_text(summary: Mapping[str, Any], point: Mapping[str, Any]) -> str:
    parts = []
    for policy in point["policies"]:
        parts.append(
            f"{policy} {'meets' if point['policies'][policy]['ok'] else 'misses'} the targets "
            f"(serving p99 {fmt(worst(point, policy, 'serving_p99'))} s, gang wait p99 "
            f"{fmt(worst(point, policy, 'gang_p99'))} s, batch "
            f"{fmt(worst(point, policy, 'batch_gpu_hours_per_day'), 0)} GPU-h/day, "
            f"{fmt(_mean(point, policy, 'batch_lost_gpu_hours'))} batch GPU-h lost to "
            "preemption and failures)"
        )
    where = _mix(point["pools"])
    if len(parts) == 1:
        return f"At {where}, {parts[0]}."
    return f"At {where}: " + "; ".join(parts) + "."


def _search_text(summary: Mapping[str, Any]) -> str:
    search = summary["search"]
    path = search["path"]
    phases = {
        phase: sum(1 for s in path if s["phase"] == phase) for phase in ("top", "bisect", "local")
    }
    text = (
        f"The search asked {len(path)} questions about {search['points_evaluated']} distinct "
        f"pool mixes ({search['replays']} replays in all, counting the what-ifs and the "
        f"stranded-capacity snapshot): the top ({phases['top']}), bisection per pool "
        f"({phases['bisect']}) and local search on the mix ({phases['local']})."
    )
    if search["truncated"]:
        text += " It stopped at the plan's point budget (search.maxPoints)."
    return text


def _pareto_text(summary: Mapping[str, Any]) -> str:
    front = pareto_front(summary)
    pairs = sum(len(p["policies"]) for p in summary["points"] if p["variant"] == "search")
    if not front:
        return "No evaluated point measured a serving pending time."
    cheapest = front[0]
    values = {
        worst(p, policy, "serving_p99")
        for p in summary["points"]
        if p["variant"] == "search"
        for policy in p["policies"]
    }
    if len(values) == 1:
        return (
            f"Every evaluated (mix, policy) pair has the same serving p99 ({cheapest[1]:g} s): "
            "serving never waited longer at any size the search tried (it preempts batch), so "
            "the front is the cheapest pair and the batch targets decide the size."
        )
    text = (
        f"{len(front)} of the {pairs} evaluated (mix, policy) pairs are on the cost / serving "
        f"latency front: none of the others is both cheaper and faster. The cheapest is "
        f"{cheapest[2]} under {cheapest[3]} at {cheapest[0]:,.2f} per hour with a serving p99 "
        f"of {cheapest[1]:g} s"
    )
    bound = summary["inputs"]["targets"].get("serving_pending_p99")
    if bound is not None:
        inside = [f for f in front if f[1] <= bound + 1e-9]
        if inside:
            text += f"; the cheapest within the {bound:g} s target costs {inside[0][0]:,.2f}"
    return text + "."


def _stranded_text(stranded: Mapping[str, Any] | None) -> str:
    if stranded is None:
        return ""
    if "error" in stranded:
        return f"The snapshot replay failed: {stranded['error']}"
    hours = (stranded["time"] or 0) / 3600
    parts = [
        f"{s['label']}: {s['fits']}{' or more' if s['capped'] else ''} more fit "
        f"({s['stranded']:g} free accelerators stranded for that shape)"
        for s in stranded["shapes"]
    ]
    text = (
        f"{hours:g} h into seed {stranded['seed']} under {stranded['policy']}, "
        f"{stranded['used']:g} of {stranded['accelerators']} accelerators are in use and "
        f"{stranded['free']:g} are free. Placed by the policy's own scheduler on that state, "
        f"without preempting anything: " + "; ".join(parts) + "."
    )
    if stranded["free"] == 0:
        text += " Nothing is stranded because nothing is free: batch fills every gap."
    return text


def _what_if_rows(summary: Mapping[str, Any], by_id: Mapping[str, Any]) -> list[dict[str, Any]]:
    rows = []
    answer = by_id[summary["answer_point"]]
    policy = summary["answer_policy"]
    for case in summary["what_if"]:
        row: dict[str, Any] = {"title": case["title"], "detail": case["detail"]}
        if "skipped" in case:
            row.update(skipped=case["skipped"], text=f"Skipped: {case['skipped']}.")
            rows.append(row)
            continue
        point = by_id[case["point"]]
        metrics = {
            "serving_p99": worst(point, policy, "serving_p99"),
            "gang_p99": worst(point, policy, "gang_p99"),
            "batch_day": worst(point, policy, "batch_gpu_hours_per_day"),
        }
        base = {
            "serving_p99": worst(answer, policy, "serving_p99"),
            "gang_p99": worst(answer, policy, "gang_p99"),
            "batch_day": worst(answer, policy, "batch_gpu_hours_per_day"),
        }
        failed = _failed_targets(point, policy)
        row.update(
            ok=point["passed"],
            serving_p99=fmt(metrics["serving_p99"]),
            gang_p99=fmt(metrics["gang_p99"]),
            batch_day=fmt(metrics["batch_day"], 0),
            error=case.get("error", ""),
            partial=bool(case.get("left_out")),
        )
        verdict = (
            "every target still holds"
            if point["passed"]
            else ("targets fail: " + "; ".join(failed[:4]) if failed else "the replays failed")
        )
        row["text"] = (
            f"{case['detail'][:1].upper()}{case['detail'][1:]}: {verdict}. Serving p99 "
            f"{fmt(base['serving_p99'])} -> {fmt(metrics['serving_p99'])} s, batch "
            f"{fmt(base['batch_day'], 0)} -> {fmt(metrics['batch_day'], 0)} GPU-h/day (worst "
            "seed)."
        )
        if case.get("error"):
            row["text"] += f" Error: {case['error']}"
        rows.append(row)
    return rows


def _topology_text(
    snapshot: Mapping[str, Any] | None, graph_domains: Sequence[tuple[str, float, int]]
) -> str:
    if snapshot is None or "error" in snapshot or not graph_domains:
        return ""
    busiest = max(graph_domains, key=lambda d: (d[1] / d[2] if d[2] else 0.0, d[0]))
    idlest = min(graph_domains, key=lambda d: (d[1] / d[2] if d[2] else 1.0, d[0]))
    if all(d[1] >= d[2] for d in graph_domains):
        return f"At the snapshot every one of the {len(graph_domains)} racks is fully in use."
    return (
        f"At the snapshot the busiest rack is {busiest[0]} ({busiest[1]:g} of {busiest[2]} "
        f"accelerators in use) and the least used is {idlest[0]} ({idlest[1]:g} of "
        f"{idlest[2]})."
    )


def findings(
    summary: Mapping[str, Any],
    racks: Sequence[tuple[str, float, int]] = (),
    snapshot: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Everything the template renders (see the module docstring); ``racks`` are the
    snapshot's (rack, used, total) from the topology tree."""
    by_id = {p["id"]: p for p in summary["points"]}
    answer = by_id[summary["answer_point"]]
    what_ifs = _what_if_rows(summary, by_id)
    paragraphs = [
        {"title": "The answer", "text": _answer(summary, by_id)},
        {"title": "Policies at that size", "text": _policies_text(summary, answer)},
        {"title": "Cost against serving latency", "text": _pareto_text(summary)},
        {"title": "How the answer was found", "text": _search_text(summary)},
    ]
    stranded_text = _stranded_text(summary.get("stranded"))
    if stranded_text:
        paragraphs.append({"title": "Stranded capacity", "text": stranded_text})
    topology_text = _topology_text(snapshot, racks)
    if topology_text:
        paragraphs.append({"title": "Topology", "text": topology_text})
    for row in what_ifs:
        paragraphs.append({"title": f"What if: {row['title']}", "text": row["text"]})
    return {
        "headline": summary["result"]["message"],
        "met": summary["result"]["met"],
        "paragraphs": paragraphs,
        "size_rows": size_rows(summary),
        "what_if_rows": what_ifs,
        "path": summary["search"]["path"],
        "fmt": fmt,
        "mix": _mix,
    }
