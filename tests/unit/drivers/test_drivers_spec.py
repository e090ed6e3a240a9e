"""Cluster spec loading and validation messages."""

from __future__ import annotations

import copy
import gzip
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from simulator.drivers.spec import (
    ClusterSpec,
    NvidiaAccelerator,
    load_cluster_spec,
    parse_cluster_spec,
    read_openb_nodes,
)

REPO = Path(__file__).resolve().parents[3]
CLUSTERS = REPO / "traces" / "clusters"
FIXTURE_CSV = Path(__file__).parent / "fixtures" / "openb_nodes_small.csv"

BASE: dict[str, Any] = {
    "apiVersion": "tessera.io/v1alpha1",
    "kind": "ClusterSpec",
    "metadata": {"name": "t"},
    "kubernetesVersion": "1.35",
    "nodePools": [
        {
            "name": "h100",
            "count": 2,
            "node": {"cpu": "192", "memory": "2Ti"},
            "accelerator": {"kind": "nvidia", "model": "H100-80GB", "count": 8},
        }
    ],
}


def _spec(pool: dict[str, Any] | None = None, **top: Any) -> dict[str, Any]:
    data = copy.deepcopy(BASE)
    if pool is not None:
        data["nodePools"][0].update(pool)
    data.update(top)
    return data


def _error(data: dict[str, Any]) -> str:
    with pytest.raises(ValueError) as info:
        parse_cluster_spec(data, "spec.yaml")
    return str(info.value)


def test_minimal_spec_defaults() -> None:
    """A minimal spec gets the default topology levels, zone and rack sizes."""
    spec = parse_cluster_spec(_spec())
    assert spec.topology.levels == [
        "topology.kubernetes.io/zone",
        "topology.tessera.io/block",
        "topology.tessera.io/rack",
        "kubernetes.io/hostname",
    ]
    pool = spec.node_pools[0]
    assert pool.placement.nodes_per_rack == 32
    assert pool.node is not None and pool.node.pods == 110
    assert isinstance(pool.accelerator, NvidiaAccelerator)
    assert pool.accelerator.mig.mode == "none"


def test_dynamic_mig_needs_partitionable_devices_gate() -> None:
    """Dynamic MIG on 1.35 without the gate names the pool, the gate and how to set it."""
    message = _error(
        _spec({"accelerator": {**BASE["nodePools"][0]["accelerator"], "mig": {"mode": "dynamic"}}})
    )
    assert "spec.yaml" in message
    assert "nodePools[0] (pool 'h100')" in message
    assert "dynamic MIG needs the feature gate DRAPartitionableDevices" in message
    assert "featureGates: {DRAPartitionableDevices: true}" in message


def test_dynamic_mig_accepted_with_gate_or_on_1_36() -> None:
    """The gate may be set explicitly, or come from the 1.36 defaults (beta, on)."""
    acc = {**BASE["nodePools"][0]["accelerator"], "mig": {"mode": "dynamic"}}
    gated = parse_cluster_spec(
        _spec({"accelerator": acc}, featureGates={"DRAPartitionableDevices": True})
    )
    assert gated.effective_feature_gates()["DRAPartitionableDevices"] is True
    newer = parse_cluster_spec(_spec({"accelerator": acc}, kubernetesVersion="1.36"))
    assert newer.effective_feature_gates()["DRAPartitionableDevices"] is True


def test_shared_gpu_needs_consumable_capacity_gate() -> None:
    """A shared-GPU pool on 1.35 without DRAConsumableCapacity is rejected with the gate named."""
    message = _error(_spec({"accelerator": {"kind": "shared-gpu", "model": "T4", "count": 2}}))
    assert "a shared-GPU pool needs the feature gate DRAConsumableCapacity" in message


def test_mig_on_non_mig_model_lists_mig_capable_models() -> None:
    """MIG on a T4 names the pool and the MIG-capable models."""
    message = _error(
        _spec(
            {
                "accelerator": {
                    "kind": "nvidia",
                    "model": "T4",
                    "count": 1,
                    "mig": {"mode": "static", "layout": ["1g.10gb"]},
                }
            }
        )
    )
    assert "node pool 'h100': accelerator.mig.mode 'static': GPU model T4 is not MIG-capable" in (
        message
    )
    assert "MIG-capable: A100-40GB, A100-80GB, H100-80GB" in message


def test_unplaceable_static_layout_is_rejected() -> None:
    """A static layout that cannot be placed fails with the pool, field and reason."""
    acc = {
        "kind": "nvidia",
        "model": "H100-80GB",
        "count": 8,
        "mig": {"mode": "static", "layout": ["4g.40gb", "2g.20gb", "1g.10gb", "1g.10gb"]},
    }
    message = _error(_spec({"accelerator": acc}))
    assert "node pool 'h100': accelerator.mig.layout: MIG layout [4g.40gb, 2g.20gb" in message
    assert "no non-overlapping placement exists" in message


def test_layout_without_static_mode_is_rejected() -> None:
    """A layout with mode none is a spec error naming mig.layout."""
    acc = {
        "kind": "nvidia",
        "model": "H100-80GB",
        "count": 8,
        "mig": {"mode": "none", "layout": ["7g.80gb"]},
    }
    assert "mig.layout: only allowed with mode static" in _error(_spec({"accelerator": acc}))


def test_unknown_gpu_model_lists_known_models() -> None:
    """An unknown model names the pool and lists the catalog."""
    message = _error(_spec({"accelerator": {"kind": "nvidia", "model": "H300", "count": 8}}))
    assert "node pool 'h100': accelerator.model: unknown GPU model 'H300'" in message
    assert "known models: A100-40GB" in message


def test_tpu_count_must_make_whole_slices() -> None:
    """6 VMs of 4x4 v5e (4 VMs per slice) is not a whole number of slices."""
    message = _error(
        _spec({"count": 6, "accelerator": {"kind": "tpu", "generation": "v5e", "topology": "4x4"}})
    )
    assert "count 6 is not a whole number of v5e 4x4 slices (4 VMs of 4 chips each)" in message


def test_tpu_invalid_topology_is_named() -> None:
    """A bad TPU topology names the pool and the valid topologies."""
    message = _error(
        _spec({"accelerator": {"kind": "tpu", "generation": "v6e", "topology": "3x5"}})
    )
    assert "node pool 'h100': accelerator: TPU topology '3x5' is not valid for v6e" in message


def test_unknown_field_and_bad_kind_are_reported_with_paths() -> None:
    """Unknown fields and unknown accelerator kinds point at their field path."""
    assert "nodePools[0].colour: Extra inputs are not permitted" in _error(_spec({"colour": "red"}))
    message = _error(_spec({"accelerator": {"kind": "fpga"}}))
    assert "nodePools[0].accelerator" in message and "fpga" in message


def test_bad_quantities_versions_and_names() -> None:
    """Quantities, versions, pool names and label syntax are checked with clear messages."""
    assert "'lots' is not a Kubernetes quantity" in _error(
        _spec({"node": {"cpu": "lots", "memory": "1Gi"}})
    )
    assert "kubernetesVersion '1.33'" in _error(_spec(kubernetesVersion="1.33"))
    assert "pool name 'H100'" in _error(_spec({"name": "H100"}))
    assert "label 'team': value 'a b'" in _error(_spec({"labels": {"team": "a b"}}))
    assert "count is required" in _error(_spec({"count": None}))


def test_clique_only_on_nvidia_pools_and_inside_racks() -> None:
    """nodesPerClique must divide nodesPerRack and needs an NVIDIA accelerator."""
    assert "nodesPerClique 5 must divide nodesPerRack 18" in _error(
        _spec({"placement": {"nodesPerRack": 18, "nodesPerClique": 5}})
    )
    message = _error(_spec({"accelerator": {"kind": "none"}, "placement": {"nodesPerClique": 4}}))
    assert "placement.nodesPerClique is for NVIDIA pools" in message


def test_repeated_pool_names_are_rejected() -> None:
    """Two pools with one name are a spec error."""
    data = _spec()
    data["nodePools"].append(copy.deepcopy(data["nodePools"][0]))
    assert "repeated pool name(s) ['h100']" in _error(data)


def test_openb_pool_cannot_set_count() -> None:
    """fromOpenbCSV pools take shapes from the CSV; count is refused."""
    data = _spec(featureGates={"DRAConsumableCapacity": True})
    data["nodePools"] = [{"name": "openb", "fromOpenbCSV": "x.csv", "count": 3}]
    assert "count cannot be combined with fromOpenbCSV" in _error(data)


def test_load_reports_file_and_yaml_errors(tmp_path: Path) -> None:
    """Missing files, bad YAML and invalid content all name the file."""
    missing = tmp_path / "nope.yaml"
    with pytest.raises(ValueError, match=r"nope\.yaml: cannot read cluster spec"):
        load_cluster_spec(missing)
    bad = tmp_path / "bad.yaml"
    bad.write_text("nodePools: [\n")
    with pytest.raises(ValueError, match=r"bad\.yaml: invalid YAML at line 2"):
        load_cluster_spec(bad)
    wrong = tmp_path / "wrong.yaml"
    wrong.write_text(yaml.safe_dump(_spec({"count": 0})))
    with pytest.raises(
        ValueError, match=r"wrong.yaml: invalid cluster spec:\nnodePools\[0\].count"
    ):
        load_cluster_spec(wrong)


def _openb_spec(tmp_path: Path, csv_name: str) -> Path:
    data = {
        "apiVersion": "tessera.io/v1alpha1",
        "kind": "ClusterSpec",
        "metadata": {"name": "openb-small"},
        "featureGates": {"DRAConsumableCapacity": True},
        "nodePools": [{"name": "openb", "fromOpenbCSV": f"data/{csv_name}"}],
    }
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_openb_csv_path_is_resolved_relative_to_the_spec(tmp_path: Path) -> None:
    """fromOpenbCSV resolves against the spec's directory and the CSV is checked at load."""
    (tmp_path / "data").mkdir()
    shutil.copy(FIXTURE_CSV, tmp_path / "data" / "nodes.csv")
    spec = load_cluster_spec(_openb_spec(tmp_path, "nodes.csv"))
    assert spec.node_pools[0].from_openb_csv == str(tmp_path / "data" / "nodes.csv")


def test_openb_csv_falls_back_to_gzip(tmp_path: Path) -> None:
    """A .csv path that only exists as .csv.gz is read from the gzip file."""
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "nodes.csv.gz").write_bytes(gzip.compress(FIXTURE_CSV.read_bytes()))
    spec = load_cluster_spec(_openb_spec(tmp_path, "nodes.csv"))
    assert spec.node_pools[0].from_openb_csv == str(tmp_path / "data" / "nodes.csv.gz")


def test_openb_csv_errors_name_file_line_and_column(tmp_path: Path) -> None:
    """Bad CSV rows give the file, line and column; a missing CSV names the field."""
    (tmp_path / "data").mkdir()
    with pytest.raises(ValueError, match=r"nodePools\[0\].fromOpenbCSV: no file"):
        load_cluster_spec(_openb_spec(tmp_path, "absent.csv"))
    bad = tmp_path / "data" / "bad.csv"
    bad.write_text("sn,cpu_milli,memory_mib,gpu,model\nn1,64000,1024,2,X100\n")
    with pytest.raises(
        ValueError, match=r"bad\.csv: line 2: column model: unknown GPU model 'X100'"
    ):
        load_cluster_spec(_openb_spec(tmp_path, "bad.csv"))
    bad.write_text("sn,cpu_milli,memory_mib,gpu,model\nn1,lots,1024,2,T4\n")
    with pytest.raises(
        ValueError, match=r"bad\.csv: line 2: column 'cpu_milli': 'lots': not an integer"
    ):
        read_openb_nodes(bad)


def test_fixture_csv_rows() -> None:
    """The fixture parses to 7 nodes, one of them CPU-only."""
    nodes = read_openb_nodes(FIXTURE_CSV)
    assert len(nodes) == 7
    assert [n.model for n in nodes].count(None) == 1
    assert nodes[2].gpu == 8 and nodes[2].model == "G2"


@pytest.mark.parametrize(
    "name",
    ["two-rack-h100-dynamic-mig.yaml", "gb200-nvl72.yaml", "tpu-v5e-multihost.yaml"],
)
def test_example_specs_load(name: str) -> None:
    """The shipped example specs are valid."""
    assert isinstance(load_cluster_spec(CLUSTERS / name), ClusterSpec)


def test_openb_example_spec_is_valid() -> None:
    """The openb example validates as a spec (its CSV is provided by traces/openb)."""
    data = yaml.safe_load((CLUSTERS / "openb.yaml").read_text())
    spec = parse_cluster_spec(data, "openb.yaml")
    assert spec.node_pools[0].from_openb_csv == "../openb/openb_node_list_gpu_node.csv"
    assert spec.effective_feature_gates()["DRAConsumableCapacity"] is True
