"""Writing a built cluster to files, streamed node by node (``tessera cluster build``).

Output: one file per kind (:data:`KIND_FILES`), all-or-nothing
(:func:`simulator.atomic.staged_directory`):

* ``yaml`` — multi-document block YAML through libyaml's emitter (``CSafeDumper``), the
  same text a single ``yaml.dump_all`` of all objects gives;
* ``json`` — a JSON stream, one object per line (what ``kubectl apply -f`` accepts, and what
  tessera reads fastest), through orjson.

Nothing holds the whole cluster: each node's ResourceSlices are built and written before the
next node's. For pools whose only per-node values are the node name and string identifiers
(every NVIDIA layout), the text of a node's slices — JSON or YAML alike — is the pool
template's text with those values replaced in one pass (the template contract of
:mod:`simulator.drivers.build`), and the result is checked against the emitter's output for
the driver's own objects of the pool's first and last node before the pool is written. In
YAML a value is substituted only where PyYAML's emitter writes it, and every scalar it
lands in, as a bare word that reads back as a string (:func:`_yaml_plain`); a node with any
other value, the first document of a YAML file, and pools whose per-node values are not
strings (TPU chip coordinates are numbers) are written from their objects through the
emitter, so the file is byte for byte what one ``yaml.dump_all`` of all objects gives.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import lru_cache
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
        self._stream.write(_encode(objects, self._fmt, first=self.count == 0))
        self.count += len(objects)

    def raw(self, data: bytes, count: int) -> None:
        self._stream.write(data)
        self.count += count


def _encode(objects: list[dict[str, Any]], fmt: OutputFormat, *, first: bool) -> bytes:
    """The text ``objects`` take in an output file of ``fmt`` (``first``: at its start)."""
    if fmt == "json":
        return b"".join(orjson.dumps(o) + b"\n" for o in objects)
    text = yaml.dump_all(
        objects,
        Dumper=_Dumper,
        sort_keys=False,
        default_flow_style=False,
        allow_unicode=True,
        explicit_start=not first,
    )
    return text.encode()


_PLAIN_CHARS = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._/-]*\Z")
_STR_TAG = "tag:yaml.org,2002:str"
_RESOLVER = yaml.resolver.Resolver()


@lru_cache(maxsize=4096)
def _yaml_plain(value: str) -> bool:
    """Whether PyYAML's emitter writes ``value`` as the same bare word wherever it stands
    (as a key or a value): characters that are never indicators, no spaces (so no line
    folding), short enough for a simple key, and read back as a string."""
    if len(value) > 120 or not _PLAIN_CHARS.match(value):
        return False
    # PyYAML's resolver is untyped; it returns the tag string.
    tag: str = _RESOLVER.resolve(yaml.ScalarNode, value, (True, False))  # type: ignore[no-untyped-call]
    return tag == _STR_TAG


def _scalars_with(objects: object, needle: str) -> set[str]:
    """Every string key or value inside ``objects`` that contains ``needle``."""
    found: set[str] = set()
    work = [objects]
    while work:
        item = work.pop()
        if isinstance(item, dict):
            found.update(k for k in item if isinstance(k, str) and needle in k)
            work.extend(item.values())
        elif isinstance(item, list):
            work.extend(item)
        elif isinstance(item, str) and needle in item:
            found.add(item)
    return found


def _stamper(builder: PoolBuilder, fmt: OutputFormat) -> Callable[[str], bytes | None] | None:
    """Per-node text of a pool's slices by substitution into the template's text (see the
    module docstring), or None when the pool's per-node values are not all strings that
    occur only where the template contract puts them.

    The stamp of a node is None when one of its values cannot be substituted as text (for
    YAML: a value the emitter would not write as a bare word); that node is then written
    from its objects.
    """
    template, attributes = builder.template()
    if not template:
        return None
    text = _encode(template, fmt, first=False).decode()
    names = builder.node_names()
    slots = [(device, name) for device, values in attributes(names[0]).items() for name in values]
    in_template = {
        d["name"]: d.get("attributes", {}) for s in template for d in s["spec"].get("devices") or []
    }
    own: dict[tuple[str, str], str] = {}
    uses: dict[str, int] = {}
    for device, name in slots:
        typed = in_template.get(device, {}).get(name)
        if not isinstance(typed, dict) or len(typed) != 1:
            return None
        ((kind, value),) = typed.items()
        if kind != "string" or not isinstance(value, str) or not value:
            return None
        own[device, name] = value
        uses[value] = uses.get(value, 0) + 1

    def token(value: str) -> str | None:
        if fmt == "json":
            return orjson.dumps(value).decode()
        return value if _yaml_plain(value) else None

    tokens: dict[str, str] = {}
    for value, count in uses.items():
        encoded = token(value)
        if encoded is None or text.count(encoded) != count:
            return None
        tokens[value] = encoded
    if text.count(PLACEHOLDER_NODE) != 3 * len(template) or PLACEHOLDER_NODE in tokens:
        return None
    # the scalars the node name is substituted into, checked per node for YAML
    named = sorted(_scalars_with(template, PLACEHOLDER_NODE)) if fmt == "yaml" else []
    # the template text as literal pieces around the token occurrences (found once)
    keys = [PLACEHOLDER_NODE, *sorted(tokens.values(), key=len, reverse=True)]
    pieces: list[str] = []
    gaps: list[str] = []  # the token at each gap between pieces
    position = 0
    for match in re.finditer("|".join(re.escape(k) for k in keys), text):
        pieces.append(text[position : match.start()])
        gaps.append(match.group(0))
        position = match.end()
    pieces.append(text[position:])

    def stamp(node: str) -> bytes | None:
        if fmt == "json":
            if orjson.dumps(node).decode()[1:-1] != node:
                return None
        elif not all(_yaml_plain(s.replace(PLACEHOLDER_NODE, node)) for s in named):
            return None
        table = {PLACEHOLDER_NODE: node}
        mine = attributes(node)
        for (device, name), value in own.items():
            encoded = token(mine[device][name]["string"])
            if encoded is None:
                return None
            if table.setdefault(tokens[value], encoded) != encoded:
                return None
        out = [*pieces, *pieces[:-1]]
        out[0::2] = pieces
        out[1::2] = [table[token] for token in gaps]
        return "".join(out).encode()

    for index in {0, len(names) - 1}:
        expected = _encode(builder.slices(names[index], index), fmt, first=False)
        if stamp(names[index]) != expected:
            return None
    return stamp


def _pool_slices(
    builder: PoolBuilder, *, stamped: bool
) -> Iterator[tuple[str, int, list[dict[str, Any]]]]:
    """Each node of the pool with its slices (left empty for a stamped pool: built only when
    a node's stamp fails)."""
    for index, name in enumerate(builder.node_names()):
        yield name, index, [] if stamped else builder.slices(name, index)


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
                stamp = _stamper(builder, fmt)
                template = builder.template()[0] if stamp is not None else []
                per_node = sum(len(s["spec"].get("devices") or []) for s in template)
                for name, index, built in _pool_slices(builder, stamped=stamp is not None):
                    # a YAML file's first document has no "---": written from its objects
                    data = stamp(name) if stamp is not None and sink.count else None
                    if data is not None:
                        sink.raw(data, len(template))
                        devices += per_node
                        continue
                    objects = builder.slices(name, index) if stamp is not None else built
                    sink.objects(objects)
                    devices += sum(len(s["spec"].get("devices") or []) for s in objects)
        if sink.count == 0:
            slices_path.unlink()
    return WrittenCluster(spec.metadata.name, len(classes), len(nodes), sink.count, devices)
