"""`tessera cluster build|import|show`: files kubectl can apply, and the cluster tables."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from scheduler.api.loaders import load_object, load_objects
from simulator.cli import app
from simulator.cli.summary import accelerators_of, summary_from_objects
from simulator.drivers.build import build_cluster, pool_builders
from simulator.drivers.spec import load_cluster_spec

REPO = Path(__file__).resolve().parents[3]
SPECS = sorted((REPO / "traces" / "clusters").glob("*.yaml"))
TPU = REPO / "traces" / "clusters" / "tpu-v5e-multihost.yaml"

SMALL_MIG_SPEC = """\
apiVersion: tessera.io/v1alpha1
kind: ClusterSpec
metadata: {name: small}
kubernetesVersion: "1.35"
featureGates: {DRAPartitionableDevices: true}
nodePools:
- name: h100
  count: 1
  node: {cpu: "96", memory: 1Ti}
  accelerator: {kind: nvidia, model: H100-80GB, count: 2, mig: {mode: dynamic}}
- name: cpu
  count: 2
  node: {cpu: "16", memory: 64Gi}
"""

CPU_ONLY_SPEC = """\
apiVersion: tessera.io/v1alpha1
kind: ClusterSpec
metadata: {name: cpu}
nodePools:
- name: cpu
  count: 3
  node: {cpu: "16", memory: 64Gi}
"""


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def _section(output: str, start: str, end: str) -> list[str]:
    lines = output.splitlines()
    first = next(i for i, line in enumerate(lines) if start in line)
    last = next(i for i, line in enumerate(lines) if end in line and i > first)
    return lines[first:last]


def _row(output: str, first_cell: str) -> str:
    return next(line for line in output.splitlines() if line.startswith(f"│ {first_cell} "))


def test_build_writes_files_that_load_back_equal(tmp_path: Path) -> None:
    """The three files load back into exactly the objects build_cluster produces, in order."""
    spec_path = _write(tmp_path, "spec.yaml", SMALL_MIG_SPEC)
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["cluster", "build", str(spec_path), "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == [
        "deviceclasses.yaml",
        "nodes.yaml",
        "resourceslices.yaml",
    ]
    built = build_cluster(load_cluster_spec(spec_path))
    expected = [load_object(o) for o in built.objects()]
    assert load_objects(out) == expected
    # 3 nodes; dynamic MIG H100 publishes 26 devices per GPU x 2 GPUs = 52 devices.
    assert "3 Nodes" in result.stdout
    assert "(52 devices)" in result.stdout
    assert len(result.stdout.strip().splitlines()) == 1


def test_build_of_a_cpu_only_cluster_writes_no_slice_file(tmp_path: Path) -> None:
    """A kind with no objects gets no file (kubectl rejects an empty file)."""
    spec_path = _write(tmp_path, "spec.yaml", CPU_ONLY_SPEC)
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["cluster", "build", str(spec_path), "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == ["deviceclasses.yaml", "nodes.yaml"]


def test_build_into_an_existing_directory_replaces_only_its_files(tmp_path: Path) -> None:
    """An existing output directory keeps unrelated files; kind files are replaced or removed."""
    out = tmp_path / "out"
    out.mkdir()
    (out / "README").write_text("keep me")
    (out / "nodes.yaml").write_text("stale")
    (out / "resourceslices.yaml").write_text("stale: from an earlier GPU build")
    spec_path = _write(tmp_path, "spec.yaml", CPU_ONLY_SPEC)
    result = CliRunner().invoke(app, ["cluster", "build", str(spec_path), "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert (out / "README").read_text() == "keep me"
    assert len(load_objects(out / "nodes.yaml")) == 3
    assert sorted(p.name for p in out.iterdir()) == ["README", "deviceclasses.yaml", "nodes.yaml"]


def test_build_of_a_bad_spec_exits_2_and_writes_nothing(tmp_path: Path) -> None:
    """A spec error names the field and value on one line; no output or staging dir is left."""
    spec_path = _write(tmp_path, "spec.yaml", CPU_ONLY_SPEC.replace("count: 3", "count: 0"))
    result = CliRunner().invoke(
        app, ["cluster", "build", str(spec_path), "-o", str(tmp_path / "out")]
    )
    assert result.exit_code == 2
    assert len(result.stderr.splitlines()) == 1
    assert "nodePools[0].count" in result.stderr
    assert "(got 0)" in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["spec.yaml"]


@pytest.mark.parametrize("spec_path", SPECS, ids=[p.stem for p in SPECS])
def test_show_prints_every_pool_of_the_shipped_specs(spec_path: Path) -> None:
    """`cluster show` on each shipped spec lists every pool with its node count."""
    result = CliRunner().invoke(app, ["cluster", "show", str(spec_path)])
    assert result.exit_code == 0, result.output
    for builder in pool_builders(load_cluster_spec(spec_path)):
        row = _row(result.stdout, builder.name)
        assert f" {len(builder.node_names()):,} " in row
    assert "topology levels" in result.stdout
    assert "DRA feature gates" in result.stdout


def test_show_reports_dynamic_mig_and_devices_per_gpu() -> None:
    """The H100 pool shows 8 GPUs per node, 256 in total, dynamic MIG, 26 devices per GPU."""
    result = CliRunner().invoke(
        app, ["cluster", "show", str(REPO / "traces/clusters/two-rack-h100-dynamic-mig.yaml")]
    )
    assert result.exit_code == 0, result.output
    cells = [c.strip() for c in _row(result.stdout, "h100").split("│")]
    # 32 nodes x 8 GPUs = 256; 25 MIG placements + the full GPU = 26 devices per GPU.
    assert cells[1:10] == [
        "h100",
        "32",
        "192",
        "2Ti",
        "NVIDIA H100 80GB HBM3",
        "8",
        "256",
        "dynamic (7 profiles)",
        "26",
    ]


def test_show_with_topology_override_counts_domains(tmp_path: Path) -> None:
    """--topology replaces the levels; each row counts distinct label values."""
    result = CliRunner().invoke(
        app,
        [
            "cluster",
            "show",
            str(REPO / "traces/clusters/gb200-nvl72.yaml"),
            "--topology",
            "topology.kubernetes.io/zone,nvidia.com/gpu.clique",
        ],
    )
    assert result.exit_code == 0, result.output
    levels = _section(result.stdout, "topology levels", "DRA feature gates")
    # 72 nodes in cliques of 18 -> 4 cliques; one zone.
    assert any("nvidia.com/gpu.clique" in line and " 4 " in line for line in levels)
    assert any("topology.kubernetes.io/zone" in line and " 1 " in line for line in levels)
    assert not any("kubernetes.io/hostname" in line for line in levels)


def test_import_of_a_built_cluster_matches_show_of_its_spec(tmp_path: Path) -> None:
    """Importing the files `cluster build` wrote prints the same pool and level tables."""
    out = tmp_path / "tpu"
    runner = CliRunner()
    assert runner.invoke(app, ["cluster", "build", str(TPU), "-o", str(out)]).exit_code == 0
    shown = runner.invoke(app, ["cluster", "show", str(TPU)])
    imported = runner.invoke(app, ["cluster", "import", str(out)])
    assert imported.exit_code == 0, imported.output
    for start, end in (("node pools", "topology levels"), ("topology levels", "DRA feature")):
        assert _section(imported.stdout, start, end) == _section(shown.stdout, start, end)


def test_import_with_output_writes_normalised_objects(tmp_path: Path) -> None:
    """`cluster import -o DIR` writes the imported objects back as per-kind files."""
    spec_path = _write(tmp_path, "spec.yaml", SMALL_MIG_SPEC)
    runner = CliRunner()
    assert (
        runner.invoke(
            app, ["cluster", "build", str(spec_path), "-o", str(tmp_path / "a")]
        ).exit_code
        == 0
    )
    result = runner.invoke(
        app, ["cluster", "import", str(tmp_path / "a"), "-o", str(tmp_path / "b")]
    )
    assert result.exit_code == 0, result.output
    assert load_objects(tmp_path / "b") == load_objects(tmp_path / "a")


def test_import_rejects_a_spec(tmp_path: Path) -> None:
    """`cluster import` on a ClusterSpec is bad input pointing to show/build (exit 2)."""
    result = CliRunner().invoke(app, ["cluster", "import", str(TPU)])
    assert result.exit_code == 2
    assert "cluster show" in result.stderr


def test_show_of_a_missing_path_exits_2(tmp_path: Path) -> None:
    """A missing SPEC|DUMP: one error line naming the path, no traceback."""
    missing = tmp_path / "nope.yaml"
    result = CliRunner().invoke(app, ["cluster", "show", str(missing)])
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [f"error: {missing}: no such file or directory"]


def test_bad_topology_key_exits_2() -> None:
    """An invalid --topology key is bad input naming the option."""
    result = CliRunner().invoke(app, ["cluster", "show", str(TPU), "--topology", "zone,bad key"])
    assert result.exit_code == 2
    assert "--topology" in result.stderr


def _device(name: str, kind: str, **attrs: str) -> dict[str, Any]:
    attributes = {"type": {"string": kind}} | {k: {"string": v} for k, v in attrs.items()}
    return {"name": name, "attributes": attributes}


def test_accelerators_of_static_mig_counts_parent_gpus() -> None:
    """Static MIG: devices are grouped by parentUUID into physical GPUs."""
    devices = [
        _device(f"gpu-{g}-mig-{m}", "mig", parentUUID=f"GPU-{g}", profile=p, productName="A100")
        for g in range(2)
        for m, p in enumerate(("3g.40gb", "2g.20gb", "1g.10gb"))
    ]
    slices = [{"spec": {"driver": "gpu.nvidia.com", "devices": devices}}]
    [acc] = accelerators_of(slices)
    # 6 MIG devices on 2 parents -> 2 GPUs, 3 devices per GPU, 3 distinct profiles.
    assert (acc.model, acc.per_node, acc.mode, acc.devices_per_unit, acc.profiles) == (
        "A100",
        2,
        "static",
        3.0,
        3,
    )


def test_accelerators_of_shared_gpus() -> None:
    """Devices with allowMultipleAllocations are reported as shared, one device per GPU."""
    devices = [
        _device(f"gpu-{i}", "gpu", uuid=f"GPU-{i}", productName="T4")
        | {"allowMultipleAllocations": True}
        for i in range(4)
    ]
    [acc] = accelerators_of([{"spec": {"driver": "gpu.nvidia.com", "devices": devices}}])
    assert (acc.per_node, acc.mode, acc.devices_per_unit) == (4, "shared", 1.0)


def _node(name: str, cpu: str, labels: dict[str, str] | None = None) -> Any:
    return load_object(
        {
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {"name": name, "labels": labels or {}},
            "status": {"allocatable": {"cpu": cpu, "memory": "64Gi"}},
        }
    )


def test_dump_groups_identical_nodes_without_pool_labels() -> None:
    """Nodes without pool labels are grouped by shape and named after the first member."""
    objects = [_node("n1", "16"), _node("n2", "16"), _node("n3", "32")]
    summary = summary_from_objects("dump", "dump.yaml", objects, ["kubernetes.io/hostname"])
    assert [(p.name, p.nodes, p.cpu) for p in summary.pools] == [
        ("n1 (+1)", 2, "16"),
        ("n3", 1, "32"),
    ]


def test_dump_groups_by_pool_label() -> None:
    """Identical nodes in two GKE node pools stay two pools, named by the label."""
    gke = "cloud.google.com/gke-nodepool"
    objects = [
        _node("a1", "16", {gke: "a"}),
        _node("b1", "16", {gke: "b"}),
        _node("a2", "16", {gke: "a"}),
    ]
    summary = summary_from_objects("dump", "dump.yaml", objects, [gke])
    assert [(p.name, p.nodes) for p in summary.pools] == [("a", 2), ("b", 1)]
    assert [(level.key, level.domains) for level in summary.levels] == [(gke, 2)]
