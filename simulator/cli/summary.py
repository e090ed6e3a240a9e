"""What ``tessera cluster show`` and ``cluster import`` print: a cluster summarised by pool.

Two sources, one :class:`ClusterSummary`:

* a cluster spec (:func:`summary_from_spec`): one row per concrete node pool (openb pools
  expanded per node shape); devices from the first node's slices, labels of every node;
* Kubernetes objects from a dump (:func:`summary_from_objects`): nodes grouped into pools of
  identical nodes — same pool label (``tessera.io/node-pool``, GKE node pool, EKS node
  group, Karpenter node pool or AKS agent pool, when present), same allocatable CPU and
  memory, same accelerators — with devices from the ResourceSlices naming each node.

Accelerators are read from the devices a driver publishes, as the NVIDIA and TPU drivers
describe them: a physical GPU is a ``type: gpu`` device (its ``uuid``) or the parent of
``type: mig`` devices (``parentUUID``); a TPU chip is a ``type: tpu`` device. The sharing
mode is ``shared`` (``allowMultipleAllocations``), ``dynamic`` (MIG devices that consume
counters: partitionable devices), ``static`` (MIG devices without counters) or ``none``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from rich.console import Console
from rich.table import Table

from scheduler.api.dra import ResourceSlice
from scheduler.api.meta import KubeObject
from scheduler.api.node import Node
from scheduler.topology.domains import CLIQUE_LABEL, TopologyDomains
from scheduler.topology.graph import CliqueStats, LevelStats, build_graph, clique_stats, level_stats
from simulator.drivers.build import check_topology_nesting, pool_builders
from simulator.drivers.spec import DRA_GATE_DEFAULT_ON_SINCE, ClusterSpec

POOL_LABELS = (
    "tessera.io/node-pool",
    "cloud.google.com/gke-nodepool",
    "eks.amazonaws.com/nodegroup",
    "karpenter.sh/nodepool",
    "kubernetes.azure.com/agentpool",
)
"""Node labels naming the node pool a node belongs to, most specific first."""

DUMP_KUBERNETES_VERSION = "1.35"

Object = Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Accelerator:
    """The devices one driver publishes on each node of a pool."""

    driver: str
    model: str
    per_node: int
    mode: str
    devices_per_unit: float
    profiles: int = 0

    def mode_text(self) -> str:
        """The sharing column: mode, plus the number of MIG profiles when partitioned."""
        if self.profiles:
            return f"{self.mode} ({self.profiles} profiles)"
        return self.mode


@dataclass(slots=True)
class PoolRow:
    """One pool (or group of identical nodes)."""

    name: str
    nodes: int
    cpu: str
    memory: str
    accelerators: tuple[Accelerator, ...]


@dataclass(slots=True)
class ClusterSummary:
    """Everything the cluster table shows."""

    name: str
    source: str
    origin: str
    kubernetes_version: str
    pools: list[PoolRow]
    levels: list[LevelStats]
    gates: dict[str, bool]
    cliques: CliqueStats | None = None
    unbound_slices: int = 0
    notes: list[str] = field(default_factory=list)

    @property
    def node_count(self) -> int:
        """Nodes in all pools."""
        return sum(p.nodes for p in self.pools)

    def accelerator_totals(self) -> dict[str, int]:
        """Physical accelerators per model across the cluster."""
        totals: dict[str, int] = {}
        for pool in self.pools:
            for acc in pool.accelerators:
                totals[acc.model] = totals.get(acc.model, 0) + acc.per_node * pool.nodes
        return totals


# -- devices -> accelerators ----------------------------------------------------------------------


def _attribute(device: Object, driver: str, name: str) -> Any:
    attributes = device.get("attributes") or {}
    value = attributes.get(name, attributes.get(f"{driver}/{name}"))
    if not isinstance(value, Mapping):
        return None
    for kind in ("string", "int", "bool", "version"):
        if kind in value:
            return value[kind]
    return None


def _unit_of(device: Object, driver: str) -> str:
    """The physical GPU/chip a device belongs to (its own identity for a whole device)."""
    kind = _attribute(device, driver, "type")
    if kind == "mig":
        parent = _attribute(device, driver, "parentUUID")
        if parent is not None:
            return str(parent)
        consumes = device.get("consumesCounters") or []
        if consumes:
            return f"counters:{consumes[0].get('counterSet')}"
    uuid = _attribute(device, driver, "uuid")
    return str(uuid) if uuid is not None else str(device.get("name"))


def _model_of(devices: Sequence[Object], driver: str) -> str:
    for device in devices:
        product = _attribute(device, driver, "productName")
        if product is not None:
            return str(product)
        accelerator = _attribute(device, driver, "acceleratorType")
        if accelerator is not None:
            topology = _attribute(device, driver, "topology")
            return f"{accelerator} {topology}" if topology is not None else str(accelerator)
    return driver


def _mode_of(devices: Sequence[Object], driver: str) -> str:
    if any(d.get("allowMultipleAllocations") for d in devices):
        return "shared"
    migs = [d for d in devices if _attribute(d, driver, "type") == "mig"]
    if migs:
        return "dynamic" if any(d.get("consumesCounters") for d in migs) else "static"
    if any(_attribute(d, driver, "type") == "gpu" for d in devices):
        return "none"
    return "-"


def accelerators_of(slices: Iterable[Object]) -> tuple[Accelerator, ...]:
    """Per driver, what the ResourceSlices (API dicts) of one node publish, by driver name."""
    by_driver: dict[str, list[Object]] = {}
    for resource_slice in slices:
        spec = resource_slice.get("spec") or {}
        driver = str(spec.get("driver", ""))
        by_driver.setdefault(driver, []).extend(spec.get("devices") or [])
    result = []
    for driver in sorted(by_driver):
        devices = by_driver[driver]
        if not devices:
            continue
        units = {_unit_of(d, driver) for d in devices}
        profiles = {_attribute(d, driver, "profile") for d in devices} - {None}
        result.append(
            Accelerator(
                driver=driver,
                model=_model_of(devices, driver),
                per_node=len(units),
                mode=_mode_of(devices, driver),
                devices_per_unit=len(devices) / len(units),
                profiles=len(profiles),
            )
        )
    return tuple(result)


# -- topology levels ------------------------------------------------------------------------------


def topology_of(
    names: Sequence[str],
    labels: Sequence[Mapping[str, str]],
    accelerators: Sequence[int],
    levels: Sequence[str],
) -> tuple[list[LevelStats], CliqueStats | None]:
    """Level sizes from the topology tree (networkx), and the NVLink cliques when their
    label is not itself a level."""
    graph = build_graph(TopologyDomains.build(labels, levels), names)
    stats = level_stats(graph, dict(zip(names, accelerators, strict=True)))
    cliques = None
    if CLIQUE_LABEL not in levels:
        of_node = {
            n: lab[CLIQUE_LABEL]
            for n, lab in zip(names, labels, strict=True)
            if CLIQUE_LABEL in lab
        }
        cliques = clique_stats(graph, of_node, levels)
    return stats, cliques


def default_gates(version: str = DUMP_KUBERNETES_VERSION) -> dict[str, bool]:
    """The DRA feature gates on by default in Kubernetes ``version`` ("1.N")."""
    minor = int(version.split(".")[1])
    return {gate: minor >= since for gate, since in sorted(DRA_GATE_DEFAULT_ON_SINCE.items())}


# -- sources ---------------------------------------------------------------------------------------


def summary_from_spec(
    spec: ClusterSpec, source: str, levels: Sequence[str] | None = None
) -> ClusterSummary:
    """Summarise a validated spec without materialising every node's slices.

    ValueError when the topology levels do not nest (as ``cluster build`` would report).
    """
    use_levels = list(levels) if levels else list(spec.topology.levels)
    pools: list[PoolRow] = []
    labels: list[dict[str, str]] = []
    all_names: list[str] = []
    per_node: list[int] = []
    for builder in pool_builders(spec):
        names = builder.node_names()
        labels.extend(builder.labels(name, i) for i, name in enumerate(names))
        all_names.extend(names)
        shape = builder.pool.node
        accelerators = accelerators_of(builder.slices(names[0], 0))
        per_node.extend([sum(a.per_node for a in accelerators)] * len(names))
        pools.append(
            PoolRow(
                name=builder.name,
                nodes=len(names),
                cpu=shape.cpu,
                memory=shape.memory,
                accelerators=accelerators,
            )
        )
    check_topology_nesting([{"metadata": {"labels": node}} for node in labels], use_levels)
    stats, cliques = topology_of(all_names, labels, per_node, use_levels)
    return ClusterSummary(
        name=spec.metadata.name,
        source=source,
        origin="cluster spec",
        kubernetes_version=spec.kubernetes_version,
        pools=pools,
        levels=stats,
        cliques=cliques,
        gates=spec.effective_feature_gates(),
    )


def _pool_label(labels: Mapping[str, str]) -> str:
    for key in POOL_LABELS:
        if key in labels:
            return labels[key]
    return ""


def summary_from_objects(
    name: str,
    source: str,
    objects: Sequence[KubeObject],
    levels: Sequence[str],
    gates: Mapping[str, bool] | None = None,
) -> ClusterSummary:
    """Summarise the Nodes and ResourceSlices of a dump (other kinds are ignored); ``gates``
    (``--feature-gates``) over the 1.35 defaults."""
    nodes = [o for o in objects if isinstance(o, Node)]
    slices_of: dict[str, list[dict[str, Any]]] = {}
    unbound = 0
    for obj in objects:
        if isinstance(obj, ResourceSlice):
            if obj.spec.node_name:
                slices_of.setdefault(obj.spec.node_name, []).append(obj.to_dict())
            else:
                unbound += 1
    groups: dict[tuple[Any, ...], list[str]] = {}
    shapes: dict[tuple[Any, ...], PoolRow] = {}
    labels: list[dict[str, str]] = []
    names: list[str] = []
    per_node: list[int] = []
    for node in nodes:
        node_name = node.metadata.name or ""
        node_labels = dict(node.metadata.labels or {})
        labels.append(node_labels)
        names.append(node_name)
        allocatable = node.to_dict().get("status", {})
        amounts = allocatable.get("allocatable") or allocatable.get("capacity") or {}
        cpu, memory = str(amounts.get("cpu", "-")), str(amounts.get("memory", "-"))
        accelerators = accelerators_of(slices_of.get(node_name, []))
        per_node.append(sum(a.per_node for a in accelerators))
        key = (_pool_label(node_labels), cpu, memory, accelerators)
        groups.setdefault(key, []).append(node_name)
        shapes.setdefault(key, PoolRow("", 0, cpu, memory, accelerators))
    pools = []
    for key, members in groups.items():
        row = shapes[key]
        row.name = key[0] or (
            members[0] if len(members) == 1 else f"{members[0]} (+{len(members) - 1})"
        )
        row.nodes = len(members)
        pools.append(row)
    stats, cliques = topology_of(names, labels, per_node, levels)
    return ClusterSummary(
        name=name,
        source=source,
        origin="object dump",
        kubernetes_version=DUMP_KUBERNETES_VERSION,
        pools=pools,
        levels=stats,
        cliques=cliques,
        gates={**default_gates(), **(gates or {})},
        unbound_slices=unbound,
        notes=[
            f"feature gates: Kubernetes {DUMP_KUBERNETES_VERSION} defaults"
            + (" with --feature-gates" if gates else "")
            + " (a dump does not record the scheduler's gates)"
        ],
    )


# -- rendering -------------------------------------------------------------------------------------


def _number(value: float) -> str:
    return f"{value:g}" if value != int(value) else f"{int(value)}"


def render(summary: ClusterSummary, console: Console) -> None:
    """Print the summary: header line, pools, topology levels, feature gates."""
    totals = summary.accelerator_totals()
    accelerators = ", ".join(f"{n:,} x {model}" for model, n in totals.items()) or "none"
    console.print(
        f"[bold]{summary.name}[/] ({summary.origin} {summary.source}, Kubernetes "
        f"{summary.kubernetes_version}): {summary.node_count:,} nodes in {len(summary.pools)} "
        f"pool{'' if len(summary.pools) == 1 else 's'}; accelerators: {accelerators}"
    )
    pools = Table(title="node pools")
    for column in ("pool", "nodes", "cpu", "memory", "accelerator", "per node", "total"):
        pools.add_column(
            column, justify="right" if column in ("nodes", "per node", "total") else "left"
        )
    pools.add_column("MIG / sharing")
    pools.add_column("devices per GPU/chip", justify="right")
    for pool in summary.pools:
        accs = pool.accelerators
        pools.add_row(
            pool.name,
            f"{pool.nodes:,}",
            pool.cpu,
            pool.memory,
            "\n".join(a.model for a in accs) or "-",
            "\n".join(str(a.per_node) for a in accs) or "-",
            "\n".join(f"{a.per_node * pool.nodes:,}" for a in accs) or "-",
            "\n".join(a.mode_text() for a in accs) or "-",
            "\n".join(_number(a.devices_per_unit) for a in accs) or "-",
        )
    console.print(pools)
    levels = Table(title="topology levels (outermost first)")
    levels.add_column("level")
    levels.add_column("domains", justify="right")
    levels.add_column("nodes per domain\nmin / median / max", justify="right")
    levels.add_column("accelerators per domain\nmin / median / max", justify="right")
    levels.add_column("nodes without label", justify="right")
    for level in summary.levels:
        levels.add_row(
            level.key,
            f"{level.domains:,}",
            " / ".join(_number(v) for v in level.nodes),
            " / ".join(_number(v) for v in level.accelerators),
            f"{level.unlabelled:,}",
        )
    console.print(levels)
    if summary.cliques is not None:
        c = summary.cliques
        spans = (
            f"; {c.spanning} span more than one {c.within} domain" if c.within is not None else ""
        )
        console.print(
            f"NVLink cliques ({CLIQUE_LABEL}, not a topology level): {c.cliques:,}, "
            f"{c.hosts[0]}-{c.hosts[1]} hosts each{spans}"
        )
    gates = Table(title="DRA feature gates")
    gates.add_column("gate")
    gates.add_column("enabled")
    for gate, enabled in summary.gates.items():
        gates.add_row(gate, "[green]on[/]" if enabled else "off")
    console.print(gates)
    if summary.unbound_slices:
        console.print(
            f"{summary.unbound_slices} ResourceSlices are not bound to one node "
            "(network-attached devices; not counted per pool)"
        )
    for note in summary.notes:
        console.print(note)
