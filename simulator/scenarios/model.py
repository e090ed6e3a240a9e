"""The Scenario schema (``apiVersion: tessera.io/v1alpha1``, ``kind: Scenario``).

A scenario describes *how work arrives* on a cluster, not the pods themselves: serving
LeaderWorkerSets and Deployments whose replicas follow a demand curve and an autoscaling
rule, batch Jobs arriving at random, device and node failures. :mod:`simulator.scenarios.
generate` turns a scenario and a seed into a replay trace; the same seed always gives the
same trace. The fields are documented here (``description=``) and in ``traces/README.md``.

Times and durations are seconds (a number) or Go duration strings (``"90s"``, ``"1h30m"``).
Unknown fields are errors. :func:`load_scenario` reports the first problem on one line naming
the file, the field path and the value, e.g. ``llm.yaml: invalid scenario:
workloads[0].replicas.autoscaling.maxReplicas: must be >= minReplicas (got 0)``.
"""

from __future__ import annotations

import datetime as dt
import math
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel

from scheduler.api.documents import read_yaml_file
from scheduler.api.duration import NANOSECONDS_PER_SECOND, parse_go_duration
from scheduler.api.limits import (
    MAX_DURATION_SECONDS,
    MAX_REPLICAS,
    MAX_TIMESTAMP,
    MIN_TIMESTAMP,
)
from scheduler.api.quantity import parse_quantity
from simulator.validation_problem import parse_mapping

API_VERSION = "tessera.io/v1alpha1"
KIND = "Scenario"
MAX_SEED = 2**31 - 1
"""Seeds: 0..2^31 − 1 (the ``--seed`` window of :mod:`simulator.options`)."""
MAX_SEEDS = 1_000
"""At most this many benchmark seeds (``--seeds``' bound)."""
MAX_STEPS = 1_000_000
"""At most this many draws of one random process of a scenario (Job arrivals, random bursts,
failures of one kind) and autoscaling evaluations of one workload: a tiny ``every``, a huge
``poissonPerHour`` or a one-second ``interval`` over ten years is refused naming the
workload instead of running for hours."""


def _seconds(value: object) -> float:
    """A number of seconds or a Go duration string, as finite seconds >= 0."""
    if isinstance(value, bool):
        raise ValueError(f"expected seconds or a duration such as '90s', got {value!r}")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str):
        try:
            seconds = parse_go_duration(value) / NANOSECONDS_PER_SECOND
        except ValueError as exc:
            raise ValueError(f"{value!r} is not a duration ({exc})") from None
    else:
        raise ValueError(f"expected seconds or a duration such as '90s', got {value!r}")
    if not math.isfinite(seconds) or seconds < 0:
        raise ValueError(f"{value!r} must be a finite number of seconds >= 0")
    if seconds > MAX_DURATION_SECONDS:
        raise ValueError(f"{value!r} is more than ten years ({MAX_DURATION_SECONDS:,} s)")
    return seconds


def _quantity(value: object) -> str:
    """A Kubernetes quantity, kept as text."""
    text = str(value) if isinstance(value, int | float | str) else None
    if text is None or isinstance(value, bool):
        raise ValueError(f"expected a quantity such as '32' or '256Gi', got {value!r}")
    try:
        parse_quantity(text)
    except ValueError:
        raise ValueError(f"{text!r} is not a Kubernetes quantity") from None
    return text


Seconds = Annotated[float, BeforeValidator(_seconds)]
Quantity = Annotated[str, BeforeValidator(_quantity)]
LabelKey = Annotated[str, Field(min_length=1, max_length=316, pattern=r"^[A-Za-z0-9./_-]+$")]
DNS_LABEL = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
Name = Annotated[str, Field(min_length=1, max_length=40, pattern=DNS_LABEL)]


class Model(BaseModel):
    """Base: camelCase fields, unknown fields rejected, frozen."""

    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="forbid", frozen=True
    )


def _exactly_one(model: BaseModel, fields: tuple[str, ...]) -> None:
    chosen = [f for f in fields if getattr(model, f) is not None]
    if len(chosen) != 1:
        names = ", ".join(to_camel(f) for f in fields)
        got = ", ".join(to_camel(f) for f in chosen) or "none"
        raise ValueError(f"set exactly one of {names} (got {got})")


# -- pods ---------------------------------------------------------------------------------------
class MigRequest(Model):
    """MIG partitions of one profile, through a claim of class ``mig.nvidia.com``."""

    profile: str = Field(
        pattern=r"^[1-7]g\.[0-9]+gb(\+me)?$", description="MIG profile, e.g. 3g.40gb."
    )
    count: int = Field(default=1, ge=1, le=56, description="Partitions per pod.")


class ShareRequest(Model):
    """A share of one shared GPU (consumable capacity, docs/conventions.md)."""

    compute: int = Field(ge=1, le=1000, description="Thousandths of the GPU.")
    memory: Quantity | None = Field(default=None, description="Framebuffer to reserve.")


class Accelerator(Model):
    """What one pod asks of accelerators: exactly one field."""

    gpus: int | None = Field(
        default=None, ge=1, le=64, description="Whole GPUs through a DRA claim (gpu.nvidia.com)."
    )
    mig: MigRequest | None = Field(default=None, description="MIG partitions (mig.nvidia.com).")
    share: ShareRequest | None = Field(default=None, description="A shared-GPU share.")
    nvidia_gpu: int | None = Field(
        default=None,
        ge=1,
        le=64,
        description="Whole GPUs as the extended resource nvidia.com/gpu (device plugin).",
    )
    tpu_chips: int | None = Field(
        default=None, ge=1, le=64, description="TPU chips through a claim (tpu.google.com)."
    )

    @model_validator(mode="after")
    def _one(self) -> Accelerator:
        _exactly_one(self, ("gpus", "mig", "share", "nvidia_gpu", "tpu_chips"))
        return self


class PodShape(Model):
    """The resources of one pod."""

    cpu: Quantity = Field(default="1", description="CPU request.")
    memory: Quantity = Field(default="4Gi", description="Memory request.")
    accelerator: Accelerator | None = Field(default=None, description="Accelerators per pod.")
    node_selector: dict[str, str] = Field(
        default_factory=dict, description="spec.nodeSelector (e.g. a TPU topology)."
    )
    image: str = Field(default="", description="Container image (cosmetic).")


# -- demand and replicas ----------------------------------------------------------------------
class Diurnal(Model):
    """A daily sinusoid between ``trough`` and ``peak`` requests per second."""

    peak: float = Field(ge=0, description="Requests/s at the peak.")
    trough: float = Field(ge=0, description="Requests/s at the trough.")
    period: Seconds = Field(default=86400.0, gt=0, description="Length of one cycle.")
    peak_at: Seconds = Field(default=50400.0, description="Time of the first peak (14:00).")

    @model_validator(mode="after")
    def _order(self) -> Diurnal:
        if self.trough > self.peak:
            raise ValueError(f"trough must be <= peak (got {self.trough} > {self.peak})")
        return self


class Burst(Model):
    """``extra`` requests/s on top of the curve from ``at`` for ``duration``."""

    at: Seconds
    duration: Seconds = Field(gt=0)
    extra: float = Field(ge=0)


class RandomBursts(Model):
    """Bursts at random times (Poisson, ``perDay`` on average), each ``extra`` requests/s for
    ``duration``."""

    per_day: float = Field(gt=0)
    duration: Seconds = Field(gt=0)
    extra: float = Field(ge=0)


class Demand(Model):
    """Requests per second over time: a constant or a diurnal curve, plus bursts."""

    constant: float | None = Field(default=None, ge=0, description="Flat requests/s.")
    diurnal: Diurnal | None = Field(default=None, description="Daily curve.")
    bursts: tuple[Burst, ...] = Field(default=(), description="Bursts at given times.")
    random_bursts: RandomBursts | None = Field(default=None, description="Random bursts.")

    @model_validator(mode="after")
    def _base(self) -> Demand:
        _exactly_one(self, ("constant", "diurnal"))
        return self


class Autoscaling(Model):
    """An HPA-like rule: desired = ceil(rate / targetPerReplica) clamped to [min, max],
    evaluated every ``interval``; a scale-up applies the lowest recommendation of the last
    ``scaleUpDelay``, a scale-down the highest of the last ``scaleDownDelay`` (HPA
    stabilization windows)."""

    target_per_replica: float = Field(gt=0, description="Requests/s one replica serves.")
    min_replicas: int = Field(default=1, ge=0, le=MAX_REPLICAS)
    max_replicas: int = Field(ge=0, le=MAX_REPLICAS)
    scale_up_delay: Seconds = Field(default=60.0, description="Scale-up stabilization window.")
    scale_down_delay: Seconds = Field(
        default=300.0, description="Scale-down stabilization window (HPA default 300 s)."
    )
    interval: Seconds = Field(default=60.0, gt=0, description="Evaluation period.")

    @model_validator(mode="after")
    def _bounds(self) -> Autoscaling:
        if self.max_replicas < self.min_replicas:
            raise ValueError(
                f"maxReplicas must be >= minReplicas (got {self.max_replicas} < "
                f"{self.min_replicas})"
            )
        return self


class ReplicaStep(Model):
    """From ``at`` on, ``replicas`` replicas."""

    at: Seconds
    replicas: int = Field(ge=0, le=MAX_REPLICAS)


class Replicas(Model):
    """How many replicas over time: ``fixed``, a ``schedule``, or ``demand`` +
    ``autoscaling``."""

    fixed: int | None = Field(default=None, ge=0, le=MAX_REPLICAS)
    schedule: tuple[ReplicaStep, ...] | None = None
    demand: Demand | None = None
    autoscaling: Autoscaling | None = None

    @model_validator(mode="after")
    def _mode(self) -> Replicas:
        if (self.demand is None) != (self.autoscaling is None):
            raise ValueError("demand and autoscaling go together")
        _exactly_one(self, ("fixed", "schedule", "autoscaling"))
        return self


# -- workloads --------------------------------------------------------------------------------
class _Workload(Model):
    name: Name = Field(description="Workload name (LWS, Deployment or Job name prefix).")
    namespace: Name = Field(default="default")
    priority_class_name: str = Field(description="PriorityClass of its pods.")
    pod: PodShape = Field(default_factory=PodShape)
    start: Seconds = Field(default=0.0, description="When the workload appears.")


class LeaderWorkerSetWorkload(_Workload):
    """Multi-host serving: a LeaderWorkerSet whose replica groups follow ``replicas``."""

    kind: Literal["LeaderWorkerSet"]
    size: int = Field(ge=1, le=256, description="Pods per group, leader included.")
    exclusive_topology: LabelKey | None = Field(
        default=None, description="leaderworkerset.sigs.k8s.io/exclusive-topology."
    )
    topology_required: LabelKey | None = Field(
        default=None, description="tessera.io/topology-required on the pods."
    )
    headroom_replicas: int = Field(
        default=0, ge=0, le=MAX_REPLICAS, description="tessera.io/headroom-replicas."
    )
    replicas: Replicas


class DeploymentWorkload(_Workload):
    """Single-pod serving: a Deployment whose replicas follow ``replicas``."""

    kind: Literal["Deployment"]
    replicas: Replicas


class Arrivals(Model):
    """When jobs arrive: ``poissonPerHour`` (exponential gaps), ``every`` (fixed gaps) or
    ``at`` (given times)."""

    poisson_per_hour: float | None = Field(default=None, gt=0)
    every: Seconds | None = Field(default=None, gt=0)
    at: tuple[Seconds, ...] | None = None

    @model_validator(mode="after")
    def _one(self) -> Arrivals:
        _exactly_one(self, ("poisson_per_hour", "every", "at"))
        return self


class Lognormal(Model):
    """Log-normal with the given median and shape ``sigma``."""

    median: Seconds = Field(gt=0)
    sigma: float = Field(ge=0, le=5)


class Exponential(Model):
    """Exponential with the given mean."""

    mean: Seconds = Field(gt=0)


class DurationDistribution(Model):
    """How long a job runs (its work), clamped to [min, max]."""

    fixed: Seconds | None = Field(default=None, gt=0)
    lognormal: Lognormal | None = None
    exponential: Exponential | None = None
    min: Seconds = Field(default=60.0, gt=0)
    max: Seconds = Field(default=7 * 86400.0, gt=0)

    @model_validator(mode="after")
    def _one(self) -> DurationDistribution:
        _exactly_one(self, ("fixed", "lognormal", "exponential"))
        if self.max < self.min:
            raise ValueError(f"max must be >= min (got {self.max} < {self.min})")
        return self


class Choice(Model):
    """An integer drawn from ``values`` with ``weights`` (equal when omitted)."""

    values: tuple[int, ...] = Field(min_length=1)
    weights: tuple[float, ...] | None = None

    @field_validator("values")
    @classmethod
    def _positive(cls, values: tuple[int, ...]) -> tuple[int, ...]:
        if any(v < 1 or v > 256 for v in values):
            raise ValueError(f"values must be 1..256 (got {list(values)})")
        return values

    @model_validator(mode="after")
    def _weights(self) -> Choice:
        if self.weights is not None and (
            len(self.weights) != len(self.values)
            or any(w < 0 for w in self.weights)
            or sum(self.weights) <= 0
        ):
            raise ValueError(
                f"weights must be one non-negative number per value, not all 0 "
                f"(got {list(self.weights)})"
            )
        return self


class JobWorkload(_Workload):
    """Batch: Jobs arriving over time; a Job of ``parallelism`` > 1 pods is a gang."""

    kind: Literal["Job"]
    arrivals: Arrivals
    stop: Seconds | None = Field(default=None, description="No arrivals after this time.")
    max_jobs: int | None = Field(default=None, ge=1, description="At most this many Jobs.")
    backlog: int = Field(
        default=0, ge=0, le=10_000, description="Jobs already waiting at the workload's start."
    )
    parallelism: int | Choice = Field(default=1, description="Pods per Job (gang size).")
    duration: DurationDistribution
    checkpoint_interval: Seconds | None = Field(
        default=None, gt=0, description="tessera.io/checkpoint-seconds on the pods."
    )
    topology_required: LabelKey | None = Field(
        default=None, description="tessera.io/topology-required on the pods."
    )
    topology_preferred: LabelKey | None = Field(
        default=None, description="tessera.io/topology-preferred on the pods."
    )

    @field_validator("parallelism")
    @classmethod
    def _parallelism(cls, value: int | Choice) -> int | Choice:
        if isinstance(value, int) and not 1 <= value <= 256:
            raise ValueError(f"must be 1..256 (got {value})")
        return value


Workload = Annotated[
    LeaderWorkerSetWorkload | DeploymentWorkload | JobWorkload, Field(discriminator="kind")
]


# -- failures and the scenario ---------------------------------------------------------------
class FailureRate(Model):
    """Failures as a Poisson process with ``rate`` per unit-hour; each lasts ``repair``."""

    rate: float = Field(ge=0, description="Failures per GPU-hour (gpus) or node-hour (nodes).")
    repair: Seconds = Field(gt=0, description="Time until the GPU or node is back.")


class Failures(Model):
    """Device and node failures."""

    gpus: FailureRate | None = Field(
        default=None, description="Per GPU-hour (TPU chips on TPU clusters); a NoExecute taint."
    )
    nodes: FailureRate | None = Field(
        default=None, description="Per node-hour, over the nodes with accelerators."
    )


class PriorityClassSpec(Model):
    """A PriorityClass the scenario creates."""

    name: Name
    value: int = Field(ge=-2_000_000_000, le=1_000_000_000)


class ScenarioMeta(Model):
    """``metadata``."""

    name: Name
    description: str = ""


class Scenario(Model):
    """A workload scenario (see the module docstring)."""

    api_version: Literal["tessera.io/v1alpha1"]
    kind: Literal["Scenario"]
    metadata: ScenarioMeta
    cluster: str = Field(description="Cluster spec, relative to the scenario file.")
    duration: Seconds = Field(gt=0, description="Length of the scenario.")
    seeds: tuple[Annotated[int, Field(ge=0, le=MAX_SEED)], ...] = Field(
        default=(0,), min_length=1, max_length=MAX_SEEDS, description="Benchmark seeds."
    )
    start: str = Field(
        default="2026-01-01T00:00:00Z",
        pattern=r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$",
        description="Wall-clock time of t = 0 (timestamps of the rendered objects).",
    )
    priority_classes: tuple[PriorityClassSpec, ...] = Field(default=())
    workloads: tuple[Workload, ...] = Field(min_length=1)
    failures: Failures | None = None

    @field_validator("start")
    @classmethod
    def _start(cls, value: str) -> str:
        try:
            moment = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise ValueError(f"{value!r} is not a valid time") from None
        if value.startswith("0001-01-01T00:00:00"):
            raise ValueError(f"{value!r} is Go's zero time (an unset timestamp); set a real time")
        if not MIN_TIMESTAMP <= moment < MAX_TIMESTAMP:
            raise ValueError(
                f"{value!r} is outside {MIN_TIMESTAMP.date()} .. {MAX_TIMESTAMP.date()}"
            )
        return value

    @model_validator(mode="after")
    def _references(self) -> Scenario:
        classes = {p.name for p in self.priority_classes}
        seen: set[tuple[str, str]] = set()
        for i, w in enumerate(self.workloads):
            if (w.namespace, w.name) in seen:
                raise ValueError(f"workloads[{i}].name: {w.name!r} is used twice in {w.namespace}")
            seen.add((w.namespace, w.name))
            if w.priority_class_name not in classes:
                raise ValueError(
                    f"workloads[{i}].priorityClassName: {w.priority_class_name!r} is not one of "
                    f"priorityClasses ({', '.join(sorted(classes)) or 'none'})"
                )
        return self


# Tags of the tagged unions in a scenario: they name a union member, not a field.
_UNION_TAGS = ("LeaderWorkerSet", "Deployment", "Job", "int", "Choice")


def parse_scenario(data: Any, source: str = "<scenario>") -> Scenario:
    """Validate a parsed scenario; ValueError (one line: source, field path, value)."""
    return parse_mapping(Scenario, data, source, "scenario", _UNION_TAGS)


def is_scenario(path: str | Path) -> bool:
    """Whether ``path`` is a YAML file whose top-level ``kind`` is ``Scenario``."""
    file = Path(path)
    if not file.is_file() or file.suffix not in (".yaml", ".yml"):
        return False
    try:
        with file.open(encoding="utf-8") as f:
            head = f.read(4096)
    except (OSError, UnicodeDecodeError):
        return False
    return any(line.strip() == f"kind: {KIND}" for line in head.splitlines())


def load_scenario(path: str | Path) -> Scenario:
    """Read and validate a scenario file; ValueError naming the file, field and value."""
    file = Path(path)
    return parse_scenario(read_yaml_file(file, "scenario"), str(file))


def cluster_path(scenario: Scenario, path: str | Path) -> Path:
    """The scenario's cluster spec, resolved against the scenario file's directory."""
    return (Path(path).parent / scenario.cluster).resolve()
