"""The ``tessera`` command line (console script ``tessera = simulator.cli:main``).

This module only assembles the app: each command lives in its own module and is mounted
below with one import and one line (``app.add_typer(sub_app, name=...)`` for a group of
commands, ``app.command(name)(function)`` for a single one). Every command gets the error
policy of :class:`simulator.cli.errors.GuardedGroup` (bad input: one line on stderr, exit code 2;
unexpected errors: exit code 1 and a hint to rerun with ``--debug``).

``python -m simulator.cli`` runs the same app (``__main__.py``).
"""

from __future__ import annotations

from importlib import metadata
from typing import Annotated

import typer

from simulator.cli.cluster import cluster_app
from simulator.cli.dra import dra_app
from simulator.cli.errors import GuardedGroup
from simulator.cli.inflate import inflate
from simulator.cli.plan import plan
from simulator.cli.replay import replay
from simulator.cli.scenario import scenario_app
from simulator.cli.serve import serve

app = typer.Typer(
    name="tessera",
    cls=GuardedGroup,
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="markdown",
    help="Placement engine for AI serving and batch on Kubernetes accelerator clusters: DRA "
    "device allocation, topology-aware gangs, fragmentation-aware scoring, trace replay.",
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"tessera {metadata.version('tessera')}")
        raise typer.Exit


@app.callback()
def _root(
    debug: Annotated[
        bool,
        typer.Option(
            "--debug",
            help="Print the traceback of an error (also: environment TESSERA_DEBUG=1).",
        ),
    ] = False,
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """tessera: place AI serving and batch work on Kubernetes accelerator clusters.

    Errors in the input print one line naming the file, object, field and value, with exit
    code 2; an unexpected failure exits with 1 (rerun with --debug for the traceback).
    """
    del debug, version  # read from the context by the error policy / handled eagerly


# Commands: one import above and one line here each.
app.add_typer(cluster_app, name="cluster")
app.add_typer(dra_app, name="dra")
app.command("inflate")(inflate)
app.command("plan")(plan)
app.command("replay")(replay)
app.command("serve")(serve)
app.add_typer(scenario_app, name="scenario")


def main() -> None:
    """Console-script entry point."""
    app(prog_name="tessera")
