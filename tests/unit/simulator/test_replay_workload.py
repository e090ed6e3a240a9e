"""The replay hands FGD-family scorers the trace's target workload (``with_target_workload``)."""

from __future__ import annotations

from typing import Any

import numpy as np

from scheduler.framework.profiles import Profile
from scheduler.plugins.gpu.measure import TaskShape, typical_mix
from simulator.experiments.policies import replay_profile, with_target_workload

MIX = typical_mix(
    {
        TaskShape(4000, 1000, 1, ""): 6,
        TaskShape(8000, 500, 1, "V100M16"): 3,
        TaskShape(2000, 0, 0, ""): 1,
    },
    1.0,
    models=("V100M16", "T4"),
)


def args_of(profile: Profile, name: str) -> dict[str, Any]:
    """The args of plugin ``name`` in ``profile``."""
    return dict(profile.args(name))


def test_fgd_scorer_gets_the_mix_as_workload_classes() -> None:
    """Each class of the mix becomes one workload class, in order, with its weight."""
    profile = with_target_workload(replay_profile("fgd"), MIX)
    workload = args_of(profile, "Fragmentation")["workload"]
    assert workload == [
        {"cpuMilli": 4000, "gpuMilli": 1000, "numGpu": 1, "gpuSpec": "", "weight": 0.6},
        {"cpuMilli": 8000, "gpuMilli": 500, "numGpu": 1, "gpuSpec": "V100M16", "weight": 0.3},
        {"cpuMilli": 2000, "gpuMilli": 0, "numGpu": 0, "gpuSpec": "", "weight": 0.1},
    ]
    assert np.isclose(sum(c["weight"] for c in workload), 1.0)


def test_explicit_workload_and_other_scorers_are_left_alone() -> None:
    """A workload given in the profile wins; BestFit and the filters get no workload."""
    given = [{"cpuMilli": 1000, "gpuMilli": 1000, "numGpu": 1, "gpuSpec": "", "weight": 1.0}]
    profile = replay_profile("fgd", workload=given)
    assert args_of(with_target_workload(profile, MIX), "Fragmentation")["workload"] == given
    bestfit = with_target_workload(replay_profile("bestfit"), MIX)
    assert bestfit == replay_profile("bestfit")
