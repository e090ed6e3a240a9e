"""End to end, with gang preemption: the simulator plays a stock kube-scheduler
(``--policy kube-default``) calling a real ``tessera serve --preempt-gangs`` over HTTP, the
webhook reading and writing the replay's own Kubernetes API — and the result is compared with
the native ``--policy tessera`` replay of the same inputs, run here too.

kube-scheduler never preempts for the serving gang that needs the batch pods' devices
(DynamicResources reports a device shortfall as UnschedulableAndUnresolvable, so
DefaultPreemption has no candidate and never calls the extender's preempt verb); the webhook
evicts the victims itself, through the API (``DisruptionTarget`` condition, then DELETE), and
the replay applies the deletions as native preemptions. On ``serving-batch-contended`` every
GPU is taken when serving arrives, so kube-scheduler never calls the extender for it at all
(no node passes its own filters): the webhook preempts on the failed attempt it sees in the
API."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.extender.e2e_harness import bound_twice, extended, metric, native_replay


@pytest.mark.slow
@pytest.mark.parametrize(
    ("scenario", "pods", "bind_failures"),
    [
        ("serving-batch-small", 94, 0),
        # the batch PodGroup "pretrain" is created at t = 0 before the webhook lists its
        # PodGroup: its members are indexed under the gang all the same, so its first plan
        # binds whole (its first hold used to expire with 1 of 4 members asking)
        ("serving-batch-contended", 46, 0),
    ],
)
def test_kube_default_with_preempting_serve_reaches_native_tessera(
    tmp_path: Path, scenario: str, pods: int, bind_failures: int
) -> None:
    """Same pods placed, every gang whole, GPU allocation within 1 pp of native tessera,
    serving pending p95 within 5 s of native; the webhook evicted (preemptions counted by the
    replay), no pod bound twice, no bind failed or landed elsewhere."""
    native = native_replay(tmp_path / "native", scenario)
    summary, metrics = extended(tmp_path / "extended", scenario, ["--preempt-gangs"])
    assert summary["pods_scheduled"] == summary["pods_total"] == native["pods_scheduled"] == pods
    assert summary["gangs_partial"] == 0
    assert summary["gangs_placed"] == summary["gangs_total"] == native["gangs_placed"] == 4
    assert summary["preemptions"] > 0
    assert abs(summary["gpu_alloc_mean_pct"] - native["gpu_alloc_mean_pct"]) <= 1.0, (
        summary["gpu_alloc_mean_pct"],
        native["gpu_alloc_mean_pct"],
    )
    serving, native_serving = (s["pending_seconds"]["serving"]["p95"] for s in (summary, native))
    assert serving <= native_serving + 5.0, (serving, native_serving)
    evicted = [r for r in summary["_placements"] if r["event"] == "evict"]
    # each eviction is the webhook's, or the rest of a victim gang the replay restarts whole
    # on the first member's deletion (the webhook's own deletions of them then find them gone)
    by_api = [r for r in evicted if r["reason"].startswith("preempted over the API")]
    assert by_api and all(r in by_api or " restarted: " in r["reason"] for r in evicted)
    assert all(r["pod"].startswith("batch/") for r in evicted)
    assert bound_twice(summary["_placements"]) == []
    extenders = summary["extenders"]
    assert extenders["calls"]["bind"]["failures"] == bind_failures
    assert extenders["binds_elsewhere"] == extenders["binds_unconfirmed"] == 0
    assert metric(metrics, 'tessera_extender_evictions_total{result="evicted"}') == len(evicted)
    assert metric(metrics, 'tessera_extender_gang_preemptions_total{result="started"}') >= 1
