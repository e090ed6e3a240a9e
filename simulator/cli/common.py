"""Helpers shared by the ``tessera`` commands: shipped traces and common options.

(Every file a command writes goes through :mod:`simulator.atomic`.)
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

import simulator
from scheduler.dra.features import parse_feature_gates
from simulator.drivers.spec import check_label_key

TRACES_DIR = "traces"


def repo_root() -> Path | None:
    """The checkout holding the installed ``simulator`` package: the nearest directory above
    the package that contains a ``traces/`` data directory (not the ``simulator.traces``
    Python package); None when there is none (an installed wheel)."""
    package = Path(simulator.__file__).resolve().parent
    for directory in package.parents:
        traces = directory / TRACES_DIR
        if traces.is_dir() and not (traces / "__init__.py").exists():
            return directory
    return None


def shipped_file(relative: str, option: str) -> Path:
    """A file shipped in the repository (``traces/...``), for an option left at its default.

    ValueError naming the option when the repository or the file cannot be found.
    """
    root = repo_root()
    if root is None:
        raise ValueError(
            f"{option} not given and no tessera checkout with {TRACES_DIR}/ was found above "
            f"{Path(simulator.__file__).resolve().parent}; pass {option} PATH"
        )
    path = root / relative
    if not path.is_file():
        raise ValueError(f"{option} not given and the shipped {path} is missing; pass {option}")
    return path


def parse_topology(text: str | None) -> tuple[str, ...] | None:
    """``--topology KEY,KEY,...`` as a tuple of label keys (None when not given).

    ValueError naming the option and the offending key for an empty or invalid key.
    """
    if text is None:
        return None
    keys = tuple(part.strip() for part in text.split(","))
    for key in keys:
        if not key:
            raise ValueError(f"--topology {text!r}: empty label key")
        try:
            check_label_key(key)
        except ValueError as exc:
            raise ValueError(f"--topology: {exc}") from None
    if len(set(keys)) != len(keys):
        raise ValueError(f"--topology {text!r}: a level is repeated")
    return keys


FeatureGatesOption = Annotated[
    str | None,
    typer.Option(
        "--feature-gates",
        metavar="Name=BOOL,...",
        help="DRA feature gates in kube-scheduler's flag syntax, e.g. "
        "`DRAConsumableCapacity=true,DRADeviceTaints=false`: they override the cluster spec's "
        "featureGates and its Kubernetes version's defaults (1.35's for a dump). Only the DRA "
        "gates tessera models are accepted.",
        show_default=False,
    ),
]
"""``--feature-gates`` of the commands that load a cluster or run the allocator."""


def feature_gates(text: str | None) -> dict[str, bool]:
    """``--feature-gates`` as a gate map (empty when not given); ValueError naming the option."""
    return {} if text is None else parse_feature_gates(text)


ConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--config",
        metavar="FILE",
        help="A KubeSchedulerConfiguration (kubescheduler.config.k8s.io/v1): profiles, "
        "plugins per extension point, weights, pluginConfig (see docs/configuration.md). "
        "Instead of --policy.",
        show_default=False,
    ),
]
"""``--config FILE`` of the commands that schedule (replay, inflate)."""


def policy_or_config(policy: str | None, config: Path | None, default: str) -> str:
    """The policy to run when no ``--config`` is given (``default`` if neither option is).

    ``--policy`` and ``--config`` are alternatives: ValueError when both are given.
    """
    if policy is not None and config is not None:
        raise ValueError("--policy and --config: give one of them (a policy is a shipped config)")
    return policy if policy is not None else default
