"""write_cluster (simulator/drivers/write.py): the stamped YAML and JSON are the emitters' own
text of the driver's objects, plain PyYAML reads the YAML as the JSON, and a node whose
values cannot be stamped is written from its objects."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml

from simulator.drivers.build import build_cluster, pool_builders
from simulator.drivers.spec import ClusterSpec, load_cluster_spec
from simulator.drivers.write import OutputFormat, _stamper, _yaml_plain, write_cluster

REPO = Path(__file__).resolve().parents[3]
TPU = REPO / "traces" / "clusters" / "tpu-v5e-multihost.yaml"

MIXED_SPEC = """\
apiVersion: tessera.io/v1alpha1
kind: ClusterSpec
metadata: {name: mixed}
kubernetesVersion: "1.35"
featureGates: {DRAPartitionableDevices: true}
nodePools:
- name: h100
  count: 4
  node: {cpu: "96", memory: 1Ti}
  accelerator: {kind: nvidia, model: H100-80GB, count: 2, mig: {mode: dynamic}}
- name: gb200
  count: 3
  node: {cpu: "144", memory: 1Ti}
  accelerator: {kind: nvidia, model: GB200, count: 4}
- name: cpu
  count: 2
  node: {cpu: "16", memory: 64Gi}
"""


def _spec(tmp_path: Path, which: str) -> ClusterSpec:
    if which == "tpu":
        return load_cluster_spec(TPU)
    path = tmp_path / "spec.yaml"
    path.write_text(MIXED_SPEC)
    return load_cluster_spec(path)


def _slices(spec: ClusterSpec) -> list[dict[str, Any]]:
    return [s for s in build_cluster(spec).objects() if s["kind"] == "ResourceSlice"]


@pytest.mark.parametrize("which", ["mixed", "tpu"])
def test_written_files_are_the_emitters_text_of_the_driver_objects(
    tmp_path: Path, which: str
) -> None:
    """Byte for byte: the YAML file is one yaml.dump_all of the driver's slices (CSafeDumper,
    the writer's settings), the JSON file one orjson line per slice; plain safe_load_all of
    the YAML gives the JSON file's objects."""
    spec = _spec(tmp_path, which)
    slices = _slices(spec)
    assert slices
    written_yaml = write_cluster(spec, tmp_path / "yaml", "yaml")
    written_json = write_cluster(spec, tmp_path / "json", "json")
    expected_yaml = yaml.dump_all(
        slices,
        Dumper=yaml.CSafeDumper,
        sort_keys=False,
        default_flow_style=False,
        allow_unicode=True,
    )
    assert (tmp_path / "yaml" / "resourceslices.yaml").read_text() == expected_yaml
    json_text = (tmp_path / "json" / "resourceslices.json").read_bytes()
    assert json_text == b"".join(orjson.dumps(s) + b"\n" for s in slices)
    from_json = [orjson.loads(line) for line in json_text.splitlines()]
    with (tmp_path / "yaml" / "resourceslices.yaml").open() as stream:
        assert list(yaml.safe_load_all(stream)) == from_json
    assert written_yaml == written_json
    assert written_yaml.resource_slices == len(slices)
    assert written_yaml.devices == sum(len(s["spec"].get("devices") or []) for s in slices)


def test_stamps_cover_every_node_of_the_nvidia_pools(tmp_path: Path) -> None:
    """The NVIDIA pools are stamped (both formats), the TPU pool (numeric chip coordinates)
    is not; each stamp is the emitter's text of that node's slices."""
    spec = _spec(tmp_path, "mixed")
    builders = {b.pool.name: b for b in pool_builders(spec)}
    for fmt in ("yaml", "json"):
        stamp = _stamper(builders["h100"], fmt)
        assert stamp is not None
        name = builders["h100"].node_names()[2]
        objects = builders["h100"].slices(name, 2)
        data = stamp(name)
        assert data is not None
        if fmt == "yaml":
            assert list(yaml.safe_load_all(data)) == objects
        else:
            assert [orjson.loads(line) for line in data.splitlines()] == objects
    tpu = pool_builders(load_cluster_spec(TPU))
    assert all(_stamper(b, "yaml") is None for b in tpu if b.template()[0])


def test_a_node_whose_values_are_not_bare_words_is_not_stamped(tmp_path: Path) -> None:
    """A node name YAML would read as a number (or quote) gives no stamp: that node is
    written from its objects."""
    builder = next(b for b in pool_builders(_spec(tmp_path, "mixed")) if b.pool.name == "h100")
    stamp = _stamper(builder, "yaml")
    assert stamp is not None
    assert stamp("12345") is None  # nodeName: 12345 would read back as an int
    assert stamp("node with spaces") is None


@pytest.mark.parametrize(
    ("value", "plain"),
    [
        ("h100-0001", True),
        ("GPU-6f1e2d3c-0000-5000-8000-000000000000", True),
        ("gpu.nvidia.com", True),
        ("123", False),
        ("1.5", False),
        ("true", False),
        ("on", False),
        ("2024-01-15", False),
        ("a b", False),
        ("a:b", False),
        ("-x", False),
        ("", False),
        ("x" * 121, False),
    ],
)
def test_yaml_plain_words(value: str, plain: bool) -> None:
    """Only words PyYAML's emitter writes bare, that read back as the same string."""
    assert _yaml_plain(value) is plain
    if plain:
        assert yaml.dump({"k": value}, Dumper=yaml.CSafeDumper) == f"k: {value}\n"


def test_yaml_and_json_dumps_load_into_the_same_snapshot(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """load_cluster reads the written YAML (through rapidyaml when installed: every file
    takes the fast path here) into the snapshot the JSON dump gives."""
    from scheduler.api import yaml_fast
    from simulator.clusters import features_of, load_cluster

    monkeypatch.setattr(yaml_fast, "FAST_MIN_BYTES", 0)
    spec = _spec(tmp_path, "mixed")
    snapshots = []
    formats: tuple[OutputFormat, ...] = ("yaml", "json")
    for fmt in formats:
        write_cluster(spec, tmp_path / fmt, fmt)
        loaded = load_cluster(tmp_path / fmt, features=features_of(spec))
        snapshots.append(loaded.cache.snapshot())
    from_yaml, from_json = snapshots
    assert from_yaml.node_names == from_json.node_names
    assert len(from_yaml.templates) == len(from_json.templates)
    assert (from_yaml.gpus.gpu_count == from_json.gpus.gpu_count).all()
    assert int(from_yaml.gpus.gpu_count.sum()) == 4 * 2 + 3 * 4
    for index in range(from_yaml.size):
        assert _devices(from_yaml, index) == _devices(from_json, index)


def _devices(snapshot: Any, index: int) -> list[tuple[str, object]]:
    """Every device of node ``index``'s pools with its attributes."""
    return sorted(
        (device.name, sorted(device.attributes.items()))
        for pool in snapshot.node_pools(index)
        for _, device in pool.devices_in_order()
    )
