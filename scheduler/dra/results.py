"""Building a claim's allocation result (docs/semantics/dra.md §4.11).

* Devices: in allocation order.
* Config: first each used class's config entries once (``FromClass``, ``requests`` listing
  every (sub)request that used the class, classes in order of first use), then the claim's
  own entries (``FromClaim``): entries with no ``requests`` as they are; an entry naming
  requests is emitted once per chosen request it names (directly, or as ``req/sub`` of the
  chosen alternative) — upstream 1.35's duplication (§9.5 quirk 6) is kept because the
  result shape is observable; entries naming only unchosen alternatives are dropped.
* Node selector: a node-local device (slice ``nodeName``, per-device ``nodeName``, or
  ``bindsToNode`` with binding conditions enabled) pins the claim to the node; otherwise
  the single-term node selectors of the devices' slices/devices are merged (AND, duplicates
  dropped); devices usable from all nodes contribute nothing; no requirement at all means
  no selector.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from scheduler.dra.claims import (
    ClaimAllocation,
    ClaimSpec,
    ClassSpec,
    ConfigResult,
    DeviceResult,
    RequestSpec,
)
from scheduler.dra.inventory import CompiledDevice, CompiledSlice


class ResultError(Exception):
    """A result cannot be expressed (an unsupported multi-term node selector)."""


def _class_config(chosen: Sequence[tuple[RequestSpec, ClassSpec]]) -> list[ConfigResult]:
    order: list[str] = []
    users: dict[str, list[str]] = {}
    classes: dict[str, ClassSpec] = {}
    for spec, cls in chosen:
        if cls.name not in users:
            order.append(cls.name)
            users[cls.name] = []
            classes[cls.name] = cls
        users[cls.name].append(spec.name)
    out: list[ConfigResult] = []
    for name in order:
        for entry in classes[name].config:
            out.append(ConfigResult("FromClass", tuple(users[name]), entry.opaque))
    return out


def _claim_config(
    claim: ClaimSpec, chosen: Sequence[tuple[RequestSpec, ClassSpec]]
) -> list[ConfigResult]:
    out: list[ConfigResult] = []
    for entry in claim.config:
        if not entry.requests:
            out.append(ConfigResult("FromClaim", (), entry.opaque))
            continue
        named = set(entry.requests)
        for spec, _ in chosen:
            if spec.base in named or (spec.sub and spec.name in named):
                out.append(ConfigResult("FromClaim", entry.requests, entry.opaque))
    return out


def _selector_json(selector: Any) -> Mapping[str, Any]:
    dumped: Mapping[str, Any] = selector.model_dump(by_alias=True, exclude_none=True, mode="json")
    return dumped


def node_selector_for(
    picks: Sequence[tuple[CompiledSlice, CompiledDevice]], node_name: str, *, bind_to_node: bool
) -> Mapping[str, Any] | None:
    """The claim's ``status.allocation.nodeSelector`` as v1 JSON (None = any node)."""
    requirements: list[dict[str, Any]] = []
    fields: list[dict[str, Any]] = []
    seen: set[tuple[str, str, str, tuple[str, ...]]] = set()
    for s, d in picks:
        node_local = bool(s.node_name) or (bool(s.per_device_node_selection) and bool(d.node_name))
        if node_local or (bind_to_node and d.binds_to_node):
            return {
                "nodeSelectorTerms": [
                    {
                        "matchFields": [
                            {"key": "metadata.name", "operator": "In", "values": [node_name]}
                        ]
                    }
                ]
            }
        selector = d.node_selector if s.per_device_node_selection else s.node_selector
        if selector is None:
            continue
        dumped = _selector_json(selector)
        terms = dumped.get("nodeSelectorTerms", [])
        if len(terms) != 1:
            raise ResultError(f"unsupported ResourceSlice.NodeSelector with {len(terms)} terms")
        for kind, target in (("matchExpressions", requirements), ("matchFields", fields)):
            for req in terms[0].get(kind, []):
                key = (
                    kind,
                    req.get("key", ""),
                    req.get("operator", ""),
                    tuple(req.get("values", [])),
                )
                if key in seen:
                    continue
                seen.add(key)
                target.append(req)
    if not requirements and not fields:
        return None
    term: dict[str, Any] = {}
    if requirements:
        term["matchExpressions"] = requirements
    if fields:
        term["matchFields"] = fields
    return {"nodeSelectorTerms": [term]}


def build_allocation(
    claim: ClaimSpec,
    chosen: Sequence[tuple[RequestSpec, ClassSpec]],
    picks: Sequence[tuple[CompiledSlice, CompiledDevice, DeviceResult]],
    node_name: str,
    *,
    bind_to_node: bool,
) -> ClaimAllocation:
    """Assemble one claim's allocation from the chosen requests and picked devices."""
    return ClaimAllocation(
        devices=tuple(result for _, _, result in picks),
        config=(*_class_config(chosen), *_claim_config(claim, chosen)),
        node_selector=node_selector_for(
            [(s, d) for s, d, _ in picks], node_name, bind_to_node=bind_to_node
        ),
    )
