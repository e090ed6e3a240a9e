"""Faults in the middle of a gang, end to end over HTTP: a replay plays kube-scheduler 1.35
against a real ``tessera serve --kubeconfig`` process reading the replay's API facade, and

* the facade drops the webhook's watch streams (all of them, or one resource's) while a
  gang is half filtered, and answers the informers' resuming watch with 410 Gone (they must
  re-list);
* the webhook process is killed (SIGTERM, SIGKILL) while a gang's first members are filtered
  and their binds held, and a new one is started on the same port.

Each run must end as a run without faults does: every pod placed, every gang whole, each pod
bound exactly once through ``pods/binding`` (the facade's binding log: one 201 per pod,
never a request for another node), no bind the API contradicts. See
``tests/extender/chaos_harness.py`` for the cluster, the trace and the fault hooks."""

from __future__ import annotations

import signal
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from tests.extender.chaos_harness import GANGS, PODS, ChaosRun

TRAIN = ("default/train-0", "default/train-1", "default/train-2")
SERVE = ("default/serve-0", "default/serve-0-1", "default/serve-0-2", "default/serve-0-3")


def _check_outcome(run: ChaosRun, summary: dict[str, Any]) -> None:
    """Everything placed, gangs whole and together, every pod bound once, to one node."""
    context = f"{run.output[-3000:]}\n{run.serve_log()}"
    assert summary["pods_total"] == PODS, context
    assert summary["pods_scheduled"] == PODS, context
    assert summary["gangs_total"] == summary["gangs_placed"] == GANGS, context
    assert summary["gangs_partial"] == 0, context
    extenders = summary["extenders"]
    assert extenders["binds_elsewhere"] == 0, context
    assert extenders["binds_unconfirmed"] == 0, context
    placed = run.placements()
    assert len(placed) == PODS, placed
    racks = {placed[key].rsplit("-", 1)[-1] for key in SERVE}
    assert len({int(n) // 5 for n in racks}) == 1, f"LWS group split across racks: {placed}"
    bindings = run.report()["bindings"]
    created = Counter(f"{b['namespace']}/{b['name']}" for b in bindings if b["code"] == 201)
    assert created == Counter(dict.fromkeys(placed, 1)), bindings
    for b in bindings:
        key = f"{b['namespace']}/{b['name']}"
        assert b["node"] == placed[key], f"a binding of {key} to a second node: {bindings}"


@pytest.mark.slow
def test_without_faults_every_gang_is_whole(tmp_path: Path) -> None:
    """The reference: the same run without a fault meets the same checks, with no 410, no
    dropped watch, and no failed call."""
    with ChaosRun(tmp_path) as run:
        summary = run.finish()
    _check_outcome(run, summary)
    report = run.report()
    assert not report["expired"]
    assert not report["dropped"]
    assert all(v["failures"] == 0 for v in summary["extenders"]["calls"].values())


@pytest.mark.slow
@pytest.mark.parametrize(
    ("resource", "pause", "mode", "held"),
    [
        (None, "filter:default/train-1", "reset", 1),
        ("pods", "filter:default/serve-0-2", "reset", 1),
        ("resourceclaims", "filter:default/train-1", "close", 1),
    ],
    ids=["all-reset", "pods-reset", "resourceclaims-close"],
)
def test_watch_drop_mid_gang_loses_nothing(
    tmp_path: Path, resource: str | None, pause: str, mode: str, held: int
) -> None:
    """The watches drop (and their resume is 410 Gone) after a gang's first members were
    filtered and their binds held; the informers re-list and the replay ends as without the
    fault."""
    with ChaosRun(tmp_path, pause=pause) as run:
        assert run.wait_paused() == pause.replace(":", " ", 1)
        run.wait_held(held)
        query = {"mode": mode} if resource is None else {"mode": mode, "resource": resource}
        before = run.report()
        expire = {} if resource is None else {"resource": resource}
        run.fault("expire", **expire)
        dropped = run.fault("drop-watches", **query)
        assert dropped["dropped"] >= 1
        run.resume()
        summary = run.finish()
    _check_outcome(run, summary)
    report = run.report()
    watched = [resource] if resource is not None else list(before["watches"])
    assert resource is not None or {"pods", "resourceclaims", "nodes"} <= set(watched)
    for name in watched:
        assert report["dropped"].get(name, 0) >= 1, (name, report)
        assert report["expired"].get(name, 0) >= 1, (name, report)
        # the informer listed again after the 410
        assert report["lists"][name] > before["lists"][name], (name, report)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("sig", "pause", "held"),
    [
        (signal.SIGTERM, "filter:default/train-2", 2),
        (signal.SIGKILL, "filter:default/train-2", 2),
        (signal.SIGKILL, "filter:default/serve-0-3", 1),
    ],
    ids=["sigterm-train", "sigkill-train", "sigkill-lws"],
)
def test_webhook_restart_mid_gang_loses_nothing(
    tmp_path: Path, sig: signal.Signals, pause: str, held: int
) -> None:
    """The webhook dies while a gang's first members are filtered and their binds held; a
    new one on the same port rebuilds its state from the API, and the replay ends with every
    gang whole and nothing bound twice."""
    with ChaosRun(tmp_path, pause=pause) as run:
        run.wait_ready()
        assert run.wait_paused() == pause.replace(":", " ", 1)
        holding = run.wait_held(held)
        code = run.kill_serve(sig)
        assert code != 0 or sig == signal.SIGTERM
        if sig == signal.SIGTERM:
            # the held binds were answered at shutdown, not left to the hold deadline
            assert f"shutting down: {holding} held bind(s) failed" in run.serve_log()
        run.start_serve()
        run.wait_ready()
        run.resume()
        summary = run.finish()
    _check_outcome(run, summary)
