"""Turning a cluster spec or a Kubernetes object dump into a ClusterCache.

* a cluster spec (``traces/clusters/*.yaml``) is built by the simulated drivers into Nodes,
  DeviceClasses and ResourceSlices and fed to the cache like informer events, or — with
  ``templated=True`` — straight into the cache's device templates without one slice object
  per node (how a 10,000-node cluster fits in memory);
* a dump (a file or a directory as ``kubectl get -o yaml`` prints them) is loaded as is.

Feature gates come from the spec's ``kubernetesVersion`` and ``featureGates`` (1.35 defaults
for a dump, overridable).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from scheduler.api.conversion import DRA_GROUP
from scheduler.api.documents import file_entries, read_yaml_file
from scheduler.api.errors import LoadError
from scheduler.api.loaders import (
    API_MODELS,
    ObjectReader,
    Origin,
    gc_paused,
    input_files,
    load_object,
    validate_object,
)
from scheduler.api.meta import KubeObject
from scheduler.api.node import Node
from scheduler.api.pod import Pod
from scheduler.api.podgroup import PodGroup
from scheduler.cluster.bulk import SliceLoader
from scheduler.cluster.cache import ClusterCache
from scheduler.cluster.templates import InstanceAttributes
from scheduler.dra.features import GATE_FIELDS, Features
from scheduler.dra.inventory import TypedAttribute, compile_slice
from scheduler.topology.domains import DEFAULT_LEVELS
from simulator.drivers.build import PLACEHOLDER_NODE, build_cluster, pool_builders
from simulator.drivers.spec import ClusterSpec, load_cluster_spec
from simulator.traces.gangs import check_gangs, check_pod_groups


@dataclass(slots=True)
class LoadedCluster:
    """A cache plus what describes the cluster (name, topology levels, source)."""

    name: str
    cache: ClusterCache
    levels: tuple[str, ...] = DEFAULT_LEVELS
    source: str = ""
    spec: ClusterSpec | None = None
    objects: list[KubeObject] = field(default_factory=list)


def features_of(spec: ClusterSpec) -> Features:
    """The allocator features of a spec's scheduler (known DRA gates only)."""
    gates = {k: v for k, v in spec.effective_feature_gates().items() if k in GATE_FIELDS}
    return Features.from_gates(gates, spec.kubernetes_version)


def is_cluster_spec(path: Path) -> bool:
    """Whether a file is a tessera ClusterSpec (by its ``kind``)."""
    if not path.is_file() or path.suffix not in (".yaml", ".yml", ".json"):
        return False
    try:
        head = read_yaml_file(path, "cluster spec", first_only=True)
    except LoadError:
        return False  # not a spec: the dump reader reports what is wrong with it
    return isinstance(head, dict) and head.get("kind") == "ClusterSpec"


def _typed(values: Mapping[str, Mapping[str, Any]]) -> dict[str, TypedAttribute]:
    out: dict[str, TypedAttribute] = {}
    for name, attr in values.items():
        for kind in ("int", "bool", "string", "version"):
            if kind in attr:
                out[name] = (kind, attr[kind])
                break
    return out


def cluster_from_spec(
    spec: ClusterSpec, *, templated: bool = False, source: str = ""
) -> LoadedCluster:
    """Build a spec's cluster into a fresh cache (see the module docstring)."""
    cache = ClusterCache(features=features_of(spec))
    if not templated:
        built = build_cluster(spec)
        objects = [load_object(o, source=source or spec.metadata.name) for o in built.objects()]
        cache.add_all(objects)
        return LoadedCluster(
            spec.metadata.name, cache, tuple(built.topology_levels), source, spec, objects
        )
    from simulator.drivers.classes import device_classes  # noqa: PLC0415 - only this path

    for raw in device_classes():
        cache.add(load_object(raw, source="device classes"))
    for builder in pool_builders(spec):
        names = builder.node_names()
        cache.add_nodes([Node.model_validate(builder.node(n, i)) for i, n in enumerate(names)])
        slices, attrs = builder.template()
        if not slices:
            continue
        compiled = [compile_slice(load_object(s, source="template")) for s in slices]  # type: ignore[arg-type]

        def factory(node: str, attrs: Any = attrs) -> InstanceAttributes:
            return {device: _typed(values) for device, values in attrs(node).items()}

        cache.add_templated_pools(compiled, PLACEHOLDER_NODE, names, factory)
    return LoadedCluster(spec.metadata.name, cache, tuple(spec.topology.levels), source, spec)


def load_cluster(
    path: str | Path,
    *,
    templated: bool = False,
    features: Features | None = None,
    levels: Sequence[str] | None = None,
    keep_objects: bool = False,
    feature_gates: Mapping[str, bool] | None = None,
) -> LoadedCluster:
    """A cluster from a spec file, or from a dump file/directory of Kubernetes objects.

    A dump is read by :func:`load_dump` (``keep_objects``: also return every object read,
    slices included, as ``LoadedCluster.objects``; replays do not need them). ``feature_gates``
    (``--feature-gates``) override a spec's ``featureGates`` and its version's defaults, or a
    dump's 1.35 defaults (or ``features``). Raises ValueError (naming the file and field) for
    bad input.
    """
    path = Path(path)
    if not path.exists():
        raise ValueError(f"{path}: no such file or directory")
    if is_cluster_spec(path):
        spec = load_cluster_spec(path).with_feature_gates(feature_gates or {})
        loaded = cluster_from_spec(spec, templated=templated, source=str(path))
        if levels:
            loaded.levels = tuple(levels)
        return loaded
    if feature_gates:
        features = (features or Features.for_version("1.35")).with_gates(feature_gates)
    return load_dump(path, features=features, levels=levels, keep_objects=keep_objects)


def load_dump(
    path: Path,
    *,
    features: Features | None = None,
    levels: Sequence[str] | None = None,
    keep_objects: bool = False,
) -> LoadedCluster:
    """A cluster from a dump (``kubectl get -o yaml|json`` output, or ``tessera cluster
    build`` output), read as a stream.

    Objects are read as the API server stores them (:class:`ObjectReader`); ResourceSlices
    go to :class:`~scheduler.cluster.bulk.SliceLoader`, which shares one device template
    among identical node pools without a model per device. Pods' gangs are checked
    (:mod:`simulator.traces.gangs`). Features default to Kubernetes 1.35's.
    """
    reader = ObjectReader(seed=path.name)
    cache = ClusterCache(features=features or Features.for_version("1.35"))

    def record(name: str, where: Origin) -> bool:
        return reader.claim_name(DRA_GROUP, "ResourceSlice", "", name, where)

    slices = SliceLoader(cache, record)
    objects: list[KubeObject] = []
    kept: list[KubeObject] = []
    origins: dict[int, Origin] = {}
    with gc_paused():
        for file in input_files(path):
            source = str(file)
            for entry in file_entries(file):
                data = entry.data
                if _is_slice(data):
                    where = Origin(source, entry.document, entry.item)
                    assert isinstance(data, Mapping)
                    slices.add(data, where)
                    if keep_objects:
                        obj = validate_object(data, where, API_MODELS)
                        if obj is not None:
                            kept.append(obj)
                    continue
                for obj, where in reader.read_entries([entry], source):
                    objects.append(obj)
                    origins[id(obj)] = where
                    if keep_objects:
                        kept.append(obj)
        cache.add_nodes([o for o in objects if isinstance(o, Node)])
        slices.finish()
        cache.add_all(o for o in objects if not isinstance(o, Node))
    if not cache.nodes:
        raise ValueError(f"{path}: no Node objects found (expected a cluster spec or a dump)")
    groups = [(o, origins[id(o)]) for o in objects if isinstance(o, PodGroup)]
    check_pod_groups(groups)
    check_gangs(
        ((o, origins[id(o)]) for o in objects if isinstance(o, Pod)), {g.key: g for g, _ in groups}
    )
    return LoadedCluster(path.name, cache, tuple(levels or DEFAULT_LEVELS), str(path), None, kept)


def _is_slice(data: object) -> bool:
    return (
        isinstance(data, Mapping)
        and data.get("kind") == "ResourceSlice"
        and str(data.get("apiVersion", "")).startswith(DRA_GROUP + "/")
    )
