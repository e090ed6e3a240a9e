"""The simulated ``tpu.google.com`` DRA driver — tessera's own model, not a public driver spec.

No public specification of a TPU DRA driver exists (GKE documents DRA for TPUs but not the
driver's device shape), so tessera defines one, kept deliberately close to how GKE exposes TPUs
today and to the multi-host pattern of KEP-4815:

* **Slices are node pools.** A multi-host TPU slice is one GKE node pool and is atomic: all of
  its VMs exist or none do. A tessera node pool of ``count`` VMs for a topology with ``V`` VMs per
  slice therefore holds ``count / V`` slices; VM ``i`` of the pool belongs to slice ``i // V``
  (named ``<pool>-slice-<k:02d>``) as host ``i % V``.
* **Nodes are VMs.** Each node carries ``cloud.google.com/gke-tpu-accelerator`` (e.g.
  ``tpu-v5-lite-podslice``), ``cloud.google.com/gke-tpu-topology`` (e.g. ``4x4``) and
  ``cloud.google.com/gke-nodepool`` = the slice name, so node selectors written for GKE work.
* **Devices are chips.** The node's pool (pool name = node name) has one slice with one device
  ``tpu-<i>`` per chip on the VM. Attributes (driver domain ``tpu.google.com``): ``type`` = "tpu",
  ``acceleratorType``, ``topology``, ``sliceName``, ``hostIndex`` (int) and the chip's coordinates
  in the slice's chip grid ``x``, ``y`` (and ``z`` on 3-D generations) as ints. Capacity
  ``memory`` = the chip's HBM.
* **Chip coordinates.** Each VM hosts a block of chips (1 chip: 1x1; 4 chips: 2x2, or 2x2x1 on
  3-D; 8 chips: 2x4). VMs tile the slice grid in row-major order of their block positions, x
  fastest; chips inside a VM are numbered the same way.

Callers: :mod:`simulator.drivers.build` (node labels and slices per VM).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

from simulator.drivers.catalog import GIB, TpuGeneration, binary_quantity, tpu_generation

DRIVER = "tpu.google.com"
LABEL_ACCELERATOR = "cloud.google.com/gke-tpu-accelerator"
LABEL_TOPOLOGY = "cloud.google.com/gke-tpu-topology"
LABEL_NODEPOOL = "cloud.google.com/gke-nodepool"


_TOPOLOGY = re.compile(r"^[1-9][0-9]*(x[1-9][0-9]*){1,2}$")


@dataclass(frozen=True)
class TpuSliceShape:
    """A validated slice: chip grid ``dims``, VMs, and the chip block each VM hosts."""

    generation: TpuGeneration
    topology: str
    dims: tuple[int, ...]
    chips_per_vm: int
    host_block: tuple[int, ...]

    @property
    def chips(self) -> int:
        """Chips in the slice (product of the dimensions)."""
        return math.prod(self.dims)

    @property
    def vms(self) -> int:
        """VMs (Kubernetes nodes) in one slice."""
        return self.chips // self.chips_per_vm

    @property
    def machine_type(self) -> str:
        """GCE machine type of each VM."""
        return self.generation.machine_types[self.chips_per_vm]


def tpu_slice_shape(
    generation: str, topology: str, chips_per_vm: int | None = None
) -> TpuSliceShape:
    """Validate ``topology`` for ``generation`` and return its shape.

    ``chips_per_vm`` picks the machine type when a topology can be served two ways (v5e/v6e 2x4:
    one 8-chip VM by default, or two 4-chip VMs). Raises ValueError naming the topology and the
    valid choices.
    """
    gen = tpu_generation(generation)
    if not _TOPOLOGY.match(topology):
        raise ValueError(f"TPU topology {topology!r}: expected AxB or AxBxC (e.g. 4x4, 2x2x1)")
    dims = tuple(int(part) for part in topology.split("x"))
    if len(dims) != gen.dimensions:
        raise ValueError(
            f"TPU topology {topology!r}: {gen.name} slices are {gen.dimensions}-D "
            f"(valid: {_valid_topologies_text(gen)})"
        )
    options: list[int] = []
    if topology in gen.single_host:
        options.append(gen.single_host[topology])
    cube = gen.cube_rule and all(d % 4 == 0 for d in dims)
    if topology in gen.multi_host or cube:
        options.append(gen.multi_host_chips_per_vm)
    if not options:
        raise ValueError(
            f"TPU topology {topology!r} is not valid for {gen.name}; valid: "
            f"{_valid_topologies_text(gen)}"
        )
    shape_chips = math.prod(dims)
    if shape_chips > gen.max_chips:
        raise ValueError(
            f"TPU topology {topology!r}: {shape_chips} chips exceed the {gen.name} maximum "
            f"of {gen.max_chips}"
        )
    chosen = options[0] if chips_per_vm is None else chips_per_vm
    if chosen not in options:
        raise ValueError(
            f"TPU topology {topology!r} on {gen.name}: chipsPerVm {chips_per_vm} not valid; "
            f"valid: {sorted(set(options))}"
        )
    return TpuSliceShape(gen, topology, dims, chosen, _host_block(dims, chosen))


def _host_block(dims: tuple[int, ...], chips_per_vm: int) -> tuple[int, ...]:
    """Chip block of one VM: 1 chip = 1x1, 4 chips = 2x2(x1), 8 chips = 2x4 (the whole 2x4)."""
    if chips_per_vm == 1:
        block = [1, 1]
    elif chips_per_vm == 4:
        block = [2, 2]
    else:
        block = [2, 4]
    if len(dims) == 3:
        block.append(1)
    return tuple(block)


def _valid_topologies_text(gen: TpuGeneration) -> str:
    names = list(dict.fromkeys([*gen.single_host, *gen.multi_host]))
    text = ", ".join(names)
    if gen.cube_rule:
        text += ", or AxBxC with every axis a multiple of 4"
    return text


@dataclass(frozen=True)
class TpuNodeConfig:
    """One VM's setting: the slice shape of its pool and the tessera pool name."""

    shape: TpuSliceShape
    pool_name: str


def slice_name(config: TpuNodeConfig, index: int) -> str:
    """Name of the TPU slice (= GKE node pool) that VM ``index`` of the pool belongs to."""
    return f"{config.pool_name}-slice-{index // config.shape.vms:02d}"


def host_index(config: TpuNodeConfig, index: int) -> int:
    """Position of VM ``index`` inside its slice (0 .. VMs per slice - 1)."""
    return index % config.shape.vms


def _unravel(position: int, extents: tuple[int, ...]) -> tuple[int, ...]:
    coords = []
    for extent in extents:
        coords.append(position % extent)
        position //= extent
    return tuple(coords)


def chip_coordinates(shape: TpuSliceShape, host: int, chip: int) -> tuple[int, ...]:
    """Coordinates of chip ``chip`` of VM ``host`` in the slice's chip grid."""
    grid = tuple(d // b for d, b in zip(shape.dims, shape.host_block, strict=True))
    block = _unravel(host, grid)
    local = _unravel(chip, shape.host_block)
    return tuple(bp * b + lp for bp, b, lp in zip(block, shape.host_block, local, strict=True))


def node_labels(config: TpuNodeConfig, index: int) -> dict[str, str]:
    """GKE TPU labels of VM ``index`` of the pool."""
    return {
        LABEL_ACCELERATOR: config.shape.generation.accelerator,
        LABEL_NODEPOOL: slice_name(config, index),
        LABEL_TOPOLOGY: config.shape.topology,
    }


def instance_attributes(
    node_name: str, config: TpuNodeConfig, index: int
) -> dict[str, dict[str, dict[str, Any]]]:
    """Node-dependent attributes of every chip device of VM ``index``: device name ->
    {``sliceName``, ``hostIndex``, ``x``, ``y``[, ``z``]}. ``node_name`` is accepted for symmetry
    with the NVIDIA driver; the values depend only on the VM's position in the pool."""
    del node_name
    host = host_index(config, index)
    name = slice_name(config, index)
    result: dict[str, dict[str, dict[str, Any]]] = {}
    for chip in range(config.shape.chips_per_vm):
        coords = chip_coordinates(config.shape, host, chip)
        attrs: dict[str, dict[str, Any]] = {
            "hostIndex": {"int": host},
            "sliceName": {"string": name},
        }
        for axis, value in zip("xyz", coords, strict=False):
            attrs[axis] = {"int": value}
        result[f"tpu-{chip}"] = attrs
    return result


def publish(node_name: str, config: TpuNodeConfig, index: int) -> list[dict[str, Any]]:
    """ResourceSlice bodies of VM ``index`` (named ``node_name``): one slice, a device per chip."""
    shape = config.shape
    per_chip = instance_attributes(node_name, config, index)
    devices = []
    for chip in range(shape.chips_per_vm):
        attrs: dict[str, dict[str, Any]] = {
            "acceleratorType": {"string": shape.generation.accelerator},
            "topology": {"string": shape.topology},
            "type": {"string": "tpu"},
            **per_chip[f"tpu-{chip}"],
        }
        devices.append(
            {
                "name": f"tpu-{chip}",
                "attributes": dict(sorted(attrs.items())),
                "capacity": {"memory": {"value": binary_quantity(shape.generation.hbm_gib * GIB)}},
            }
        )
    return [{"devices": sorted(devices, key=lambda d: str(d["name"]))}]
