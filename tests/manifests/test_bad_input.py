"""Bad input through ``tessera replay``: every file of ``bad/`` exits with code 2 and one
line naming the file (and document or line), the object and field where there is one, and
the problem — before any output is written, and without a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from simulator.cli import app

HERE = Path(__file__).resolve().parent
CLUSTER = HERE.parents[1] / "traces" / "clusters" / "two-rack-h100-dynamic-mig.yaml"
BAD = HERE / "bad"

CASES = {
    "alias-bomb.yaml": "document 1: line 9: document contains excessive aliasing",
    "self-alias.yaml": "document 1: line 7: anchor 'meta' value contains itself",
    "deep-nesting.yaml": "document 1: line 8: nesting deeper than 100 levels",
    "dump.yaml": "not a text file: NUL byte at offset 3 (a binary file?)",
    "utf16.yaml": "the file is UTF-16 (a byte-order mark at offset 0); save it as UTF-8",
    "latin1.yaml": "not UTF-8: byte 0xe9 at offset 46 cannot be decoded",
    "duplicate-pods.yaml": (
        "document 3 (Pod batch/worker): duplicate object: Pod batch/worker is also defined at "
        "{dir}/duplicate-pods.yaml: document 1"
    ),
    "far-future.yaml": (
        "document 1 (Pod default/sentinel): metadata.creationTimestamp: '9999-12-31T23:59:59Z' "
        "is outside 1970-01-01 .. 2200-01-01"
    ),
    "negative-request.yaml": (
        "document 1 (Pod default/negative): spec.containers[0].resources.requests.cpu: "
        "quantity '-2': must be greater than or equal to 0"
    ),
    "negative-replicas.yaml": (
        "document 1 (Deployment default/web): spec.replicas: -3: must be greater than or equal to 0"
    ),
    "zero-size-podgroup.yaml": (
        "document 1 (PodGroup research/empty): spec.minMember: 0: a PodGroup needs at least 1 "
        "member"
    ),
    "missing-podgroup.yaml": (
        "document 1 (Pod research/trainer-0): metadata.labels[scheduling.x-k8s.io/pod-group]: "
        "PodGroup research/llm-pretrain not found in the input"
    ),
    "gang-size-disagrees.yaml": (
        "document 2 (Pod batch/rank-1): gang batch/tessera/allreduce: size 8 here but 4 on Pod "
        "batch/rank-0 at {dir}/gang-size-disagrees.yaml: document 1"
    ),
    "missing-priorityclass.yaml": (
        "document 1 (Pod default/urgent): spec.priorityClassName: no PriorityClass with name "
        "'high-priority' was found"
    ),
}


def test_every_bad_file_has_a_case() -> None:
    """Each file of bad/ is checked below (a new file without a case fails here)."""
    assert sorted(p.name for p in BAD.iterdir()) == sorted(CASES)


@pytest.mark.parametrize("name", sorted(CASES))
def test_bad_input_exits_2_with_one_located_line(name: str, tmp_path: Path) -> None:
    """The file is refused with exit code 2 and the expected one-line message; nothing is
    written."""
    out = tmp_path / "out"
    path = BAD / name
    args = ["replay", "--cluster", str(CLUSTER), "--trace", str(path), "--out", str(out)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.startswith("error: ")]
    assert len(lines) == 1, result.output
    expected = CASES[name].format(dir=BAD)
    assert lines[0].startswith(f"error: {path}: ")
    assert expected in lines[0]
    assert "Traceback" not in result.output
    assert not out.exists()
