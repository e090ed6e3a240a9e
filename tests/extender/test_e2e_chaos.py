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
import time
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
    ("resource", "pause", "mode", "held", "expire"),
    [
        (None, "filter:default/train-1", "reset", 1, True),
        (None, "filter:default/train-1", "reset", 1, False),
        ("pods", "filter:default/serve-0-2", "reset", 1, True),
        ("resourceclaims", "filter:default/train-1", "close", 1, True),
    ],
    ids=["all-reset-410", "all-reset-resume", "pods-reset-410", "resourceclaims-close-410"],
)
def test_watch_drop_mid_gang_loses_nothing(
    tmp_path: Path, resource: str | None, pause: str, mode: str, held: int, expire: bool
) -> None:
    """The watches drop after a gang's first members were filtered and their binds held;
    their resume is answered 410 Gone (the informers must re-list) or, without ``expire``,
    served from the event log. The replay ends as without the fault."""
    with ChaosRun(tmp_path, pause=pause) as run:
        assert run.wait_paused() == pause.replace(":", " ", 1)
        run.wait_held(held)
        query = {"mode": mode} if resource is None else {"mode": mode, "resource": resource}
        before = run.report()
        if expire:
            run.fault("expire", **({} if resource is None else {"resource": resource}))
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
        # the informer watched again; after a 410 it listed again first
        assert report["watches"][name] > before["watches"][name], (name, report)
        if expire:
            assert report["expired"].get(name, 0) >= 1, (name, report)
            assert report["lists"][name] > before["lists"][name], (name, report)
        else:
            assert not report["expired"], report
            assert report["lists"][name] == before["lists"][name], (name, report)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("sig", "pause", "held", "down"),
    [
        (signal.SIGTERM, "filter:default/train-2", 2, False),
        (signal.SIGKILL, "filter:default/train-2", 2, False),
        (signal.SIGKILL, "filter:default/serve-0-3", 1, False),
        (signal.SIGKILL, "filter:default/train-1", 1, True),
    ],
    ids=["sigterm-train", "sigkill-train", "sigkill-lws", "sigkill-train-down"],
)
def test_webhook_restart_mid_gang_loses_nothing(
    tmp_path: Path, sig: signal.Signals, pause: str, held: int, down: bool
) -> None:
    """The webhook dies while a gang's first members are filtered and their binds held; a
    new one on the same port rebuilds its state from the API, and the replay ends with every
    gang whole and nothing bound twice. With ``down`` the replay goes on while no webhook
    listens (its calls fail and are retried as kube-scheduler retries them)."""
    with ChaosRun(tmp_path, pause=pause) as run:
        run.wait_ready()
        assert run.wait_paused() == pause.replace(":", " ", 1)
        holding = run.wait_held(held)
        code = run.kill_serve(sig)
        assert code != 0 or sig == signal.SIGTERM
        if sig == signal.SIGTERM:
            # the held binds were answered at shutdown, not left to the hold deadline
            assert f"shutting down: {holding} held bind(s) failed" in run.serve_log()
        if down:
            run.resume()
            time.sleep(1.0)
        run.start_serve()
        run.wait_ready()
        run.resume()
        summary = run.finish()
    _check_outcome(run, summary)
