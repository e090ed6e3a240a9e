"""NodeUnschedulable: cordoned nodes reject pods that do not tolerate the unschedulable taint."""

from __future__ import annotations

import numpy as np
import pytest

from scheduler.framework.cycle_state import CycleState
from scheduler.framework.status import Code
from scheduler.plugins.nodeunschedulable import NodeUnschedulable
from tests.builders import info, make_handle, make_node, make_pod, rejections

CORDONED = (Code.UNSCHEDULABLE_AND_UNRESOLVABLE, ("node(s) were unschedulable",))


@pytest.mark.parametrize(
    ("tolerations", "expected"),
    [
        ([], [None, CORDONED]),
        (["node.kubernetes.io/unschedulable:NoSchedule"], [None, None]),
        # effect must match: a NoExecute toleration does not tolerate the NoSchedule taint
        (["node.kubernetes.io/unschedulable:NoExecute"], [None, CORDONED]),
        # empty key with Exists tolerates every taint
        ([{"operator": "Exists"}], [None, None]),
        # another key does not help
        (["other:NoSchedule"], [None, CORDONED]),
    ],
)
def test_unschedulable_table(tolerations: list[object], expected: list[object]) -> None:
    """A schedulable node always passes; the cordoned one passes only with the toleration."""
    handle = make_handle([make_node("ok"), make_node("cordoned", unschedulable=True)])
    snapshot = handle.cache.snapshot()
    pod = info(make_pod("p", tolerations=tolerations))  # type: ignore[arg-type]
    result = NodeUnschedulable({}, handle).filter(CycleState(), pod, snapshot, np.arange(2))
    got = [None if s is None else (s.code, s.reasons) for s in rejections(result)]
    assert got == expected
