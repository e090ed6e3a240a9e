"""``tessera replay --extender FILE [--extender-sync URL]``: the options, ready to mount.

The replay command adds the two parameters (:data:`ExtenderOption`,
:data:`ExtenderSyncOption`) and passes what :func:`extender_setup` returns as
``ReplayConfig.kube_scheduler``. Bad input raises ``ValueError`` (a ``LoadError`` for the
file) naming the option, which the CLI prints as one line with exit code 2.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Annotated
from urllib.parse import urlsplit

import typer

from simulator.kubescheduler.session import ExtenderSetup, load_extender_setup

__all__ = ["ExtenderOption", "ExtenderSyncOption", "extender_setup"]

ExtenderOption = Annotated[
    Path | None,
    typer.Option(
        "--extender",
        metavar="FILE",
        help="Play kube-scheduler 1.35 with the HTTP extenders of FILE, a "
        "KubeSchedulerConfiguration (its `extenders:` list and percentageOfNodesToScore): "
        "each lone pod goes through kube-scheduler's cycle — percentageOfNodesToScore "
        "sampling, the extenders' filter, prioritize (score x weight x 10) and preempt, "
        "their bind verb after PreBind — over HTTP. With --api-port the extender can watch "
        "the replay's cluster and POST bindings to it. Summary: an `extenders` section.",
        show_default=False,
    ),
]
ExtenderSyncOption = Annotated[
    str | None,
    typer.Option(
        "--extender-sync",
        metavar="URL",
        help="With --extender and --api-port: before each scheduling cycle that follows a "
        "change, GET URL?resourceVersion=N and wait for a 200, i.e. until the webhook's "
        "informers have seen the served API up to N (docs/extender.md).",
        show_default=False,
    ),
]


def extender_setup(
    extender: Path | None, extender_sync: str | None, api_port: int | None
) -> ExtenderSetup | None:
    """The replay's kube-scheduler setting from the two options (None without
    ``--extender``). ValueError when ``--extender-sync`` comes without ``--extender`` or
    ``--api-port``, or is not an http(s) URL; LoadError for a bad FILE."""
    if extender_sync is not None:
        if extender is None:
            raise ValueError("--extender-sync: only with --extender")
        if api_port is None:
            raise ValueError(
                "--extender-sync: only with --api-port (the webhook must watch the served API)"
            )
        parts = urlsplit(extender_sync)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"--extender-sync {extender_sync!r}: expected an http(s) URL")
    if extender is None:
        return None
    setup = load_extender_setup(extender)
    return dataclasses.replace(setup, sync_url=extender_sync)
