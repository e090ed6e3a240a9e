"""Suite-wide test settings: Hypothesis profiles.

* ``ci`` (the default): derandomised (the same examples on every run, so CI is
  reproducible), no example database, no deadline (this 2-core machine is noisy);
* ``nightly``: random examples each run and 10x the default number of examples for tests
  that do not set their own ``max_examples``; run by hand with
  ``pytest --hypothesis-profile=nightly`` (add ``--hypothesis-seed=N`` to replay a run).

A test that sets ``max_examples`` in its own ``@settings`` keeps that number under both
profiles; the profile still decides randomisation and the database.
"""

from __future__ import annotations

from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci",
    derandomize=True,
    database=None,
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile(
    "nightly",
    max_examples=1000,
    derandomize=False,
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile("ci")
