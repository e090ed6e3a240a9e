"""Running a plan's tasks as Ray tasks (``tessera plan --ray ADDRESS|auto``).

Who calls: ``tessera plan`` with ``--ray``. :class:`RayRunner` implements the runner
contract of :mod:`simulator.plans.pool` on a Ray cluster: each task is one ``ray.remote``
call of the same function the local pool runs, results are collected with ``ray.wait`` as
they finish (``on_done``) and returned in task order, so a plan gives the same points on
either runner. Per-task step progress is not streamed back (``report`` is a no-op there).

Ray is an optional dependency (``pip install 'tessera[ray]'``); without it, ``--ray`` is a
one-line error. ``address`` is what ``ray.init`` takes: ``auto`` (a cluster started on this
machine with ``ray start``), ``ray://HOST:PORT`` (Ray Client), or ``local`` (start a private
instance here, for trying it out). The workers must be able to import ``tessera`` (install it
on the cluster's nodes, or pass a ``runtime_env``); on a local instance they share this
Python environment.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from simulator.plans.pool import Report

__all__ = ["RayRunner", "ray_available"]

T = TypeVar("T")
R = TypeVar("R")


def ray_available() -> bool:
    """Whether the ``ray`` package can be imported."""
    try:
        import ray  # noqa: F401, PLC0415 - optional dependency
    except ImportError:
        return False
    return True


def _source_root() -> str:
    """The directory holding the ``simulator`` package this process imported."""
    import simulator  # noqa: PLC0415 - only to locate it

    return str(Path(simulator.__file__).resolve().parents[1])


def _no_report(step: int, total: int) -> None:
    del step, total


def _call(fn: Callable[[Any, Report], Any], task: Any) -> Any:
    """What each Ray task runs: ``fn(task, report)`` with a no-op report."""
    return fn(task, _no_report)


class RayRunner:
    """Tasks as Ray tasks on the cluster at ``address`` (see the module docstring).

    ``num_cpus``: CPUs per task (default 1). When this runner started Ray (``ray.init`` was
    not called before), :meth:`close` shuts it down again.
    """

    def __init__(self, address: str, *, num_cpus: float = 1.0) -> None:
        try:
            import ray  # noqa: PLC0415 - optional dependency
        except ImportError:
            raise ValueError(
                f"--ray {address}: the ray package is not installed (pip install 'tessera[ray]')"
            ) from None
        self._ray: Any = ray
        self._owned = False
        if not ray.is_initialized():
            target = None if address == "local" else address
            # a private instance's workers import this very checkout of tessera
            env = {"env_vars": {"PYTHONPATH": _source_root()}} if target is None else None
            try:
                ray.init(
                    address=target,
                    include_dashboard=False,
                    log_to_driver=False,
                    runtime_env=env,
                )
            except ConnectionError as exc:
                raise ValueError(
                    f"--ray {address}: cannot connect to a Ray cluster: {exc}"
                ) from None
            self._owned = True
        self._remote = ray.remote(num_cpus=num_cpus, max_retries=0)(_call)
        self.address = address

    @property
    def description(self) -> str:
        """Where the tasks run."""
        cpus = int(self._ray.cluster_resources().get("CPU", 0))
        return f"Ray cluster {self.address} ({cpus} CPUs)"

    def map(
        self,
        fn: Callable[[T, Report], R],
        tasks: Sequence[T],
        *,
        on_step: Callable[[int, int, int], None] | None = None,
        on_done: Callable[[int], None] | None = None,
    ) -> list[R]:
        """Submit every task, collect the results as they finish, return them in order."""
        del on_step  # Ray tasks do not stream their progress
        ray = self._ray
        refs = [self._remote.remote(fn, task) for task in tasks]
        index = {ref: i for i, ref in enumerate(refs)}
        results: dict[int, R] = {}
        pending = list(refs)
        try:
            while pending:
                done, pending = ray.wait(pending, num_returns=1, timeout=0.5)
                for ref in done:
                    try:
                        results[index[ref]] = ray.get(ref)
                    except ray.exceptions.RayTaskError as exc:
                        cause = exc.as_instanceof_cause()
                        raise (cause.cause if getattr(cause, "cause", None) else cause) from None
                    if on_done is not None:
                        on_done(index[ref])
        except BaseException:
            for ref in pending:
                ray.cancel(ref, force=True)
            raise
        return [results[i] for i in range(len(tasks))]

    def close(self) -> None:
        """Shut Ray down if this runner started it."""
        if self._owned and self._ray.is_initialized():
            self._ray.shutdown()
        self._owned = False
