"""The scheduler's own commands and the error policy every ``tessera`` command shares.

``simulator/cli.py`` builds the ``tessera`` app and mounts :data:`dra_app` (and, later, the
webhook's ``serve``); this module never imports ``simulator/``.

Error policy (:class:`GuardedGroup`, used as the ``cls`` of the root app and of every
sub-app that may run on its own): a command body raises, the group decides what the user sees.

* bad input — :data:`BAD_INPUT`: ``ValueError`` and its subclasses (``LoadError``,
  ``CaseFileError``, pydantic ``ValidationError``) and ``OSError`` (``FileNotFoundError``,
  permissions) — one line ``error: <message>`` on stderr, exit code 2;
* anything else — ``error: unexpected <Type>: <message>`` plus a hint to rerun with
  ``--debug``, exit code 1;
* with ``tessera --debug`` (or ``TESSERA_DEBUG=1``) the traceback is printed as well;
* typer/click signals (``typer.Exit``, usage errors, ``Abort``) pass through untouched.

Commands never write partial output files: they write to a temporary name and rename, so the
policy only has to report.
"""

from __future__ import annotations

import json
import os
import sys
import traceback
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.table import Table
from typer.core import TyperGroup

from scheduler.api.errors import LoadError
from scheduler.dra.cases import CaseFileError, compare, load_case, outcome_json, run_case

__all__ = [
    "BAD_INPUT",
    "GuardedGroup",
    "dra_app",
    "error_line",
    "out_console",
]

BAD_INPUT: tuple[type[Exception], ...] = (
    LoadError,
    CaseFileError,
    ValidationError,
    ValueError,
    OSError,
)
"""Exceptions that mean "the user's input is wrong": exit code 2, one line, no traceback."""

EXIT_FAILED = 1
EXIT_BAD_INPUT = 2
_DEBUG_ENV = "TESSERA_DEBUG"


def out_console() -> Console:
    """A console on the current stdout for tables; wide when stdout is not a terminal.

    Created per command call (tests swap ``sys.stdout``); piped output is not wrapped at
    80 columns so that pool names and problems stay on one line.
    """
    terminal = sys.stdout.isatty()
    return Console(file=sys.stdout, highlight=False, width=None if terminal else 160)


def _validation_line(exc: ValidationError) -> str:
    parts = []
    for error in exc.errors(include_url=False):
        loc = ".".join(str(p) for p in error["loc"])
        shown = repr(error.get("input"))
        got = f" (got {shown})" if len(shown) <= 60 else ""
        parts.append(f"{loc}: {error['msg']}{got}" if loc else f"{error['msg']}{got}")
    return f"{exc.title}: " + "; ".join(parts)


def error_line(exc: BaseException) -> str:
    """The exception as one line: multi-line messages are joined with ``; ``."""
    if isinstance(exc, ValidationError):
        return _validation_line(exc)
    if isinstance(exc, OSError) and exc.strerror:
        where = exc.filename if exc.filename is not None else ""
        return f"{where}: {exc.strerror}" if where else exc.strerror
    text = ""
    for line in (raw.strip() for raw in str(exc).splitlines()):
        if line:
            text += line if not text else (" " if text.endswith(":") else "; ") + line
    return text or type(exc).__name__


def _debug_enabled(ctx: Any) -> bool:
    if os.environ.get(_DEBUG_ENV, "").lower() in ("1", "true", "yes"):
        return True
    root = ctx.find_root()
    return bool(root.params.get("debug", False))


def _is_cli_signal(exc: BaseException) -> bool:
    """typer/click control flow: exits, aborts and usage errors (which carry their own code)."""
    if isinstance(exc, typer.Exit | typer.Abort | BrokenPipeError):
        return True
    return callable(getattr(exc, "show", None)) and isinstance(getattr(exc, "exit_code", None), int)


class GuardedGroup(TyperGroup):
    """A command group that applies the module's error policy to every command below it."""

    def invoke(self, ctx: Any) -> Any:
        """Run the selected command; map its exceptions to exit codes (see the module doc)."""
        try:
            return super().invoke(ctx)
        except Exception as exc:
            if _is_cli_signal(exc):
                raise
            bad_input = isinstance(exc, BAD_INPUT)
            if _debug_enabled(ctx):
                traceback.print_exception(exc, file=sys.stderr)
            if bad_input:
                typer.echo(f"error: {error_line(exc)}", err=True)
                raise typer.Exit(EXIT_BAD_INPUT) from None
            typer.echo(
                f"error: unexpected {type(exc).__name__}: {error_line(exc)} "
                "(rerun with `tessera --debug ...` to see the traceback)",
                err=True,
            )
            raise typer.Exit(EXIT_FAILED) from None


# -- tessera dra ----------------------------------------------------------------------------------

dra_app = typer.Typer(
    name="dra",
    cls=GuardedGroup,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode="markdown",
    help="DRA device allocation with kube-scheduler 1.35 semantics, one case at a time.",
)


def _allocate_one(path: Path) -> None:
    case = load_case(path)
    printed = outcome_json(case, run_case(case))
    typer.echo(json.dumps(printed, indent=2))


def _check_directory(directory: Path) -> bool:
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
            case = load_case(path)
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
) -> None:
    """Allocate the claims of one pod on one node, exactly as kube-scheduler's DRA Filter would.

    Input: a DRA case file (the format of tests/conformance/README.md): the node, the
    DeviceClasses, the ResourceSlices, devices already allocated, the feature gates and the
    pod's ResourceClaims. Output: one JSON object on stdout with `outcome` (allocated,
    unschedulable or error), `message`, `errorScope` (null, node or fatal) and `results` (per
    claim: devices, nodeSelector, config). Exit code 0 for every outcome; 2 when the file cannot
    be read or is not a case file.

    With --check DIR every *.yaml in DIR runs and is compared with its `expect`: a pass/fail
    table and a summary are printed; exit code 1 if any case fails.

    Example: tessera dra allocate tests/conformance/dra/002-other-node.yaml

    Example: tessera dra allocate --check tests/conformance/dra
    """
    if case is not None and check is None:
        _allocate_one(case)
    elif check is not None and case is None:
        if not _check_directory(check):
            raise typer.Exit(EXIT_FAILED)
    else:
        raise ValueError("dra allocate: give exactly one of CASE.yaml or --check DIR")
