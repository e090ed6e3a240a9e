"""DRA case files: read one, run the allocator on it, compare with its expectation.

The format is fixed by ``conformance/README.md`` (a copy ships in ``tests/conformance/``):
one node, DeviceClasses, ResourceSlices, already-allocated devices (and consumed capacity),
the claims of one pod, the enabled feature switches, and ``expect``. tessera's extension for
DRA-backed extended resources (feature ``extendedResource``, KEP-5004): an optional ``pod``
and ``node.allocatable``; the pod's extended resources that a class backs and the node does
not offer become the special claim ``<extended-resources>``, allocated after ``claims``
exactly as DynamicResources builds it (:mod:`scheduler.dra.extended`), and its
``requestMappings`` can be expected too. Reading is lenient
about object *content* (bad API objects reach the allocator) but strict about the file's
*shape*: :class:`CaseFileError` (exit code 2 in the CLI) when the file cannot be read, is
not YAML, or its top level is not a case.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

from scheduler.api.documents import read_yaml_file
from scheduler.api.dra import DeviceClass, ResourceClaim, ResourceSlice
from scheduler.api.errors import LoadError
from scheduler.api.loaders import load_object
from scheduler.api.pod import ContainerExtendedResourceRequest, Pod, pod_requests
from scheduler.api.quantity import parse_quantity
from scheduler.dra.allocator import Allocator, MatchCache
from scheduler.dra.case_shape import case_problem
from scheduler.dra.cel import CelEnvironment
from scheduler.dra.claims import AllocatedState, AllocationOutcome, ClaimSpec, DeviceResult
from scheduler.dra.convert import allocation_json, claim_spec, class_spec
from scheduler.dra.extended import (
    IN_MEMORY_CLAIM_NAME,
    NO_EXTENDED_RESOURCE,
    extended_claim_requests,
    extended_claim_spec,
    extended_resource_classes,
    served_on_node,
)
from scheduler.dra.features import Features
from scheduler.dra.inventory import compile_slices, exact
from scheduler.dra.pools import gather_pools


class CaseFileError(ValueError):
    """The file is unreadable or not a DRA case file (names the file and the problem)."""


@dataclass(slots=True)
class Case:
    """One parsed case file."""

    path: str
    name: str
    features: Features
    node_name: str
    node_labels: dict[str, str]
    classes: list[DeviceClass]
    slices: list[ResourceSlice]
    allocated: AllocatedState
    claims: list[ResourceClaim]
    expect: Mapping[str, Any] = field(default_factory=dict)
    source: str = ""
    pod: Pod | None = None
    node_allocatable: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class _Special:
    """The case pod's special claim (None: none needed) or why the pod cannot run."""

    spec: ClaimSpec | None
    mappings: tuple[ContainerExtendedResourceRequest, ...]
    missing: tuple[str, ...]


def _special(case: Case) -> _Special:
    """The special claim DynamicResources would build for the case's pod on its node."""
    if case.pod is None or not case.features.extended_resource:
        return _Special(None, (), ())
    classes = extended_resource_classes(case.classes)
    served, missing = served_on_node(pod_requests(case.pod), classes, case.node_allocatable)
    if missing or not served:
        return _Special(None, (), missing)
    requests, mappings = extended_claim_requests(case.pod, served)
    namespace = case.pod.metadata.namespace or "default"
    spec = extended_claim_spec(namespace, case.pod.metadata.uid or "", requests)
    return _Special(spec, mappings, ())


def _list(data: Mapping[str, Any], key: str, path: str) -> list[Any]:
    value = data.get(key) or []
    if not isinstance(value, list):
        raise CaseFileError(f"{path}: {key}: expected a list, got {type(value).__name__}")
    return value


def _objects(data: Mapping[str, Any], key: str, path: str, kind: type[Any]) -> list[Any]:
    out = []
    for i, raw in enumerate(_list(data, key, path)):
        if not isinstance(raw, dict):
            raise CaseFileError(f"{path}: {key}[{i}]: expected an object")
        try:
            obj = load_object(raw, source=f"{path}: {key}[{i}]")
        except LoadError as err:
            raise CaseFileError(str(err)) from err
        if not isinstance(obj, kind):
            raise CaseFileError(f"{path}: {key}[{i}]: expected a {kind.__name__}, got {obj.kind}")
        out.append(obj)
    return out


def load_case(path: str | Path) -> Case:
    """Read and shape-check a case file (raises CaseFileError)."""
    name = str(path)
    try:
        data = read_yaml_file(path, "DRA case file")
    except LoadError as err:
        raise CaseFileError(str(err)) from None
    if not isinstance(data, dict):
        raise CaseFileError(f"{name}: expected a mapping at the top level (a DRA case file)")
    problem = case_problem(data)
    if problem is not None:
        raise CaseFileError(f"{name}: {problem}")
    node = data.get("node")
    if not isinstance(node, dict) or not isinstance(node.get("name"), str):
        raise CaseFileError(f"{name}: node: expected {{name: <node>, labels: {{...}}}}")
    labels = node.get("labels") or {}
    if not isinstance(labels, dict):
        raise CaseFileError(f"{name}: node.labels: expected a mapping")
    allocatable = node.get("allocatable") or {}
    if not isinstance(allocatable, dict):
        raise CaseFileError(f"{name}: node.allocatable: expected a mapping")
    pod: Pod | None = None
    if data.get("pod") is not None:
        if not isinstance(data["pod"], dict):
            raise CaseFileError(f"{name}: pod: expected a Pod object")
        try:
            loaded = load_object(data["pod"], source=f"{name}: pod")
        except LoadError as err:
            raise CaseFileError(str(err)) from err
        if not isinstance(loaded, Pod):
            raise CaseFileError(f"{name}: pod: expected a Pod, got {loaded.kind}")
        pod = loaded
    try:
        features = Features.from_case(_list(data, "features", name))
    except ValueError as err:
        raise CaseFileError(f"{name}: {err}") from err
    allocated = AllocatedState()
    for i, entry in enumerate(_list(data, "allocatedDevices", name)):
        if not isinstance(entry, dict):
            raise CaseFileError(f"{name}: allocatedDevices[{i}]: expected {{driver, pool, device}}")
        allocated.exclusive.add(
            (str(entry.get("driver")), str(entry.get("pool")), str(entry.get("device")))
        )
    for i, entry in enumerate(_list(data, "allocatedCapacity", name)):
        if not isinstance(entry, dict):
            raise CaseFileError(f"{name}: allocatedCapacity[{i}]: expected an object")
        try:
            consumed = {k: exact(v) for k, v in (entry.get("consumedCapacity") or {}).items()}
        except ValueError as err:
            raise CaseFileError(f"{name}: allocatedCapacity[{i}].consumedCapacity: {err}") from err
        allocated.add_result(
            DeviceResult(
                request="",
                driver=str(entry.get("driver")),
                pool=str(entry.get("pool")),
                device=str(entry.get("device")),
                share_id=f"allocated-{i}",
                consumed_capacity=consumed,
            )
        )
    expect = data.get("expect") or {}
    if not isinstance(expect, dict):
        raise CaseFileError(f"{name}: expect: expected a mapping")
    return Case(
        path=name,
        name=str(data.get("name") or Path(path).stem),
        features=features,
        node_name=node["name"],
        node_labels={str(k): str(v) for k, v in labels.items()},
        classes=_objects(data, "deviceClasses", name, DeviceClass),
        slices=_objects(data, "resourceSlices", name, ResourceSlice),
        allocated=allocated,
        claims=_objects(data, "claims", name, ResourceClaim),
        expect=expect,
        source=str(data.get("source") or ""),
        pod=pod,
        node_allocatable={str(k): str(v) for k, v in allocatable.items()},
    )


def run_case(case: Case, *, timeout_seconds: float | None = 10.0) -> AllocationOutcome:
    """Allocate the case's claims (and its pod's special claim) on its node, exactly as
    kube-scheduler's Filter would."""
    features = case.features
    special = _special(case)
    if special.missing:
        return AllocationOutcome("unschedulable", message=NO_EXTENDED_RESOURCE)
    claims = [claim_spec(c) for c in case.claims]
    if special.spec is not None:
        claims.append(special.spec)
    slices = compile_slices(case.slices)
    pools = gather_pools(slices, case.node_name, case.node_labels, features)
    allocator = Allocator(
        features=features,
        classes={c.metadata.name or "": class_spec(c) for c in case.classes},
        allocated=case.allocated,
        cache=MatchCache(CelEnvironment(consumable_capacity=features.consumable_capacity)),
        timeout_seconds=timeout_seconds,
    )
    return allocator.allocate(claims, case.node_name, case.node_labels, pools)


def outcome_json(case: Case, outcome: AllocationOutcome) -> dict[str, Any]:
    """What ``tessera dra allocate`` prints (conformance/README.md); with a special claim,
    its result comes last (claim ``<extended-resources>``) and ``requestMappings`` lists the
    container-to-request mappings."""
    results = []
    special = _special(case)
    names = [c.metadata.name or "" for c in case.claims]
    if special.spec is not None:
        names.append(IN_MEMORY_CLAIM_NAME)
    if outcome.ok:
        for claim, allocation in zip(names, outcome.allocations, strict=True):
            body = allocation_json(allocation)
            entry: dict[str, Any] = {
                "claim": claim,
                "devices": body["devices"]["results"],
            }
            if "nodeSelector" in body:
                entry["nodeSelector"] = body["nodeSelector"]
            entry["config"] = body["devices"].get("config", [])
            results.append(entry)
    scope = None
    if outcome.status != "allocated":
        scope = "fatal" if outcome.fatal else "node"
    printed: dict[str, Any] = {
        "outcome": outcome.status,
        "message": outcome.message,
        "errorScope": scope,
        "results": results,
    }
    if special.spec is not None:
        printed["requestMappings"] = [m.to_dict() for m in special.mappings]
    return printed


# -- comparison with `expect` ---------------------------------------------------------------------

_GENERATED = "<generated-uid>"


def _num(value: Any) -> Fraction:
    return parse_quantity(value if isinstance(value, str | int) else str(value))


def _device_key(d: Mapping[str, Any]) -> tuple[Any, ...]:
    consumed = tuple(sorted((k, _num(v)) for k, v in (d.get("consumedCapacity") or {}).items()))
    return (
        d.get("request"),
        d.get("driver"),
        d.get("pool"),
        d.get("device"),
        bool(d.get("adminAccess", False)),
        "shareID" in d,
        consumed,
        tuple(_canonical(t) for t in d.get("tolerations") or ()),
        tuple(d.get("bindingConditions") or ()),
        tuple(d.get("bindingFailureConditions") or ()),
    )


def _canonical(value: Any) -> Any:
    if isinstance(value, dict):
        return tuple(
            sorted((k, _canonical(v)) for k, v in value.items() if v not in (None, [], {}))
        )
    if isinstance(value, list):
        return tuple(_canonical(v) for v in value)
    return value


def _selector_key(selector: Mapping[str, Any] | None) -> Any:
    if not selector:
        return None
    terms = []
    for term in selector.get("nodeSelectorTerms") or []:
        reqs = []
        for kind in ("matchExpressions", "matchFields"):
            for r in term.get(kind) or []:
                reqs.append(
                    (kind, r.get("key"), r.get("operator"), tuple(sorted(r.get("values") or [])))
                )
        terms.append(tuple(sorted(reqs)))
    return tuple(sorted(terms))


def compare(case: Case, printed: Mapping[str, Any]) -> list[str]:
    """Differences between a run and the case's ``expect`` (empty = pass).

    Devices within a claim compare as a multiset; ``shareID`` only by presence;
    quantities numerically; node selectors as sets of requirements; ``errorContains``
    as a substring of the message.
    """
    expect = case.expect
    problems: list[str] = []
    want = expect.get("outcome")
    if printed["outcome"] != want:
        problems.append(f"outcome {printed['outcome']!r} ({printed['message']}), want {want!r}")
        return problems
    contains = expect.get("errorContains")
    if contains and contains not in printed["message"]:
        problems.append(f"message {printed['message']!r} does not contain {contains!r}")
    scope = expect.get("errorScope")
    if scope and printed["errorScope"] != scope:
        problems.append(f"errorScope {printed['errorScope']!r}, want {scope!r}")
    if want != "allocated":
        return problems
    expected: Sequence[Mapping[str, Any]] = expect.get("results") or []
    if len(expected) != len(printed["results"]):
        problems.append(f"{len(printed['results'])} claim results, want {len(expected)}")
        return problems
    for got, exp in zip(printed["results"], expected, strict=True):
        claim = exp.get("claim")
        if sorted(map(_device_key, got["devices"])) != sorted(
            map(_device_key, exp.get("devices") or [])
        ):
            problems.append(f"claim {claim}: devices {got['devices']}, want {exp.get('devices')}")
        if _selector_key(got.get("nodeSelector")) != _selector_key(exp.get("nodeSelector")):
            problems.append(
                f"claim {claim}: nodeSelector {got.get('nodeSelector')}, "
                f"want {exp.get('nodeSelector')}"
            )
        if "config" in exp and _canonical(list(got.get("config") or [])) != _canonical(
            list(exp.get("config") or [])
        ):
            problems.append(f"claim {claim}: config {got.get('config')}, want {exp.get('config')}")
    if "requestMappings" in expect and _canonical(
        list(printed.get("requestMappings") or [])
    ) != _canonical(list(expect["requestMappings"] or [])):
        problems.append(
            f"requestMappings {printed.get('requestMappings')}, want {expect['requestMappings']}"
        )
    return problems
