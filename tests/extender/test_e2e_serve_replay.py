"""End to end: the simulator plays a stock kube-scheduler (``--policy kube-default``) that calls
a real ``tessera serve`` over HTTP, and the webhook reads the replay's cluster through its
informers from the replay's own Kubernetes API (``--api-port``), binding through
``pods/binding`` — the command the README shows, as two processes (without
``--preempt-gangs``: test_e2e_serve_preempt.py runs it with)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.extender.e2e_harness import extended


@pytest.mark.slow
def test_kube_default_with_tessera_serve_places_every_gang_whole(tmp_path: Path) -> None:
    """Every pod placed, every gang whole, every bind confirmed on the API (none elsewhere,
    none failed), the sync probe answered, and the webhook's decisions lead the profile."""
    summary, _ = extended(tmp_path, "serving-batch-small", [])
    assert summary["pods_scheduled"] == summary["pods_total"] == 94
    assert summary["gangs_partial"] == 0
    assert summary["gangs_placed"] == summary["gangs_total"] == 4
    extenders = summary["extenders"]
    assert extenders["calls"]["filter"]["calls"] > 0
    assert extenders["calls"]["filter"]["failures"] == 0
    assert extenders["calls"]["bind"]["calls"] == 94
    assert extenders["calls"]["bind"]["failures"] == 0
    assert extenders["binds_elsewhere"] == extenders["binds_unconfirmed"] == 0
    assert extenders["sync"]["probes"] > 0
