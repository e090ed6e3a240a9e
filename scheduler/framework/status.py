"""Status: the result of every plugin call, with kube-scheduler's codes.

A plugin never raises for "does not fit": it returns ``Status.unschedulable(...)``.
Exceptions are for bugs, bad configuration and I/O. The runtime, not the plugin, records
which plugin produced a status (``plugin``). What each code makes the caller do:

* ``SUCCESS`` — go on.
* ``ERROR`` — internal error; the pod's attempt is aborted and retried with backoff
  (the extender answers with ``Error``).
* ``UNSCHEDULABLE`` — does not fit now; preemption may help (``FailedNodes``).
* ``UNSCHEDULABLE_AND_UNRESOLVABLE`` — does not fit and preemption cannot help
  (``FailedAndUnresolvableNodes``).
* ``WAIT`` — Permit: hold the pod (gang members wait for their gang).
* ``SKIP`` — PreFilter/PreScore: the plugin has nothing to do for this pod; its Filter/Score
  is skipped.
* ``PENDING`` — waiting for something external (binding conditions).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field


class Code(enum.IntEnum):
    """kube-scheduler's status codes (same numbering as ``framework.Code``)."""

    SUCCESS = 0
    ERROR = 1
    UNSCHEDULABLE = 2
    UNSCHEDULABLE_AND_UNRESOLVABLE = 3
    WAIT = 4
    SKIP = 5
    PENDING = 6


@dataclass(frozen=True, slots=True)
class Status:
    """A code, human-readable reasons, and the plugin that produced it.

    ``final`` (with UNSCHEDULABLE_AND_UNRESOLVABLE): the reason is a fact of the pod and the
    scheduler's configuration that no cluster event can change (a claim needing a feature
    gate that is off), so a simulator fails the pod once instead of requeueing it.
    """

    code: Code = Code.SUCCESS
    reasons: tuple[str, ...] = field(default_factory=tuple)
    plugin: str = ""
    final: bool = False

    @classmethod
    def success(cls) -> Status:
        """Everything is fine."""
        return _SUCCESS

    @classmethod
    def error(cls, *reasons: str) -> Status:
        """An internal error (aborts the attempt)."""
        return cls(Code.ERROR, reasons)

    @classmethod
    def unschedulable(cls, *reasons: str) -> Status:
        """Does not fit now; preemption may help."""
        return cls(Code.UNSCHEDULABLE, reasons)

    @classmethod
    def unresolvable(cls, *reasons: str) -> Status:
        """Does not fit and preemption cannot help."""
        return cls(Code.UNSCHEDULABLE_AND_UNRESOLVABLE, reasons)

    @classmethod
    def unresolvable_final(cls, *reasons: str) -> Status:
        """Does not fit, and no cluster event can change that (see ``final``)."""
        return cls(Code.UNSCHEDULABLE_AND_UNRESOLVABLE, reasons, final=True)

    @classmethod
    def wait(cls, *reasons: str) -> Status:
        """Permit: hold the pod until allowed or timed out."""
        return cls(Code.WAIT, reasons)

    @classmethod
    def skip(cls) -> Status:
        """PreFilter/PreScore: nothing to do for this pod."""
        return _SKIP

    @property
    def ok(self) -> bool:
        """True for SUCCESS (and SKIP, which also lets the cycle go on)."""
        return self.code in (Code.SUCCESS, Code.SKIP)

    @property
    def rejected(self) -> bool:
        """True for both unschedulable codes."""
        return self.code in (Code.UNSCHEDULABLE, Code.UNSCHEDULABLE_AND_UNRESOLVABLE)

    def message(self) -> str:
        """Reasons joined with ``, `` (what events and the extender print)."""
        return ", ".join(self.reasons)

    def with_plugin(self, plugin: str) -> Status:
        """The same status attributed to ``plugin`` (done by the runtime)."""
        return (
            self
            if self.plugin == plugin
            else type(self)(self.code, self.reasons, plugin, self.final)
        )


_SUCCESS = Status()
_SKIP = Status(Code.SKIP)
