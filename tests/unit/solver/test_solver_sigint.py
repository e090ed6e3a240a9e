"""CP-SAT leaves Ctrl-C to Python: after a solve, SIGINT still raises KeyboardInterrupt."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]

PROGRAM = """
import os, signal, time
from ortools.sat.python import cp_model
from scheduler.solver.config import SolverConfig
from scheduler.solver.search import new_solver

model = cp_model.CpModel()
x = model.new_int_var(0, 3, "x")
model.maximize(x)
assert new_solver(SolverConfig(), 1.0).solve(model) == cp_model.OPTIMAL
try:
    os.kill(os.getpid(), signal.SIGINT)
    time.sleep(5)
except KeyboardInterrupt:
    print("KeyboardInterrupt")
"""


def test_sigint_after_a_solve_raises_keyboard_interrupt() -> None:
    """With CP-SAT's own SIGINT handler on, OR-Tools resets SIGINT to the C default after
    Solve and Ctrl-C kills the process (exit by signal, no cleanup); new_solver turns it off."""
    done = subprocess.run(
        [sys.executable, "-c", PROGRAM],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "KeyboardInterrupt"
