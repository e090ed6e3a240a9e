"""``tessera dra``: DRA device allocation with kube-scheduler 1.35 semantics, case by case."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from scheduler.dra.cases import Case, CaseFileError, compare, load_case, outcome_json, run_case
from simulator.cli.common import FeatureGatesOption, feature_gates
from simulator.cli.errors import EXIT_FAILED, GuardedGroup, error_line, out_console
from simulator.jsonout import json_text

dra_app = typer.Typer(
    name="dra",
    cls=GuardedGroup,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode="markdown",
    help="DRA device allocation with kube-scheduler 1.35 semantics, one case at a time.",
)


def _with_gates(case: Case, gates: dict[str, bool]) -> Case:
    """The case with ``--feature-gates`` over its ``features`` list."""
    return replace(case, features=case.features.with_gates(gates)) if gates else case


def _allocate_one(path: Path, gates: dict[str, bool]) -> None:
    case = _with_gates(load_case(path), gates)
    printed = outcome_json(case, run_case(case))
    typer.echo(json_text(printed, f"{path}: answer", sort_keys=False).rstrip("\n"))


def _check_directory(directory: Path, gates: dict[str, bool]) -> bool:
    """Run every case of ``directory``; print the table; True when all pass."""
    if not directory.is_dir():
        raise ValueError(f"--check {directory}: not a directory")
    paths = sorted(directory.glob("*.yaml"))
    if not paths:
        raise ValueError(f"--check {directory}: no *.yaml case files")
    table = Table(title=f"DRA cases in {directory}")
    for column in ("case", "result", "outcome", "expected", "problems"):
        table.add_column(column, overflow="fold")
    failed = 0
    for path in paths:
        try:
            case = _with_gates(load_case(path), gates)
        except CaseFileError as exc:
            failed += 1
            table.add_row(path.stem, "[red]FAIL[/]", "-", "-", error_line(exc))
            continue
        printed = outcome_json(case, run_case(case))
        problems = compare(case, printed)
        failed += bool(problems)
        result = "[red]FAIL[/]" if problems else "[green]pass[/]"
        expected = str(case.expect.get("outcome", "-"))
        table.add_row(path.stem, result, printed["outcome"], expected, "\n".join(problems))
    console = out_console()
    console.print(table)
    passed = len(paths) - failed
    console.print(f"{len(paths)} cases: {passed} passed, {failed} failed")
    return failed == 0


@dra_app.command("allocate")
def allocate(
    case: Annotated[
        Path | None,
        typer.Argument(
            metavar="CASE.yaml",
            help="A DRA case file (YAML: node, deviceClasses, resourceSlices, claims, ...).",
            show_default=False,
        ),
    ] = None,
    check: Annotated[
        Path | None,
        typer.Option(
            "--check",
            metavar="DIR",
            help="Run every *.yaml case in DIR against its `expect` instead.",
            show_default=False,
        ),
    ] = None,
    gates: FeatureGatesOption = None,
) -> None:
    """Allocate the claims of one pod on one node, exactly as kube-scheduler's DRA Filter would.

    Input: a DRA case file (the format of tests/conformance/README.md): the node, the
    DeviceClasses, the ResourceSlices, devices already allocated, the feature gates and the
    pod's ResourceClaims (--feature-gates turns gates on or off over the file's `features`).
    Output: one JSON object on stdout with `outcome` (allocated,
    unschedulable or error), `message`, `errorScope` (null, node or fatal) and `results` (per
    claim: devices, nodeSelector, config). Exit code 0 for every outcome; 2 when the file cannot
    be read or is not a case file.

    With --check DIR every *.yaml in DIR runs and is compared with its `expect`: a pass/fail
    table and a summary are printed; exit code 1 if any case fails.

    Example: tessera dra allocate tests/conformance/dra/002-other-node.yaml

    Example: tessera dra allocate --check tests/conformance/dra
    """
    overrides = feature_gates(gates)
    if case is not None and check is None:
        _allocate_one(case, overrides)
    elif check is not None and case is None:
        if not _check_directory(check, overrides):
            raise typer.Exit(EXIT_FAILED)
    else:
        raise ValueError("dra allocate: give exactly one of CASE.yaml or --check DIR")
