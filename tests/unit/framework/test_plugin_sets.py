"""Plugin-set merging and multiPoint expansion, row for row against kube-scheduler's own tables
(``pkg/scheduler/apis/config/v1/default_plugins_test.go`` TestMergePlugins and
``pkg/scheduler/framework/runtime/framework_test.go`` TestNewFrameworkMultiPointExpansion)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest

from scheduler.api.kubeschedulerconfig import Plugins, PluginSet
from scheduler.framework.plugin_sets import expand_plugins, merge_plugin_set, merge_plugins

Entry = str | tuple[str, int]


def plugin_set(enabled: Sequence[Entry] = (), disabled: Sequence[str] = ()) -> PluginSet:
    """A PluginSet from names and (name, weight) pairs."""
    return PluginSet.model_validate(
        {
            "enabled": [
                {"name": e} if isinstance(e, str) else {"name": e[0], "weight": e[1]}
                for e in enabled
            ],
            "disabled": [{"name": d} for d in disabled],
        }
    )


def names(s: PluginSet) -> tuple[list[Entry], list[str]]:
    """A PluginSet back as (enabled entries, disabled names)."""
    enabled: list[Entry] = [p.name if p.weight is None else (p.name, p.weight) for p in s.enabled]
    return enabled, [p.name for p in s.disabled]


# -- TestMergePlugins (one plugin set at a time) ------------------------------------------------
@pytest.mark.parametrize(
    ("default", "custom", "expected"),
    [
        pytest.param(
            plugin_set(["DefaultPlugin1", "DefaultPlugin2"]),
            plugin_set(["CustomPlugin"]),
            (["DefaultPlugin1", "DefaultPlugin2", "CustomPlugin"], []),
            id="AppendCustomPlugin",
        ),
        pytest.param(
            plugin_set(["DefaultPlugin1", "DefaultPlugin2"]),
            plugin_set(["CustomPlugin", "DefaultPlugin2"], ["DefaultPlugin2"]),
            (["DefaultPlugin1", "CustomPlugin", "DefaultPlugin2"], ["DefaultPlugin2"]),
            id="InsertAfterDefaultPlugins2",
        ),
        pytest.param(
            plugin_set(["DefaultPlugin1", "DefaultPlugin2"]),
            plugin_set(["CustomPlugin", "DefaultPlugin1", "DefaultPlugin2"], ["*"]),
            (["CustomPlugin", "DefaultPlugin1", "DefaultPlugin2"], ["*"]),
            id="InsertBeforeAllPlugins",
        ),
        pytest.param(
            plugin_set(["DefaultPlugin1", "DefaultPlugin2"]),
            plugin_set(["DefaultPlugin2", "DefaultPlugin1"], ["*"]),
            (["DefaultPlugin2", "DefaultPlugin1"], ["*"]),
            id="ReorderDefaultPlugins",
        ),
        pytest.param(
            plugin_set(["Plugin1", "Plugin2", "Plugin3"]),
            plugin_set([("Plugin1", 2), ("Plugin3", 3)]),
            ([("Plugin1", 2), "Plugin2", ("Plugin3", 3)], []),
            id="CustomPluginOverrideDefaultPlugin",
        ),
        pytest.param(
            plugin_set(["Plugin1", "Plugin2", "Plugin3"]),
            plugin_set([("Plugin2", 2), ("Plugin1", 1)]),
            ([("Plugin1", 1), ("Plugin2", 2), "Plugin3"], []),
            id="OrderPreserveAfterOverride",
        ),
        # the last duplicate replaces the default in place; the first is appended
        pytest.param(
            plugin_set(["Plugin1", "Plugin2", "Plugin3"]),
            plugin_set(["Plugin1", ("Plugin2", 2), "Plugin3", ("Plugin2", 4)]),
            (["Plugin1", ("Plugin2", 4), "Plugin3", ("Plugin2", 2)], []),
            id="RepeatedCustomPlugin",
        ),
        pytest.param(
            plugin_set(["DefaultPlugin1", "DefaultPlugin2"]),
            plugin_set(["CustomPlugin", "CustomPlugin2"], ["DefaultPlugin2"]),
            (["DefaultPlugin1", "CustomPlugin", "CustomPlugin2"], ["DefaultPlugin2"]),
            id="Append disabled Multipoint plugins",
        ),
        pytest.param(
            plugin_set(["DefaultPlugin"]),
            plugin_set([("DefaultPlugin", 5)]),
            ([("DefaultPlugin", 5)], []),
            id="override default MultiPoint plugins with custom value",
        ),
        # a default set's own disabled names are kept after the custom ones
        pytest.param(
            plugin_set(["DefaultPlugin"], ["DefaultPlugin2"]),
            plugin_set(["CustomPlugin"]),
            (["DefaultPlugin", "CustomPlugin"], ["DefaultPlugin2"]),
            id="disabled MultiPoint plugin in default set",
        ),
        pytest.param(
            plugin_set(["DefaultPlugin"]),
            plugin_set([], ["DefaultPlugin"]),
            ([], ["DefaultPlugin"]),
            id="multipoint with only disabled gets merged",
        ),
    ],
)
def test_merge_plugin_set_matches_upstream_table(
    default: PluginSet, custom: PluginSet, expected: tuple[list[Entry], list[str]]
) -> None:
    """mergePluginSet: defaults keep their order, re-configured ones change in place,
    custom ones are appended, disabled names are kept."""
    assert names(merge_plugin_set(default, custom)) == expected


def test_merge_plugins_without_custom_plugins_is_the_default() -> None:
    """ApplyNilCustomPlugin: no custom plugins -> the default plugins unchanged."""
    default = Plugins(filter=plugin_set(["DefaultPlugin1", "DefaultPlugin2"]))
    assert merge_plugins(default, None) == default


def test_merge_plugins_keeps_a_custom_point_disable_beside_default_multipoint() -> None:
    """Each extension point merges on its own: a Score disable survives beside multiPoint."""
    default = Plugins(multi_point=plugin_set(["DefaultPlugin"]))
    custom = Plugins(
        multi_point=plugin_set(["CustomPlugin"]), score=plugin_set([], ["CustomPlugin2"])
    )
    merged = merge_plugins(default, custom)
    assert names(merged.multi_point) == (["DefaultPlugin", "CustomPlugin"], [])
    assert names(merged.score) == ([], ["CustomPlugin2"])


# -- TestNewFrameworkMultiPointExpansion --------------------------------------------------------
# The upstream test registry: testPlugin implements every point; score plugins implement
# PreScore + Score; scoreWithNormalizePlugin implements Score; queueSort and bind plugins one.
EVERY = frozenset(
    (
        "queue_sort",
        "pre_filter",
        "filter",
        "post_filter",
        "pre_score",
        "score",
        "reserve",
        "permit",
        "pre_bind",
        "bind",
    )
)
IMPLEMENTS = {
    "TestPlugin": EVERY,
    "ScorePlugin1": frozenset({"pre_score", "score"}),
    "ScorePlugin2": frozenset({"pre_score", "score"}),
    "ScoreWithNormalizePlugin1": frozenset({"score"}),
    "QueueSortPlugin": frozenset({"queue_sort"}),
    "BindPlugin": frozenset({"bind"}),
}
ALL_TEST = {point: ["TestPlugin"] for point in EVERY}


def expand(plugins: dict[str, Any]) -> tuple[dict[str, list[str]], dict[str, int]]:
    """Expand ``plugins`` (camelCase sets) over the test registry: non-empty points and
    the score weights."""
    expanded = expand_plugins(Plugins.model_validate(plugins), IMPLEMENTS)
    points = {p: list(n) for p, n in expanded.points.items() if n}
    return points, dict(expanded.weights)


def sets(**by_point: PluginSet) -> dict[str, Any]:
    """Plugins keyed by attribute name."""
    return dict(by_point)


@pytest.mark.parametrize(
    ("plugins", "points", "weights"),
    [
        pytest.param(
            sets(multi_point=plugin_set([("TestPlugin", 5)])),
            ALL_TEST,
            {"TestPlugin": 5},
            id="plugin expansion",
        ),
        pytest.param(
            sets(
                multi_point=plugin_set(["TestPlugin"]),
                pre_score=plugin_set([], ["TestPlugin"]),
                score=plugin_set([], ["TestPlugin"]),
            ),
            {p: n for p, n in ALL_TEST.items() if p not in ("pre_score", "score")},
            {"TestPlugin": 1},
            id="disable MultiPoint plugin at some extension points",
        ),
        pytest.param(
            sets(multi_point=plugin_set(["TestPlugin", "ScorePlugin1"])),
            {
                **ALL_TEST,
                "pre_score": ["TestPlugin", "ScorePlugin1"],
                "score": ["TestPlugin", "ScorePlugin1"],
            },
            {"TestPlugin": 1, "ScorePlugin1": 1},
            id="Multiple MultiPoint plugins",
        ),
        pytest.param(
            sets(
                multi_point=plugin_set(["TestPlugin", "ScorePlugin1"]),
                pre_score=plugin_set([], ["*"]),
            ),
            {
                **{p: n for p, n in ALL_TEST.items() if p != "pre_score"},
                "score": ["TestPlugin", "ScorePlugin1"],
            },
            {"TestPlugin": 1, "ScorePlugin1": 1},
            id="disable MultiPoint extension",
        ),
        pytest.param(
            sets(
                multi_point=plugin_set(["ScoreWithNormalizePlugin1", "TestPlugin", "ScorePlugin1"]),
                score=plugin_set(["ScorePlugin1", "TestPlugin"]),
            ),
            {
                **ALL_TEST,
                "pre_score": ["TestPlugin", "ScorePlugin1"],
                "score": ["ScorePlugin1", "TestPlugin", "ScoreWithNormalizePlugin1"],
            },
            {"ScorePlugin1": 1, "TestPlugin": 1, "ScoreWithNormalizePlugin1": 1},
            id="Reorder MultiPoint plugins (specified extension takes precedence)",
        ),
        pytest.param(
            sets(
                multi_point=plugin_set(["TestPlugin", "ScorePlugin1"]),
                score=plugin_set(["ScoreWithNormalizePlugin1", "ScorePlugin1", "TestPlugin"]),
            ),
            {
                **ALL_TEST,
                "pre_score": ["TestPlugin", "ScorePlugin1"],
                "score": ["ScorePlugin1", "TestPlugin", "ScoreWithNormalizePlugin1"],
            },
            {"ScoreWithNormalizePlugin1": 1, "ScorePlugin1": 1, "TestPlugin": 1},
            id="Reorder MultiPoint plugins (only when it exists in MultiPoint)",
        ),
        pytest.param(
            sets(
                multi_point=plugin_set(["TestPlugin", "ScorePlugin1"]),
                score=plugin_set([("ScorePlugin1", 5), ("TestPlugin", 3)]),
            ),
            {
                **ALL_TEST,
                "pre_score": ["TestPlugin", "ScorePlugin1"],
                "score": ["ScorePlugin1", "TestPlugin"],
            },
            {"ScorePlugin1": 5, "TestPlugin": 3},
            id="Override MultiPoint plugins weights",
        ),
        pytest.param(
            sets(
                multi_point=plugin_set(["QueueSortPlugin", "BindPlugin", "ScorePlugin1"], ["*"]),
            ),
            {
                "queue_sort": ["QueueSortPlugin"],
                "pre_score": ["ScorePlugin1"],
                "score": ["ScorePlugin1"],
                "bind": ["BindPlugin"],
            },
            {"ScorePlugin1": 1},
            id="disable and enable MultiPoint plugins with '*'",
        ),
        pytest.param(
            sets(
                multi_point=plugin_set(
                    ["BindPlugin", "QueueSortPlugin", "ScorePlugin1"], ["ScorePlugin1"]
                ),
            ),
            {
                "queue_sort": ["QueueSortPlugin"],
                "pre_score": ["ScorePlugin1"],
                "score": ["ScorePlugin1"],
                "bind": ["BindPlugin"],
            },
            {"ScorePlugin1": 1},
            id="disable and enable MultiPoint plugin by name",
        ),
        pytest.param(
            sets(
                multi_point=plugin_set(["TestPlugin", "ScorePlugin1"]),
                score=plugin_set([("ScorePlugin1", 5), ("ScorePlugin2", 5), ("TestPlugin", 3)]),
            ),
            {
                **ALL_TEST,
                "pre_score": ["TestPlugin", "ScorePlugin1"],
                "score": ["ScorePlugin1", "TestPlugin", "ScorePlugin2"],
            },
            {"ScorePlugin1": 5, "ScorePlugin2": 5, "TestPlugin": 3},
            id="Override MultiPoint weights and avoid loading a plugin twice",
        ),
    ],
)
def test_expansion_matches_upstream_table(
    plugins: dict[str, Any], points: dict[str, list[str]], weights: dict[str, int]
) -> None:
    """expandMultiPointPlugins: overrides first, then multiPoint-only, then the other
    specific plugins; disabled names and "*" honoured; weights as getScoreWeights."""
    assert expand(plugins) == (points, weights)


def test_specific_score_entry_without_weight_beats_the_multipoint_weight() -> None:
    """getScoreWeights reads score.enabled first: an entry there without a weight means 1,
    even when multiPoint gives the plugin a weight (upstream, not the multiPoint 7)."""
    _, weights = expand(
        sets(multi_point=plugin_set([("ScorePlugin1", 7)]), score=plugin_set(["ScorePlugin1"]))
    )
    assert weights == {"ScorePlugin1": 1}


@pytest.mark.parametrize(
    ("plugins", "message"),
    [
        (
            sets(multi_point=plugin_set(["TestPlugin", "TestPlugin"])),
            "plugins.multiPoint: plugin 'TestPlugin' already registered as QueueSort",
        ),
        (
            sets(score=plugin_set(["ScorePlugin1", "ScorePlugin1"])),
            "plugins.score: plugin 'ScorePlugin1' already registered as Score",
        ),
        (
            sets(filter=plugin_set(["ScorePlugin1"])),
            "plugins.filter: plugin 'ScorePlugin1' does not extend Filter",
        ),
        (
            sets(bind=plugin_set(["Missing"])),
            "plugins.bind: plugin 'Missing' does not exist",
        ),
    ],
)
def test_bad_plugin_sets_are_errors_naming_point_and_plugin(
    plugins: dict[str, Any], message: str
) -> None:
    """Double registration, a plugin at a point it does not implement, an unknown plugin."""
    with pytest.raises(ValueError, match=message):
        expand(plugins)


def test_gang_placement_is_reached_through_multipoint_only() -> None:
    """tessera's GangPlacement point has no plugin set: multiPoint puts its plugins there."""
    implements = {"Gangs": frozenset({"gang"}), "Other": frozenset({"filter"})}
    expanded = expand_plugins(Plugins(multi_point=plugin_set(["Other", "Gangs"])), implements)
    assert expanded.points["gang"] == ("Gangs",)
    assert expanded.points["filter"] == ("Other",)
