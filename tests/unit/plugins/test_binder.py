"""DefaultBinder: binds through the backend; a backend failure becomes an ERROR status."""

from __future__ import annotations

from scheduler.framework.cycle_state import CycleState
from scheduler.framework.status import Code
from scheduler.plugins.defaultbinder import DefaultBinder
from tests.builders import info, make_handle, make_node, make_pod


def test_bind_records_the_binding() -> None:
    """A successful bind reaches the backend once, with the pod key and node name."""
    handle = make_handle([make_node("n1")])
    status = DefaultBinder({}, handle).bind(CycleState(), info(make_pod("p", namespace="ns")), "n1")
    assert status.code == Code.SUCCESS
    assert handle.backend.binds == [("ns/p", "n1")]


def test_bind_failure_is_an_error_status() -> None:
    """A backend exception is returned as ERROR naming the pod, the node and the cause."""
    handle = make_handle([make_node("n1")])
    handle.backend.fail_bind = ConnectionError("apiserver unreachable")
    status = DefaultBinder({}, handle).bind(CycleState(), info(make_pod("p")), "n1")
    assert status.code == Code.ERROR
    assert status.message() == "binding pod default/p to node n1: apiserver unreachable"
    assert handle.backend.binds == []
