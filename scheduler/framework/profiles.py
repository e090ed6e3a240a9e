"""Scheduler profiles: which plugins run, in which order, with which weights and args.

A profile is typed configuration (pydantic, every field documented), loaded from YAML::

    apiVersion: tessera.io/v1alpha1
    kind: SchedulerProfile
    name: tessera
    batchThreshold: 0          # priorities below this are batch (DESIGN.md Conventions)
    tieBreak: random           # random | first | nodeOrder
    seed: 0
    plugins:
    - name: NodeResourcesFit
    - name: DynamicResources
    - name: Fragmentation
      weight: 1
      args: {...}

Each enabled plugin takes part in every extension point it implements (kube-scheduler's
``multiPoint``), in list order. Plugin names resolve through the registry; an unknown name
is a configuration error naming the profile and the plugin.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class PluginConfig(BaseModel):
    """One enabled plugin."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(description="Registry name of the plugin, e.g. NodeResourcesFit.")
    weight: int = Field(default=1, ge=0, description="Score weight (ignored if it does not score).")
    args: dict[str, Any] = Field(default_factory=dict, description="Plugin-specific arguments.")


class Profile(BaseModel):
    """A scheduler profile."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    api_version: str = Field(default="tessera.io/v1alpha1", alias="apiVersion")
    kind: Literal["SchedulerProfile"] = "SchedulerProfile"
    name: str = Field(default="tessera", description="Profile (scheduler) name.")
    batch_threshold: int = Field(
        default=0,
        alias="batchThreshold",
        description="Pods with priority below this are batch (label tessera.io/class: batch too).",
    )
    tie_break: Literal["random", "first", "nodeOrder"] = Field(
        default="random",
        alias="tieBreak",
        description=(
            "Among nodes with the best score: random (kube-scheduler), first (lowest node "
            "index), or nodeOrder (an explicit priority order given by the caller)."
        ),
    )
    seed: int = Field(default=0, description="Seed of the tie-break random source.")
    plugins: tuple[PluginConfig, ...] = Field(description="Enabled plugins, in order.")
