"""Kinds of resource names (``k8s.io/kubernetes/pkg/apis/core/v1/helper``, 1.35).

Who calls: NodeResourcesFit (which requests it checks), the extender configuration (managed
resources must be extended resources) and the DRA-backed extended resources of KEP-5004
(:mod:`scheduler.dra.extended`).
"""

from __future__ import annotations

from .selectors import label_key_problem

__all__ = [
    "DEVICE_CLASS_RESOURCE_PREFIX",
    "is_dra_extended_resource_name",
    "is_extended_resource_name",
    "is_scalar_resource_name",
]

_NATIVE_PREFIX = "kubernetes.io/"

DEVICE_CLASS_RESOURCE_PREFIX = "deviceclass.resource.kubernetes.io/"
"""``resourceapi.ResourceDeviceClassPrefix``: every DeviceClass ``<c>`` is also reachable as
the extended resource ``deviceclass.resource.kubernetes.io/<c>`` (KEP-5004)."""


def is_extended_resource_name(name: str) -> bool:
    """Upstream ``IsExtendedResourceName``: a ``domain/name`` outside ``kubernetes.io/`` whose
    ``requests.``-prefixed form is a qualified name."""
    if "/" not in name or _NATIVE_PREFIX in name or name.startswith("requests."):
        return False
    return label_key_problem(f"requests.{name}") is None


def is_scalar_resource_name(name: str) -> bool:
    """Upstream ``IsScalarResourceName``: extended, ``hugepages-*``, ``kubernetes.io/``-prefixed
    and ``attachable-volumes-*`` resources."""
    return (
        is_extended_resource_name(name)
        or name.startswith("hugepages-")
        or _NATIVE_PREFIX in name
        or name.startswith("attachable-volumes-")
    )


def is_dra_extended_resource_name(name: str) -> bool:
    """Upstream ``schedutil.IsDRAExtendedResourceName``: an extended resource name, or an
    implicit ``deviceclass.resource.kubernetes.io/<class>`` name."""
    return is_extended_resource_name(name) or name.startswith(DEVICE_CLASS_RESOURCE_PREFIX)
