"""Writing a built cluster to files, streamed node by node (``tessera cluster build``).

Output: one file per kind (:data:`KIND_FILES`), all-or-nothing
(:func:`simulator.atomic.staged_directory`):

* ``yaml`` — multi-document YAML through libyaml's emitter (``CSafeDumper``), the same text a
  single ``yaml.dump_all`` of all objects gives;
* ``json`` — a JSON stream, one object per line (what ``kubectl apply -f`` accepts, and what
  tessera reads fastest), through orjson.

Nothing holds the whole cluster: each node's ResourceSlices are built and written before the
next node's. For pools whose only per-node values are the node name and string identifiers
(every NVIDIA layout), the JSON of a node's slices is the pool template's JSON with those
values replaced — the template contract of :mod:`simulator.drivers.build` — and the result
is checked against the driver's own output for the pool's first and last node before the
pool is written; other pools (TPU chip coordinates are numbers) are built node by node.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Literal

import orjson
import yaml

from simulator.atomic import staged_directory
from simulator.drivers.build import (
    PLACEHOLDER_NODE,
    PoolBuilder,
    check_topology_nesting,
    pool_builders,
)
from simulator.drivers.classes import device_classes
from simulator.drivers.spec import ClusterSpec

__all__ = ["KIND_FILES", "OutputFormat", "WrittenCluster", "write_cluster"]

OutputFormat = Literal["yaml", "json"]

KIND_FILES: dict[OutputFormat, dict[str, str]] = {
    "yaml": {
        "DeviceClass": "deviceclasses.yaml",
        "Node": "nodes.yaml",
        "ResourceSlice": "resourceslices.yaml",
    },
    "json": {
        "DeviceClass": "deviceclasses.json",
        "Node": "nodes.json",
        "ResourceSlice": "resourceslices.json",
    },
}
"""Format -> kind -> file name; files are applied in name order, DeviceClasses first."""

_Dumper: type[yaml.SafeDumper] = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


@dataclass(frozen=True, slots=True)
class WrittenCluster:
    """What :func:`write_cluster` wrote."""

    name: str
    device_classes: int
    nodes: int
    resource_slices: int
    devices: int


class _Sink:
    """One output file: objects appended as YAML documents or JSON lines."""

    def __init__(self, stream: IO[bytes], fmt: OutputFormat) -> None:
        self._stream = stream
        self._fmt = fmt
        self.count = 0

    def objects(self, objects: list[dict[str, Any]]) -> None:
        if not objects:
            return
        if self._fmt == "json":
            self._stream.write(b"".join(orjson.dumps(o) + b"\n" for o in objects))
        else:
            text = yaml.dump_all(
                objects,
                Dumper=_Dumper,
                sort_keys=False,
                default_flow_style=False,
                allow_unicode=True,
                explicit_start=self.count > 0,
            )
            self._stream.write(text.encode())
        self.count += len(objects)

    def raw(self, data: bytes, count: int) -> None:
        self._stream.write(data)
        self.count += count


def _json_stamper(builder: PoolBuilder) -> Callable[[str], bytes] | None:
    """Per-node JSON lines of a pool's slices by substitution into the template's JSON, or
    None when the pool's per-node values are not all strings that occur only where the
    template contract puts them."""
    template, attributes = builder.template()
    if not template:
        return None
    text = b"".join(orjson.dumps(s) + b"\n" for s in template).decode()
    names = builder.node_names()
    slots = [(device, name) for device, values in attributes(names[0]).items() for name in values]
    in_template = {
        d["name"]: d.get("attributes", {}) for s in template for d in s["spec"].get("devices") or []
    }
    own: dict[tuple[str, str], str] = {}
    tokens: dict[str, int] = {}
    for device, name in slots:
        typed = in_template.get(device, {}).get(name)
        if not isinstance(typed, dict) or len(typed) != 1:
            return None
        ((kind, value),) = typed.items()
        if kind != "string" or not isinstance(value, str) or not value:
            return None
        own[device, name] = value
        tokens[value] = tokens.get(value, 0) + 1
    for value, uses in tokens.items():
        if text.count(orjson.dumps(value).decode()) != uses:
            return None
    if text.count(PLACEHOLDER_NODE) != 3 * len(template):
        return None

    def stamp(node: str) -> bytes:
        out = text.replace(PLACEHOLDER_NODE, node)
        mine = attributes(node)
        done: set[str] = set()
        for (device, name), value in own.items():
            if value in done:
                continue
            done.add(value)
            out = out.replace(
                orjson.dumps(value).decode(), orjson.dumps(mine[device][name]["string"]).decode()
            )
        return out.encode()

    for index in {0, len(names) - 1}:
        expected = b"".join(orjson.dumps(s) + b"\n" for s in builder.slices(names[index], index))
        if stamp(names[index]) != expected:
            return None
    return stamp


def _pool_slices(builder: PoolBuilder) -> Iterator[tuple[str, int, list[dict[str, Any]]]]:
    for index, name in enumerate(builder.node_names()):
        yield name, index, builder.slices(name, index)


def write_cluster(spec: ClusterSpec, directory: Path, fmt: OutputFormat = "yaml") -> WrittenCluster:
    """Build ``spec`` into ``directory`` (see the module docstring). ValueError for a spec
    whose topology levels do not nest (checked before anything is written)."""
    builders = pool_builders(spec)
    nodes = [b.node(n, i) for b in builders for i, n in enumerate(b.node_names())]
    check_topology_nesting(nodes, spec.topology.levels)
    classes = device_classes()
    files = KIND_FILES[fmt]
    replaces = [name for table in KIND_FILES.values() for name in table.values()]
    devices = 0
    with staged_directory(directory, replaces=replaces) as stage:
        if classes:
            with (stage / files["DeviceClass"]).open("wb") as stream:
                _Sink(stream, fmt).objects(classes)
        if nodes:
            with (stage / files["Node"]).open("wb") as stream:
                _Sink(stream, fmt).objects(nodes)
        slices_path = stage / files["ResourceSlice"]
        with slices_path.open("wb") as stream:
            sink = _Sink(stream, fmt)
            for builder in builders:
                stamp = _json_stamper(builder) if fmt == "json" else None
                if stamp is not None:
                    template = builder.template()[0]
                    count = len(template)
                    per_node = sum(len(s["spec"].get("devices") or []) for s in template)
                    for name in builder.node_names():
                        sink.raw(stamp(name), count)
                        devices += per_node
                    continue
                for _, _, objects in _pool_slices(builder):
                    sink.objects(objects)
                    devices += sum(len(s["spec"].get("devices") or []) for s in objects)
        if sink.count == 0:
            slices_path.unlink()
    return WrittenCluster(spec.metadata.name, len(classes), len(nodes), sink.count, devices)
