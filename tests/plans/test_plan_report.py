"""``tessera plan`` end to end on a small plan: the conclusion (checked again on fresh
replays), the report (rendered in headless Chromium), Ray against the local pool, an
unreachable target, and Ctrl-C."""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml
from typer.testing import CliRunner

from scripts.report_screenshot import render
from simulator.cli import app
from simulator.plans.model import load_plan
from simulator.plans.points import ReplayTask, run_task, target_checks

ROOT = Path(__file__).resolve().parents[2]
SMALL = ROOT / "tests" / "plans" / "fixtures" / "small.yaml"
runner = CliRunner()


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The small plan's report, made once by the CLI on the local process pool."""
    out = tmp_path_factory.mktemp("plan") / "report"
    result = runner.invoke(app, ["plan", str(SMALL), "--out", str(out), "--workers", "2"])
    assert result.exit_code == 0, result.output
    yield out


def _summary(report: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((report / "summary.json").read_text())
    return data


def _holds(point: dict[str, Any], policy: str, targets: dict[str, float]) -> bool:
    """Recompute the targets from the per-seed metrics (not the stored verdicts)."""
    seeds = point["policies"][policy]["seeds"].values()
    return all(all(c["ok"] for c in target_checks(s["metrics"], targets).values()) for s in seeds)


def test_summary_echoes_inputs_and_answers(report: Path) -> None:
    """schemaVersion, the plan echoed, a recommendation {pools, cost_per_hour, policy}, every
    evaluated point with its metrics, and the search path."""
    summary = _summary(report)
    assert summary["schemaVersion"] == 1
    assert summary["inputs"]["plan"]["metadata"]["name"] == "small"
    assert summary["inputs"]["targets"] == {
        "serving_pending_p99": 120.0,
        "batch_gpu_hours_per_day": 1500.0,
    }
    rec = summary["recommendation"]
    assert set(rec) >= {"pools", "cost_per_hour", "policy"}
    assert rec["cost_per_hour"] == pytest.approx(88.5 * rec["pools"]["h100"])
    assert summary["search"]["points_evaluated"] == len(
        [p for p in summary["points"] if p["variant"] == "search"]
    )
    steps = summary["search"]["path"]
    assert steps[0]["phase"] == "top" and steps[0]["pools"] == {"h100": 40}
    assert all(
        "metrics" in s
        for p in summary["points"]
        for s in p["policies"]["tessera"]["seeds"].values()
    )
    assert {w["name"] for w in summary["what_if"]} == {"lose-rack", "device-plugin"}


def test_conclusion_every_target_holds_and_one_node_fewer_fails(report: Path) -> None:
    """At the recommendation every target holds on every seed (recomputed from the metrics);
    with one node fewer in the binding pool some target fails; and no cheaper evaluated
    point passes."""
    summary = _summary(report)
    targets = summary["inputs"]["targets"]
    rec = summary["recommendation"]
    by_pools = {json.dumps(p["pools"]): p for p in summary["points"] if p["variant"] == "search"}
    answer = by_pools[json.dumps(rec["pools"])]
    assert _holds(answer, rec["policy"], targets)
    assert rec["binding_pools"] == ["h100"]
    smaller = {**rec["pools"], "h100": rec["pools"]["h100"] - 1}
    below = by_pools[json.dumps(smaller)]
    assert not any(_holds(below, policy, targets) for policy in below["policies"])
    for point in by_pools.values():
        if point["cost_per_hour"] < rec["cost_per_hour"]:
            assert not any(_holds(point, p, targets) for p in point["policies"])


def test_conclusion_on_fresh_replays(report: Path) -> None:
    """The recommended mix and the mix one node smaller, replayed again here from the plan
    (not read from the report): the same metrics as the report's points, targets hold at the
    answer and fail below it."""
    summary = _summary(report)
    rec = summary["recommendation"]
    resolved = load_plan(SMALL)
    targets = summary["inputs"]["targets"]
    for delta, expect in ((0, True), (-1, False)):
        pools = {"h100": rec["pools"]["h100"] + delta}
        point = next(
            p for p in summary["points"] if p["variant"] == "search" and p["pools"] == pools
        )
        for seed in resolved.seeds:
            task = ReplayTask(
                resolved.scenario_data,
                resolved.cluster_data((pools["h100"],)),
                rec["policy"],
                seed,
                name="small",
            )
            fresh = run_task(task)["metrics"]
            assert fresh == point["policies"][rec["policy"]]["seeds"][str(seed)]["metrics"]
            verdict = all(c["ok"] for c in target_checks(fresh, targets).values())
            assert verdict is expect, (pools, target_checks(fresh, targets))


def test_report_is_self_contained(report: Path) -> None:
    """report.html loads nothing: every image is a data URI of the PNG written to plots/."""
    html = (report / "report.html").read_text()
    assert "http://" not in html and "https://" not in html and "<script" not in html
    pngs = sorted((report / "plots").glob("*.png"))
    assert {p.name for p in pngs} >= {
        "pareto.png",
        "batch-hours.png",
        "search-path.png",
        "topology.png",
    }
    for png in pngs:
        data = png.read_bytes()
        assert data.startswith(b"\x89PNG")
        assert base64.b64encode(data).decode() in html, png.name
    assert html.count("<img ") == len(pngs)


def test_report_renders_in_chromium(report: Path, tmp_path: Path) -> None:
    """Headless Chromium: every image loaded (naturalWidth > 0), no console error, and a
    screenshot is taken."""
    shot = tmp_path / "report.png"
    check = render(report / "report.html", shot)
    assert check.title == "tessera plan: small"
    assert len(check.images) == len(list((report / "plots").glob("*.png")))
    assert all(complete and width > 0 for _, complete, width in check.images), check.images
    assert check.errors == []
    assert shot.read_bytes().startswith(b"\x89PNG") and shot.stat().st_size > 10_000


def test_chromium_check_sees_broken_images_and_errors(tmp_path: Path) -> None:
    """The check is not blind: a broken image and a console error are reported."""
    page = tmp_path / "broken.html"
    page.write_text(
        "<!DOCTYPE html><title>x</title><img src='data:image/png;base64,AAAA'>"
        "<script>console.error('boom')</script>"
    )
    check = render(page, None)
    assert check.images and check.images[0][2] == 0
    assert any("boom" in e for e in check.errors)


def test_ray_gives_the_local_pool_points(report: Path, tmp_path: Path) -> None:
    """The same plan as Ray tasks on a local Ray instance: byte-identical points."""
    import ray

    ray.init(
        num_cpus=2,
        include_dashboard=False,
        log_to_driver=False,
        runtime_env={"env_vars": {"PYTHONPATH": str(ROOT)}},
    )
    try:
        out = tmp_path / "ray"
        result = runner.invoke(app, ["plan", str(SMALL), "--out", str(out), "--ray", "auto"])
        assert result.exit_code == 0, result.output
    finally:
        ray.shutdown()
    local, remote = _summary(report), _summary(out)
    assert "Ray" in remote["run"]["runner"] and "local process pool" in local["run"]["runner"]
    option = orjson.OPT_SORT_KEYS
    assert orjson.dumps(remote["points"], option=option) == orjson.dumps(
        local["points"], option=option
    )
    assert remote["recommendation"] == local["recommendation"]


def test_unreachable_target_is_a_result(tmp_path: Path) -> None:
    """A target no mix within the bounds meets: exit 0, a report, and the message says what
    the best mix reaches."""
    data = yaml.safe_load(SMALL.read_text())
    data["scenario"]["path"] = str(ROOT / "traces" / "scenarios" / "llm-serving-diurnal.yaml")
    data["pools"][0].update(min=20, max=22)
    data["targets"] = {"batchGpuHoursPerDay": 100000}
    data["whatIf"] = {"loseRack": None, "devicePlugin": False}
    plan = tmp_path / "unreachable.yaml"
    plan.write_text(yaml.safe_dump(data))
    out = tmp_path / "out"
    result = runner.invoke(app, ["plan", str(plan), "--out", str(out), "--workers", "1"])
    assert result.exit_code == 0, result.output
    summary = _summary(out)
    assert summary["recommendation"] is None
    message = summary["result"]["message"]
    assert message.startswith("no mix within the bounds meets batch GPU-hours/day >= 100000")
    assert "reaches batch GPU-hours/day" in message
    assert [s["pools"] for s in summary["search"]["path"]] == [{"h100": 22}]
    assert "no mix within the bounds" in (out / "report.html").read_text()


def _group(pgid: int) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            fields = stat.rpartition(")")[2].split()
            if int(fields[2]) == pgid and fields[0] != "Z":
                pids.append(int(entry.name))
    return pids


def test_ctrl_c_stops_every_worker(tmp_path: Path) -> None:
    """SIGINT to the command's process group (what Ctrl-C does) while replays run: the
    command exits, no worker process is left, and no report is written."""
    out = tmp_path / "out"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "simulator.cli",
            "plan",
            str(SMALL),
            "--out",
            str(out),
            "--workers",
            "2",
        ],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 60
        while len(_group(process.pid)) < 3 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert len(_group(process.pid)) >= 3, "the workers did not start"
        time.sleep(2.0)  # a replay is running
        os.killpg(process.pid, signal.SIGINT)
        process.wait(timeout=60)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    assert process.returncode != 0
    deadline = time.monotonic() + 10
    while _group(process.pid) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _group(process.pid) == []
    assert not out.exists()
