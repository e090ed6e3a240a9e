"""tessera's simulated tpu.google.com driver: slice shapes, chip coordinates, labels."""

from __future__ import annotations

import itertools

import pytest

from simulator.drivers import tpu


@pytest.mark.parametrize(
    ("generation", "topology", "chips_per_vm", "vms", "machine_type"),
    [
        ("v5e", "1x1", None, 1, "ct5lp-hightpu-1t"),
        ("v5e", "2x4", None, 1, "ct5lp-hightpu-8t"),  # single host by default
        ("v5e", "2x4", 4, 2, "ct5lp-hightpu-4t"),  # or two 4-chip VMs
        ("v5e", "4x4", None, 4, "ct5lp-hightpu-4t"),  # 16 chips / 4
        ("v6e", "16x16", None, 64, "ct6e-standard-4t"),  # 256 chips / 4
        ("v5p", "2x2x1", None, 1, "ct5p-hightpu-4t"),
        ("v5p", "4x4x4", None, 16, "ct5p-hightpu-4t"),  # one 64-chip cube / 4
        ("v5p", "4x8x12", None, 96, "ct5p-hightpu-4t"),  # 384 chips / 4
    ],
)
def test_slice_shapes(
    generation: str, topology: str, chips_per_vm: int | None, vms: int, machine_type: str
) -> None:
    """Valid topologies give the GKE VM count and machine type."""
    shape = tpu.tpu_slice_shape(generation, topology, chips_per_vm)
    assert shape.vms == vms
    assert shape.machine_type == machine_type


@pytest.mark.parametrize(
    ("generation", "topology", "chips_per_vm", "message"),
    [
        ("v5e", "3x3", None, r"'3x3' is not valid for v5e; valid: 1x1, 2x2, 2x4, 4x4"),
        ("v5e", "4x4x4", None, "v5e slices are 2-D"),
        ("v5p", "4x4x6", None, "not valid for v5p"),  # 6 is not a multiple of 4
        ("v5e", "4x4", 8, r"chipsPerVm 8 not valid; valid: \[4\]"),
        ("v7", "4x4", None, "unknown TPU generation 'v7'; known: v5e, v5p, v6e"),
        ("v5e", "banana", None, "expected AxB or AxBxC"),
        ("v5p", "28x28x28", None, "21952 chips exceed the v5p maximum of 8960"),
    ],
)
def test_invalid_slice_shapes(
    generation: str, topology: str, chips_per_vm: int | None, message: str
) -> None:
    """Invalid topologies raise a ValueError listing what is valid."""
    with pytest.raises(ValueError, match=message):
        tpu.tpu_slice_shape(generation, topology, chips_per_vm)


@pytest.mark.parametrize(
    ("generation", "topology", "chips_per_vm"),
    [("v5e", "4x4", None), ("v5e", "2x4", 4), ("v5e", "2x4", None), ("v5p", "4x4x8", None)],
)
def test_chip_coordinates_tile_the_slice(
    generation: str, topology: str, chips_per_vm: int | None
) -> None:
    """The chips of all VMs of a slice cover every grid coordinate exactly once."""
    shape = tpu.tpu_slice_shape(generation, topology, chips_per_vm)
    coords = [
        tpu.chip_coordinates(shape, host, chip)
        for host in range(shape.vms)
        for chip in range(shape.chips_per_vm)
    ]
    grid = list(itertools.product(*(range(d) for d in shape.dims)))
    assert sorted(coords) == sorted(grid)


def test_four_chip_vm_holds_a_2x2_block() -> None:
    """On a 4x4 slice, host 1 holds x 2-3, y 0-1 (hosts tile x first)."""
    shape = tpu.tpu_slice_shape("v5e", "4x4")
    assert [tpu.chip_coordinates(shape, 1, c) for c in range(4)] == [
        (2, 0),
        (3, 0),
        (2, 1),
        (3, 1),
    ]


def test_devices_and_labels_of_one_vm() -> None:
    """VM 5 of a 4x4 pool is host 1 of slice 01 and publishes four typed chip devices."""
    config = tpu.TpuNodeConfig(tpu.tpu_slice_shape("v5e", "4x4"), "v5e")
    assert tpu.node_labels(config, 5) == {
        "cloud.google.com/gke-tpu-accelerator": "tpu-v5-lite-podslice",
        "cloud.google.com/gke-nodepool": "v5e-slice-01",
        "cloud.google.com/gke-tpu-topology": "4x4",
    }
    (body,) = tpu.publish("v5e-0005", config, 5)
    devices = body["devices"]
    assert [d["name"] for d in devices] == ["tpu-0", "tpu-1", "tpu-2", "tpu-3"]
    assert devices[3]["attributes"] == {
        "acceleratorType": {"string": "tpu-v5-lite-podslice"},
        "hostIndex": {"int": 1},
        "sliceName": {"string": "v5e-slice-01"},
        "topology": {"string": "4x4"},
        "type": {"string": "tpu"},
        "x": {"int": 3},
        "y": {"int": 1},
    }
    assert devices[0]["capacity"] == {"memory": {"value": "16Gi"}}


def test_three_d_generations_publish_z() -> None:
    """v5p chips carry a z coordinate."""
    config = tpu.TpuNodeConfig(tpu.tpu_slice_shape("v5p", "2x2x2"), "v5p")
    (body,) = tpu.publish("v5p-0001", config, 1)
    assert {d["attributes"]["z"]["int"] for d in body["devices"]} == {1}
