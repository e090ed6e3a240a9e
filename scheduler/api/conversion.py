"""Convert ``resource.k8s.io`` objects of older versions to the ``v1`` shape.

Works on plain JSON dicts, before validation, so that one set of models serves every
version. Version differences (``k8s.io/api/resource``):

* ``v1beta2`` (1.33) has the ``v1`` shape; only ``apiVersion`` changes.
* ``v1beta1`` (1.32) differs in two places:

  - ``DeviceRequest`` carries the fields of ``exactly`` inline (``deviceClassName``,
    ``selectors``, ``allocationMode``, ``count``, ``adminAccess``, ``tolerations``,
    ``capacity``) next to ``firstAvailable``. Like upstream's
    ``Convert_v1beta1_DeviceRequest_To_resource_DeviceRequest``, ``exactly`` is created
    when any of them is set (a non-empty class name or mode, a non-zero count, any other
    field present), even next to ``firstAvailable`` — validation, not conversion, rejects
    that mix.
  - ``Device`` wraps its fields in ``basic`` (``attributes``, ``capacity``,
    ``consumesCounters``, ``nodeName``, ``nodeSelector``, ``allNodes``, ``taints``,
    ``bindsToNode``, ``bindingConditions``, ``bindingFailureConditions``,
    ``allowMultipleAllocations``); ``v1`` has them on the device itself.

  Everything else the models read is identical: capacity values are ``{value: Q}`` in
  every version, ``sharedCounters`` and ``consumesCounters`` (``counterSet`` +
  ``counters``) have the same names, and claim status is unchanged.

The DRA models call :func:`to_v1` themselves when validating an older version, so
``ResourceSlice.model_validate(v1beta1_dict)`` is right too; the loaders convert first with
:func:`convert_dra_object`, which also returns which paths moved, so that an error found later in
the converted object can be reported at the path the user wrote.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .errors import FieldError, FieldPath

__all__ = [
    "DRA_API_VERSION",
    "DRA_GROUP",
    "DRA_VERSIONS",
    "Converted",
    "convert_dra_object",
    "needs_conversion",
    "to_v1",
]

DRA_GROUP = "resource.k8s.io"
DRA_API_VERSION = "resource.k8s.io/v1"
DRA_VERSIONS = ("v1", "v1beta2", "v1beta1")
"""The ``resource.k8s.io`` versions tessera reads, newest first."""

_REQUEST_FIELDS = (
    "deviceClassName",
    "selectors",
    "allocationMode",
    "count",
    "adminAccess",
    "tolerations",
    "capacity",
)


@dataclass(frozen=True)
class Converted:
    """A converted object and the moves made: ``(path in data, path in the original)``."""

    data: dict[str, Any]
    moves: tuple[tuple[FieldPath, FieldPath], ...] = field(default=())

    def original_path(self, path: Sequence[str | int]) -> FieldPath:
        """Map a path in :attr:`data` back to the path in the object as written."""
        path = tuple(path)
        best: tuple[FieldPath, FieldPath] | None = None
        for new, old in self.moves:
            if path[: len(new)] == new and (best is None or len(new) > len(best[0])):
                best = (new, old)
        if best is None:
            return path
        return best[1] + path[len(best[0]) :]


def _type_name(value: object) -> str:
    return "null" if value is None else type(value).__name__


def _request_sets_exactly(request: Mapping[str, Any]) -> bool:
    """``hasAnyMainRequestFieldsSet``: any inline ``exactly`` field with a non-zero value."""
    for key in _REQUEST_FIELDS:
        value = request.get(key)
        if value is None:
            continue
        if key in ("deviceClassName", "allocationMode") and value == "":
            continue
        if key == "count" and value == 0 and not isinstance(value, bool):
            continue
        return True
    return False


def _convert_claim_spec(
    spec: object, at: FieldPath, moves: list[tuple[FieldPath, FieldPath]]
) -> object:
    """Nest the inline request fields of a v1beta1 ``ResourceClaimSpec`` under ``exactly``.

    Non-mapping parts (including an absent ``spec``, ``None``) are returned unchanged.
    """
    if not isinstance(spec, Mapping):
        return spec
    devices = spec.get("devices")
    if not isinstance(devices, Mapping):
        return dict(spec)
    requests = devices.get("requests")
    if not isinstance(requests, list):
        return dict(spec)
    converted: list[object] = []
    for i, request in enumerate(requests):
        if not isinstance(request, Mapping):
            converted.append(request)
            continue
        out = {k: v for k, v in request.items() if k not in _REQUEST_FIELDS}
        if _request_sets_exactly(request):
            out["exactly"] = {k: request[k] for k in _REQUEST_FIELDS if k in request}
            where = (*at, "devices", "requests", i)
            moves.append(((*where, "exactly"), where))
        converted.append(out)
    return {**spec, "devices": {**devices, "requests": converted}}


def _convert_slice_spec(
    spec: object, at: FieldPath, moves: list[tuple[FieldPath, FieldPath]]
) -> object:
    """Lift v1beta1 ``devices[].basic`` fields onto the device (non-mappings unchanged)."""
    if not isinstance(spec, Mapping):
        return spec
    devices = spec.get("devices")
    if not isinstance(devices, list):
        return dict(spec)
    converted: list[object] = []
    for i, device in enumerate(devices):
        if not isinstance(device, Mapping):
            converted.append(device)
            continue
        basic = device.get("basic")
        out = {k: v for k, v in device.items() if k != "basic"}
        if basic is None:
            converted.append(out)
            continue
        if not isinstance(basic, Mapping):
            raise FieldError(
                (*at, "devices", i, "basic"), f"expected a mapping, got {_type_name(basic)}"
            )
        for key, value in basic.items():
            out[key] = value
            moves.append(((*at, "devices", i, key), (*at, "devices", i, "basic", key)))
        converted.append(out)
    return {**spec, "devices": converted}


def convert_dra_object(data: Mapping[str, Any]) -> Converted:
    """Return a ``resource.k8s.io`` object in the ``v1`` shape.

    ``data`` must be a ``resource.k8s.io`` object of a version in :data:`DRA_VERSIONS`;
    another version raises :class:`FieldError` on ``apiVersion``. Malformed parts are left
    as they are for validation to report, except a non-mapping ``basic`` (which would
    otherwise vanish silently). The input is not modified.
    """
    api_version = data.get("apiVersion")
    group, _, version = str(api_version).rpartition("/")
    if group != DRA_GROUP or version not in DRA_VERSIONS:
        raise FieldError(
            ("apiVersion",),
            f"{api_version!r} is not supported (use {DRA_GROUP}/"
            + f", {DRA_GROUP}/".join(DRA_VERSIONS)
            + ")",
        )
    out = dict(data)
    out["apiVersion"] = DRA_API_VERSION
    if version != "v1beta1":
        return Converted(out)
    moves: list[tuple[FieldPath, FieldPath]] = []
    kind = data.get("kind")
    spec = data.get("spec")
    if "spec" not in data:
        return Converted(out)
    if kind == "ResourceSlice":
        out["spec"] = _convert_slice_spec(spec, ("spec",), moves)
    elif kind == "ResourceClaim":
        out["spec"] = _convert_claim_spec(spec, ("spec",), moves)
    elif kind == "ResourceClaimTemplate" and isinstance(spec, Mapping):
        inner = _convert_claim_spec(spec.get("spec"), ("spec", "spec"), moves)
        out["spec"] = {**spec, "spec": inner} if "spec" in spec else dict(spec)
    return Converted(out, tuple(moves))


def needs_conversion(data: object) -> bool:
    """True for a mapping whose ``apiVersion`` is an older ``resource.k8s.io`` version."""
    if not isinstance(data, Mapping):
        return False
    api_version = data.get("apiVersion")
    return isinstance(api_version, str) and api_version in _OLDER_API_VERSIONS


_OLDER_API_VERSIONS = frozenset(f"{DRA_GROUP}/{v}" for v in DRA_VERSIONS if v != "v1")


def to_v1(data: Mapping[str, Any]) -> dict[str, Any]:
    """:func:`convert_dra_object` without the path bookkeeping."""
    return convert_dra_object(data).data
