"""A resolved scheduler profile: what one :class:`~scheduler.framework.runtime.Framework` runs.

A profile is a KubeSchedulerConfiguration profile *after* resolution
(``scheduler.plugins.configuration.profiles_from_config``): its plugin sets are already
merged with the default plugins, plugin names are the registry's, and every plugin's args
are at hand. The framework expands ``multiPoint`` per extension point when it is built
(:func:`~scheduler.framework.plugin_sets.expand_plugins`). Besides the upstream fields it
carries tessera's own, which the caller (a command) decides: ``tieBreak``, ``seed`` and
``batchThreshold``.

Written out (tests and tools build profiles directly)::

    name: gangs
    tieBreak: first
    plugins:
      multiPoint:
        enabled: [{name: NodeResourcesFit}, {name: DynamicResources}, {name: DefaultBinder}]
      score:
        disabled: [{name: NodeResourcesFit}]
    pluginConfig:
    - name: DynamicResources
      args: {filterTimeoutSeconds: 5}
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from scheduler.api.kubeschedulerconfig import Plugin, PluginConfig, Plugins, PluginSet

__all__ = ["Profile", "TieBreak"]

TieBreak = Literal["random", "first", "nodeOrder"]


class Profile(BaseModel):
    """A resolved profile (see the module docstring)."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    name: str = Field(alias="schedulerName", description="The profile's scheduler name.")
    plugins: Plugins = Field(
        default_factory=Plugins, description="Plugin sets, merged with the defaults."
    )
    plugin_config: tuple[PluginConfig, ...] = Field(
        default=(), alias="pluginConfig", description="Arguments per plugin (at most one each)."
    )
    percentage_of_nodes_to_score: int | None = Field(
        default=None,
        alias="percentageOfNodesToScore",
        description=(
            "Carried from the configuration; tessera's own cycle scores every feasible node, "
            "kube-scheduler mode (a sampler) searches this percentage of the nodes "
            "(scheduler/framework/sampling.py, docs/configuration.md)."
        ),
    )
    batch_threshold: int = Field(
        default=0,
        alias="batchThreshold",
        description="Pods with priority below this are batch (label tessera.io/class: batch too).",
    )
    tie_break: TieBreak = Field(
        default="random",
        alias="tieBreak",
        description=(
            "Among nodes with the best score: random (kube-scheduler), first (lowest node "
            "index), or nodeOrder (an explicit priority order given by the caller)."
        ),
    )
    seed: int = Field(default=0, description="Seed of the tie-break random source.")
    source: str = Field(
        default="", description="Where the profile came from (a file, a policy), for errors."
    )

    def args(self, plugin: str) -> Mapping[str, Any]:
        """The args of ``plugin`` ({} when the profile configures none)."""
        for entry in self.plugin_config:
            if entry.name == plugin:
                return entry.args
        return {}

    def with_args(self, plugin: str, args: Mapping[str, Any]) -> Profile:
        """A copy with ``plugin``'s args replaced."""
        kept = [entry for entry in self.plugin_config if entry.name != plugin]
        kept.append(PluginConfig(name=plugin, args=dict(args)))
        return self.model_copy(update={"plugin_config": tuple(kept)})

    @classmethod
    def of(
        cls,
        name: str,
        plugins: Sequence[str | tuple[str, int]],
        *,
        args: Mapping[str, Mapping[str, Any]] | None = None,
        disabled: Mapping[str, Sequence[str]] | None = None,
        **extras: Any,
    ) -> Profile:
        """A profile running exactly ``plugins`` at every point each implements (multiPoint,
        in order; a ``(name, weight)`` pair sets a score weight), minus ``disabled``
        (extension point attribute -> plugin names), with ``args`` per plugin."""
        enabled = tuple(
            Plugin(name=p) if isinstance(p, str) else Plugin(name=p[0], weight=p[1])
            for p in plugins
        )
        sets: dict[str, PluginSet] = {"multi_point": PluginSet(enabled=enabled)}
        for point, names in (disabled or {}).items():
            sets[point] = PluginSet(disabled=tuple(Plugin(name=n) for n in names))
        config = tuple(PluginConfig(name=n, args=dict(a)) for n, a in (args or {}).items())
        return cls(name=name, plugins=Plugins.model_validate(sets), plugin_config=config, **extras)
