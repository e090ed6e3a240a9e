"""DeviceTaintRule (``resource.k8s.io/v1alpha3``, DRADeviceTaints / DRADeviceTaintRules).

An administrator's taint for every device its selector matches, with the same effect as if
the DRA driver had put the taint into the device's ResourceSlice entry (KEP-5055). In 1.35
the selector names devices only by ``driver``, ``pool`` and ``device`` (all optional; an
empty selector matches every device, a missing one none); the 1.33-1.34 fields
``deviceClassName`` and ``selectors`` were removed and are refused here rather than
silently widened. ``v1beta2`` is read too (the same shape). How matching taints reach the
allocator: :func:`rule_matches` and ``docs/semantics/manifests.md`` §7.
"""

from __future__ import annotations

from pydantic import Field

from .meta import K8sModel, KubeObject, Loose
from .taints import DeviceTaint

__all__ = [
    "DEVICE_TAINT_RULE_VERSIONS",
    "DeviceTaintRule",
    "DeviceTaintRuleSpec",
    "DeviceTaintSelector",
    "rule_matches",
]

DEVICE_TAINT_RULE_VERSIONS = ("v1alpha3", "v1beta2")


class DeviceTaintSelector(K8sModel):
    """``spec.deviceSelector``: every set field must match."""

    driver: str | None = None
    pool: str | None = None
    device: str | None = None
    device_class_name: str | None = None
    selectors: tuple[Loose, ...] | None = None


class DeviceTaintRuleSpec(K8sModel):
    """``spec``: the selector and the one taint."""

    device_selector: DeviceTaintSelector | None = None
    taint: DeviceTaint = Field(default_factory=DeviceTaint)


class DeviceTaintRule(KubeObject):
    """Cluster-scoped DeviceTaintRule."""

    api_version: str = "resource.k8s.io/v1alpha3"
    kind: str = "DeviceTaintRule"
    spec: DeviceTaintRuleSpec = Field(default_factory=DeviceTaintRuleSpec)
    status: Loose | None = None

    def problem(self) -> tuple[tuple[str, ...], str] | None:
        """``(field path, message)`` of the first reason Kubernetes 1.35 would not accept the
        rule, or None."""
        selector = self.spec.device_selector
        if selector is not None:
            removed = (("device_class_name", "deviceClassName"), ("selectors", "selectors"))
            for name, alias in removed:
                if getattr(selector, name) is not None:
                    return (
                        ("spec", "deviceSelector", alias),
                        "not served by Kubernetes 1.35 (removed from DeviceTaintRule); select "
                        "devices by driver, pool and device",
                    )
        taint = self.spec.taint
        if not taint.key:
            return ("spec", "taint", "key"), "required field is missing"
        if taint.effect not in ("None", "NoSchedule", "NoExecute"):
            return (
                ("spec", "taint", "effect"),
                f"{taint.effect!r}: expected one of None, NoSchedule, NoExecute",
            )
        return None


def rule_matches(rule: DeviceTaintRule, driver: str, pool: str, device: str) -> bool:
    """Whether the rule's selector selects the device ``driver/pool/device``."""
    selector = rule.spec.device_selector
    if selector is None:
        return False
    return (
        (selector.driver is None or selector.driver == driver)
        and (selector.pool is None or selector.pool == pool)
        and (selector.device is None or selector.device == device)
    )
