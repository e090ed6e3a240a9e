"""openb CSV readers: the shipped traces read back with the published counts, and every kind
of bad input is refused with the file, line and column named."""

from __future__ import annotations

import gzip
import time
from collections import Counter
from pathlib import Path

import pytest

from simulator.traces.openb import OpenbNode, OpenbPod, read_nodes, read_pods

TRACES = Path(__file__).parents[3] / "traces" / "openb"
POD_HEADER = (
    "name,cpu_milli,memory_mib,num_gpu,gpu_milli,gpu_spec,qos,pod_phase,"
    "creation_time,deletion_time,scheduled_time\n"
)


def test_default_pod_list_counts_and_speed() -> None:
    """The default trace has 8,152 pods with the published GPU mix, read without a runaway
    (about 0.2 s on a quiet machine; bench/bench_io.py measures reader speed)."""
    start = time.perf_counter()
    pods = read_pods(TRACES / "openb_pod_list_default.csv.gz")
    assert time.perf_counter() - start < 10.0
    assert len(pods) == 8152
    assert Counter(p.num_gpu for p in pods) == {0: 1088, 1: 6989, 2: 16, 4: 15, 8: 44}
    assert sum(1 for p in pods if p.num_gpu == 1 and p.gpu_milli < 1000) == 3078
    assert (
        sum(1 for p in pods if p.scheduled_time is None)
        == 897
        == Counter(p.phase for p in pods)["Pending"]
    )
    assert pods[1] == OpenbPod(
        "openb-pod-0001", 6000, 12288, 1, 460, (), "LS", "Running", 427061, 12902960, 427061.0
    )


def test_node_lists() -> None:
    """1,213 GPU nodes with 6,212 GPUs; the full list adds 310 CPU-only nodes without model."""
    gpu_nodes = read_nodes(TRACES / "openb_node_list_gpu_node.csv.gz")
    assert len(gpu_nodes) == 1213 and sum(n.gpu for n in gpu_nodes) == 6212
    assert gpu_nodes[0] == OpenbNode("openb-node-0000", 64000, 262144, 2, "P100")
    every = read_nodes(TRACES / "openb_node_list_all_node.csv.gz")
    assert sum(1 for n in every if n.model is None and n.gpu == 0) == 310


def test_multigpu_files_have_five_columns() -> None:
    """multigpu pods carry no spec, qos, phase or times."""
    pods = read_pods(TRACES / "openb_pod_list_multigpu50.csv.gz")
    assert len(pods) == 9061
    assert {(p.gpu_spec, p.qos, p.phase, p.creation_time) for p in pods} == {((), None, None, None)}


def test_gpu_spec_keeps_the_trace_string() -> None:
    """'|'-separated specs become tuples that join back to the trace's string."""
    pods = read_pods(TRACES / "openb_pod_list_gpuspec33.csv.gz")
    specs = Counter(p.gpu_spec_key for p in pods)
    assert specs["V100M16|V100M32|V100M32"] == 22
    assert sum(n for key, n in specs.items() if key) == 2388


def test_plain_and_gzip_files_read_the_same(tmp_path: Path) -> None:
    """The suffix picks the decompression; both forms give identical records."""
    plain = tmp_path / "openb_node_list_gpu_node.csv"
    plain.write_bytes(gzip.decompress((TRACES / f"{plain.name}.gz").read_bytes()))
    assert read_nodes(plain) == read_nodes(TRACES / f"{plain.name}.gz")


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            "p0,1000,10,0,0,,LS,Running,0,5,0\np1,x,10,0,0,,LS,Running,0,5,0\n",
            r"line 3: column 'cpu_milli': 'x': not an integer",
        ),
        ("p0,1000,10,0,0,,LS,Running,0,5\n", "line 2: expected 11 fields, got 10"),
        ("p0,1000,10,1,0,,LS,Running,0,5,0\n", "column 'gpu_milli': '0'"),
        ("p0,1000,10,0,300,,LS,Running,0,5,0\n", "num_gpu 0 must have gpu_milli 0"),
        ("p0,1000,10,2,500,,LS,Running,0,5,0\n", "whole GPUs"),
        ("p0,1000,10,1,1500,,LS,Running,0,5,0\n", "column 'gpu_milli': '1500'"),
        ("p0,1000,10,0,0,,XX,Running,0,5,0\n", "column 'qos': 'XX'"),
        ("p0,1000,10,0,0,,LS,Lost,0,5,0\n", "column 'pod_phase': 'Lost'"),
        ("p0,1000,10,0,0,,LS,Running,9,5,0\n", "earlier than creation_time 9"),
        ("p0,1000,-10,0,0,,LS,Running,0,5,0\n", "column 'memory_mib': '-10': must be >= 0"),
        ("p0,1000,10,1,500,T4|,LS,Running,0,5,0\n", "column 'gpu_spec': 'T4|'"),
        (
            "p0,1000,10,0,0,,LS,Running,0,5,0\np0,1,1,0,0,,LS,Running,0,5,0\n",
            "line 3: column 'name': 'p0': duplicate",
        ),
        ("p0,1000,10,0,0,,LS,Running,0,5,abc\n", "column 'scheduled_time': 'abc'"),
    ],
)
def test_bad_pod_rows_name_file_line_and_column(tmp_path: Path, body: str, message: str) -> None:
    """Each malformed pod row raises ValueError naming the file, line, column and value."""
    path = tmp_path / "pods.csv"
    path.write_text(POD_HEADER + body)
    with pytest.raises(ValueError, match=message) as info:
        read_pods(path)
    assert str(path) in str(info.value)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty file"),
        ("sn,cpu_milli,memory_mib,gpu\n", "lacks required column"),
        ("sn,cpu_milli,memory_mib,gpu,model,rack\n", "unknown column"),
        ("sn,cpu_milli,memory_mib,gpu,model\nn0,1000,10,2,\n", "needs a GPU model"),
        ("sn,cpu_milli,memory_mib,gpu,model\nn0,1000,10,0,T4\n", "cannot have a GPU model"),
        ("sn,cpu_milli,memory_mib,gpu,model\nn0,1000,10,1.5,T4\n", "column 'gpu': '1.5'"),
    ],
)
def test_bad_node_files(tmp_path: Path, text: str, message: str) -> None:
    """Malformed node files raise ValueError with the problem named."""
    path = tmp_path / "nodes.csv"
    path.write_text(text)
    with pytest.raises(ValueError, match=message):
        read_nodes(path)


def test_unsupported_suffix_and_broken_gzip(tmp_path: Path) -> None:
    """Only .csv and .csv.gz are read; a corrupt gzip is a ValueError, not a crash."""
    with pytest.raises(ValueError, match="suffix"):
        read_nodes(tmp_path / "nodes.txt")
    broken = tmp_path / "nodes.csv.gz"
    broken.write_bytes(b"not gzip at all")
    with pytest.raises(ValueError, match="cannot read"):
        read_nodes(broken)
