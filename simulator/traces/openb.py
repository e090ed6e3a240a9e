"""Readers for the Alibaba openb GPU traces (cluster-trace-gpu-v2023).

Contract: `read_nodes` and `read_pods` turn one node or pod CSV (plain `.csv` or gzip-compressed
`.csv.gz`, chosen by the file suffix) into a list of frozen records, in file order. Every
malformed header, row or value raises `ValueError` naming the file, the line number and the
offending column and value; nothing is silently skipped or defaulted. Units stay those of the
trace: CPU in milli-cores, memory in MiB, GPU share in thousandths of one GPU, times in seconds
from the start of the trace.

The `multigpu*` pod files carry only the first five columns; their records have `gpu_spec == ()`
and `None` for qos, phase and the three times. `scheduled_time` is also `None` where the trace
leaves it empty (pending pods).
"""

from __future__ import annotations

import csv
import gzip
import io
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from scheduler.api.limits import MAX_DURATION_SECONDS, MAX_NODES, MAX_PODS_PER_INPUT

__all__ = [
    "GPU_MILLI_PER_GPU",
    "OpenbNode",
    "OpenbPod",
    "read_nodes",
    "read_pods",
]

GPU_MILLI_PER_GPU = 1000
MAX_GPUS_PER_POD = 64
"""``num_gpu`` of one pod: at most the GPUs of the largest node a cluster spec builds."""
MAX_QUANTITY = 2**53
"""``cpu_milli`` and ``memory_mib``: integers a float holds exactly (they meet numpy arrays)."""
"""One whole GPU in the trace's `gpu_milli` unit."""

_QOS = frozenset({"LS", "BE", "Burstable", "Guaranteed"})
_PHASES = frozenset({"Running", "Succeeded", "Failed", "Pending"})

_NODE_COLUMNS = ("sn", "cpu_milli", "memory_mib", "gpu", "model")
_POD_REQUIRED = ("name", "cpu_milli", "memory_mib", "num_gpu", "gpu_milli")
_POD_OPTIONAL = (
    "gpu_spec",
    "qos",
    "pod_phase",
    "creation_time",
    "deletion_time",
    "scheduled_time",
)

_T = TypeVar("_T")


@dataclass(frozen=True, slots=True)
class OpenbNode:
    """One node of an openb node list.

    `gpu` is the number of GPUs; `model` is the GPU model (`None` on CPU-only nodes, which
    always have `gpu == 0`).
    """

    name: str
    cpu_milli: int
    memory_mib: int
    gpu: int
    model: str | None


@dataclass(frozen=True, slots=True)
class OpenbPod:
    """One pod of an openb pod list.

    `gpu_milli` is the share of each requested GPU (0 < gpu_milli <= 1000 when `num_gpu > 0`,
    0 for CPU-only pods; multi-GPU pods always ask for whole GPUs). `gpu_spec` lists the allowed
    GPU models as written in the trace (order and repeats kept, so `"|".join(gpu_spec)` gives
    back the trace's string); the empty tuple means any model.
    """

    name: str
    cpu_milli: int
    memory_mib: int
    num_gpu: int
    gpu_milli: int
    gpu_spec: tuple[str, ...] = ()
    qos: str | None = None
    phase: str | None = None
    creation_time: int | None = None
    deletion_time: int | None = None
    scheduled_time: float | None = None

    @property
    def gpu_spec_key(self) -> str:
        """The trace's `gpu_spec` string ('' when unconstrained)."""
        return "|".join(self.gpu_spec)


class _RowContext:
    """Where a value came from, for error messages."""

    __slots__ = ("line", "path")

    def __init__(self, path: Path) -> None:
        self.path = path
        self.line = 0

    def fail(self, column: str, value: str, why: str) -> ValueError:
        return ValueError(f"{self.path}: line {self.line}: column {column!r}: {value!r}: {why}")


def _open_text(path: Path) -> io.TextIOBase:
    name = path.name
    if name.endswith(".csv.gz"):
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8", newline="")
    if name.endswith(".csv"):
        return path.open(encoding="utf-8", newline="")
    raise ValueError(f"{path}: unsupported file name {name!r}: expected a .csv or .csv.gz suffix")


def _rows(
    path: Path, required: Sequence[str], optional: Sequence[str]
) -> Iterator[tuple[_RowContext, dict[str, int], list[str]]]:
    """Yield (context, column index, cells) per data row after checking the header."""
    ctx = _RowContext(path)
    try:
        with _open_text(path) as handle:
            reader = csv.reader(handle)
            header = next(reader, None)
            ctx.line = 1
            if header is None:
                raise ValueError(f"{path}: line 1: empty file: expected a CSV header")
            index: dict[str, int] = {}
            for pos, column in enumerate(header):
                if column in index:
                    raise ctx.fail(column, column, "duplicate header column")
                index[column] = pos
            missing = [c for c in required if c not in index]
            if missing:
                raise ValueError(
                    f"{path}: line 1: header {header!r} lacks required column(s) {missing!r}"
                )
            unknown = [c for c in header if c not in required and c not in optional]
            if unknown:
                raise ValueError(f"{path}: line 1: header has unknown column(s) {unknown!r}")
            width = len(header)
            for cells in reader:
                ctx.line = reader.line_num
                if len(cells) != width:
                    raise ValueError(
                        f"{path}: line {ctx.line}: expected {width} fields, got {len(cells)}"
                    )
                yield ctx, index, cells
    except UnicodeDecodeError as exc:
        raise ValueError(
            f"{path}: line {ctx.line + 1}: not UTF-8: byte 0x{exc.object[exc.start]:02x} cannot "
            "be decoded (a binary file?)"
        ) from None
    except csv.Error as exc:
        hint = " (a binary file?)" if "NUL" in str(exc) else ""
        raise ValueError(f"{path}: line {ctx.line + 1}: not a CSV file: {exc}{hint}") from None
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        problem = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
        raise ValueError(f"{path}: cannot read: {problem}") from None


def _int(
    ctx: _RowContext, column: str, text: str, minimum: int = 0, maximum: int = MAX_QUANTITY
) -> int:
    if len(text) > 20:
        raise ctx.fail(column, text[:20] + "...", "not an integer of at most 20 digits")
    try:
        value = int(text)
    except ValueError:
        raise ctx.fail(column, text, "not an integer") from None
    if value < minimum:
        raise ctx.fail(column, text, f"must be >= {minimum}")
    if value > maximum:
        raise ctx.fail(column, text, f"must be <= {maximum:,}")
    return value


def _optional(
    ctx: _RowContext,
    index: dict[str, int],
    cells: list[str],
    column: str,
    parse: Callable[[_RowContext, str, str], _T],
) -> _T | None:
    pos = index.get(column)
    if pos is None:
        return None
    text = cells[pos]
    if text == "" or text.lower() == "nan":
        return None
    return parse(ctx, column, text)


def _time(ctx: _RowContext, column: str, text: str) -> int:
    """Seconds from the trace start: at most ten years (``MAX_DURATION_SECONDS``)."""
    return _int(ctx, column, text, maximum=MAX_DURATION_SECONDS)


def _float_time(ctx: _RowContext, column: str, text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ctx.fail(column, text, "not a number") from None
    if not value >= 0.0 or value == float("inf"):
        raise ctx.fail(column, text, "must be a finite number >= 0")
    if value > MAX_DURATION_SECONDS:
        raise ctx.fail(column, text, f"must be <= {MAX_DURATION_SECONDS:,} (ten years)")
    return value


def _choice(allowed: frozenset[str]) -> Callable[[_RowContext, str, str], str]:
    def parse(ctx: _RowContext, column: str, text: str) -> str:
        if text not in allowed:
            raise ctx.fail(column, text, f"expected one of {sorted(allowed)}")
        return text

    return parse


def _spec(ctx: _RowContext, column: str, text: str) -> tuple[str, ...]:
    parts = tuple(text.split("|"))
    if any(part == "" for part in parts):
        raise ctx.fail(column, text, "empty GPU model name in '|'-separated list")
    return parts


def _new_name(
    ctx: _RowContext, column: str, name: str, seen: set[str], limit: int, what: str
) -> str:
    """``name`` once it is checked (not empty, not in ``seen``, fewer than ``limit`` before it)
    and added to ``seen``; ``what`` (node, pod) names the row kind in the error."""
    if not name:
        raise ctx.fail(column, name, f"empty {what} name")
    if name in seen:
        raise ctx.fail(column, name, f"duplicate {what} name")
    if len(seen) >= limit:
        raise ctx.fail(column, name, f"more than {limit:,} {what}s in one file")
    seen.add(name)
    return name


def read_nodes(path: str | Path) -> list[OpenbNode]:
    """Read an `openb_node_list_*.csv[.gz]` file.

    Raises ValueError on a missing column, a non-integer or negative quantity, a duplicate node
    name, or a GPU count that disagrees with the model (GPU nodes need a model, CPU-only nodes
    must not have one).
    """
    source = Path(path)
    nodes: list[OpenbNode] = []
    seen: set[str] = set()
    for ctx, index, cells in _rows(source, _NODE_COLUMNS, ()):
        name = _new_name(ctx, "sn", cells[index["sn"]], seen, MAX_NODES, "node")
        gpu_text = cells[index["gpu"]]
        gpu = _int(ctx, "gpu", gpu_text, maximum=MAX_GPUS_PER_POD)
        model_text = cells[index["model"]]
        model = None if model_text in ("", "NaN", "nan") else model_text
        if gpu > 0 and model is None:
            raise ctx.fail("model", model_text, f"a node with {gpu} GPU(s) needs a GPU model")
        if gpu == 0 and model is not None:
            raise ctx.fail("model", model_text, "a node without GPUs cannot have a GPU model")
        nodes.append(
            OpenbNode(
                name=name,
                cpu_milli=_int(ctx, "cpu_milli", cells[index["cpu_milli"]]),
                memory_mib=_int(ctx, "memory_mib", cells[index["memory_mib"]]),
                gpu=gpu,
                model=model,
            )
        )
    return nodes


def read_pods(path: str | Path) -> list[OpenbPod]:
    """Read an `openb_pod_list_*.csv[.gz]` file (11 columns, or the 5 of the multigpu files).

    Raises ValueError on a missing column, a non-integer or negative quantity, a GPU share
    outside (0, 1000] for a GPU pod (or non-zero for a CPU-only pod), a multi-GPU share below a
    whole GPU, an unknown qos or phase, a deletion before the creation, or a duplicate pod name.
    """
    source = Path(path)
    pods: list[OpenbPod] = []
    seen: set[str] = set()
    qos_parse = _choice(_QOS)
    phase_parse = _choice(_PHASES)
    for ctx, index, cells in _rows(source, _POD_REQUIRED, _POD_OPTIONAL):
        name = _new_name(ctx, "name", cells[index["name"]], seen, MAX_PODS_PER_INPUT, "pod")
        num_gpu = _int(ctx, "num_gpu", cells[index["num_gpu"]], maximum=MAX_GPUS_PER_POD)
        milli_text = cells[index["gpu_milli"]]
        gpu_milli = _int(ctx, "gpu_milli", milli_text)
        if num_gpu == 0 and gpu_milli != 0:
            raise ctx.fail("gpu_milli", milli_text, "a pod with num_gpu 0 must have gpu_milli 0")
        if num_gpu > 0 and not 0 < gpu_milli <= GPU_MILLI_PER_GPU:
            raise ctx.fail("gpu_milli", milli_text, "a GPU pod needs 0 < gpu_milli <= 1000")
        if num_gpu > 1 and gpu_milli != GPU_MILLI_PER_GPU:
            raise ctx.fail("gpu_milli", milli_text, "a multi-GPU pod must ask for whole GPUs")
        creation = _optional(ctx, index, cells, "creation_time", _time)
        deletion = _optional(ctx, index, cells, "deletion_time", _time)
        if creation is not None and deletion is not None and deletion < creation:
            raise ctx.fail("deletion_time", str(deletion), f"earlier than creation_time {creation}")
        pods.append(
            OpenbPod(
                name=name,
                cpu_milli=_int(ctx, "cpu_milli", cells[index["cpu_milli"]]),
                memory_mib=_int(ctx, "memory_mib", cells[index["memory_mib"]]),
                num_gpu=num_gpu,
                gpu_milli=gpu_milli,
                gpu_spec=_optional(ctx, index, cells, "gpu_spec", _spec) or (),
                qos=_optional(ctx, index, cells, "qos", qos_parse),
                phase=_optional(ctx, index, cells, "pod_phase", phase_parse),
                creation_time=creation,
                deletion_time=deletion,
                scheduled_time=_optional(ctx, index, cells, "scheduled_time", _float_time),
            )
        )
    return pods
