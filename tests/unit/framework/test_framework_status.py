"""Status: attributing a status to a plugin keeps everything else it says."""

from __future__ import annotations

from scheduler.framework.status import Code, Status


def test_with_plugin_keeps_code_reasons_and_final() -> None:
    """A final rejection stays final once the runtime names its plugin (the replay fails
    such pods once instead of requeueing them)."""
    status = Status.unresolvable_final("claim needs a gate")
    named = status.with_plugin("DynamicResources")
    assert named.plugin == "DynamicResources"
    assert named.code == Code.UNSCHEDULABLE_AND_UNRESOLVABLE
    assert named.reasons == ("claim needs a gate",)
    assert named.final
    assert named.with_plugin("DynamicResources") is named
