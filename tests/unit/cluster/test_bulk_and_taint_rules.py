"""Dump loading through SliceLoader (scheduler/cluster/bulk.py) gives the same cluster as the
object path; ``cluster build --format json`` writes what the drivers publish; DeviceTaintRules
reach devices in slice-backed and templated pools alike."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest
import yaml

from scheduler.api.devicetaintrule import DeviceTaintRule
from scheduler.api.loaders import load_documents, load_object
from scheduler.cluster.cache import ClusterCache
from scheduler.cluster.snapshot import Snapshot
from simulator.clusters import cluster_from_spec, features_of, load_cluster
from simulator.drivers.build import build_cluster
from simulator.drivers.spec import load_cluster_spec
from simulator.drivers.write import write_cluster

REPO = Path(__file__).resolve().parents[3]
SPECS = sorted((REPO / "traces" / "clusters").glob("*.yaml"))
SMALL = [
    p for p in SPECS if p.stem in ("two-rack-h100-dynamic-mig", "tpu-v5e-multihost", "gb200-nvl72")
]


def _devices(snap: Snapshot, i: int) -> list[tuple[Any, ...]]:
    out = []
    for pool in snap.node_pools(i):
        for _, d in pool.devices_in_order():
            out.append((pool.name, d.name, tuple(sorted(d.attributes.items())), d.taints))
    return sorted(out)


@pytest.mark.parametrize("spec_path", SMALL, ids=lambda p: p.stem)
def test_json_dump_loads_like_the_object_path(spec_path: Path, tmp_path: Path) -> None:
    """build --format json -> load_cluster equals building the objects into a cache: same
    nodes, GPU view and, on sampled nodes, the same devices with the same attributes."""
    spec = load_cluster_spec(spec_path)
    write_cluster(spec, tmp_path / "dump", "json")
    bulk = load_cluster(tmp_path / "dump", features=features_of(spec)).cache.snapshot()
    plain = cluster_from_spec(spec).cache.snapshot()
    assert bulk.node_names == plain.node_names
    assert np.array_equal(bulk.allocatable, plain.allocatable)
    for field in ("gpu_free", "gpu_count", "gpu_model"):
        assert np.array_equal(getattr(bulk.gpus, field), getattr(plain.gpus, field)), field
    for i in {0, len(plain.node_names) // 2, len(plain.node_names) - 1}:
        assert _devices(bulk, i) == _devices(plain, i)


def test_json_build_equals_the_yaml_build(tmp_path: Path) -> None:
    """The JSON lines (template substitution) hold exactly the YAML documents (driver output)."""
    spec = load_cluster_spec(REPO / "traces" / "clusters" / "two-rack-h100-dynamic-mig.yaml")
    write_cluster(spec, tmp_path / "j", "json")
    write_cluster(spec, tmp_path / "y", "yaml")
    for kind in ("deviceclasses", "nodes", "resourceslices"):
        lines = (tmp_path / "j" / f"{kind}.json").read_bytes().splitlines()
        documents = list(
            yaml.load_all((tmp_path / "y" / f"{kind}.yaml").read_text(), Loader=yaml.CSafeLoader)
        )
        assert [orjson.loads(line) for line in lines] == documents
    assert documents == [o for o in build_cluster(spec).objects() if o["kind"] == "ResourceSlice"]


def test_a_changed_pool_does_not_share_the_template(tmp_path: Path) -> None:
    """A pool whose non-identifier content differs (one device's productName) gets its own
    template, and its devices keep their own values."""
    spec = load_cluster_spec(REPO / "traces" / "clusters" / "two-rack-h100-dynamic-mig.yaml")
    objects = build_cluster(spec).objects()
    for obj in objects:
        if obj["kind"] == "ResourceSlice" and obj["spec"]["pool"]["name"] == "h100-0005":
            for device in obj["spec"].get("devices", []):
                device["attributes"]["productName"] = {"string": "Modified"}
    path = tmp_path / "dump.json"
    path.write_bytes(b"".join(orjson.dumps(o) + b"\n" for o in objects))
    snap = load_cluster(path, features=features_of(spec)).cache.snapshot()
    assert len(snap.templates) == 2
    names = {a for _, _, attrs, _ in _devices(snap, 5) for a in attrs}
    assert ("productName", ("string", "Modified")) in names


def _rule(device: str, pool: str, effect: str = "NoSchedule") -> DeviceTaintRule:
    obj = load_object(
        {
            "apiVersion": "resource.k8s.io/v1alpha3",
            "kind": "DeviceTaintRule",
            "metadata": {"name": f"{pool}-{device}"},
            "spec": {
                "deviceSelector": {"driver": "gpu.nvidia.com", "pool": pool, "device": device},
                "taint": {"key": "example.com/broken", "effect": effect},
            },
        }
    )
    assert isinstance(obj, DeviceTaintRule)
    return obj


@pytest.mark.parametrize("templated", [False, True])
def test_taint_rule_reaches_the_selected_device_only(templated: bool) -> None:
    """Before or after the pools exist, slice-backed or templated: the selected device of the
    selected pool carries the taint, its siblings and other pools do not."""
    spec = load_cluster_spec(REPO / "traces" / "clusters" / "two-rack-h100-dynamic-mig.yaml")
    loaded = cluster_from_spec(spec, templated=templated)
    cache = loaded.cache
    cache.add(_rule("gpu-2", "h100-0003"))
    snap = cache.snapshot()
    index = snap.node_names.index("h100-0003")
    tainted = [(name, taints) for _, name, _, taints in _devices(snap, index) if taints]
    assert [n for n, _ in tainted] == ["gpu-2"]
    assert tainted[0][1][0].key == "example.com/broken"
    other = snap.node_names.index("h100-0004")
    assert not any(t for *_, t in _devices(snap, other))


def test_rule_known_before_slices_applies_to_them() -> None:
    """A rule added to an empty cache taints the slices added later."""
    spec = load_cluster_spec(REPO / "traces" / "clusters" / "two-rack-h100-dynamic-mig.yaml")
    built = build_cluster(spec)
    cache = ClusterCache(features=features_of(spec))
    cache.add(_rule("gpu-0", "h100-0001", effect="NoExecute"))
    cache.add_all([load_object(o) for o in built.objects()])
    snap = cache.snapshot()
    index = snap.node_names.index("h100-0001")
    assert [n for _, n, _, t in _devices(snap, index) if t] == ["gpu-0"]


def test_removed_selector_fields_are_refused() -> None:
    """deviceClassName / selectors (1.33-1.34) are not served in 1.35 and refused by name."""
    raw = {
        "apiVersion": "resource.k8s.io/v1alpha3",
        "kind": "DeviceTaintRule",
        "metadata": {"name": "r"},
        "spec": {
            "deviceSelector": {"deviceClassName": "gpu"},
            "taint": {"key": "k", "effect": "NoSchedule"},
        },
    }
    with pytest.raises(ValueError, match=r"spec.deviceSelector.deviceClassName: not served"):
        load_documents([raw])
