"""Cluster spec -> Kubernetes objects: Nodes, DeviceClasses and the drivers' ResourceSlices.

Two ways in:

* :func:`build_cluster` materialises everything as plain JSON dicts (camelCase, exactly what
  ``kubectl apply`` accepts) — for small and medium clusters, dumps and tests.
* :func:`pool_builders` gives one :class:`PoolBuilder` per (expanded) node pool for huge clusters:
  every node of a pool publishes the same slices up to its name and a few node-dependent
  attributes, so a consumer can hold one :meth:`PoolBuilder.template` per pool plus the
  per-node instance attributes instead of millions of device dicts.

Template contract (tested): for every node ``n`` at position ``i`` of a pool,
``builder.slices(n, i) == instantiate_template(slices, n, attrs(n))`` where
``slices, attrs = builder.template()``.

Device-plugin pools (``accelerator.exposure: device-plugin``) keep the driver config for the
node labels (GPU product, count and memory; TPU topology) but publish no slices: their nodes
offer ``nvidia.com/gpu`` / ``google.com/tpu`` in capacity and allocatable instead.

Topology labels: zone from the pool's placement; racks ``rNNN`` and blocks ``bNN`` numbered across
the whole cluster in pool order (each pool starts a new rack and a new block; node ``i`` of a pool
is in rack ``i // nodesPerRack`` of the pool); NVLink cliques ``nvidia.com/gpu.clique =
<clusterUUID>.1`` with one deterministic cluster UUID per clique.
"""

from __future__ import annotations

import copy
import itertools
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from simulator.drivers import nvidia, tpu
from simulator.drivers.catalog import (
    MAX_ATTRIBUTES_AND_CAPACITIES_PER_DEVICE,
    MAX_CONSUMES_COUNTERS_PER_DEVICE,
    MAX_COUNTER_SETS_PER_SLICE,
    MAX_COUNTERS_PER_CONSUMPTION,
    MAX_COUNTERS_PER_SET,
    MAX_DEVICES_PER_SLICE,
    MAX_DEVICES_PER_SLICE_WITH_COUNTERS_OR_TAINTS,
    MIB,
    binary_quantity,
    gpu_model,
)
from simulator.drivers.classes import device_classes
from simulator.drivers.spec import (
    ClusterSpec,
    NodePoolSpec,
    NodeShape,
    NvidiaAccelerator,
    PlacementSpec,
    SharedGpuAccelerator,
    TaintSpec,
    TpuAccelerator,
    read_openb_nodes,
    resolve_csv_path,
)
from simulator.traces.openb import OpenbNode

PLACEHOLDER_NODE = "__NODE__"

LABEL_HOSTNAME = "kubernetes.io/hostname"
LABEL_ARCH = "kubernetes.io/arch"
LABEL_OS = "kubernetes.io/os"
LABEL_INSTANCE_TYPE = "node.kubernetes.io/instance-type"
LABEL_ZONE = "topology.kubernetes.io/zone"
LABEL_BLOCK = "topology.tessera.io/block"
LABEL_RACK = "topology.tessera.io/rack"
LABEL_CLIQUE = "nvidia.com/gpu.clique"
LABEL_POOL = "tessera.io/node-pool"
LABEL_GPU_PRODUCT = "nvidia.com/gpu.product"
LABEL_GPU_COUNT = "nvidia.com/gpu.count"
LABEL_GPU_MEMORY = "nvidia.com/gpu.memory"
GPU_RESOURCE = "nvidia.com/gpu"
TPU_RESOURCE = "google.com/tpu"

_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_DNS, "cluster.tessera.io")

Object = dict[str, Any]
InstanceAttributes = dict[str, dict[str, dict[str, Any]]]
DriverConfig = nvidia.NvidiaNodeConfig | tpu.TpuNodeConfig | None


@dataclass(frozen=True)
class ConcretePool:
    """A node pool after openb expansion: explicit node names and a concrete driver config.

    ``device_plugin``: the accelerators are offered as extended resources, not DRA devices.
    """

    name: str
    node_names: tuple[str, ...]
    node: NodeShape
    driver: DriverConfig
    placement: PlacementSpec
    labels: dict[str, str] = field(default_factory=dict)
    taints: tuple[TaintSpec, ...] = ()
    instance_type: str | None = None
    device_plugin: bool = False


@dataclass(frozen=True)
class _Offsets:
    rack: int
    block: int
    clique: int


class PoolBuilder:
    """Builds the Node and ResourceSlices of every node of one pool.

    Created by :func:`pool_builders`; ``index`` arguments are positions in :meth:`node_names`.
    """

    def __init__(self, pool: ConcretePool, cluster_name: str, offsets: _Offsets) -> None:
        self.pool = pool
        self._cluster = cluster_name
        self._offsets = offsets
        self._index = {name: i for i, name in enumerate(pool.node_names)}

    @property
    def name(self) -> str:
        """Pool name."""
        return self.pool.name

    @property
    def driver_name(self) -> str | None:
        """DRA driver publishing this pool's devices, or None (CPU-only or device-plugin)."""
        if self.pool.device_plugin:
            return None
        if isinstance(self.pool.driver, nvidia.NvidiaNodeConfig):
            return nvidia.DRIVER
        if isinstance(self.pool.driver, tpu.TpuNodeConfig):
            return tpu.DRIVER
        return None

    def node_names(self) -> list[str]:
        """Names of the pool's nodes, in index order."""
        return list(self.pool.node_names)

    def index_of(self, node_name: str) -> int:
        """Position of ``node_name``; ValueError if the node is not in this pool."""
        try:
            return self._index[node_name]
        except KeyError:
            raise ValueError(f"node {node_name!r} is not in pool {self.name!r}") from None

    def racks(self) -> int:
        """Racks this pool occupies."""
        per_rack = self.pool.placement.nodes_per_rack
        return -(-len(self.pool.node_names) // per_rack)

    def blocks(self) -> int:
        """Blocks this pool occupies."""
        return -(-self.racks() // self.pool.placement.racks_per_block)

    def cliques(self) -> int:
        """NVLink cliques this pool occupies (0 without nodesPerClique)."""
        per_clique = self.pool.placement.nodes_per_clique
        return 0 if per_clique is None else -(-len(self.pool.node_names) // per_clique)

    # -- nodes --------------------------------------------------------------------------------

    def labels(self, name: str, index: int) -> dict[str, str]:
        """Node labels of node ``name`` at ``index`` (sorted by key)."""
        pool, placement = self.pool, self.pool.placement
        rack_in_pool = index // placement.nodes_per_rack
        labels = {
            LABEL_HOSTNAME: name,
            LABEL_ARCH: "amd64",
            LABEL_OS: "linux",
            LABEL_POOL: pool.name,
            LABEL_ZONE: placement.zone,
            LABEL_RACK: f"r{self._offsets.rack + rack_in_pool:03d}",
            LABEL_BLOCK: f"b{self._offsets.block + rack_in_pool // placement.racks_per_block:02d}",
        }
        if placement.nodes_per_clique is not None:
            clique = self._offsets.clique + index // placement.nodes_per_clique
            domain = uuid.uuid5(_NAMESPACE, f"{self._cluster}/nvlink/{clique}")
            labels[LABEL_CLIQUE] = f"{domain}.1"
        driver = pool.driver
        if isinstance(driver, nvidia.NvidiaNodeConfig):
            labels[LABEL_ARCH] = driver.model.cpu_architecture
            labels[LABEL_GPU_PRODUCT] = driver.model.product_name.replace(" ", "-")
            labels[LABEL_GPU_COUNT] = str(driver.gpu_count)
            labels[LABEL_GPU_MEMORY] = str(driver.model.memory_mib)
        elif isinstance(driver, tpu.TpuNodeConfig):
            labels.update(tpu.node_labels(driver, index))
            labels[LABEL_INSTANCE_TYPE] = driver.shape.machine_type
        if pool.instance_type is not None:
            labels[LABEL_INSTANCE_TYPE] = pool.instance_type
        labels.update(pool.labels)
        return dict(sorted(labels.items()))

    def extended_resources(self) -> dict[str, str]:
        """The extended resources a device plugin offers on each node ({} for DRA pools)."""
        driver = self.pool.driver
        if not self.pool.device_plugin:
            return {}
        if isinstance(driver, nvidia.NvidiaNodeConfig):
            return {GPU_RESOURCE: str(driver.gpu_count)}
        if isinstance(driver, tpu.TpuNodeConfig):
            return {TPU_RESOURCE: str(driver.shape.chips_per_vm)}
        return {}

    def node(self, name: str, index: int) -> Object:
        """The Node object of node ``name`` at ``index``."""
        shape = self.pool.node
        capacity = {
            "cpu": shape.cpu,
            "ephemeral-storage": shape.ephemeral_storage,
            "memory": shape.memory,
            "pods": str(shape.pods),
            **self.extended_resources(),
        }
        spec: Object = {}
        if self.pool.taints:
            spec["taints"] = [_taint(t) for t in self.pool.taints]
        return {
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {"name": name, "labels": self.labels(name, index)},
            "spec": spec,
            "status": {
                "capacity": capacity,
                "allocatable": dict(capacity),
                "conditions": [{"type": "Ready", "status": "True"}],
            },
        }

    # -- resource slices ----------------------------------------------------------------------

    def slices(self, name: str, index: int) -> list[Object]:
        """The ResourceSlices of node ``name``'s pool (pool name = node name); [] for CPU-only
        and device-plugin pools."""
        driver = self.pool.driver
        if self.pool.device_plugin:
            return []
        if isinstance(driver, nvidia.NvidiaNodeConfig):
            return wrap_slices(name, nvidia.DRIVER, nvidia.publish(name, driver))
        if isinstance(driver, tpu.TpuNodeConfig):
            return wrap_slices(name, tpu.DRIVER, tpu.publish(name, driver, index))
        return []

    def instance_attributes(self, name: str) -> InstanceAttributes:
        """Node-dependent device attributes of node ``name`` (see the template contract)."""
        index = self.index_of(name)
        driver = self.pool.driver
        if self.pool.device_plugin:
            return {}
        if isinstance(driver, nvidia.NvidiaNodeConfig):
            return nvidia.instance_attributes(name, driver)
        if isinstance(driver, tpu.TpuNodeConfig):
            return tpu.instance_attributes(name, driver, index)
        return {}

    def template(self) -> tuple[list[Object], Callable[[str], InstanceAttributes]]:
        """Slices for the placeholder node ``__NODE__`` and the per-node attribute function."""
        return self.slices(PLACEHOLDER_NODE, 0), self.instance_attributes


def _taint(taint: TaintSpec) -> Object:
    result: Object = {"key": taint.key}
    if taint.value:
        result["value"] = taint.value
    result["effect"] = taint.effect
    return result


def wrap_slices(node_name: str, driver: str, bodies: list[Object]) -> list[Object]:
    """Give slice bodies their ResourceSlice envelope: names ``<node>-<driver>-<k>``, nodeName,
    and the pool header (pool name = node name, generation 1, resourceSliceCount = len)."""
    return [
        {
            "apiVersion": "resource.k8s.io/v1",
            "kind": "ResourceSlice",
            "metadata": {"name": f"{node_name}-{driver}-{k}"},
            "spec": {
                "driver": driver,
                "nodeName": node_name,
                "pool": {"name": node_name, "generation": 1, "resourceSliceCount": len(bodies)},
                **body,
            },
        }
        for k, body in enumerate(bodies)
    ]


def instantiate_template(
    template: list[Object], node_name: str, attributes: InstanceAttributes
) -> list[Object]:
    """Reference instantiation of a pool template for ``node_name`` (see the contract above)."""
    result = copy.deepcopy(template)
    for resource_slice in result:
        metadata, spec = resource_slice["metadata"], resource_slice["spec"]
        metadata["name"] = str(metadata["name"]).replace(PLACEHOLDER_NODE, node_name)
        spec["nodeName"] = node_name
        spec["pool"]["name"] = node_name
        for device in spec.get("devices", []):
            device["attributes"].update(copy.deepcopy(attributes.get(device["name"], {})))
    return result


# ---------------------------------------------------------------------------------------------
# Spec -> pools.


def _driver_config(spec: ClusterSpec, pool: NodePoolSpec) -> DriverConfig:
    acc = pool.accelerator
    if isinstance(acc, NvidiaAccelerator):
        return nvidia.NvidiaNodeConfig(
            model=gpu_model(acc.model),
            gpu_count=acc.count,
            mode=acc.mig.mode,
            static_layout=tuple(acc.mig.layout),
            split_counters=spec.split_counter_slices,
        )
    if isinstance(acc, SharedGpuAccelerator):
        return nvidia.NvidiaNodeConfig(gpu_model(acc.model), acc.count, "shared")
    if isinstance(acc, TpuAccelerator):
        shape = tpu.tpu_slice_shape(acc.generation, acc.topology, acc.chips_per_vm)
        return tpu.TpuNodeConfig(shape, pool.name)
    return None


def _device_plugin(pool: NodePoolSpec) -> bool:
    acc = pool.accelerator
    return isinstance(acc, NvidiaAccelerator | TpuAccelerator) and acc.exposure == "device-plugin"


def _openb_token(node: OpenbNode) -> str:
    cpu = f"{node.cpu_milli // 1000}c" if node.cpu_milli % 1000 == 0 else f"{node.cpu_milli}m"
    mem = binary_quantity(node.memory_mib * MIB).lower()
    model = (node.model or "cpu").lower()
    token = f"{model}-{node.gpu}g-{cpu}-{mem}"
    return "".join(c if c.isalnum() or c == "-" else "-" for c in token)


def _expand_openb(pool: NodePoolSpec, csv_path: str) -> list[ConcretePool]:
    where = f"node pool {pool.name!r}: fromOpenbCSV"
    rows = read_openb_nodes(resolve_csv_path(Path(csv_path), where))
    groups: dict[tuple[str | None, int, int, int], list[OpenbNode]] = {}
    for row in rows:
        groups.setdefault((row.model, row.gpu, row.cpu_milli, row.memory_mib), []).append(row)
    expanded = []
    for (model, gpus, cpu_milli, memory_mib), members in groups.items():
        cpu = str(cpu_milli // 1000) if cpu_milli % 1000 == 0 else f"{cpu_milli}m"
        driver: DriverConfig = None
        if model is not None:
            driver = nvidia.NvidiaNodeConfig(gpu_model(model), gpus, "shared")
        expanded.append(
            ConcretePool(
                name=f"{pool.name}-{_openb_token(members[0])}",
                node_names=tuple(m.name for m in members),
                node=NodeShape(cpu=cpu, memory=binary_quantity(memory_mib * MIB)),
                driver=driver,
                placement=pool.placement,
                labels=dict(pool.labels),
                taints=tuple(pool.taints),
            )
        )
    return expanded


def concrete_pools(spec: ClusterSpec) -> list[ConcretePool]:
    """The spec's pools with openb CSV pools expanded, in spec order."""
    pools: list[ConcretePool] = []
    for pool in spec.node_pools:
        if pool.from_openb_csv is not None:
            pools.extend(_expand_openb(pool, pool.from_openb_csv))
            continue
        if pool.count is None or pool.node is None:
            raise ValueError(f"node pool {pool.name!r}: count and node are required")
        prefix = pool.node_name_prefix or pool.name
        pools.append(
            ConcretePool(
                name=pool.name,
                node_names=tuple(f"{prefix}-{i:04d}" for i in range(pool.count)),
                node=pool.node,
                driver=_driver_config(spec, pool),
                placement=pool.placement,
                labels=dict(pool.labels),
                taints=tuple(pool.taints),
                instance_type=pool.instance_type,
                device_plugin=_device_plugin(pool),
            )
        )
    return pools


def pool_builders(spec: ClusterSpec) -> list[PoolBuilder]:
    """One builder per concrete pool, with cluster-wide rack/block/clique numbering.

    Raises ValueError if two pools produce the same node name or pool name.
    """
    builders: list[PoolBuilder] = []
    offsets = _Offsets(0, 0, 0)
    owner: dict[str, str] = {}
    for pool in concrete_pools(spec):
        if any(b.name == pool.name for b in builders):
            raise ValueError(f"node pool {pool.name!r}: name produced twice")
        for node_name in pool.node_names:
            if node_name in owner:
                raise ValueError(
                    f"node pool {pool.name!r}: node name {node_name!r} is also produced by "
                    f"pool {owner[node_name]!r} (set nodeNamePrefix)"
                )
            owner[node_name] = pool.name
        builder = PoolBuilder(pool, spec.metadata.name, offsets)
        builders.append(builder)
        offsets = _Offsets(
            offsets.rack + builder.racks(),
            offsets.block + builder.blocks(),
            offsets.clique + builder.cliques(),
        )
    return builders


# ---------------------------------------------------------------------------------------------
# Whole cluster.


@dataclass
class BuiltCluster:
    """A materialised simulated cluster (plain Kubernetes JSON dicts)."""

    name: str
    nodes: list[Object]
    device_classes: list[Object]
    resource_slices: list[Object]
    feature_gates: dict[str, bool]
    topology_levels: list[str]
    pools: list[PoolBuilder]

    def objects(self) -> list[Object]:
        """All objects in apply order: DeviceClasses, Nodes, ResourceSlices."""
        return [*self.device_classes, *self.nodes, *self.resource_slices]


def build_cluster(spec: ClusterSpec) -> BuiltCluster:
    """Materialise ``spec``. Raises ValueError for clashing node names or topology levels that
    do not nest (a domain of one level under two domains of the level above)."""
    builders = pool_builders(spec)
    nodes: list[Object] = []
    slices: list[Object] = []
    for builder in builders:
        for index, name in enumerate(builder.node_names()):
            nodes.append(builder.node(name, index))
            slices.extend(builder.slices(name, index))
    check_topology_nesting(nodes, spec.topology.levels)
    return BuiltCluster(
        name=spec.metadata.name,
        nodes=nodes,
        device_classes=device_classes(),
        resource_slices=slices,
        feature_gates=spec.effective_feature_gates(),
        topology_levels=list(spec.topology.levels),
        pools=builders,
    )


def check_topology_nesting(nodes: list[Object], levels: list[str]) -> None:
    """ValueError unless every domain of each level lies inside one domain of the nearest
    outer level that the node also carries (nodes may lack some levels)."""
    parent_of: dict[tuple[str, str], tuple[str, str]] = {}
    for node in nodes:
        labels: dict[str, str] = node["metadata"]["labels"]
        present = [(level, labels[level]) for level in levels if level in labels]
        for outer, inner in itertools.pairwise(present):
            known = parent_of.setdefault(inner, outer)
            if known != outer:
                raise ValueError(
                    f"topology.levels: {inner[0]}={inner[1]} lies under both "
                    f"{known[0]}={known[1]} and {outer[0]}={outer[1]}; the levels do not nest"
                )


def slice_limit_violations(resource_slice: Object, *, split_layout: bool = True) -> list[str]:
    """Every resource.k8s.io/v1 limit the slice breaks, as readable messages.

    ``split_layout`` (Kubernetes >= 1.35) also forbids devices and counter sets in one slice.
    """
    name = resource_slice["metadata"]["name"]
    spec = resource_slice["spec"]
    devices: list[Object] = spec.get("devices", [])
    counter_sets: list[Object] = spec.get("sharedCounters", [])
    problems: list[str] = []
    limited = any(d.get("consumesCounters") or d.get("taints") for d in devices)
    limit = MAX_DEVICES_PER_SLICE_WITH_COUNTERS_OR_TAINTS if limited else MAX_DEVICES_PER_SLICE
    if len(devices) > limit:
        problems.append(f"{name}: {len(devices)} devices > {limit}")
    if len(counter_sets) > MAX_COUNTER_SETS_PER_SLICE:
        problems.append(f"{name}: {len(counter_sets)} counter sets > {MAX_COUNTER_SETS_PER_SLICE}")
    for counter_set in counter_sets:
        if len(counter_set["counters"]) > MAX_COUNTERS_PER_SET:
            problems.append(f"{name}: counter set {counter_set['name']} has too many counters")
    names = [d["name"] for d in devices]
    if len(set(names)) != len(names):
        problems.append(f"{name}: repeated device names")
    for device in devices:
        entries = len(device.get("attributes", {})) + len(device.get("capacity", {}))
        if entries > MAX_ATTRIBUTES_AND_CAPACITIES_PER_DEVICE:
            problems.append(f"{name}/{device['name']}: {entries} attributes+capacities > 32")
        consumes = device.get("consumesCounters", [])
        if len(consumes) > MAX_CONSUMES_COUNTERS_PER_DEVICE:
            problems.append(f"{name}/{device['name']}: {len(consumes)} consumesCounters > 2")
        for entry in consumes:
            if len(entry["counters"]) > MAX_COUNTERS_PER_CONSUMPTION:
                problems.append(f"{name}/{device['name']}: too many counters in one entry")
        capacity: dict[str, Object] = device.get("capacity", {})
        policies = any("requestPolicy" in c for c in capacity.values())
        if policies and not device.get("allowMultipleAllocations"):
            problems.append(f"{name}/{device['name']}: requestPolicy without multi-allocation")
    if split_layout and devices and counter_sets:
        problems.append(f"{name}: devices and sharedCounters in one slice (invalid from 1.35)")
    return problems
