"""From a KubeSchedulerConfiguration to the profiles tessera runs.

kube-scheduler's default plugin set (:data:`DEFAULT_PLUGINS`, upstream 1.35's
``getDefaultPlugins`` with the DynamicResourceAllocation gate on, which places
DynamicResources before DefaultPreemption) is merged into each profile's plugins exactly as
upstream defaulting does (:func:`~scheduler.framework.plugin_sets.merge_plugins`). Then:

* upstream names tessera implements under another name are renamed first
  (:data:`ALIASES`: ``DefaultPreemption`` is tessera's ``Preemption``), in the plugin sets
  and in ``pluginConfig``;
* a *default* plugin the registry does not have (the volume plugins, ImageLocality; and
  InterPodAffinity / PodTopologySpread until they are registered) is left out, logged once
  per process; a plugin the *user* enables that the registry does not have is an error
  listing the known plugins;
* ``pluginConfig`` args may carry upstream's ``apiVersion``/``kind`` (``<Plugin>Args``);
  they are checked and dropped, the rest is validated by the plugin's typed args model when
  the framework is built (:func:`~scheduler.plugins.registry.build_plugins`). Args for a
  plugin the profile does not enable are not used (as upstream), with a warning;
* ``percentageOfNodesToScore`` is the profile's, else the global one; tessera's extras come
  from the caller (``tieBreak``, ``seed``) and from ServingBatch's ``batchThreshold`` arg.

Who calls: the commands (``tessera replay``/``inflate --config`` and the shipped policies,
which are configurations of the same shape, see ``simulator.experiments.policies``).
Errors are :class:`~scheduler.api.errors.LoadError`: one line naming the source, the field
path and the value. See docs/configuration.md.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from pydantic.alias_generators import to_camel

from scheduler.api.errors import LoadError
from scheduler.api.kubeschedulerconfig import (
    API_VERSION,
    KubeSchedulerConfiguration,
    KubeSchedulerProfile,
    Plugin,
    PluginConfig,
    Plugins,
    PluginSet,
)
from scheduler.framework.plugin_sets import merge_plugins
from scheduler.framework.profiles import Profile, TieBreak
from scheduler.plugins.registry import REGISTRY, PluginFactory

__all__ = [
    "ALIASES",
    "DEFAULT_PLUGINS",
    "NOT_MODELLED",
    "profiles_from_config",
]

log = logging.getLogger(__name__)

ALIASES: dict[str, str] = {"DefaultPreemption": "Preemption"}
"""Upstream plugin name -> the tessera plugin that plays its part."""

_UPSTREAM_NAME = {tessera: upstream for upstream, tessera in ALIASES.items()}

DEFAULT_PLUGINS = Plugins(
    multi_point=PluginSet(
        enabled=(
            Plugin(name="SchedulingGates"),
            Plugin(name="PrioritySort"),
            Plugin(name="NodeUnschedulable"),
            Plugin(name="NodeName"),
            Plugin(name="TaintToleration", weight=3),
            Plugin(name="NodeAffinity", weight=2),
            Plugin(name="NodePorts"),
            Plugin(name="NodeResourcesFit", weight=1),
            Plugin(name="VolumeRestrictions"),
            Plugin(name="NodeVolumeLimits"),
            Plugin(name="VolumeBinding"),
            Plugin(name="VolumeZone"),
            Plugin(name="PodTopologySpread", weight=2),
            Plugin(name="InterPodAffinity", weight=2),
            Plugin(name="DynamicResources"),
            Plugin(name="Preemption"),  # upstream's DefaultPreemption
            Plugin(name="NodeResourcesBalancedAllocation", weight=1),
            Plugin(name="ImageLocality", weight=1),
            Plugin(name="DefaultBinder"),
        )
    )
)
"""kube-scheduler 1.35's default plugins (all through multiPoint), with tessera's names."""

NOT_MODELLED = (
    "VolumeRestrictions",
    "NodeVolumeLimits",
    "VolumeBinding",
    "VolumeZone",
    "ImageLocality",
)
"""Default plugins tessera does not implement: its clusters have no volumes and no images."""

_skipped_logged: set[str] = set()


def _rename(plugin_set: PluginSet) -> PluginSet:
    def renamed(plugins: tuple[Plugin, ...]) -> tuple[Plugin, ...]:
        return tuple(
            p.model_copy(update={"name": ALIASES[p.name]}) if p.name in ALIASES else p
            for p in plugins
        )

    return PluginSet(enabled=renamed(plugin_set.enabled), disabled=renamed(plugin_set.disabled))


def _renamed(plugins: Plugins | None) -> Plugins | None:
    if plugins is None:
        return None
    return Plugins.model_validate({point: _rename(s) for point, s in plugins.sets()})


def _known(
    merged: Plugins,
    custom: Plugins | None,
    registry: Mapping[str, PluginFactory],
    source: str,
    where: tuple[str | int, ...],
) -> Plugins:
    """``merged`` without the default plugins tessera lacks; LoadError for a plugin the user
    enabled that no registry entry provides."""
    sets: dict[str, PluginSet] = {}
    for point, plugin_set in merged.sets():
        user = getattr(custom, point).enabled if custom is not None else ()
        for j, plugin in enumerate(user):
            if plugin.name not in registry:
                known = ", ".join(sorted(registry))
                raise LoadError(
                    f"unknown plugin {_UPSTREAM_NAME.get(plugin.name, plugin.name)!r} "
                    f"(tessera knows: {known})",
                    source=source,
                    path=(*where, "plugins", _label(point), "enabled", j, "name"),
                )
        kept = []
        for plugin in plugin_set.enabled:
            if plugin.name in registry:
                kept.append(plugin)
            elif plugin.name not in _skipped_logged:
                _skipped_logged.add(plugin.name)
                log.info("default plugin %s is not modelled by tessera: left out", plugin.name)
        sets[point] = plugin_set.model_copy(update={"enabled": tuple(kept)})
    return Plugins.model_validate(sets)


def _label(point: str) -> str:
    return "multiPoint" if point == "multi_point" else to_camel(point)


def _plugin_args(
    profile: KubeSchedulerProfile,
    enabled: set[str],
    source: str,
    where: tuple[str | int, ...],
) -> tuple[PluginConfig, ...]:
    """The profile's args per plugin (renamed, TypeMeta checked and dropped); args of a
    plugin the profile does not enable are left out with a warning."""
    out: list[PluginConfig] = []
    for j, entry in enumerate(profile.plugin_config):
        name = ALIASES.get(entry.name, entry.name)
        args: dict[str, Any] = dict(entry.args)
        path = (*where, "pluginConfig", j, "args")
        version = args.pop("apiVersion", API_VERSION)
        kind = args.pop("kind", f"{entry.name}Args")
        if version != API_VERSION:
            raise LoadError(
                f"args apiVersion {version!r}: expected {API_VERSION}",
                source=source,
                path=(*path, "apiVersion"),
            )
        if kind != f"{entry.name}Args":
            raise LoadError(
                f"args of plugin {entry.name} must be of kind {entry.name}Args (got {kind!r})",
                source=source,
                path=(*path, "kind"),
            )
        if name not in enabled:
            log.warning(
                "%s: %s: args for plugin %s, which profile %s does not enable: not used",
                source,
                ".".join(str(p) for p in (*where, "pluginConfig", j)),
                entry.name,
                profile.scheduler_name,
            )
            continue
        out.append(PluginConfig(name=name, args=args))
    return tuple(out)


def _batch_threshold(config: tuple[PluginConfig, ...]) -> int:
    for entry in config:
        if entry.name == "ServingBatch":
            value = entry.args.get("batchThreshold", entry.args.get("batch_threshold", 0))
            return value if isinstance(value, int) else 0  # a bad value fails in the plugin
    return 0


def profiles_from_config(
    config: KubeSchedulerConfiguration,
    *,
    source: str,
    tie_break: TieBreak = "random",
    seed: int = 0,
    registry: Mapping[str, PluginFactory] | None = None,
) -> tuple[Profile, ...]:
    """The resolved profiles of ``config`` (already defaulted and validated, see
    :func:`~scheduler.api.kubeschedulerconfig.load_scheduler_config`), in its order.

    ``source`` names the configuration in errors (a file path, ``policy tessera``);
    ``tie_break`` and ``seed`` are tessera's, from the command. LoadError for a plugin
    nobody provides or args of the wrong kind.
    """
    known = REGISTRY if registry is None else registry
    profiles: list[Profile] = []
    for i, profile in enumerate(config.profiles):
        where: tuple[str | int, ...] = ("profiles", i)
        custom = _renamed(profile.plugins)
        merged = _known(merge_plugins(DEFAULT_PLUGINS, custom), custom, known, source, where)
        plugin_config = _plugin_args(profile, set(merged.names()), source, where)
        percentage = profile.percentage_of_nodes_to_score
        if percentage is None:
            percentage = config.percentage_of_nodes_to_score
        profiles.append(
            Profile(
                name=profile.scheduler_name or "",
                plugins=merged,
                plugin_config=plugin_config,
                percentage_of_nodes_to_score=percentage,
                batch_threshold=_batch_threshold(plugin_config),
                tie_break=tie_break,
                seed=seed,
                source=source,
            )
        )
    return tuple(profiles)
