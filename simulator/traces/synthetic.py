"""Seeded synthetic openb-like traces, written as openb pod CSVs.

Who calls: ``bench/bench_replay.py`` and tests, to get traces of any size whose pods look
like the shipped openb ones; the file is read back by :func:`simulator.inputs.read_trace`
(the openb reader) like any openb pod list.

The model is fitted once from a shipped openb pod list (``openb_pod_list_default`` unless
told otherwise):

* **shapes**: each synthetic pod copies the resource columns of a pod drawn uniformly from
  the list — the empirical joint distribution of ``(cpu_milli, memory_mib, num_gpu,
  gpu_milli, gpu_spec)``, with its ``qos``;
* **arrivals**: a Poisson process of ``rate`` pods per second (exponential gaps, the first
  pod at its first gap); written as whole seconds (the CSV's unit), rounded down;
* **durations**: log-normal, with ``mu`` / ``sigma`` the mean and standard deviation of
  ``log(deletion_time - creation_time)`` over the list's pods with a positive lifetime;
  whole seconds, at least 1. In the CSV a pod's ``deletion_time`` is its creation time plus
  its duration and ``scheduled_time`` is empty, so the reader runs it for that duration
  once bound.

:func:`rate_for_allocation` sizes the rate for a target GPU allocation by Little's law
(GPU share in use = rate x mean GPU demand x mean duration). One seed drives
every draw (one stream each for shapes, gaps and durations), so the same model and
:class:`SyntheticConfig` give byte-identical files, and the first ``k`` pods of a longer
trace equal the ``k``-pod trace of the same seed and rate (prefixes are comparable).
"""

from __future__ import annotations

import csv
import gzip
import io
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from simulator.atomic import write_atomic
from simulator.traces.openb import GPU_MILLI_PER_GPU, OpenbPod, read_pods

__all__ = [
    "CSV_COLUMNS",
    "DEFAULT_POD_LIST",
    "OpenbModel",
    "SyntheticConfig",
    "fit_openb",
    "generate",
    "load_openb_model",
    "rate_for_allocation",
    "write_openb_csv",
]

DEFAULT_POD_LIST = (
    Path(__file__).resolve().parents[2] / "traces" / "openb" / "openb_pod_list_default.csv.gz"
)
"""The shipped openb pod list the default model is fitted to."""

CSV_COLUMNS = (
    "name",
    "cpu_milli",
    "memory_mib",
    "num_gpu",
    "gpu_milli",
    "gpu_spec",
    "qos",
    "creation_time",
    "deletion_time",
    "scheduled_time",
)


@dataclass(frozen=True, slots=True)
class OpenbModel:
    """What the generator draws from: the pods whose shapes are copied and the log-normal
    duration parameters (seconds)."""

    shapes: tuple[OpenbPod, ...]
    log_mu: float
    log_sigma: float
    source: str = ""

    @property
    def mean_duration(self) -> float:
        """Mean of the log-normal duration, ``exp(mu + sigma^2 / 2)`` seconds."""
        return math.exp(self.log_mu + self.log_sigma**2 / 2.0)

    @property
    def mean_gpu_milli(self) -> float:
        """Mean GPU demand per pod in thousandths of a GPU (``num_gpu x gpu_milli``)."""
        return float(np.mean([p.num_gpu * p.gpu_milli for p in self.shapes]))


@dataclass(frozen=True, slots=True)
class SyntheticConfig:
    """One synthetic trace: ``pods`` pods arriving at ``rate`` per second, drawn with
    ``seed``; pod names are ``<prefix>-<index:06d>``."""

    pods: int
    rate: float
    seed: int = 0
    prefix: str = "synth-pod"

    def __post_init__(self) -> None:
        if self.pods < 1:
            raise ValueError(f"SyntheticConfig.pods: {self.pods!r} must be at least 1")
        if not (self.rate > 0.0 and math.isfinite(self.rate)):
            raise ValueError(f"SyntheticConfig.rate: {self.rate!r} must be a positive number")
        if not self.prefix:
            raise ValueError("SyntheticConfig.prefix: '' must not be empty")


def fit_openb(pods: Sequence[OpenbPod], source: str = "") -> OpenbModel:
    """The model of a pod list (see the module docstring).

    Raises ValueError naming ``source`` when the list is empty or no pod has both times
    with a positive lifetime (the ``multigpu*`` lists have no times).
    """
    if not pods:
        raise ValueError(f"{source or 'pod list'}: no pods to fit")
    lifetimes = np.array(
        [
            p.deletion_time - p.creation_time
            for p in pods
            if p.creation_time is not None
            and p.deletion_time is not None
            and p.deletion_time > p.creation_time
        ],
        dtype=np.float64,
    )
    if len(lifetimes) == 0:
        raise ValueError(
            f"{source or 'pod list'}: creation_time/deletion_time: no pod with a positive "
            "lifetime to fit durations to"
        )
    logs = np.log(lifetimes)
    return OpenbModel(tuple(pods), float(logs.mean()), float(logs.std()), source)


def load_openb_model(path: str | Path = DEFAULT_POD_LIST) -> OpenbModel:
    """Fit the model to an openb pod CSV (ValueError naming the file on bad input)."""
    return fit_openb(read_pods(path), str(path))


def rate_for_allocation(model: OpenbModel, capacity_gpu_milli: int, target: float) -> float:
    """Arrival rate (pods/s) whose steady state allocates ``target`` (a fraction) of
    ``capacity_gpu_milli`` by Little's law; ValueError for a bad capacity or target."""
    if capacity_gpu_milli <= 0:
        raise ValueError(f"capacity_gpu_milli: {capacity_gpu_milli!r} must be positive")
    if not 0.0 < target <= 1.0:
        raise ValueError(f"target: {target!r} must be within (0, 1]")
    demand = model.mean_gpu_milli * model.mean_duration
    if demand <= 0.0:
        raise ValueError(f"{model.source or 'model'}: its pods ask for no GPU")
    return target * capacity_gpu_milli / demand


def generate(model: OpenbModel, config: SyntheticConfig) -> list[OpenbPod]:
    """The synthetic pods, in arrival order (see the module docstring)."""
    shapes, gaps, lives = (
        np.random.default_rng(s) for s in np.random.SeedSequence(config.seed).spawn(3)
    )
    picks = shapes.integers(0, len(model.shapes), size=config.pods)
    arrivals = np.floor(np.cumsum(gaps.exponential(1.0 / config.rate, size=config.pods)))
    durations = np.maximum(
        np.floor(lives.lognormal(model.log_mu, model.log_sigma, size=config.pods)), 1.0
    )
    out = []
    for index, (pick, arrival, duration) in enumerate(
        zip(picks.tolist(), arrivals.tolist(), durations.tolist(), strict=True)
    ):
        shape = model.shapes[pick]
        created = int(arrival)
        out.append(
            OpenbPod(
                name=f"{config.prefix}-{index:06d}",
                cpu_milli=shape.cpu_milli,
                memory_mib=shape.memory_mib,
                num_gpu=shape.num_gpu,
                gpu_milli=shape.gpu_milli if shape.num_gpu else 0,
                gpu_spec=shape.gpu_spec,
                qos=shape.qos,
                creation_time=created,
                deletion_time=created + int(duration),
            )
        )
    return out


def _rows(pods: Sequence[OpenbPod]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for p in pods:
        if p.num_gpu > 1 and p.gpu_milli != GPU_MILLI_PER_GPU:
            raise ValueError(f"pod {p.name}: gpu_milli: {p.gpu_milli} with {p.num_gpu} GPUs")
        writer.writerow(
            (
                p.name,
                p.cpu_milli,
                p.memory_mib,
                p.num_gpu,
                p.gpu_milli,
                p.gpu_spec_key,
                p.qos or "",
                "" if p.creation_time is None else p.creation_time,
                "" if p.deletion_time is None else p.deletion_time,
                "" if p.scheduled_time is None else p.scheduled_time,
            )
        )
    return buffer.getvalue()


def write_openb_csv(pods: Sequence[OpenbPod], path: str | Path) -> Path:
    """Write ``pods`` as an openb pod CSV (``.csv``, or ``.csv.gz`` with a fixed gzip
    header so equal pods give equal bytes), atomically; returns the path.

    ValueError for another suffix.
    """
    target = Path(path)
    text = _rows(pods).encode("utf-8")
    if target.name.endswith(".csv.gz"):
        buffer = io.BytesIO()
        with gzip.GzipFile(filename="", mode="wb", fileobj=buffer, mtime=0) as f:
            f.write(text)
        data = buffer.getvalue()
    elif target.name.endswith(".csv"):
        data = text
    else:
        raise ValueError(f"{target}: expected a .csv or .csv.gz file name")
    write_atomic(target, data)
    return target
