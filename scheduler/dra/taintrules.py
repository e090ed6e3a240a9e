"""DeviceTaintRules applied to compiled slices, as kube-scheduler's slice tracker does.

kube-scheduler does not read DeviceTaintRules in its allocator: its ResourceSlice tracker
(``staging/src/k8s.io/dynamic-resource-allocation/resourceslice/tracker``) hands the
allocator slices in which every device a rule selects carries the rule's taint next to the
taints its driver published (KEP-5055: "the same effect as if the taint was specified
directly in the ResourceSlice"). :func:`taint_slice` is that merge for one compiled slice;
the allocator then treats the taint like any other (``NoSchedule`` and ``NoExecute`` block
allocation unless the request tolerates them; ``None`` is informational), and only when
``DRADeviceTaints`` is on.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from scheduler.api.devicetaintrule import DeviceTaintRule, rule_matches
from scheduler.dra.inventory import CompiledSlice, with_taints

__all__ = ["pool_selected", "taint_slice"]


def taint_slice(s: CompiledSlice, rules: Sequence[DeviceTaintRule]) -> CompiledSlice:
    """``s`` with each rule's taint added to the devices it selects; ``s`` itself when none
    is selected."""
    if not rules:
        return s
    devices = []
    changed = False
    for device in s.devices:
        extra = tuple(r.spec.taint for r in rules if rule_matches(r, s.driver, s.pool, device.name))
        if extra:
            changed = True
            devices.append(with_taints(device, tuple(device.taints) + extra))
        else:
            devices.append(device)
    return replace(s, devices=tuple(devices)) if changed else s


def pool_selected(rules: Sequence[DeviceTaintRule], driver: str, pool: str) -> bool:
    """Whether some rule may select a device of pool ``driver/pool`` (its device name aside)."""
    for rule in rules:
        selector = rule.spec.device_selector
        if selector is None:
            continue
        if (selector.driver is None or selector.driver == driver) and (
            selector.pool is None or selector.pool == pool
        ):
            return True
    return False
