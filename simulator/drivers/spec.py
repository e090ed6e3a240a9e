"""The cluster spec: a YAML description of a simulated cluster, validated on load.

``load_cluster_spec(path)`` reads and validates a ``tessera.io/v1alpha1 ClusterSpec``; the
builder (:mod:`simulator.drivers.build`) turns it into Nodes, DeviceClasses and ResourceSlices.
The schema is documented field by field in ``traces/README.md``; every field below carries its
description too. Unknown fields are rejected. Every error is a ValueError naming the file (when
loaded from one), the field path and the offending value.

Validation rules beyond field types: dynamic MIG needs ``DRAPartitionableDevices`` and shared GPUs
need ``DRAConsumableCapacity`` in the effective feature gates (explicit ``featureGates`` over the
defaults of ``kubernetesVersion``); MIG modes need a MIG-capable model; static layouts must be
placeable; MIG is modelled only with ``exposure: dra``; TPU pools must hold whole slices; unknown
models and generations list the known ones.

``accelerator.exposure`` (NVIDIA and TPU pools) says how the hardware reaches the scheduler:
``dra`` (default) — the simulated DRA driver publishes ResourceSlices; ``device-plugin`` — the
node offers the extended resource ``nvidia.com/gpu`` (``google.com/tpu``: chips per VM) in
``status.capacity``/``allocatable`` and publishes no slices, as with the NVIDIA and GKE TPU device
plugins (docs/semantics/extended-resources.md).

The openb node CSV (``fromOpenbCSV``) is read by :func:`read_openb_nodes`; a pool that names one
expands, at build time, into one pool per distinct node shape with shared GPUs.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic.alias_generators import to_camel

from scheduler.api.documents import read_yaml_file
from scheduler.api.limits import MAX_NODES
from simulator.drivers.catalog import GPU_MODELS, gpu_model
from simulator.drivers.mig import place_layout
from simulator.drivers.tpu import tpu_slice_shape
from simulator.traces.openb import OpenbNode, read_nodes
from simulator.validation_problem import field_path

DEFAULT_TOPOLOGY_LEVELS = (
    "topology.kubernetes.io/zone",
    "topology.tessera.io/block",
    "topology.tessera.io/rack",
    "kubernetes.io/hostname",
)

# Kubernetes minor version from which each DRA feature gate is on by default (reference dra.md §1).
DRA_GATE_DEFAULT_ON_SINCE: Mapping[str, int] = {
    "DynamicResourceAllocation": 34,
    "DRAAdminAccess": 34,
    "DRAPrioritizedList": 34,
    "DRASchedulerFilterTimeout": 34,
    "DRAResourceClaimDeviceStatus": 33,
    "DRAPartitionableDevices": 36,
    "DRADeviceTaints": 36,
    "DRAConsumableCapacity": 36,
    "DRADeviceBindingConditions": 36,
    "DRAExtendedResource": 36,
}

_QUANTITY = re.compile(
    r"^[+]?([0-9]+(\.[0-9]*)?|\.[0-9]+)(Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE]|[eE][+-]?[0-9]+)?$"
)
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_LABEL_NAME = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_VERSION = re.compile(r"^1\.([0-9]+)$")
_MAX_POOL_NAME = 50  # leaves room for "-slice-NN" in the 63-character gke-nodepool label


def check_label_key(key: str) -> None:
    """ValueError unless ``key`` is a valid Kubernetes label key (``[prefix/]name``)."""
    prefix, _, name = key.rpartition("/")
    if prefix and (len(prefix) > 253 or not _DNS_SUBDOMAIN.match(prefix)):
        raise ValueError(f"label key {key!r}: prefix is not a DNS subdomain")
    if not name or len(name) > 63 or not _LABEL_NAME.match(name):
        raise ValueError(f"label key {key!r}: name must be 1-63 alphanumerics, '-', '_' or '.'")


def check_label_value(key: str, value: str) -> None:
    """ValueError unless ``value`` is a valid label value (empty or 1-63 allowed characters)."""
    if value and (len(value) > 63 or not _LABEL_NAME.match(value)):
        raise ValueError(
            f"label {key!r}: value {value!r} must be at most 63 alphanumerics, '-', '_' or '.'"
        )


MAX_MIG_INSTANCES = 7
"""MIG instances one GPU can hold (7 compute slices on every MIG-capable model); a longer
static layout is refused before the placement search runs."""


class _Spec(BaseModel):
    model_config = ConfigDict(
        extra="forbid", frozen=True, alias_generator=to_camel, populate_by_name=True
    )


class Metadata(_Spec):
    """Identity of the cluster."""

    name: str = Field(
        description="Cluster name; seeds the deterministic NVLink cluster UUIDs.",
        min_length=1,
        max_length=63,
    )


class NodeShape(_Spec):
    """CPU, memory and pod capacity of every node of a pool (status.capacity = allocatable)."""

    cpu: str = Field(description='CPU cores as a Kubernetes quantity, e.g. "192" or "95500m".')
    memory: str = Field(description='Node memory as a quantity, e.g. "2Ti" or "393216Mi".')
    pods: int = Field(110, ge=1, le=10000, description="Maximum pods per node.")
    ephemeral_storage: str = Field("500Gi", description="Ephemeral storage as a quantity.")

    @field_validator("cpu", "memory", "ephemeral_storage")
    @classmethod
    def _quantity(cls, value: str) -> str:
        if not _QUANTITY.match(value):
            raise ValueError(f"{value!r} is not a Kubernetes quantity (e.g. 96, 500m, 384Gi)")
        return value


class MigSpec(_Spec):
    """How the GPUs of an NVIDIA pool are partitioned."""

    mode: Literal["none", "static", "dynamic"] = Field(
        "none",
        description="none: full GPUs; static: a fixed MIG layout per GPU; dynamic: "
        "partitionable devices (needs DRAPartitionableDevices).",
    )
    layout: list[str] = Field(
        default_factory=list,
        max_length=MAX_MIG_INSTANCES,
        description="Static mode only: MIG profile names of one GPU, e.g. [3g.40gb, 2g.20gb, "
        "1g.10gb, 1g.10gb]; every GPU gets the same layout, placed first-fit. At most 7 "
        "instances (a GPU has 7 compute slices), checked before the layout is placed.",
    )

    @model_validator(mode="after")
    def _layout_only_static(self) -> MigSpec:
        if self.mode == "static" and not self.layout:
            raise ValueError("mig.layout: static mode needs a non-empty layout of profile names")
        if self.mode != "static" and self.layout:
            raise ValueError(f"mig.layout: only allowed with mode static, not {self.mode!r}")
        return self


Exposure = Literal["dra", "device-plugin"]

_EXPOSURE_HELP = (
    "dra: DRA devices in ResourceSlices (the simulated driver); device-plugin: the "
    "extended resource {resource} in the node's capacity/allocatable and no slices."
)


class NvidiaAccelerator(_Spec):
    """Dedicated NVIDIA GPUs: DRA devices of the simulated gpu.nvidia.com driver, or the
    NVIDIA device plugin's ``nvidia.com/gpu``."""

    kind: Literal["nvidia"] = Field(description="Accelerator kind.")
    model: str = Field(description="GPU model name from the catalog, e.g. H100-80GB.")
    count: int = Field(ge=1, le=64, description="GPUs per node.")
    mig: MigSpec = Field(default_factory=MigSpec, description="MIG partitioning of the GPUs.")
    exposure: Exposure = Field(
        "dra", description=_EXPOSURE_HELP.format(resource="nvidia.com/gpu (one per GPU)")
    )

    @model_validator(mode="after")
    def _mig_needs_dra(self) -> NvidiaAccelerator:
        if self.exposure == "device-plugin" and self.mig.mode != "none":
            raise ValueError(
                f"exposure device-plugin with mig.mode {self.mig.mode!r}: MIG is modelled only "
                "with exposure dra (the device plugin's mixed strategy, nvidia.com/mig-<profile>, "
                "is not modelled); use exposure: dra or mig.mode: none"
            )
        return self


class SharedGpuAccelerator(_Spec):
    """GPUs shared through consumable capacity (allowMultipleAllocations, compute in 1/1000)."""

    kind: Literal["shared-gpu"] = Field(description="Accelerator kind.")
    model: str = Field(description="GPU model name from the catalog, e.g. T4 or H100-80GB.")
    count: int = Field(ge=1, le=64, description="GPUs per node.")


class TpuAccelerator(_Spec):
    """TPU chips published by tessera's tpu.google.com driver; pools hold whole slices."""

    kind: Literal["tpu"] = Field(description="Accelerator kind.")
    generation: str = Field(description="TPU generation: v5e, v5p or v6e.")
    topology: str = Field(description='Slice topology, e.g. "4x4" (v5e/v6e) or "2x2x4" (v5p).')
    chips_per_vm: int | None = Field(
        None,
        description="Chips per VM when a topology allows two machine types (v5e/v6e 2x4: "
        "8 = one VM, the default; 4 = two VMs).",
    )
    exposure: Exposure = Field(
        "dra", description=_EXPOSURE_HELP.format(resource="google.com/tpu (chips per VM)")
    )


class NoAccelerator(_Spec):
    """A CPU-only pool."""

    kind: Literal["none"] = Field(description="Accelerator kind.")


Accelerator = Annotated[
    NvidiaAccelerator | SharedGpuAccelerator | TpuAccelerator | NoAccelerator,
    Field(discriminator="kind"),
]


class PlacementSpec(_Spec):
    """Where the pool's nodes sit; produces the zone, block, rack and NVLink clique labels."""

    zone: str = Field("zone-a", description="Value of topology.kubernetes.io/zone.")
    nodes_per_rack: int = Field(32, ge=1, description="Nodes per rack (rack label rNNN).")
    racks_per_block: int = Field(4, ge=1, description="Racks per block (block label bNN).")
    nodes_per_clique: int | None = Field(
        None,
        ge=1,
        description="NVIDIA pools only: nodes per NVLink clique (nvidia.com/gpu.clique); must "
        "divide nodesPerRack. Unset: no clique label.",
    )

    @field_validator("zone")
    @classmethod
    def _zone(cls, value: str) -> str:
        check_label_value("topology.kubernetes.io/zone", value)
        return value

    @model_validator(mode="after")
    def _clique_in_rack(self) -> PlacementSpec:
        clique = self.nodes_per_clique
        if clique is not None and self.nodes_per_rack % clique != 0:
            raise ValueError(
                f"placement.nodesPerClique {clique} must divide nodesPerRack "
                f"{self.nodes_per_rack} (a clique stays inside one rack)"
            )
        return self


class TaintSpec(_Spec):
    """A node taint."""

    key: str = Field(description="Taint key (label-key syntax).")
    value: str = Field("", description="Taint value.")
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"] = Field(
        description="Taint effect."
    )

    @model_validator(mode="after")
    def _syntax(self) -> TaintSpec:
        check_label_key(self.key)
        check_label_value(self.key, self.value)
        return self


class NodePoolSpec(_Spec):
    """A group of identical nodes (or, with fromOpenbCSV, the nodes of an openb node CSV)."""

    name: str = Field(description="Pool name (DNS label, at most 50 characters).")
    count: int | None = Field(
        None, ge=1, le=100_000, description="Number of nodes (TPU: VMs, whole slices)."
    )
    node_name_prefix: str | None = Field(
        None, description="Node names are <prefix>-<index:04d>; default prefix = pool name."
    )
    node: NodeShape | None = Field(None, description="CPU/memory/pods of every node.")
    accelerator: Accelerator = Field(
        default_factory=lambda: NoAccelerator(kind="none"),
        description="Accelerators per node; kind nvidia | shared-gpu | tpu | none.",
    )
    placement: PlacementSpec = Field(
        default_factory=PlacementSpec, description="Zone, rack, block and clique layout."
    )
    labels: dict[str, str] = Field(
        default_factory=dict, description="Extra node labels (applied last; may not set hostname)."
    )
    taints: list[TaintSpec] = Field(default_factory=list, description="Node taints.")
    instance_type: str | None = Field(
        None, description="Value of node.kubernetes.io/instance-type (TPU: the machine type)."
    )
    from_openb_csv: str | None = Field(
        None,
        alias="fromOpenbCSV",
        description="Path (relative to the spec file; .csv or .csv.gz) of an openb node CSV; "
        "the pool then expands into one pool per node shape with shared GPUs.",
    )

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if len(value) > _MAX_POOL_NAME or not _DNS_LABEL.match(value):
            raise ValueError(
                f"pool name {value!r} must be a DNS label of at most {_MAX_POOL_NAME} characters"
            )
        return value

    @field_validator("node_name_prefix")
    @classmethod
    def _prefix(cls, value: str | None) -> str | None:
        if value is not None and (len(value) > 50 or not _DNS_LABEL.match(value)):
            raise ValueError(f"nodeNamePrefix {value!r} must be a DNS label of at most 50 chars")
        return value

    @field_validator("labels")
    @classmethod
    def _labels(cls, value: dict[str, str]) -> dict[str, str]:
        for key, label in value.items():
            check_label_key(key)
            check_label_value(key, label)
            if key == "kubernetes.io/hostname":
                raise ValueError("labels: kubernetes.io/hostname is set from the node name")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> NodePoolSpec:
        where = f"node pool {self.name!r}"
        if self.from_openb_csv is not None:
            for field_name, alias in (
                ("count", "count"),
                ("node", "node"),
                ("accelerator", "accelerator"),
                ("node_name_prefix", "nodeNamePrefix"),
                ("instance_type", "instanceType"),
            ):
                if field_name in self.model_fields_set:
                    raise ValueError(
                        f"{where}: {alias} cannot be combined with fromOpenbCSV (the CSV gives "
                        "node names, shapes and GPU models)"
                    )
            return self
        if self.count is None:
            raise ValueError(f"{where}: count is required (or use fromOpenbCSV)")
        if self.node is None:
            raise ValueError(f"{where}: node (cpu, memory) is required")
        self._check_accelerator(where, self.count)
        return self

    def _check_accelerator(self, where: str, count: int) -> None:
        acc = self.accelerator
        if self.placement.nodes_per_clique is not None and not isinstance(acc, NvidiaAccelerator):
            raise ValueError(
                f"{where}: placement.nodesPerClique is for NVIDIA pools (NVLink cliques), "
                f"not kind {acc.kind!r}"
            )
        if isinstance(acc, NvidiaAccelerator | SharedGpuAccelerator):
            try:
                model = gpu_model(acc.model)
            except ValueError as exc:
                raise ValueError(f"{where}: accelerator.model: {exc}") from None
            if isinstance(acc, NvidiaAccelerator) and acc.mig.mode != "none":
                if not model.mig_capable:
                    capable = ", ".join(m.name for m in GPU_MODELS.values() if m.mig_capable)
                    raise ValueError(
                        f"{where}: accelerator.mig.mode {acc.mig.mode!r}: GPU model "
                        f"{model.name} is not MIG-capable (MIG-capable: {capable})"
                    )
                if acc.mig.mode == "static":
                    try:
                        place_layout(model, acc.mig.layout)
                    except ValueError as exc:
                        raise ValueError(f"{where}: accelerator.mig.layout: {exc}") from None
        elif isinstance(acc, TpuAccelerator):
            try:
                shape = tpu_slice_shape(acc.generation, acc.topology, acc.chips_per_vm)
            except ValueError as exc:
                raise ValueError(f"{where}: accelerator: {exc}") from None
            if count % shape.vms != 0:
                raise ValueError(
                    f"{where}: count {count} is not a whole number of {acc.generation} "
                    f"{acc.topology} slices ({shape.vms} VMs of {shape.chips_per_vm} chips each); "
                    "TPU slices are atomic node pools"
                )


class TopologySpec(_Spec):
    """Topology levels, outermost first, as node-label keys (like Kueue's Topology)."""

    levels: list[str] = Field(
        default_factory=lambda: list(DEFAULT_TOPOLOGY_LEVELS),
        min_length=1,
        description="Ordered node-label keys, e.g. [topology.kubernetes.io/zone, "
        "topology.tessera.io/block, topology.tessera.io/rack, kubernetes.io/hostname].",
    )

    @field_validator("levels")
    @classmethod
    def _levels(cls, value: list[str]) -> list[str]:
        for key in value:
            check_label_key(key)
        duplicates = sorted({k for k in value if value.count(k) > 1})
        if duplicates:
            raise ValueError(f"topology.levels: repeated level(s) {duplicates}")
        return value


class ClusterSpec(_Spec):
    """A simulated cluster: Kubernetes version, feature gates, topology and node pools."""

    api_version: Literal["tessera.io/v1alpha1"] = Field(description="Schema version.")
    kind: Literal["ClusterSpec"] = Field(description="Object kind.")
    metadata: Metadata = Field(description="Cluster identity.")
    kubernetes_version: str = Field(
        "1.35",
        description='Minor version "1.N", N >= 34; 1.35+ publishes counters in their own '
        "ResourceSlices (split layout), 1.34 in the device slices (combined).",
    )
    feature_gates: dict[str, bool] = Field(
        default_factory=dict,
        description="Gates the kube-scheduler runs with, over the version's defaults.",
    )
    topology: TopologySpec = Field(default_factory=TopologySpec, description="Topology levels.")
    node_pools: list[NodePoolSpec] = Field(min_length=1, description="The node pools.")

    @field_validator("kubernetes_version")
    @classmethod
    def _version(cls, value: str) -> str:
        match = _VERSION.match(value)
        if match is None or int(match[1]) < 34:
            raise ValueError(
                f'kubernetesVersion {value!r}: expected "1.N" with N >= 34 '
                "(resource.k8s.io/v1 is served from 1.34)"
            )
        return value

    @property
    def minor_version(self) -> int:
        """N of kubernetesVersion 1.N."""
        return int(self.kubernetes_version.split(".")[1])

    @property
    def split_counter_slices(self) -> bool:
        """True when counter sets live in their own slices (Kubernetes >= 1.35)."""
        return self.minor_version >= 35

    def effective_feature_gates(self) -> dict[str, bool]:
        """The DRA gate defaults of kubernetesVersion overlaid with featureGates, sorted."""
        gates = {
            gate: self.minor_version >= since for gate, since in DRA_GATE_DEFAULT_ON_SINCE.items()
        }
        gates.update(self.feature_gates)
        return dict(sorted(gates.items()))

    def with_feature_gates(self, gates: Mapping[str, bool]) -> ClusterSpec:
        """This spec with ``gates`` over its ``featureGates`` (as ``--feature-gates`` sets them
        over a kube-scheduler's configuration), validated again: turning off a gate a pool
        needs is a ValueError naming the pool."""
        if not gates:
            return self
        data = self.model_dump(by_alias=True, exclude_unset=True)
        data["featureGates"] = {**self.feature_gates, **gates}
        try:
            return ClusterSpec.model_validate(data)
        except ValidationError as exc:
            raise ValueError(f"--feature-gates: {validation_message(exc)}") from None

    @model_validator(mode="after")
    def _cluster_rules(self) -> ClusterSpec:
        names = [pool.name for pool in self.node_pools]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"nodePools: repeated pool name(s) {duplicates}")
        total = sum(pool.count or 0 for pool in self.node_pools)
        if total > MAX_NODES:
            raise ValueError(f"nodePools: {total:,} nodes in all, at most {MAX_NODES:,}")
        gates = self.effective_feature_gates()
        for index, pool in enumerate(self.node_pools):
            where = f"nodePools[{index}] (pool {pool.name!r})"
            acc = pool.accelerator
            if isinstance(acc, NvidiaAccelerator) and acc.mig.mode == "dynamic":
                _require_gate(gates, "DRAPartitionableDevices", where, "dynamic MIG", self)
            if isinstance(acc, SharedGpuAccelerator) or pool.from_openb_csv is not None:
                _require_gate(gates, "DRAConsumableCapacity", where, "a shared-GPU pool", self)
        return self


def _require_gate(
    gates: dict[str, bool], gate: str, where: str, feature: str, spec: ClusterSpec
) -> None:
    if not gates.get(gate, False):
        raise ValueError(
            f"{where}: {feature} needs the feature gate {gate}, which is off for Kubernetes "
            f"{spec.kubernetes_version}; set featureGates: {{{gate}: true}}"
        )


# ---------------------------------------------------------------------------------------------
# Loading.


# Tags of the accelerator union: they name a union member, not a field.
_ACCELERATOR_TAGS = ("nvidia", "shared-gpu", "tpu", "none")


def validation_message(exc: ValidationError) -> str:
    """One line per error: ``field.path: message (got value)``; pydantic's 'Value error, '
    prefix is dropped and the offending input is shown when it is short."""
    lines = []
    for error in exc.errors():
        message = str(error["msg"]).removeprefix("Value error, ")
        if error["type"] not in ("missing", "value_error"):
            shown = repr(error.get("input"))
            if len(shown) <= 60:
                message += f" (got {shown})"
        loc = field_path(tuple(error["loc"]), _ACCELERATOR_TAGS)
        lines.append(f"{loc}: {message}" if loc else message)
    return "\n".join(lines)


def parse_cluster_spec(data: Any, source: str = "<spec>") -> ClusterSpec:
    """Validate an already-parsed spec mapping; ValueError naming ``source`` and the fields."""
    if not isinstance(data, dict):
        raise ValueError(f"{source}: a cluster spec must be a mapping, got {type(data).__name__}")
    try:
        return ClusterSpec.model_validate(data)
    except ValidationError as exc:
        raise ValueError(f"{source}: invalid cluster spec:\n{validation_message(exc)}") from None


def load_cluster_spec(path: str | Path) -> ClusterSpec:
    """Read and validate a cluster spec YAML file.

    ``fromOpenbCSV`` paths are resolved against the spec file's directory (a missing ``.csv``
    falls back to the same name with ``.gz``) and the CSV is checked now, so a bad CSV fails
    at load time. Raises ValueError naming the file and the field for any problem.
    """
    spec_path = Path(path)
    data = read_yaml_file(spec_path, "cluster spec")
    spec = parse_cluster_spec(data, str(spec_path))
    pools = []
    for index, pool in enumerate(spec.node_pools):
        resolved = pool
        if pool.from_openb_csv is not None:
            where = f"{spec_path}: nodePools[{index}].fromOpenbCSV"
            csv_path = resolve_csv_path(spec_path.parent / pool.from_openb_csv, where)
            read_openb_nodes(csv_path)
            resolved = pool.model_copy(update={"from_openb_csv": str(csv_path)})
        pools.append(resolved)
    return spec.model_copy(update={"node_pools": pools})


# ---------------------------------------------------------------------------------------------
# openb node CSV.


def resolve_csv_path(path: Path, where: str = "fromOpenbCSV") -> Path:
    """``path`` if it exists, else ``path`` + ``.gz``; ValueError naming ``where`` otherwise."""
    if path.is_file():
        return path
    gz = path.with_name(path.name + ".gz")
    if gz.is_file():
        return gz
    raise ValueError(f"{where}: no file {str(path)!r} (nor {gz.name!r})")


def read_openb_nodes(path: Path) -> list[OpenbNode]:
    """An openb node CSV (:func:`simulator.traces.openb.read_nodes`, the one reader) checked
    for a cluster: node names are DNS subdomains, GPU models are in the catalog, at least
    one row. ValueError naming the file, line and column."""
    nodes = read_nodes(path)
    if not nodes:
        raise ValueError(f"{path}: openb node CSV has no rows")
    for line, node in enumerate(nodes, start=2):
        if not _DNS_SUBDOMAIN.match(node.name):
            raise ValueError(
                f"{path}: line {line}: column sn: {node.name!r} is not a valid node name"
            )
        if node.model is not None and node.model not in GPU_MODELS:
            raise ValueError(
                f"{path}: line {line}: column model: unknown GPU model {node.model!r}; "
                f"known: {', '.join(GPU_MODELS)}"
            )
    return nodes
