"""One test per class of bad input in issue 10's "Done when": bounded time, bounded memory,
duplicates, negative values, alias bombs, binary files, a full disk (injected ENOSPC).

Each drives the real CLI and checks the README's promise: exit code 2, one ``error:`` line
naming the file (or option), object and field, and nothing written.
"""

from __future__ import annotations

import errno
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from simulator.cli import app

ROOT = Path(__file__).resolve().parents[2]
SPEC = ROOT / "traces" / "clusters" / "two-rack-h100-dynamic-mig.yaml"
SCENARIO = ROOT / "traces" / "scenarios" / "mig-inference.yaml"
CASE = ROOT / "tests" / "conformance" / "dra" / "002-other-node.yaml"

ALIAS_BOMB = """\
a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]
"""


def _one_error(args: list[str]) -> str:
    """Run the CLI; assert exit 2 and one ``error:`` line; return that line."""
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2, (result.output, result.exception)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return lines[0]


# -- bounded time -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["replay", "--trace", "t.yaml", "--horizon", "nan"], "--horizon nan: must be a finite"),
        (["replay", "--trace", "t.yaml", "--horizon", "1e300"], "--horizon 1e+300: must be in"),
        (["replay", "--trace", "t", "--fault", "1e15:node:x"], "time '1e15' must be in [0,"),
        (["replay", "--trace", "t.yaml", "--realtime", "inf", "--api-port", "0"], "--realtime"),
        (["replay", "--trace", "t.yaml", "--seed", "4294967296"], "--seed 4294967296: must be"),
        (["inflate", "--ratio", "1e300"], "--ratio 1e+300: must be in (0, 10]"),
        (["inflate", "--ratio", "nan"], "--ratio nan: must be a finite number"),
        (["inflate", "--seeds", "0-100000000"], "100,000,001 seeds, at most 1,000"),
        (["inflate", "--seeds", "1-2", "--workers", "100000"], "--workers 100000: must be in"),
        (["cluster", "serve", str(SPEC), "--port", "70000"], "--port 70000: must be in"),
        (["scenario", "render", str(SCENARIO), "-o", "x", "--seed", "-1"], "--seed -1"),
    ],
)
def test_options_outside_their_window_exit_at_once(args: list[str], expected: str) -> None:
    """Out-of-window, NaN, infinite and absurd option values are refused before any input
    is read (in well under a second), naming the option."""
    start = time.perf_counter()
    line = _one_error(args)
    assert expected in line
    assert time.perf_counter() - start < 5


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("duration", "1.0e+15", "duration: 1000000000000000.0 is more than ten years"),
        ("duration", ".nan", "must be a finite number of seconds"),
        ("start", "'0001-01-01T00:00:00Z'", "Go's zero time (an unset timestamp)"),
        ("start", "'9999-01-01T00:00:00Z'", "is outside 1970-01-01 .. 2200-01-01"),
    ],
)
def test_scenario_times_are_bounded(field: str, value: str, expected: str, tmp_path: Path) -> None:
    """A scenario's times must lie in the documented window: refused naming the field."""
    text = SCENARIO.read_text(encoding="utf-8")
    lines = [
        f"{field}: {value}" if line.startswith(f"{field}:") else line for line in text.splitlines()
    ]
    if not any(line.startswith(f"{field}:") for line in text.splitlines()):
        lines.append(f"{field}: {value}")
    path = tmp_path / "scenario.yaml"
    path.write_text("\n".join(lines).replace("../clusters/", f"{SPEC.parent}/") + "\n")
    line = _one_error(["scenario", "render", str(path), "-o", str(tmp_path / "out")])
    assert f"{path}: invalid scenario: {field}" in line and expected in line
    assert not (tmp_path / "out").exists()


def test_runaway_job_arrivals_exit_2_quickly(tmp_path: Path) -> None:
    """Job arrivals every millisecond for a day would be 86 million Jobs: refused naming
    the workload, in seconds."""
    text = SCENARIO.read_text(encoding="utf-8").replace("../clusters/", f"{SPEC.parent}/")
    text += (
        "- kind: Job\n  name: flood\n  namespace: research\n  priorityClassName: training\n"
        "  arrivals: {every: 0.001}\n  duration: {fixed: 60}\n"
    )
    path = tmp_path / "flood.yaml"
    path.write_text(text, encoding="utf-8")
    start = time.perf_counter()
    line = _one_error(["scenario", "render", str(path), "-o", str(tmp_path / "out")])
    assert "arrivals.every 0.001 s gives more than 1,000,000 Jobs" in line
    assert time.perf_counter() - start < 30


# -- bounded memory -----------------------------------------------------------------------------
def _limited(args: list[str], limit: int = 3 << 30) -> subprocess.CompletedProcess[str]:
    """``tessera ARGS`` in a process whose address space is capped at ``limit`` bytes."""

    def cap() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

    return subprocess.run(
        [sys.executable, "-m", "simulator.cli", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        preexec_fn=cap,
        check=False,
    )


@pytest.mark.parametrize(
    ("replicas", "expected"),
    [
        ("1000000000", "(Deployment default/big): the input asks for more than 1,000,000 pods"),
        ("100000", "(LeaderWorkerSet default/big): the input asks for more than 1,000,000 pods"),
    ],
)
def test_huge_workloads_refused_under_a_memory_cap(
    replicas: str, expected: str, tmp_path: Path
) -> None:
    """A Deployment of a billion replicas (or a LeaderWorkerSet of 100,000 groups of
    10,000) is refused before any pod is built, inside a 3 GiB address space."""
    if replicas == "100000":
        body = (
            "apiVersion: leaderworkerset.x-k8s.io/v1\nkind: LeaderWorkerSet\n"
            "metadata: {name: big, namespace: default}\n"
            f"spec:\n  replicas: {replicas}\n  leaderWorkerTemplate:\n    size: 10000\n"
            "    workerTemplate:\n      spec:\n        containers: [{name: c, image: x}]\n"
        )
    else:
        body = (
            "apiVersion: apps/v1\nkind: Deployment\n"
            "metadata: {name: big, namespace: default}\n"
            f"spec:\n  replicas: {replicas}\n  selector: {{matchLabels: {{app: x}}}}\n"
            "  template:\n    metadata: {labels: {app: x}}\n"
            "    spec:\n      containers: [{name: c, image: x}]\n"
        )
    trace = tmp_path / "big.yaml"
    trace.write_text(body, encoding="utf-8")
    out = tmp_path / "out"
    done = _limited(["replay", "--cluster", str(SPEC), "--trace", str(trace), "--out", str(out)])
    assert done.returncode == 2, done.stderr
    assert expected in done.stderr, done.stderr
    assert not out.exists()


# -- duplicates, negative values -----------------------------------------------------------------
def test_duplicate_nodes_in_a_dump_name_both_documents(tmp_path: Path) -> None:
    """Two Nodes of the same name in one dump: exit 2 naming both documents."""
    built = tmp_path / "built"
    assert CliRunner().invoke(app, ["cluster", "build", str(SPEC), "-o", str(built)]).exit_code == 0
    nodes = built / "nodes.yaml"
    first = nodes.read_text(encoding="utf-8").split("\n---\n")[0].removeprefix("---\n")
    (built / "extra.yaml").write_text(first + "\n", encoding="utf-8")
    line = _one_error(["cluster", "import", str(built)])
    assert f"{built}/nodes.yaml: document 1" in line or f"{built}/extra.yaml: document 1" in line
    assert "duplicate object: Node" in line and "is also defined at" in line


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ('cpu: "192"', 'cpu: "-192"', "nodePools[0].node.cpu: '-192' is not a Kubernetes quantity"),
        ("count: 32", "count: -32", "nodePools[0].count"),
        ("count: 8", "count: 0", "nodePools[0].accelerator.count"),
    ],
)
def test_negative_and_zero_sizes_in_a_spec(
    old: str, new: str, expected: str, tmp_path: Path
) -> None:
    """Negative capacities and zero-size pools are refused naming the field."""
    path = tmp_path / "spec.yaml"
    path.write_text(SPEC.read_text(encoding="utf-8").replace(old, new, 1), encoding="utf-8")
    line = _one_error(["cluster", "build", str(path), "-o", str(tmp_path / "out")])
    assert str(path) in line and expected in line
    assert not (tmp_path / "out").exists()


# -- alias bombs, binary files ------------------------------------------------------------------
ALL_READERS = [
    ("cluster spec", lambda p, t: ["cluster", "show", str(p)]),
    ("scenario", lambda p, t: ["scenario", "render", str(p), "-o", str(t / "o")]),
    ("case file", lambda p, t: ["dra", "allocate", str(p)]),
    ("scheduler config", lambda p, t: ["inflate", "--config", str(p)]),
    ("trace dump", lambda p, t: ["replay", "--cluster", str(SPEC), "--trace", str(p)]),
]


@pytest.mark.parametrize(("reader", "command"), ALL_READERS, ids=[r for r, _ in ALL_READERS])
def test_alias_bombs_are_refused_by_every_reader(
    reader: str, command: object, tmp_path: Path
) -> None:
    """A billion-laughs document (9^8 strings from 80 lines) is refused by every YAML
    reader, naming the file and line, without expanding it."""
    path = tmp_path / "bomb.yaml"
    path.write_text(ALIAS_BOMB, encoding="utf-8")
    start = time.perf_counter()
    line = _one_error(command(path, tmp_path))  # type: ignore[operator]
    assert f"{path}" in line and "excessive aliasing" in line, (reader, line)
    assert time.perf_counter() - start < 60  # the cluster is read first


BINARY_CASES = [
    *ALL_READERS,
    ("openb pods", lambda p, t: ["replay", "--cluster", str(SPEC), "--trace", str(p)]),
    ("openb nodes", lambda p, t: ["inflate", "--nodes", str(p)]),
    ("inflate --order", lambda p, t: ["inflate", "--order", str(p)]),
]


@pytest.mark.parametrize(("reader", "command"), BINARY_CASES, ids=[r for r, _ in BINARY_CASES])
def test_binary_files_are_named(reader: str, command: object, tmp_path: Path) -> None:
    """A binary file (here: the Python executable's first bytes) given where text belongs
    is one line naming the file and saying it is binary or not UTF-8."""
    suffix = ".csv" if reader.startswith("openb") else ".yaml"
    path = tmp_path / f"input{suffix}"
    path.write_bytes(Path(sys.executable).read_bytes()[:4096])
    line = _one_error(command(path, tmp_path))  # type: ignore[operator]
    assert str(path) in line, line
    assert "binary" in line or "not UTF-8" in line, line


# -- a full disk ---------------------------------------------------------------------------------
def _enospc(*args: object, **kwargs: object) -> None:
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def test_full_disk_names_the_users_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, shared_dump: Path, openb_trace: Path
) -> None:
    """ENOSPC while a replay writes its summary, or while ``cluster import -o`` writes its
    files: exit 2 naming the user's output directory (not a staging name), nothing left."""
    from simulator.experiments.replay_output import OutputWriter

    out = tmp_path / "replay-out"
    with monkeypatch.context() as patch:
        patch.setattr(OutputWriter, "summary", _enospc)
        line = _one_error(
            [
                "replay",
                "--cluster",
                str(shared_dump),
                "--trace",
                str(openb_trace),
                "--out",
                str(out),
            ]
        )
    assert line == f"error: {out}: No space left on device"
    assert sorted(p.name for p in tmp_path.iterdir()) == []

    imported = tmp_path / "imported"
    with monkeypatch.context() as patch:
        patch.setattr(Path, "write_text", _enospc)
        line = _one_error(["cluster", "import", str(shared_dump), "-o", str(imported)])
    assert line == f"error: {imported}: No space left on device"
    assert sorted(p.name for p in tmp_path.iterdir()) == []


# -- output checked first ----------------------------------------------------------------------
def test_out_is_checked_before_the_run(tmp_path: Path) -> None:
    """``--out`` naming a file fails at once, before the cluster or trace is read."""
    blocker = tmp_path / "file"
    blocker.write_text("x", encoding="utf-8")
    start = time.perf_counter()
    line = _one_error(
        ["replay", "--cluster", "missing.yaml", "--trace", "missing", "--out", str(blocker)]
    )
    assert line == f"error: --out {blocker}: exists and is not a directory"
    assert time.perf_counter() - start < 10  # before any input is read
    line = _one_error(["inflate", "--json", str(tmp_path), "--seed", "1"])
    assert line == f"error: --json {tmp_path}: is a directory (expected a file name)"
