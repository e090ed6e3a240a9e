"""A test-only pause point in the simulator's kube-scheduler: stop before one extender call.

Fault-injection tests (``tests/extender/test_e2e_chaos.py``) need to act at a precise moment
of a replay played against a running webhook — kill the webhook, or drop its watches, after a
gang's first member was filtered and before the gang is bound. The replay runs in its own
process and goes faster than a test can poll, so it stops itself:

``TESSERA_EXTENDER_PAUSE=VERB:NAMESPACE/NAME:DIR`` (read when a replay's kube-scheduler
session starts; unset in normal runs) makes the first ``VERB`` call (``filter``,
``prioritize``, ``preempt`` or ``bind``) for the pod ``NAMESPACE/NAME`` wait, before the
request is sent: the replay writes ``DIR/paused`` (the pod key and verb) and blocks until
``DIR/resume`` exists or :data:`PAUSE_LIMIT` seconds have passed (then it goes on, logging a
warning). The point fires once per run. Other threads (binds in flight) are not stopped.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["PAUSE_ENV", "PAUSE_LIMIT", "PausePoint"]

log = logging.getLogger(__name__)

PAUSE_ENV = "TESSERA_EXTENDER_PAUSE"
PAUSE_LIMIT = 300.0
"""Longest pause, in seconds (a test that died must not leave a replay hanging forever)."""
_VERBS = frozenset({"filter", "prioritize", "preempt", "bind"})


@dataclass(slots=True)
class PausePoint:
    """Pause before the first ``verb`` call for ``pod`` (see the module docstring)."""

    verb: str
    pod: str
    directory: Path
    fired: bool = field(default=False)

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> PausePoint | None:
        """The pause point :data:`PAUSE_ENV` asks for, or None when unset; ValueError naming
        the variable for a malformed value."""
        text = (os.environ if environ is None else environ).get(PAUSE_ENV, "")
        if not text:
            return None
        verb, _, rest = text.partition(":")
        pod, _, directory = rest.partition(":")
        if verb not in _VERBS or "/" not in pod or not directory:
            raise ValueError(
                f"{PAUSE_ENV}={text!r}: expected VERB:NAMESPACE/NAME:DIR with VERB one of "
                + ", ".join(sorted(_VERBS))
            )
        return cls(verb, pod, Path(directory))

    def before(self, verb: str, pod_key: str) -> None:
        """Called before every extender call; blocks at the configured one."""
        if self.fired or verb != self.verb or pod_key != self.pod:
            return
        self.fired = True
        self.directory.mkdir(parents=True, exist_ok=True)
        resume = self.directory / "resume"
        (self.directory / "paused").write_text(f"{verb} {pod_key}\n")
        log.info("paused before %s of %s until %s exists", verb, pod_key, resume)
        deadline = time.monotonic() + PAUSE_LIMIT
        while not resume.exists():
            if time.monotonic() > deadline:
                log.warning(
                    "pause before %s of %s: no %s after %gs", verb, pod_key, resume, PAUSE_LIMIT
                )
                return
            time.sleep(0.02)
