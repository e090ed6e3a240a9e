"""``tessera cluster``: build a simulated cluster from a spec, import a dump, show either.

Output files are what ``kubectl apply -f DIR`` accepts: one file per kind, multi-document YAML
(:data:`KIND_FILES`) or JSON streams, written all-or-nothing (``build`` streams node by node
through :func:`simulator.drivers.write.write_cluster`).
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from scheduler.api.loaders import dump_objects
from scheduler.api.meta import KubeObject
from scheduler.topology.domains import DEFAULT_LEVELS
from simulator.apiserver.cli import serve
from simulator.atomic import check_output_directory, write_files_atomic
from simulator.cli.common import FeatureGatesOption, feature_gates, parse_topology
from simulator.cli.errors import out_console
from simulator.cli.summary import render, summary_from_objects, summary_from_spec
from simulator.clusters import is_cluster_spec, load_cluster
from simulator.drivers.spec import load_cluster_spec
from simulator.drivers.write import KIND_FILES as WRITTEN_FILES
from simulator.drivers.write import write_cluster

KIND_FILES = WRITTEN_FILES["yaml"]
"""Kind -> output file name of ``import -o`` (YAML, as ``build`` writes by default)."""


cluster_app = typer.Typer(
    name="cluster",
    no_args_is_help=True,
    rich_markup_mode="markdown",
    help="Build a simulated cluster from a spec, import a real dump, or show either as a table.",
)

TopologyOption = Annotated[
    str | None,
    typer.Option(
        "--topology",
        metavar="KEY,KEY,...",
        help="Topology levels as node-label keys, outermost first (default: the spec's levels; "
        "for a dump zone, block, rack, hostname).",
        show_default=False,
    ),
]


class FormatOption(StrEnum):
    """Output formats of ``tessera cluster build``."""

    YAML = "yaml"
    JSON = "json"


@cluster_app.command("build")
def build(
    spec_path: Annotated[
        Path, typer.Argument(metavar="SPEC.yaml", help="A tessera ClusterSpec (traces/clusters/).")
    ],
    output: Annotated[
        Path,
        typer.Option("--output", "-o", metavar="DIR", help="Directory to write the objects into."),
    ],
    fmt: Annotated[
        FormatOption,
        typer.Option(
            "--format",
            help="yaml: multi-document YAML files; json: JSON streams, one object per line "
            "(much faster to write and to read back for big clusters).",
        ),
    ] = FormatOption.YAML,
) -> None:
    """Build a cluster spec into the Kubernetes objects its simulated DRA drivers publish.

    Input: a tessera.io/v1alpha1 ClusterSpec. Output: DIR/deviceclasses.yaml, DIR/nodes.yaml
    and DIR/resourceslices.yaml (multi-document YAML, resource.k8s.io/v1; with --format json
    the same names ending in .json, one object per line), ready for `kubectl apply -f DIR`,
    and a one-line summary. The files are written together or not at all; a kind with no
    objects gets no file (and loses the file of an earlier build in DIR). Nodes are built and
    written one at a time, so clusters of any size fit in memory.

    Example: tessera cluster build traces/clusters/two-rack-h100-dynamic-mig.yaml -o out/h100
    """
    check_output_directory(output, "--output")
    spec = load_cluster_spec(spec_path)
    written = write_cluster(spec, output, "json" if fmt is FormatOption.JSON else "yaml")
    typer.echo(
        f"cluster {written.name}: wrote {written.device_classes:,} DeviceClasses, "
        f"{written.nodes:,} Nodes, {written.resource_slices:,} ResourceSlices "
        f"({written.devices:,} devices) to {output}"
    )


def _show_dump(
    path: Path, levels: tuple[str, ...] | None, gates: dict[str, bool]
) -> list[KubeObject]:
    loaded = load_cluster(path, levels=levels, keep_objects=True, feature_gates=gates)
    summary = summary_from_objects(
        loaded.name, str(path), loaded.objects, levels or DEFAULT_LEVELS, gates
    )
    render(summary, out_console())
    return loaded.objects


@cluster_app.command("import")
def import_dump(
    dump: Annotated[
        Path,
        typer.Argument(
            metavar="DUMP",
            help="A file or directory of Kubernetes objects (YAML/JSON, multi-document or List).",
        ),
    ],
    topology: TopologyOption = None,
    gates: FeatureGatesOption = None,
    output: Annotated[
        Path | None,
        typer.Option(
            "--output",
            "-o",
            metavar="DIR",
            help="Also write the imported Nodes, DeviceClasses and ResourceSlices here, "
            "normalised to resource.k8s.io/v1, one file per kind.",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Import a real cluster dump and show it the way `cluster show` shows a spec.

    Input: what `kubectl get nodes,deviceclasses,resourceslices -o yaml` prints (a file, or a
    directory read recursively; v1beta1/v1beta2 DRA objects are converted to v1). Output: the
    cluster table (pools of identical nodes, accelerators, MIG mode, topology domains, feature
    gates); with -o, the objects as in `cluster build`.

    Example: kubectl get nodes,deviceclasses,resourceslices -o yaml > dump.yaml

    Example: tessera cluster import dump.yaml --topology
    topology.kubernetes.io/zone,kubernetes.io/hostname
    """
    if output is not None:
        check_output_directory(output, "--output")
    if is_cluster_spec(dump):
        raise ValueError(
            f"{dump}: is a tessera ClusterSpec, not a dump of Kubernetes objects; use "
            "`tessera cluster show` or `tessera cluster build`"
        )
    objects = _show_dump(dump, parse_topology(topology), feature_gates(gates))
    if output is None:
        return
    files = {}
    for kind, name in KIND_FILES.items():
        of_kind = [o for o in objects if o.kind == kind]
        if of_kind:
            files[name] = dump_objects(of_kind)
    write_files_atomic(output, files, replaces=KIND_FILES.values())
    typer.echo(f"wrote {sum(1 for o in objects if o.kind in KIND_FILES)} objects to {output}")


@cluster_app.command("show")
def show(
    source: Annotated[
        Path,
        typer.Argument(
            metavar="SPEC|DUMP", help="A tessera ClusterSpec, or a dump file or directory."
        ),
    ],
    topology: TopologyOption = None,
    gates: FeatureGatesOption = None,
) -> None:
    """Show a cluster spec or a dump as tables.

    Output: node pools (a spec's pools, or groups of identical nodes in a dump) with node
    count, CPU and memory, accelerator model, accelerators per node and in total, MIG mode
    (none, static, dynamic, shared) with devices per GPU; the number of topology domains per
    level; the DRA feature gates.

    Example: tessera cluster show traces/clusters/gb200-nvl72.yaml

    Example: tessera cluster show dump/ --topology topology.kubernetes.io/zone,nvidia.com/gpu.clique
    """
    levels = parse_topology(topology)
    if is_cluster_spec(source):
        spec = load_cluster_spec(source).with_feature_gates(feature_gates(gates))
        render(summary_from_spec(spec, str(source), levels), out_console())
        return
    _show_dump(source, levels, feature_gates(gates))


cluster_app.command("serve")(serve)
