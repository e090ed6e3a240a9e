"""From a KubeSchedulerConfiguration to running frameworks: the default plugin set as tessera
models it, aliases, unknown plugins, args (TypeMeta, validation), tessera's extras, and the
framework's upstream construction rules."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping
from typing import Any

import pytest

from scheduler.api.errors import LoadError
from scheduler.api.kubeschedulerconfig import parse_scheduler_config
from scheduler.framework.interfaces import FilterPlugin, Handle, Plugin
from scheduler.framework.profiles import Profile
from scheduler.framework.runtime import Framework
from scheduler.plugins import configuration
from scheduler.plugins.configuration import profiles_from_config
from scheduler.plugins.registry import REGISTRY, PluginFactory, build_framework
from tests.builders import FakeBackend, make_cache, make_node

HEAD = {"apiVersion": "kubescheduler.config.k8s.io/v1", "kind": "KubeSchedulerConfiguration"}


def resolve(
    profiles: list[dict[str, Any]] | None = None,
    registry: Mapping[str, PluginFactory] | None = None,
    **fields: Any,
) -> tuple[Profile, ...]:
    """Parse and resolve a configuration of ``profiles`` (source ``c.yaml``)."""
    data = {**HEAD, **fields}
    if profiles is not None:
        data["profiles"] = profiles
    config = parse_scheduler_config(data, source="c.yaml")
    return profiles_from_config(config, source="c.yaml", registry=registry)


def build(profile: Profile, registry: Mapping[str, PluginFactory] | None = None) -> Framework:
    """The framework of ``profile`` over an empty two-node cluster."""
    backend = FakeBackend(make_cache([make_node("a"), make_node("b")]))
    return build_framework(profile, backend, registry=registry)


def point_names(fw: Framework) -> dict[str, list[str]]:
    """Plugin names per non-empty extension point."""
    return {
        point.name: [p.name for p in getattr(fw.points, point.name)]
        for point in dataclasses.fields(fw.points)
        if getattr(fw.points, point.name)
    }


def test_default_profile_runs_upstream_defaults_that_tessera_models() -> None:
    """An empty configuration runs kube-scheduler's default plugins, in upstream order and
    weights, minus the volume and image plugins tessera does not model."""
    (profile,) = resolve()
    fw = build(profile)
    assert profile.name == "default-scheduler"
    assert point_names(fw) == {
        "pre_enqueue": ["SchedulingGates"],
        "queue_sort": ["PrioritySort"],
        "pre_filter": [
            "NodeAffinity",
            "NodePorts",
            "NodeResourcesFit",
            "PodTopologySpread",
            "InterPodAffinity",
            "DynamicResources",
        ],
        "filter": [
            "NodeUnschedulable",
            "NodeName",
            "TaintToleration",
            "NodeAffinity",
            "NodePorts",
            "NodeResourcesFit",
            "PodTopologySpread",
            "InterPodAffinity",
            "DynamicResources",
        ],
        "post_filter": ["Preemption"],
        "pre_score": [
            "TaintToleration",
            "NodeAffinity",
            "NodeResourcesFit",
            "PodTopologySpread",
            "InterPodAffinity",
        ],
        "score": [
            "TaintToleration",
            "NodeAffinity",
            "NodeResourcesFit",
            "PodTopologySpread",
            "InterPodAffinity",
            "DynamicResources",
            "NodeResourcesBalancedAllocation",
        ],
        "reserve": ["DynamicResources"],
        "pre_bind": ["DynamicResources"],
        "bind": ["DefaultBinder"],
    }
    assert fw.weights == {
        "TaintToleration": 3,
        "NodeAffinity": 2,
        "NodeResourcesFit": 1,
        "PodTopologySpread": 2,
        "InterPodAffinity": 2,
        "DynamicResources": 1,
        "NodeResourcesBalancedAllocation": 1,
    }


class _Stand:
    """A stand-in filter + score plugin registered under another plugin's name."""

    def __init__(self, name: str) -> None:
        self.name = name

    def filter(self, state: Any, pod: Any, snapshot: Any, nodes: Any) -> Any:
        """Unused."""
        raise AssertionError

    def score(self, state: Any, pod: Any, snapshot: Any, nodes: Any) -> Any:
        """Unused."""
        raise AssertionError

    def normalize(self, state: Any, pod: Any, scores: Any) -> Any:
        """Unused."""
        raise AssertionError


def stand_in(name: str) -> PluginFactory:
    """A factory of :class:`_Stand` named ``name``."""

    def make(args: Mapping[str, Any], handle: Handle) -> Plugin:
        return _Stand(name)

    return make


def test_inter_pod_affinity_and_topology_spread_slot_in_once_registered() -> None:
    """When InterPodAffinity and PodTopologySpread are registered, the default profile runs
    them where upstream does (after NodeResourcesFit, before DynamicResources), weight 2."""
    registry = {
        **REGISTRY,
        "InterPodAffinity": stand_in("InterPodAffinity"),
        "PodTopologySpread": stand_in("PodTopologySpread"),
    }
    (profile,) = resolve(registry=registry)
    fw = build(profile, registry)
    filters = [p.name for p in fw.points.filter]
    assert filters[filters.index("NodeResourcesFit") :] == [
        "NodeResourcesFit",
        "PodTopologySpread",
        "InterPodAffinity",
        "DynamicResources",
    ]
    assert fw.weights["PodTopologySpread"] == fw.weights["InterPodAffinity"] == 2


def test_unmodelled_default_plugins_are_left_out_and_logged_once(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Default plugins nobody registered are skipped, each logged once per process."""
    monkeypatch.setattr(configuration, "_skipped_logged", set())
    with caplog.at_level(logging.INFO, logger=configuration.__name__):
        resolve()
        resolve()
    skipped = [r.getMessage() for r in caplog.records if "not modelled" in r.getMessage()]
    assert len(skipped) == len(set(skipped))
    assert any("ImageLocality" in m for m in skipped)
    assert any("VolumeBinding" in m for m in skipped)


def test_default_preemption_is_an_alias_of_preemption() -> None:
    """DefaultPreemption in plugin sets and pluginConfig means tessera's Preemption."""
    (disabled,) = resolve(
        [{"plugins": {"multiPoint": {"disabled": [{"name": "DefaultPreemption"}]}}}]
    )
    assert build(disabled).points.post_filter == []
    (configured,) = resolve(
        [
            {
                "plugins": {"postFilter": {"enabled": [{"name": "DefaultPreemption"}]}},
                "pluginConfig": [{"name": "DefaultPreemption", "args": {"batchMayPreempt": True}}],
            }
        ]
    )
    assert configured.args("Preemption") == {"batchMayPreempt": True}
    assert [p.name for p in build(configured).points.post_filter] == ["Preemption"]


def test_reconfigured_default_keeps_its_place_and_takes_the_new_weight() -> None:
    """Enabling a default again through multiPoint changes it in place (mergePluginSet)."""
    (profile,) = resolve(
        [{"plugins": {"multiPoint": {"enabled": [{"name": "TaintToleration", "weight": 7}]}}}]
    )
    fw = build(profile)
    assert fw.weights["TaintToleration"] == 7
    assert [p.name for p in fw.points.filter][:3] == [
        "NodeUnschedulable",
        "NodeName",
        "TaintToleration",
    ]


def test_disabling_a_score_keeps_the_filter() -> None:
    """score.disabled removes NodeResourcesFit from Score only; it still filters."""
    (profile,) = resolve([{"plugins": {"score": {"disabled": [{"name": "NodeResourcesFit"}]}}}])
    fw = build(profile)
    assert "NodeResourcesFit" in [p.name for p in fw.points.filter]
    assert "NodeResourcesFit" not in [p.name for p in fw.points.score]


def test_explicitly_enabled_unknown_plugin_lists_the_known_ones() -> None:
    """A plugin the user enables that nobody provides: one line with file, path, known names."""
    with pytest.raises(LoadError) as caught:
        resolve([{"plugins": {"score": {"enabled": [{"name": "ImageLocality", "weight": 3}]}}}])
    message = str(caught.value)
    assert message.startswith(
        "c.yaml: profiles[0].plugins.score.enabled[0].name: unknown plugin 'ImageLocality' "
        "(tessera knows: "
    )
    assert "NodeResourcesFit" in message and "\n" not in message


@pytest.mark.parametrize(
    ("args", "where", "problem"),
    [
        ({"kind": "NodeAffinityArgs"}, "args.kind", "must be of kind NodeResourcesFitArgs"),
        ({"apiVersion": "kubescheduler.config.k8s.io/v1beta3"}, "args.apiVersion", "v1beta3"),
    ],
)
def test_args_type_meta_must_match_the_plugin(
    args: dict[str, Any], where: str, problem: str
) -> None:
    """Upstream args carry apiVersion/kind: a wrong one is an error naming the field."""
    with pytest.raises(LoadError, match=rf"c.yaml: profiles\[0\].pluginConfig\[0\].{where}: .*"):
        resolve([{"pluginConfig": [{"name": "NodeResourcesFit", "args": args}]}])
    with pytest.raises(LoadError, match=problem):
        resolve([{"pluginConfig": [{"name": "NodeResourcesFit", "args": args}]}])


def test_type_meta_is_dropped_and_args_reach_the_plugin() -> None:
    """apiVersion/kind of upstream args are checked and dropped; the rest configures it."""
    args = {
        "apiVersion": "kubescheduler.config.k8s.io/v1",
        "kind": "NodeResourcesFitArgs",
        "scoringStrategy": {"type": "MostAllocated"},
    }
    (profile,) = resolve([{"pluginConfig": [{"name": "NodeResourcesFit", "args": args}]}])
    assert profile.args("NodeResourcesFit") == {"scoringStrategy": {"type": "MostAllocated"}}
    fit = next(p for p in build(profile).points.score if p.name == "NodeResourcesFit")
    assert fit.strategy == "MostAllocated"  # type: ignore[attr-defined]


def test_bad_args_fail_when_built_naming_source_profile_plugin_field_and_value() -> None:
    """Args are validated by the plugin's typed model; the error is one line."""
    (profile,) = resolve(
        [
            {
                "pluginConfig": [
                    {"name": "NodeResourcesFit", "args": {"scoringStrategy": {"type": "X"}}}
                ]
            }
        ]
    )
    with pytest.raises(ValueError) as caught:
        build(profile)
    message = str(caught.value)
    assert message.startswith(
        "c.yaml: profile default-scheduler: plugin NodeResourcesFit: args.scoringStrategy.type: "
    )
    assert "(got 'X')" in message and "\n" not in message


def test_args_for_a_plugin_the_profile_does_not_run_are_not_used(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """As upstream, pluginConfig of a plugin not enabled is ignored (with a warning here)."""
    with caplog.at_level(logging.WARNING, logger=configuration.__name__):
        (profile,) = resolve(
            [
                {
                    "plugins": {"multiPoint": {"disabled": [{"name": "NodeAffinity"}]}},
                    "pluginConfig": [{"name": "NodeAffinity", "args": {"addedAffinity": {}}}],
                }
            ]
        )
    assert profile.plugin_config == ()
    assert "args for plugin NodeAffinity" in caplog.text


def test_extras_percentage_and_batch_threshold() -> None:
    """percentageOfNodesToScore falls back to the global value; the batch threshold comes
    from ServingBatch's args; tie-break and seed from the caller."""
    config = parse_scheduler_config(
        {
            **HEAD,
            "percentageOfNodesToScore": 30,
            "profiles": [
                {
                    "schedulerName": "a",
                    "plugins": {"multiPoint": {"enabled": [{"name": "ServingBatch"}]}},
                    "pluginConfig": [{"name": "ServingBatch", "args": {"batchThreshold": 100}}],
                },
                {"schedulerName": "b", "percentageOfNodesToScore": 5},
            ],
        },
        source="c.yaml",
    )
    a, b = profiles_from_config(config, source="c.yaml", tie_break="nodeOrder", seed=9)
    assert (a.percentage_of_nodes_to_score, b.percentage_of_nodes_to_score) == (30, 5)
    assert (a.batch_threshold, b.batch_threshold) == (100, 0)
    assert (a.tie_break, a.seed, b.tie_break, b.seed) == ("nodeOrder", 9, "nodeOrder", 9)
    assert build(a).points.score[-1].name == "ServingBatch"


def test_profile_without_queue_sort_or_bind_is_rejected() -> None:
    """As NewFramework: exactly one QueueSort plugin and at least one Bind plugin."""
    (no_sort,) = resolve([{"plugins": {"multiPoint": {"disabled": [{"name": "PrioritySort"}]}}}])
    with pytest.raises(ValueError, match="only one queue sort plugin required, but got 0"):
        build(no_sort)
    (no_bind,) = resolve([{"plugins": {"bind": {"disabled": [{"name": "*"}]}}}])
    with pytest.raises(ValueError, match="at least one bind plugin is needed"):
        build(no_bind)


def test_plugin_at_a_point_it_does_not_implement_is_rejected() -> None:
    """filter.enabled naming a score-only plugin fails when the framework is built."""
    (profile,) = resolve(
        [{"plugins": {"filter": {"enabled": [{"name": "NodeResourcesBalancedAllocation"}]}}}]
    )
    with pytest.raises(
        ValueError,
        match=r"c.yaml: profile default-scheduler: plugins.filter: plugin "
        r"'NodeResourcesBalancedAllocation' does not extend Filter",
    ):
        build(profile)


def test_every_default_filter_is_a_filter_plugin() -> None:
    """The resolved default profile's filters satisfy the Filter Protocol (conformance)."""
    (profile,) = resolve()
    assert all(isinstance(p, FilterPlugin) for p in build(profile).points.filter)
