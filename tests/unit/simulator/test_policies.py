"""The shipped policies are ordinary KubeSchedulerConfigurations (one table, read back from
YAML to the same profiles), and the replay honours scheduling gates."""

from __future__ import annotations

import pytest
import yaml

from scheduler.api.kubeschedulerconfig import parse_scheduler_config
from scheduler.api.pod import Pod
from scheduler.framework.profiles import Profile
from scheduler.plugins.configuration import profiles_from_config
from scheduler.plugins.gpu.measure import TaskShape
from simulator.clusters import cluster_from_spec
from simulator.experiments.policies import (
    POLICIES,
    REPLAY_POLICIES,
    inflate_config,
    inflate_profile,
    policy_yaml,
    replay_config,
    replay_profile,
    with_cluster_levels,
)
from simulator.experiments.replay import ReplayConfig, run_replay
from simulator.traces.model import Trace, TraceItem
from tests.builders import gpu_claim_pod, gpu_claim_template, h100_rack_spec

LEVELS = ("topology.tessera.io/rack", "kubernetes.io/hostname")
WORKLOAD = [(TaskShape(4000, 1000, 1, ""), 1.0)]


class Settings:
    """What an inflate profile reads from the experiment."""

    seed = 3
    device_choice = "policy"


def reread(text: str, tie_break: str, seed: int) -> Profile:
    """The one profile of a printed configuration, read back like a --config file."""
    config = parse_scheduler_config(yaml.safe_load(text), source="printed")
    (profile,) = profiles_from_config(
        config,
        source="printed",
        tie_break="nodeOrder" if tie_break == "nodeOrder" else "random",
        seed=seed,
    )
    return profile


@pytest.mark.parametrize("policy", REPLAY_POLICIES)
def test_replay_policy_printed_as_yaml_resolves_to_the_same_profile(policy: str) -> None:
    """Printing a replay policy and loading it as a user config gives the same profile."""
    config = replay_config(policy, seed=5, levels=LEVELS)
    shipped = replay_profile(policy, seed=5, levels=LEVELS)
    again = reread(policy_yaml(config), "random", 5)
    assert again.model_copy(update={"source": shipped.source}) == shipped


@pytest.mark.parametrize("policy", POLICIES)
def test_inflate_policy_printed_as_yaml_resolves_to_the_same_profile(policy: str) -> None:
    """Likewise for the inflate policies (node-order tie-break)."""
    config = inflate_config(policy, seed=3, device_choice="policy", workload=WORKLOAD)
    shipped = inflate_profile(policy, WORKLOAD, Settings())
    again = reread(policy_yaml(config), "nodeOrder", 3)
    assert again.model_copy(update={"source": shipped.source}) == shipped


def test_tessera_policies_filter_with_node_resources_fit_but_do_not_score_with_it() -> None:
    """tessera's profiles keep NodeResourcesFit out of PreScore and Score (the FGD setup)."""
    for profile in (
        replay_profile("fgd"),
        inflate_profile("fgd", WORKLOAD, Settings()),
    ):
        assert "NodeResourcesFit" in [p.name for p in profile.plugins.multi_point.enabled]
        assert [p.name for p in profile.plugins.score.disabled] == ["NodeResourcesFit"]
        assert [p.name for p in profile.plugins.pre_score.disabled] == ["NodeResourcesFit"]


def test_kube_default_is_the_default_profile_with_upstream_preemption() -> None:
    """kube-default is the default plugin set untouched: DefaultPreemption (upstream's), not
    tessera's Preemption planner; DynamicResources keeps upstream's unresolvable shortfalls."""
    config = replay_config("kube-default", levels=LEVELS)
    (profile,) = config.profiles
    assert profile.plugins is None or profile.plugins.multi_point.disabled == ()
    resolved = replay_profile("kube-default")
    assert "DefaultPreemption" in resolved.plugins.names()
    assert "Preemption" not in resolved.plugins.names()
    assert "NodeResourcesBalancedAllocation" in resolved.plugins.names()
    assert "devicePreemption" not in resolved.args("DynamicResources")
    tessera = replay_profile("tessera")
    assert tessera.args("DynamicResources") == {"devicePreemption": True}


def test_unknown_policy_names_the_choices() -> None:
    """An unknown policy is a ValueError listing the known ones."""
    with pytest.raises(
        ValueError, match="policy 'best': expected one of kube-default, kueue, tessera"
    ):
        replay_config("best")
    with pytest.raises(ValueError, match="expected one of random, dotprod"):
        inflate_config("kube-default", seed=0, device_choice="policy", workload=WORKLOAD)


def test_cluster_levels_fill_only_unset_topology_args() -> None:
    """GangTopology/Preemption without levels get the cluster's; given levels stay."""
    profile = Profile.of(
        "p",
        ["GangTopology", "Preemption", "DefaultBinder"],
        args={"Preemption": {"levels": ["custom"]}},
    )
    filled = with_cluster_levels(profile, LEVELS)
    assert filled.args("GangTopology") == {"levels": list(LEVELS)}
    assert filled.args("Preemption") == {"levels": ["custom"]}
    assert with_cluster_levels(Profile.of("q", ["DefaultBinder"]), LEVELS).plugin_config == ()


def gated(pod: Pod, *gates: str) -> Pod:
    """``pod`` with scheduling gates."""
    data = pod.to_dict()
    data["spec"]["schedulingGates"] = [{"name": g} for g in gates]
    return Pod.model_validate(data)


@pytest.mark.parametrize("policy", ["tessera", "kube-default"])
def test_replay_holds_gated_pods_out_of_the_queue(policy: str) -> None:
    """A gated pod is recorded once as waiting for its gates, never bound, counted as
    unschedulable, and does not keep the replay from ending; the others bind."""
    loaded = cluster_from_spec(h100_rack_spec(2, 1))
    items = [
        TraceItem(gated(gpu_claim_pod("held", 8, cpu="4"), "example.com/quota"), 0.0, 50.0),
        TraceItem(gpu_claim_pod("free", 8, cpu="4"), 10.0, 50.0),
    ]
    trace = Trace("gates", items, [gpu_claim_template(8)])
    profile = replay_profile(policy, levels=loaded.levels)
    result = run_replay(loaded, trace, profile, ReplayConfig())
    held = [p for p in result.placements if p["pod"] == "default/held"]
    assert held == [
        {
            "t": 0.0,
            "event": "fail",
            "pod": "default/held",
            "node": None,
            "devices": [],
            "reason": "waiting for scheduling gates: [example.com/quota]",
        }
    ]
    assert [p["event"] for p in result.placements if p["pod"] == "default/free"] == ["bind"]
    assert (result.summary["pods_scheduled"], result.summary["pods_unschedulable"]) == (1, 1)
    assert result.timeline[0]["pending_serving"] == 1  # still pending, as upstream
