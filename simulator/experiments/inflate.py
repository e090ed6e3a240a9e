"""The FGD paper's workload-inflation experiment (docs/semantics/openb-fgd.md §1), on tessera.

Algorithm overview (one run = one policy, one seed):

1. the target workload: the trace's *original* pods grouped by (cpu, gpu share, GPU count,
   gpu_spec), most popular first, kept until 95% of pods are covered, renormalised;
2. order: pods sorted by name, then shuffled by a seeded generator; inflation: draw
   originals uniformly (same generator) and append clones ``<orig>-tuned-<i>`` until the
   next clone's per-GPU share would push the GPU request past ``ratio`` x cluster capacity
   (the reference's quirk: the check adds the per-GPU share, the total adds count x share);
3. tie-break order: a seeded permutation of the name-sorted nodes (the reference's random
   ``%04d-`` name prefixes; ties go to the smallest prefix);
4. every pod is created and scheduled once, in order, by tessera's framework with the
   policy's score plugin (NodeResourcesFit + DynamicResources filters; a stock-kube device
   choice or the policy's own, ``device_choice``); a pod that fits nowhere is dropped; pods
   never leave;
5. after every pod: arrived GPU milli (failed pods included), allocated GPU milli, and the
   cluster's fragmentation against the target workload; curves are binned by arrived % of
   capacity (rounded), 0..130, averaging the events in each bin (±1 when a bin is empty).

Exact per-seed agreement with the Go simulator is not expected (different random
generators); ``order``/``node_order`` replay a logged Go run step by step instead.
"""

from __future__ import annotations

import csv
import gzip
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from scheduler.api.kubeschedulerconfig import load_scheduler_config
from scheduler.framework.podinfo import pod_info
from scheduler.framework.profiles import Profile
from scheduler.framework.runtime import Framework
from scheduler.plugins.configuration import profiles_from_config
from scheduler.plugins.gpu.base import DeviceChoice as PluginDeviceChoice
from scheduler.plugins.gpu.fragmentation import Fragmentation
from scheduler.plugins.gpu.measure import FragTracker, TaskShape, WorkloadMix, typical_mix
from scheduler.plugins.registry import build_framework
from simulator.atomic import atomic_open
from simulator.backend import SimulatedCluster
from simulator.clusters import cluster_from_spec
from simulator.drivers.spec import parse_cluster_spec
from simulator.experiments.policies import inflate_profile, with_target_workload
from simulator.gctune import simulation_gc
from simulator.traces.openb import OpenbPod, read_pods
from simulator.traces.openb_objects import OpenbObjects

DeviceChoice = Literal[PluginDeviceChoice, "config"]
"""The GPU score plugin's ``deviceChoice``, or ``config`` when --config plugin args set it."""

MAX_ARRIVED_PCT = 130
POPULARITY = 0.95


@dataclass(frozen=True, slots=True)
class InflateConfig:
    """One run's settings. With ``scheduler_config`` (a KubeSchedulerConfiguration file of
    one profile) that profile schedules instead of ``policy``'s; ``policy`` is then the
    profile's name and ``device_choice`` is ``config`` (the plugin args decide)."""

    policy: str = "fgd"
    seed: int = 42
    ratio: float = 1.3
    device_choice: DeviceChoice = "policy"
    order: Path | None = None
    node_order: Path | None = None
    scheduler_config: Path | None = None
    feature_gates: tuple[tuple[str, bool], ...] = ()
    """``--feature-gates`` over the openb cluster's (1.35 defaults + DRAConsumableCapacity)."""


@dataclass(slots=True)
class Decision:
    """One step of the run (the columns of the reference's placement log)."""

    step: int
    pod: str
    orig_pod: str
    node: str
    status: str
    used_gpu_milli: int
    arrived_gpu_milli: int
    frag_milli: float


@dataclass(slots=True)
class InflateResult:
    """The JSON document of one run (``decisions`` are written separately)."""

    policy: str
    seed: int
    ratio: float
    device_choice: str
    trace: str
    pods_total: int
    pods_failed: int
    arrived_pct: list[int]
    alloc_pct: list[float | None]
    frag_pct: list[float | None]
    unallocated_pct_at_100: float | None
    wall_seconds: float
    decisions: list[Decision] = field(default_factory=list, repr=False)

    def to_json(self) -> dict[str, Any]:
        """The result without the per-step decisions."""
        data = asdict(self)
        del data["decisions"]
        return data


def shape_of(pod: OpenbPod) -> TaskShape:
    """The FGD task class of a pod (memory is not part of it)."""
    return TaskShape(pod.cpu_milli, pod.gpu_milli, pod.num_gpu, pod.gpu_spec_key)


def target_workload(
    pods: Sequence[OpenbPod], threshold: float = POPULARITY
) -> list[tuple[TaskShape, float]]:
    """The typical pods: (class, weight) at ``threshold`` popularity (reference §1 step 1)."""
    counts: dict[TaskShape, int] = {}
    for p in pods:
        key = shape_of(p)
        counts[key] = counts.get(key, 0) + 1
    mix = typical_mix(counts, threshold)
    return [
        (TaskShape(int(c), int(g), int(k), s), float(w))
        for c, g, k, s, w in zip(
            mix.cpu_milli, mix.gpu_milli, mix.num_gpu, mix.gpu_spec, mix.weight, strict=True
        )
    ]


def sampled_order(
    pods: Sequence[OpenbPod], capacity_milli: int, ratio: float, rng: np.random.Generator
) -> list[tuple[str, OpenbPod]]:
    """Shuffled originals plus seeded inflation clones (reference §1 steps 2-4)."""
    originals = sorted(pods, key=lambda p: p.name)
    order: list[tuple[str, OpenbPod]] = [
        (originals[i].name, originals[i]) for i in rng.permutation(len(originals))
    ]
    total = sum(p.num_gpu * p.gpu_milli for p in originals)
    limit = ratio * capacity_milli
    clone = 0
    while True:
        source = originals[int(rng.integers(len(originals)))]
        if total + source.gpu_milli > limit:
            break
        total += source.num_gpu * source.gpu_milli
        order.append((f"{source.name}-tuned-{clone}", source))
        clone += 1
    return order


def logged_order(path: Path, pods: Sequence[OpenbPod]) -> list[tuple[str, OpenbPod]]:
    """The arrival order of a logged run (``step,pod,orig_pod,...`` CSV, optionally gzip)."""
    by_name = {p.name: p for p in pods}
    opener = gzip.open if path.suffix == ".gz" else open
    order: list[tuple[str, OpenbPod]] = []
    line = 1
    try:
        with opener(path, "rt", encoding="utf-8", newline="") as f:
            reader = csv.DictReader(f)
            if reader.fieldnames is None or not {"pod", "orig_pod"} <= set(reader.fieldnames):
                raise ValueError(f"{path}: line 1: expected a CSV header with pod and orig_pod")
            for line, row in enumerate(reader, start=2):
                orig = row.get("orig_pod") or ""
                if orig not in by_name:
                    raise ValueError(
                        f"{path}: line {line}: orig_pod {orig!r} is not in the pod list"
                    )
                order.append(((row.get("pod") or "").rpartition("/")[2], by_name[orig]))
    except (UnicodeDecodeError, csv.Error, EOFError, gzip.BadGzipFile) as exc:
        raise ValueError(f"{path}: line {line}: not a placements CSV ({exc})") from None
    return order


def node_rank_from_file(path: Path, node_names: Sequence[str]) -> npt.NDArray[np.int64]:
    """Tie-break ranks from a file of prefixed names (``0007-openb-node-0123``) in order."""
    rank = np.full(len(node_names), len(node_names), dtype=np.int64)
    index = {name: i for i, name in enumerate(node_names)}
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError(
            f"{path}: not UTF-8: byte 0x{exc.object[exc.start]:02x} at offset {exc.start} "
            "(a binary file?)"
        ) from None
    for position, line in enumerate(text.split()):
        name = line.split("-", 1)[1] if "-" in line else line
        if name not in index:
            raise ValueError(f"{path}: node {name!r} is not in the cluster")
        rank[index[name]] = position
    return rank


def _bin(values: npt.NDArray[np.float64], arrived: npt.NDArray[np.int64]) -> list[float | None]:
    out: list[float | None] = []
    for x in range(MAX_ARRIVED_PCT + 1):
        hit = arrived == x
        if not hit.any():
            hit = np.abs(arrived - x) <= 1
        out.append(round(float(values[hit].mean()), 4) if hit.any() else None)
    return out


def run_inflate(
    nodes_csv: Path,
    pods_csv: Path,
    config: InflateConfig,
    *,
    progress: Callable[[int, int], None] | None = None,
) -> InflateResult:
    """One inflation run (see the module docstring). Raises ValueError on bad input files."""
    with simulation_gc():
        return _run_inflate(nodes_csv, pods_csv, config, progress)


def _frag_tracker(framework: Framework, mix: WorkloadMix) -> FragTracker:
    """The tracker the fragmentation metric reads: the FGD-family score plugin's own when it
    measures the same workload mix (so each node state is measured once per step), else a
    tracker of its own."""
    snapshot = framework.handle.snapshot()
    for plugin in framework.points.score:
        if isinstance(plugin, Fragmentation):
            tracker = plugin.tracker(snapshot)
            if tracker.mix.key == mix.key:
                return tracker
    return FragTracker(mix)


def _run_inflate(
    nodes_csv: Path,
    pods_csv: Path,
    config: InflateConfig,
    progress: Callable[[int, int], None] | None,
) -> InflateResult:
    start = time.perf_counter()
    spec = parse_cluster_spec(
        {
            "apiVersion": "tessera.io/v1alpha1",
            "kind": "ClusterSpec",
            "metadata": {"name": "openb"},
            "kubernetesVersion": "1.35",
            "featureGates": {"DRAConsumableCapacity": True},
            "nodePools": [{"name": "openb", "fromOpenbCSV": str(Path(nodes_csv).resolve())}],
        },
        source=str(nodes_csv),
    ).with_feature_gates(dict(config.feature_gates))
    loaded = cluster_from_spec(spec, templated=True, source=str(nodes_csv))
    cache = loaded.cache
    pods = read_pods(pods_csv)
    capacity = int(cache.snapshot().gpus.gpu_count.sum()) * 1000
    if capacity == 0:
        raise ValueError(f"{nodes_csv}: the node list has no GPUs")
    workload = target_workload(pods)
    rng = np.random.default_rng(config.seed)
    names = cache.node_names
    if config.order is not None:
        order = logged_order(config.order, pods)
    else:
        order = sampled_order(pods, capacity, config.ratio, rng)
    if config.node_order is not None:
        rank = node_rank_from_file(config.node_order, names)
    else:
        by_name = sorted(range(len(names)), key=lambda i: names[i])
        prefixes = rng.permutation(len(names))
        rank = np.empty(len(names), dtype=np.int64)
        rank[by_name] = prefixes
    backend = SimulatedCluster(cache)
    models = cache.snapshot().gpus.models
    mix = WorkloadMix.from_shapes([s for s, _ in workload], [w for _, w in workload], models)
    if config.scheduler_config is not None:
        profile = with_target_workload(config_profile(config.scheduler_config, config.seed), mix)
    else:
        profile = inflate_profile(config.policy, workload, config)
    framework = build_framework(profile, backend, node_rank=rank)
    objects = OpenbObjects()
    for template in {
        id(t): t for t in (objects.template_for(p) for _, p in order if p.num_gpu)
    }.values():
        backend.add_template(template)

    frag = _frag_tracker(framework, mix)
    arrived = used = failed = 0
    decisions: list[Decision] = []
    for step, (name, row) in enumerate(order):
        pod = backend.create_pod(objects.pod(row, name))
        arrived += row.num_gpu * row.gpu_milli
        result = framework.schedule_one(pod_info(pod))
        node = ""
        if result.node is not None and result.status.ok:
            node = result.node
            used += row.num_gpu * row.gpu_milli
        else:
            failed += 1
            backend.delete_pod(f"{pod.metadata.namespace}/{name}")
        decisions.append(
            Decision(
                step,
                f"{pod.metadata.namespace}/{name}",
                row.name,
                f"{int(rank[cache.node_index[node]]):04d}-{node}" if node else "",
                "scheduled" if node else "failed",
                used,
                arrived,
                round(float(frag.values(cache.snapshot()).sum()), 2),
            )
        )
        if progress is not None:
            progress(step + 1, len(order))
    unit = capacity / 100.0
    arrived_bins = np.array([round(d.arrived_gpu_milli / unit) for d in decisions], dtype=np.int64)
    alloc = np.array([d.used_gpu_milli / unit for d in decisions], dtype=np.float64)
    frag_pct = np.array([d.frag_milli / unit for d in decisions], dtype=np.float64)
    alloc_curve = _bin(alloc, arrived_bins)
    at_100 = alloc_curve[100]
    return InflateResult(
        policy=config.policy,
        seed=config.seed,
        ratio=config.ratio,
        device_choice=config.device_choice,
        trace=Path(pods_csv).name,
        pods_total=len(order),
        pods_failed=failed,
        arrived_pct=list(range(MAX_ARRIVED_PCT + 1)),
        alloc_pct=alloc_curve,
        frag_pct=_bin(frag_pct, arrived_bins),
        unallocated_pct_at_100=None if at_100 is None else round(100.0 - at_100, 4),
        wall_seconds=round(time.perf_counter() - start, 3),
        decisions=decisions,
    )


def config_profile(path: Path, seed: int) -> Profile:
    """The one profile of the KubeSchedulerConfiguration at ``path``, with the experiment's
    node-order tie-break (LoadError for a bad file; ValueError for several profiles)."""
    profiles = profiles_from_config(
        load_scheduler_config(path), source=str(path), tie_break="nodeOrder", seed=seed
    )
    if len(profiles) != 1:
        names = ", ".join(p.name for p in profiles)
        raise ValueError(
            f"{path}: an inflate run schedules with one profile; the file has "
            f"{len(profiles)} ({names})"
        )
    return profiles[0]


def write_decisions(decisions: Sequence[Decision], path: Path) -> None:
    """The per-step decisions as CSV, in the reference's placement-log columns."""
    with atomic_open(path) as f:
        writer = csv.writer(f)
        writer.writerow(
            [
                "step",
                "pod",
                "orig_pod",
                "node",
                "status",
                "used_gpu_milli",
                "arrived_gpu_milli",
                "frag_milli",
            ]
        )
        for d in decisions:
            writer.writerow(
                [
                    d.step,
                    d.pod,
                    d.orig_pod,
                    d.node,
                    d.status,
                    d.used_gpu_milli,
                    d.arrived_gpu_milli,
                    f"{d.frag_milli:.2f}",
                ]
            )


def finite(value: float | None) -> bool:
    """True for a number that is not None/NaN."""
    return value is not None and not math.isnan(value)
