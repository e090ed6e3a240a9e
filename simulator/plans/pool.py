"""Running many independent simulations: a local process pool, the runner protocol, progress.

Who calls: ``tessera plan`` (every replay of a point is one task) and ``tessera inflate`` (a
policy x seed matrix, one task per run). :class:`LocalPool` is the default runner;
:class:`simulator.plans.ray_backend.RayRunner` runs the same tasks as Ray tasks.

Contract of a runner (:class:`Runner`): ``map(fn, tasks)`` calls ``fn(task, report)`` once per
task somewhere else and returns the results **in the order of ``tasks``**, whatever order they
finished in; ``report(step, total)`` lets a task tell its progress (``on_step``), and
``on_done(index)`` is called in the parent as each task finishes. ``fn`` must be a
module-level function and tasks and results picklable. The first task that raises makes
``map`` stop the other tasks and re-raise that exception in the caller.

:class:`LocalPool` keeps ``workers`` processes for its lifetime (a plan's points reuse them).
Workers ignore SIGINT: Ctrl-C in a terminal reaches the whole process group, and only the
parent decides — on ``KeyboardInterrupt`` (or any error) it terminates and joins every worker
before the exception goes on, so no worker outlives the command. Workers are daemonic too,
so an exiting parent takes them with it.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import pickle
import queue
import signal
import sys
from collections.abc import Callable, Sequence
from types import TracebackType
from typing import Any, Protocol, TypeVar

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
)

__all__ = [
    "LocalPool",
    "Report",
    "Runner",
    "TaskFailed",
    "progress_bar",
    "stderr_console",
]

T = TypeVar("T")
R = TypeVar("R")
Report = Callable[[int, int], None]
"""``report(step, total)``: a task's progress."""
_POLL_SECONDS = 0.2


class TaskFailed(RuntimeError):
    """A task raised an exception that could not be sent back as itself."""


class Runner(Protocol):
    """Runs tasks elsewhere (see the module docstring)."""

    def map(
        self,
        fn: Callable[[T, Report], R],
        tasks: Sequence[T],
        *,
        on_step: Callable[[int, int, int], None] | None = None,
        on_done: Callable[[int], None] | None = None,
    ) -> list[R]:
        """``[fn(task, report) for task in tasks]``, computed elsewhere."""
        ...

    def close(self) -> None:
        """Release the workers."""
        ...

    @property
    def description(self) -> str:
        """Where the tasks run, in words (for the report)."""
        ...


def stderr_console() -> Console:
    """The console progress bars draw on."""
    return Console(file=sys.stderr)


def progress_bar(console: Console | None = None) -> Progress:
    """A transient rich progress bar (drawn only on a terminal)."""
    console = console or stderr_console()
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
        disable=not console.is_terminal,
    )


def _portable(exc: BaseException) -> BaseException:
    """``exc`` if it survives pickling, else a TaskFailed carrying its type and message."""
    try:
        pickle.loads(pickle.dumps(exc))
    except Exception:
        return TaskFailed(f"{type(exc).__name__}: {exc}")
    return exc


def _worker_main(tasks: Any, results: Any) -> None:
    """A worker: run ``(batch, index, fn, task)`` items until ``None``.

    Signals are the parent's business: Ctrl-C (SIGINT to the whole process group) is
    ignored here, and SIGTERM (from :meth:`LocalPool.terminate`, or sent to the group) ends
    the worker at once, silently, instead of running the handler inherited from the CLI
    (which unwinds with a traceback in a process that has no one to report to)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    while True:
        item = tasks.get()
        if item is None:
            return
        batch, index, fn, task = item

        def report(step: int, total: int, batch: int = batch, index: int = index) -> None:
            results.put(("step", batch, index, step, total))

        try:
            value = fn(task, report)
        except BaseException as exc:
            results.put(("done", batch, index, False, _portable(exc)))
        else:
            results.put(("done", batch, index, True, value))


class LocalPool:
    """``workers`` processes on this machine (see the module docstring)."""

    def __init__(self, workers: int | None = None) -> None:
        count = workers if workers is not None else (os.cpu_count() or 1)
        if count < 1:
            raise ValueError(f"--workers {count}: must be >= 1")
        self.workers = count
        context = multiprocessing.get_context()
        self._tasks: Any = context.Queue()
        self._results: Any = context.Queue()
        self._procs = [
            context.Process(target=_worker_main, args=(self._tasks, self._results), daemon=True)
            for _ in range(count)
        ]
        self._batch = 0
        self._closed = False
        try:
            for proc in self._procs:
                proc.start()
        except BaseException:
            self.terminate()
            raise

    @property
    def description(self) -> str:
        """Where the tasks run."""
        return f"local process pool ({self.workers} worker{'s' if self.workers > 1 else ''})"

    def pids(self) -> list[int]:
        """The worker processes' ids."""
        return [p.pid for p in self._procs if p.pid is not None]

    def map(
        self,
        fn: Callable[[T, Report], R],
        tasks: Sequence[T],
        *,
        on_step: Callable[[int, int, int], None] | None = None,
        on_done: Callable[[int], None] | None = None,
    ) -> list[R]:
        """Run ``fn(task, report)`` for every task on the workers; results in task order."""
        if self._closed:
            raise RuntimeError("the process pool is closed")
        self._batch += 1
        batch = self._batch
        results: dict[int, R] = {}
        try:
            for index, task in enumerate(tasks):
                self._tasks.put((batch, index, fn, task))
            while len(results) < len(tasks):
                try:
                    message = self._results.get(timeout=_POLL_SECONDS)
                except queue.Empty:
                    self._check_alive()
                    continue
                kind, got_batch, index = message[0], message[1], message[2]
                if got_batch != batch:
                    continue  # left over from an earlier, failed batch
                if kind == "step":
                    if on_step is not None:
                        on_step(index, message[3], message[4])
                    continue
                ok, value = message[3], message[4]
                if not ok:
                    raise value
                results[index] = value
                if on_done is not None:
                    on_done(index)
        except BaseException:
            self.terminate()
            raise
        return [results[i] for i in range(len(tasks))]

    def _check_alive(self) -> None:
        for proc in self._procs:
            if proc.exitcode is not None:
                raise TaskFailed(
                    f"a worker process (pid {proc.pid}) died with exit code {proc.exitcode}"
                )

    def close(self) -> None:
        """Stop the workers after their current task (they are idle between ``map`` calls)."""
        if self._closed:
            return
        self._closed = True
        for _ in self._procs:
            self._tasks.put(None)
        for proc in self._procs:
            proc.join(timeout=10)
        self.terminate()

    def terminate(self) -> None:
        """Kill every worker now and wait for them (idempotent)."""
        self._closed = True
        for proc in self._procs:
            if proc.is_alive():
                proc.terminate()
        for proc in self._procs:
            proc.join(timeout=5)
            if proc.is_alive():
                proc.kill()
                proc.join(timeout=5)
        for q in (self._tasks, self._results):
            with contextlib.suppress(Exception):
                q.cancel_join_thread()
                q.close()

    def __enter__(self) -> LocalPool:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc is None:
            self.close()
        else:
            self.terminate()
