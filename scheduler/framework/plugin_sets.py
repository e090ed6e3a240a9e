"""How a profile's plugin sets become the plugins run at each extension point.

Two steps, each kube-scheduler's own (Kubernetes 1.35), as pure functions over the
:mod:`scheduler.api.kubeschedulerconfig` models:

1. :func:`merge_plugins` — the configuration's defaulting
   (``pkg/scheduler/apis/config/v1/default_plugins.go``, ``mergePlugins``/``mergePluginSet``):
   per plugin set, the default plugins not disabled (``"*"`` disables them all) keep their
   order; a default that the custom set enables again is replaced *in place* by the custom
   entry (its weight wins); the other custom plugins are appended in their order. Disabled
   names are kept, so step 2 knows what the user switched off.
2. :func:`expand_plugins` — the framework's construction
   (``pkg/scheduler/framework/runtime/framework.go``: ``updatePluginList``,
   ``expandMultiPointPlugins``, ``getScoreWeights``): each extension point runs its
   specifically enabled plugins, plus every ``multiPoint`` plugin that implements the point
   and is not disabled there (``"*"`` at a point turns multiPoint expansion off there). The
   order is: specific entries that also appear in multiPoint (in specific order), then
   multiPoint-only plugins, then the other specific entries. A plugin twice at one point is an
   error. A score plugin's weight is that of its first ``score.enabled`` entry if it has one
   (unset or 0 meaning 1), else that of its ``multiPoint`` entry (likewise), else 1.

Who calls: ``scheduler.plugins.configuration`` (step 1, against the default plugin set) and
:class:`~scheduler.framework.runtime.Framework` (step 2, with what its plugin instances
implement). Errors are ``ValueError`` naming the extension point and the plugin.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from pydantic.alias_generators import to_camel

from scheduler.api.kubeschedulerconfig import EXTENSION_POINTS, Plugin, Plugins, PluginSet

__all__ = [
    "POINT_LABELS",
    "ExpandedPlugins",
    "expand_plugins",
    "merge_plugin_set",
    "merge_plugins",
]

POINT_LABELS: dict[str, str] = {
    "pre_enqueue": "PreEnqueue",
    "queue_sort": "QueueSort",
    "pre_filter": "PreFilter",
    "filter": "Filter",
    "post_filter": "PostFilter",
    "pre_score": "PreScore",
    "score": "Score",
    "reserve": "Reserve",
    "permit": "Permit",
    "pre_bind": "PreBind",
    "bind": "Bind",
    "post_bind": "PostBind",
    "gang": "GangPlacement",
}
"""Extension point attribute -> its name in messages. ``gang`` (tessera's GangPlacement)
has no plugin set in the configuration: plugins reach it through multiPoint only."""


# -- step 1: merge with the defaults ------------------------------------------------------------
def merge_plugin_set(default: PluginSet, custom: PluginSet) -> PluginSet:
    """Upstream ``mergePluginSet`` (see the module docstring)."""
    disabled = [Plugin(name=p.name) for p in (*custom.disabled, *default.disabled)]
    disabled_names = {p.name for p in disabled}
    # a name enabled twice in the custom set replaces the default with its *last* entry
    custom_index = {plugin.name: index for index, plugin in enumerate(custom.enabled)}
    replaced: set[int] = set()
    enabled: list[Plugin] = []
    if "*" not in disabled_names:
        for default_plugin in default.enabled:
            if default_plugin.name in disabled_names:
                continue
            index = custom_index.get(default_plugin.name)
            if index is None:
                enabled.append(default_plugin)
            else:  # re-configured: the custom entry takes the default's place
                enabled.append(custom.enabled[index])
                replaced.add(index)
    enabled.extend(p for i, p in enumerate(custom.enabled) if i not in replaced)
    return PluginSet(enabled=tuple(enabled), disabled=tuple(disabled))


def merge_plugins(default: Plugins, custom: Plugins | None) -> Plugins:
    """Upstream ``mergePlugins``: every plugin set merged with its default counterpart."""
    if custom is None:
        return default
    return Plugins.model_validate(
        {
            name: merge_plugin_set(getattr(default, name), getattr(custom, name))
            for name, _ in default.sets()
        }
    )


# -- step 2: expand per extension point ---------------------------------------------------------
@dataclass(frozen=True, slots=True)
class ExpandedPlugins:
    """What each extension point runs, in order, and every score plugin's weight."""

    points: Mapping[str, tuple[str, ...]]
    weights: Mapping[str, int]


def _where(point: str) -> str:
    return "multiPoint" if point == "multi_point" else to_camel(point)


def expand_plugins(plugins: Plugins, implements: Mapping[str, frozenset[str]]) -> ExpandedPlugins:
    """Per extension point (``EXTENSION_POINTS`` plus ``gang``), the plugin names to run.

    ``implements`` maps every instantiated plugin to the extension point attributes it
    implements. ValueError when an enabled plugin was not instantiated, when a specific
    point enables a plugin that does not implement it, or when a plugin is registered twice
    at one point.
    """
    for point, plugin_set in plugins.sets():
        for plugin in plugin_set.enabled:
            if plugin.name not in implements:
                raise ValueError(f"plugins.{_where(point)}: plugin {plugin.name!r} does not exist")
    points: dict[str, tuple[str, ...]] = {}
    for point in (*EXTENSION_POINTS, "gang"):
        label = POINT_LABELS[point]
        plugin_set = getattr(plugins, point) if point != "gang" else PluginSet()
        specific: list[str] = []
        for plugin in plugin_set.enabled:
            if point not in implements[plugin.name]:
                raise ValueError(
                    f"plugins.{_where(point)}: plugin {plugin.name!r} does not extend {label}"
                )
            if plugin.name in specific:
                raise ValueError(
                    f"plugins.{_where(point)}: plugin {plugin.name!r} already registered as {label}"
                )
            specific.append(plugin.name)
        disabled = {p.name for p in plugin_set.disabled}
        if "*" in disabled:
            points[point] = tuple(specific)
            continue
        overrides: set[str] = set()
        multi: list[str] = []
        for plugin in plugins.multi_point.enabled:
            name = plugin.name
            if point not in implements[name] or name in disabled:
                continue
            if name in specific:
                overrides.add(name)  # the specific entry overrides the multiPoint one
                continue
            if name in multi:
                raise ValueError(
                    f"plugins.multiPoint: plugin {name!r} already registered as {label}"
                )
            multi.append(name)
        ordered = [n for n in specific if n in overrides]
        ordered.extend(multi)
        ordered.extend(n for n in specific if n not in overrides)
        points[point] = tuple(ordered)
    return ExpandedPlugins(points, _score_weights(plugins, implements))


def _score_weights(plugins: Plugins, implements: Mapping[str, frozenset[str]]) -> dict[str, int]:
    """Upstream ``getScoreWeights``: ``score.enabled`` entries first, then multiPoint; the
    first entry of a name decides; unset or 0 means 1."""
    weights: dict[str, int] = {}
    for plugin in (*plugins.score.enabled, *plugins.multi_point.enabled):
        if "score" not in implements.get(plugin.name, frozenset()) or plugin.name in weights:
            continue
        weights[plugin.name] = plugin.weight or 1
    return weights
