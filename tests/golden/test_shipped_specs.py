"""Shipped artefacts: every cluster spec (traces/clusters/*.yaml) through the YAML round trip,
object path versus templated path and the ResourceSlice API limits; and manifests/devices/,
kept in sync with its generator."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from scheduler.api.dra import DeviceClass, ResourceSlice
from scheduler.api.loaders import dump_objects, load_objects
from scheduler.cluster.cache import ClusterCache
from scheduler.cluster.snapshot import Snapshot
from simulator.clusters import LoadedCluster, cluster_from_spec
from simulator.drivers.build import BuiltCluster, build_cluster, slice_limit_violations
from simulator.drivers.spec import ClusterSpec, load_cluster_spec
from simulator.manifests import EXAMPLE_NODE, write_device_manifests
from tests.builders import make_node

REPO = Path(__file__).resolve().parents[2]
SPECS = sorted((REPO / "traces" / "clusters").glob("*.yaml"))
DEVICES_DIR = REPO / "manifests" / "devices"


@dataclass
class Shipped:
    """One shipped spec built both ways."""

    spec: ClusterSpec
    built: BuiltCluster
    objects: LoadedCluster
    templated: LoadedCluster


@pytest.fixture(scope="module", params=SPECS, ids=lambda p: p.stem)
def shipped(request: pytest.FixtureRequest) -> Shipped:
    """Load, build and feed one spec into a cache by objects and by templates."""
    spec = load_cluster_spec(request.param)
    return Shipped(
        spec,
        build_cluster(spec),
        cluster_from_spec(spec, source=str(request.param)),
        cluster_from_spec(spec, templated=True),
    )


def test_every_shipped_spec_is_covered() -> None:
    """The five shipped specs are all found (a renamed directory would silently test none)."""
    assert [p.stem for p in SPECS] == [
        "gb200-nvl72",
        "openb",
        "tpu-v5e-multihost",
        "two-rack-h100-device-plugin",
        "two-rack-h100-dynamic-mig",
    ]


@pytest.mark.slow
def test_yaml_round_trip_gives_equal_objects(shipped: Shipped, tmp_path: Path) -> None:
    """build -> dump_objects -> file -> load_objects gives the built objects, in their API form."""
    objects = shipped.objects.objects
    assert len(objects) == len(shipped.built.objects())
    path = tmp_path / "cluster.yaml"
    path.write_text(dump_objects(objects), encoding="utf-8")
    back = load_objects(path)
    assert back == objects
    # API form: every Node and DeviceClass, and the slices of the first pool (the other
    # pools' slices differ only in names and identifiers, and converting them all is slow)
    raw_objects = shipped.built.objects()
    first_pool = next(
        (o["spec"]["pool"]["name"] for o in raw_objects if o["kind"] == "ResourceSlice"), None
    )
    for obj, raw in zip(back, raw_objects, strict=True):
        if raw["kind"] != "ResourceSlice" or raw["spec"]["pool"]["name"] == first_pool:
            assert obj.to_dict() == raw


def _rows_by_node(snap: Snapshot) -> dict[str, Counter[tuple[int, tuple[str, ...]]]]:
    """Per node: its template rows as (kinds, device names) shapes, with multiplicity."""
    out: dict[str, Counter[tuple[int, tuple[str, ...]]]] = {}
    for i, name in enumerate(snap.node_names):
        shapes: Counter[tuple[int, tuple[str, ...]]] = Counter()
        for t, _row, _pool in snap.device_rows(i):
            template = snap.templates[t]
            shapes[(template.kinds, tuple(d.name for d in template.devices))] += 1
        out[name] = shapes
    return out


def test_object_and_templated_paths_give_the_same_snapshot(shipped: Shipped) -> None:
    """Same nodes, resources, GPU view and per-node template rows by either path."""
    a = shipped.objects.cache.snapshot()
    b = shipped.templated.cache.snapshot()
    assert a.node_names == b.node_names
    assert len(a.node_names) == len(shipped.built.nodes)
    assert a.resources == b.resources
    assert np.array_equal(a.allocatable, b.allocatable)
    assert a.gpus.models == b.gpus.models
    for field in ("gpu_free", "gpu_count", "gpu_model", "cpu_free"):
        assert np.array_equal(getattr(a.gpus, field), getattr(b.gpus, field)), field
    assert _rows_by_node(a) == _rows_by_node(b)
    alive = [int(s.row_alive[: s.rows].sum()) for s in a.template_states]
    assert sum(alive) == sum(int(s.row_alive[: s.rows].sum()) for s in b.template_states)
    assert set(a.classes) == set(b.classes)
    assert not a.unsettled.any()


def test_object_path_shares_templates_like_the_templated_path(shipped: Shipped) -> None:
    """Pools that differ only in uuid/parentUUID share templates whichever way they came in.

    TPU pools differ per node in more attributes (hostIndex, sliceName, chip coordinates):
    on the object path only uuid/parentUUID are treated as per-node identifiers (documented
    in scheduler/cluster/templates.py), so each TPU pool keeps its own template there.
    """
    a = shipped.objects.cache.devices
    b = shipped.templated.cache.devices
    if shipped.spec.metadata.name.startswith("tpu"):
        assert all(s.rows == 1 for s in a.states)
        assert sum(s.rows for s in a.states) == sum(s.rows for s in b.states)
        return
    assert [s.rows for s in a.states] == [s.rows for s in b.states]


def test_every_slice_respects_the_api_limits(shipped: Shipped) -> None:
    """No built ResourceSlice breaks a resource.k8s.io/v1 limit (split layout from 1.35);
    only a device-plugin cluster publishes none."""
    split = shipped.spec.split_counter_slices
    problems = [
        p
        for s in shipped.built.resource_slices
        for p in slice_limit_violations(s, split_layout=split)
    ]
    assert problems == []
    device_plugin = shipped.spec.metadata.name.endswith("device-plugin")
    assert bool(shipped.built.resource_slices) != device_plugin


# -- manifests/devices -----------------------------------------------------------------------------
def test_device_manifests_match_their_generator(tmp_path: Path) -> None:
    """Regenerated manifests/devices/ YAML equals the committed files byte for byte, no extras."""
    written = write_device_manifests(tmp_path)
    committed = sorted(p.name for p in DEVICES_DIR.glob("*.yaml"))
    assert sorted(p.name for p in written) == committed
    for path in written:
        assert (DEVICES_DIR / path.name).read_bytes() == path.read_bytes(), path.name


def test_device_manifests_describe_one_dynamic_mig_h100_node() -> None:
    """The committed manifests are 3 classes and one 8 x 26-device H100 node, valid and usable."""
    objects = load_objects(DEVICES_DIR)
    classes = [o for o in objects if isinstance(o, DeviceClass)]
    slices = [o for o in objects if isinstance(o, ResourceSlice)]
    assert [c.name for c in classes] == ["gpu.nvidia.com", "mig.nvidia.com", "tpu.google.com"]
    assert len(slices) == len(objects) - 3 == 9
    assert {s.spec.node_name for s in slices} == {EXAMPLE_NODE}
    # 1 counters-only slice + 8 slices of 26 devices (whole GPU + 25 MIG placements)
    assert sorted(len(s.spec.devices) for s in slices) == [0] + [26] * 8
    assert [p for s in slices for p in slice_limit_violations(s.to_dict())] == []
    cache = ClusterCache()
    cache.add_all([make_node(EXAMPLE_NODE), *objects])
    view = cache.snapshot().gpus
    assert view.models == ("NVIDIA H100 80GB HBM3",)
    assert view.gpu_free.tolist() == [[1000] * 8]
