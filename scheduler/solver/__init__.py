"""tessera: scheduler/solver — CP-SAT models, greedy fast paths and a solver-free validator.

Public entry points live in ``solve.py`` (``solve_gang``, ``solve_gang_verified``,
``solve_preemption``, ``SolverConfig``), the models in ``instance.py``
and ``solution.py``, the checks in ``validate.py`` and the Kueue-style baseline in
``greedy.py`` (``kueue_best_fit``). The package imports only numpy, pydantic and ortools.
"""
