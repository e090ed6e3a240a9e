"""The error policy every ``tessera`` command shares, and the console commands print to.

Error policy (:class:`GuardedGroup`, used as the ``cls`` of the root app and of every
sub-app that may run on its own): a command body raises, the group decides what the user sees.

* bad input — :data:`BAD_INPUT`: ``ValueError`` and its subclasses (``LoadError``,
  ``CaseFileError``, pydantic ``ValidationError``, without URLs), ``OSError``
  (``FileNotFoundError``, permissions, a full disk: the user's path is named) and
  ``RecursionError`` (input nested past what the readers' depth guards catch) — one line
  ``error: <message>`` on stderr, exit code 2;
* anything else — ``error: unexpected <Type>: <message>`` plus a hint to rerun with
  ``--debug``, exit code 1;
* with ``tessera --debug`` (or ``TESSERA_DEBUG=1``) the traceback is printed as well;
* usage errors (an unknown option, ``--seed abc``, a missing argument) print one line
  ``error: <message> (see <command> --help)``, exit code 2 — no usage box;
* typer/click signals (``typer.Exit``, ``Abort``, help for a bare group) pass through untouched;
* signals: SIGINT (Ctrl-C, ``KeyboardInterrupt``) that reaches the group exits with 130 and
  SIGTERM (raised as :class:`Terminated` while a command runs) with 143, after the stack has
  unwound — every output in progress is removed on the way (:mod:`simulator.atomic`) and
  worker pools are stopped by their owners. Commands for which Ctrl-C is the normal way out
  (``cluster serve``, ``replay --linger``) catch it themselves and exit 0.

Commands never write partial output files: they write to a temporary name and rename, so the
policy only has to report.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import typer
from pydantic import ValidationError
from rich.console import Console
from typer.core import TyperGroup

from scheduler.api.errors import LoadError
from scheduler.dra.cases import CaseFileError

__all__ = [
    "BAD_INPUT",
    "EXIT_BAD_INPUT",
    "EXIT_FAILED",
    "GuardedGroup",
    "Terminated",
    "error_line",
    "out_console",
]

BAD_INPUT: tuple[type[Exception], ...] = (
    LoadError,
    CaseFileError,
    ValidationError,
    ValueError,
    OSError,
    RecursionError,
)
"""Exceptions that mean "the user's input is wrong": exit code 2, one line, no traceback."""

EXIT_FAILED = 1
EXIT_BAD_INPUT = 2
EXIT_SIGINT = 128 + signal.SIGINT
EXIT_SIGTERM = 128 + signal.SIGTERM


class Terminated(BaseException):
    """Raised in the main thread when SIGTERM arrives while a command runs, so that the
    stack unwinds (removing partial outputs) instead of the process dying on the spot."""


def _raise_terminated(signum: int, frame: object) -> None:
    raise Terminated(signum)


@contextmanager
def sigterm_raises() -> Iterator[None]:
    """While the block runs (main thread only), SIGTERM raises :class:`Terminated`."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


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
    if isinstance(exc, RecursionError):
        return "the input nests too deeply to read (Python's recursion limit); at most 100 levels"
    format_message = getattr(exc, "format_message", None)
    if callable(format_message):  # a click exception
        return " ".join(str(format_message()).split())
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


def _is_usage_error(exc: BaseException) -> bool:
    """A click usage error (bad option value, unknown option, missing argument), but not the
    help a bare group prints. By class name: typer may vendor its own copy of click."""
    names = {cls.__name__ for cls in type(exc).__mro__}
    return "UsageError" in names and "NoArgsIsHelpError" not in names


def _usage_line(exc: Exception) -> typer.Exit:
    """Print a usage error as one line; the exit to raise (code 2)."""
    ctx = getattr(exc, "ctx", None)
    where = ctx.command_path if ctx is not None else "tessera"
    typer.echo(f"error: {error_line(exc)} (see `{where} --help`)", err=True)
    return typer.Exit(EXIT_BAD_INPUT)


class GuardedGroup(TyperGroup):
    """A command group that applies the module's error policy to every command below it."""

    def make_context(
        self, info_name: str | None, args: list[str], parent: Any = None, **extra: Any
    ) -> Any:
        """Parse the group's own options; a usage error there is one line, exit code 2."""
        try:
            return super().make_context(info_name, args, parent=parent, **extra)
        except Exception as exc:
            if _is_usage_error(exc):
                raise _usage_line(exc) from None
            raise

    def invoke(self, ctx: Any) -> Any:
        """Run the selected command; map its exceptions to exit codes (see the module doc)."""
        try:
            with sigterm_raises():
                return super().invoke(ctx)
        except KeyboardInterrupt:
            typer.echo("error: interrupted (SIGINT); no output was left half-written", err=True)
            raise typer.Exit(EXIT_SIGINT) from None
        except Terminated:
            typer.echo("error: terminated (SIGTERM); no output was left half-written", err=True)
            raise typer.Exit(EXIT_SIGTERM) from None
        except Exception as exc:
            if _is_usage_error(exc):
                raise _usage_line(exc) from None
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
