"""Mutated shipped inputs through the real CLI: exit 0 or 2, bounded, honest, tidy.

Every reader and command gets Hypothesis-mutated copies of the inputs tessera ships
(cluster specs, a cluster dump, DRA case files, openb CSVs, scenarios, trace dumps) and
odd option values; :func:`tests.fuzz.harness.run_cli` checks each run (see its module).
The suite's ``ci`` profile derandomises them, so CI runs the same examples every time;
``TESSERA_FUZZ=long pytest tests/fuzz --hypothesis-profile=nightly`` runs ten times as
many random ones.
"""

from __future__ import annotations

import csv
import io
import tempfile
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.fuzz.harness import ODD_VALUES, examples, mutate, run_cli

ROOT = Path(__file__).resolve().parents[2]
FUZZ = settings(
    max_examples=examples(12),
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def _load(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def _load_all(path: Path) -> list[Any]:
    return [d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if d is not None]


def _dump(data: Any, path: Path) -> Path:
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


def _dump_all(docs: list[Any], path: Path) -> Path:
    path.write_text(yaml.safe_dump_all(docs, allow_unicode=True), encoding="utf-8")
    return path


SPEC = _load(ROOT / "traces" / "clusters" / "two-rack-h100-dynamic-mig.yaml")
TPU_SPEC = _load(ROOT / "traces" / "clusters" / "tpu-v5e-multihost.yaml")
CASES = sorted((ROOT / "tests" / "conformance" / "dra").glob("*.yaml"))[::6]
SCENARIO = _load(ROOT / "traces" / "scenarios" / "mig-inference.yaml")
TRACES = [
    ROOT / "tests" / "manifests" / "traces" / name
    for name in ("jobs.yaml", "podgroup.yaml", "lws-exclusive-rack.yaml", "go-zero-time.yaml")
]


@FUZZ
@given(data=st.data(), base=st.sampled_from([SPEC, TPU_SPEC]))
def test_cluster_specs(data: st.DataObject, base: Any) -> None:
    """``cluster show`` and ``cluster build`` of a mutated spec."""
    spec = data.draw(mutate(base))
    with tempfile.TemporaryDirectory() as tmp:
        path = _dump(spec, Path(tmp) / "spec.yaml")
        run_cli(["cluster", "show", str(path)])
        out = Path(tmp) / "built"
        run_cli(["cluster", "build", str(path), "-o", str(out)], out)


@FUZZ
@given(data=st.data())
def test_cluster_dumps(data: st.DataObject, small_dump: Path) -> None:
    """``cluster import -o`` of a dump with mutated objects (Nodes, classes, slices)."""
    files = sorted(small_dump.glob("*.yaml"))
    chosen = data.draw(st.sampled_from(files))
    docs = _load_all(chosen)
    index = data.draw(st.integers(0, len(docs) - 1))
    docs[index] = data.draw(mutate(docs[index]))
    with tempfile.TemporaryDirectory() as tmp:
        dump = Path(tmp) / "dump"
        dump.mkdir()
        for file in files:
            target = dump / file.name
            if file == chosen:
                _dump_all(docs, target)
            else:
                target.write_text(file.read_text(encoding="utf-8"), encoding="utf-8")
        out = Path(tmp) / "out"
        run_cli(["cluster", "import", str(dump), "-o", str(out)], out)


@FUZZ
@given(data=st.data(), case=st.sampled_from(CASES))
def test_dra_case_files(data: st.DataObject, case: Path) -> None:
    """``dra allocate`` of a mutated conformance case."""
    mutated = data.draw(mutate(_load(case)))
    with tempfile.TemporaryDirectory() as tmp:
        path = _dump(mutated, Path(tmp) / case.name)
        run_cli(["dra", "allocate", str(path)])


def _csv_rows(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text)))


def _csv_text(rows: list[list[str]]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(rows)
    return buffer.getvalue()


CELLS = st.sampled_from(
    ["", "-1", "0", "nan", "inf", "1e300", "1e15", "9" * 30, "abc", "P100", "\x00", "é"]
)


@st.composite
def mutated_csv(draw: st.DrawFn, text: str) -> str:
    """An openb CSV with cells replaced, a row duplicated or a column dropped."""
    rows = _csv_rows(text)
    for _ in range(draw(st.integers(1, 3))):
        action = draw(st.sampled_from(["cell", "cell", "cell", "duplicate", "drop-column"]))
        if action == "cell":
            row = draw(st.integers(0, len(rows) - 1))
            column = draw(st.integers(0, len(rows[row]) - 1))
            rows[row][column] = draw(CELLS)
        elif action == "duplicate":
            rows.append(list(rows[draw(st.integers(1, len(rows) - 1))]))
        else:
            column = draw(st.integers(0, len(rows[0]) - 1))
            rows = [r[:column] + r[column + 1 :] for r in rows]
    return _csv_text(rows)


@FUZZ
@given(data=st.data())
def test_openb_csvs(data: st.DataObject, openb_files: tuple[Path, Path], small_dump: Path) -> None:
    """``inflate`` on mutated node and pod CSVs; ``replay`` of a mutated pod CSV."""
    nodes, pods = openb_files
    which = data.draw(st.sampled_from(["nodes", "pods"]))
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        node_file, pod_file = root / "nodes.csv", root / "pods.csv"
        node_text = nodes.read_text(encoding="utf-8")
        pod_text = pods.read_text(encoding="utf-8")
        if which == "nodes":
            node_text = data.draw(mutated_csv(node_text))
        else:
            pod_text = data.draw(mutated_csv(pod_text))
        node_file.write_text(node_text, encoding="utf-8")
        pod_file.write_text(pod_text, encoding="utf-8")
        json_out = root / "result" / "inflate.json"
        run_cli(
            [
                "inflate",
                "--nodes",
                str(node_file),
                "--pods",
                str(pod_file),
                "--json",
                str(json_out),
            ],
            json_out.parent,
        )
        if which == "pods":
            out = root / "replay"
            args = ["replay", "--cluster", str(small_dump), "--trace", str(pod_file)]
            run_cli([*args, "--out", str(out)], out)


@FUZZ
@given(data=st.data())
def test_scenarios(data: st.DataObject, small_spec: Path) -> None:
    """``scenario render`` of a mutated scenario on the small cluster."""
    scenario = data.draw(mutate(SCENARIO))
    if isinstance(scenario, dict):
        scenario["cluster"] = str(small_spec)
    with tempfile.TemporaryDirectory() as tmp:
        path = _dump(scenario, Path(tmp) / "scenario.yaml")
        out = Path(tmp) / "rendered"
        run_cli(["scenario", "render", str(path), "-o", str(out)], out)


@FUZZ
@given(data=st.data(), trace=st.sampled_from(TRACES))
def test_trace_dumps(data: st.DataObject, trace: Path, small_dump: Path) -> None:
    """``replay`` of a trace dump with one mutated object."""
    docs = _load_all(trace)
    index = data.draw(st.integers(0, len(docs) - 1))
    docs[index] = data.draw(mutate(docs[index]))
    with tempfile.TemporaryDirectory() as tmp:
        path = _dump_all(docs, Path(tmp) / trace.name)
        out = Path(tmp) / "out"
        args = ["replay", "--cluster", str(small_dump), "--trace", str(path), "--horizon", "7200"]
        run_cli([*args, "--out", str(out)], out)


NUMBERS = st.sampled_from(
    ["nan", "inf", "-inf", "1e300", "-1", "0", "0.5", "1", "60", "1e15", "2147483648", "abc", ""]
)


@FUZZ
@given(
    horizon=NUMBERS,
    seed=NUMBERS,
    fault=st.tuples(NUMBERS, st.sampled_from(["node:h100-0000", "node:nope", "device:a/b/c"])),
)
def test_replay_options(
    horizon: str, seed: str, fault: tuple[str, str], small_dump: Path, openb_files: Any
) -> None:
    """``replay --horizon --seed --fault`` with odd values: 2 naming the option, or a run."""
    _, pods = openb_files
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "out"
        args = ["replay", "--cluster", str(small_dump), "--trace", str(pods)]
        options = ["--horizon", horizon, "--seed", seed, "--fault", f"{fault[0]}:{fault[1]}"]
        code, stderr = run_cli([*args, *options, "--out", str(out)], out)
        if code == 2:
            assert any(o in stderr for o in ("--horizon", "--seed", "--fault")), stderr


@FUZZ
@given(
    ratio=NUMBERS,
    seeds=st.sampled_from(["0-100000000", "5-3", "-1", "1,2", "0-999", "x", "2147483647"]),
    workers=NUMBERS,
)
def test_inflate_options(ratio: str, seeds: str, workers: str, openb_files: Any) -> None:
    """``inflate --ratio --seeds --workers`` with odd values exit 2 naming the option (valid
    ones are not run: a matrix of small runs is not what this test is about)."""
    nodes, pods = openb_files
    args = ["inflate", "--nodes", str(nodes), "--pods", str(pods)]
    options = ["--ratio", ratio, "--seeds", seeds, "--workers", workers]
    bad = [ratio, workers]
    if not any(v in ("nan", "inf", "-inf", "1e300", "-1", "0", "abc", "", "1e15") for v in bad):
        return  # every value valid: skip the (slow) matrix
    code, stderr = run_cli([*args, *options])
    assert code == 2
    assert any(o in stderr for o in ("--ratio", "--seeds", "--workers")), stderr


@pytest.mark.parametrize("value", [v for v in ODD_VALUES if not isinstance(v, list | dict)])
def test_scenario_durations(value: object, small_spec: Path, tmp_path: Path) -> None:
    """A scenario's ``duration`` set to each odd value: 0 or 2, bounded."""
    scenario = dict(SCENARIO, cluster=str(small_spec), duration=value)
    path = _dump(scenario, tmp_path / "scenario.yaml")
    out = tmp_path / "rendered"
    run_cli(["scenario", "render", str(path), "-o", str(out)], out)
