"""The plugin registry (built-ins plus out-of-tree plugins), and how a profile becomes a Framework.

The framework runtime never imports plugin modules; this module does, once, and hands it
instances. The registry holds tessera's built-in plugins and every plugin installed in the
``tessera.plugins`` entry-point group (:data:`ENTRY_POINT_GROUP`), so users add plugins
without forking tessera::

    # pyproject.toml of a plugin distribution
    [project.entry-points."tessera.plugins"]
    PreferLabel = "tessera_example_plugin:PreferLabel"

An entry point must load a plugin class (or any callable) taking ``(args, handle)`` —
``args`` the plugin's ``pluginConfig`` args as a mapping, ``handle`` a
:class:`~scheduler.framework.interfaces.Handle` — and returning a plugin; the loaded object
has a ``name`` equal to the entry point's name. The extension points a plugin takes part in
are the Protocols of :mod:`scheduler.framework.interfaces` its instances satisfy. The entry
points are read when the registry is first used; a broken entry point, a name that clashes
with a built-in or with another distribution's plugin is a ValueError naming the
distributions involved.

:func:`build_plugins` instantiates the plugins a profile enables with their args; a bad
argument is a one-line ValueError naming the profile's source, the profile, the plugin, the
field and the value.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, Mapping
from importlib import metadata
from typing import Any

import numpy as np
import numpy.typing as npt
from pydantic import ValidationError

from scheduler.framework.backend import BackendHandle, ClusterBackend
from scheduler.framework.extenders import SchedulerExtenders
from scheduler.framework.interfaces import Handle, Plugin
from scheduler.framework.profiles import Profile
from scheduler.framework.runtime import Framework
from scheduler.framework.sampling import NodeSampler
from scheduler.plugins import (
    balancedallocation,
    defaultbinder,
    defaultpreemption,
    dynamicresources,
    gangtopology,
    interpodaffinity,
    nodeaffinity,
    nodename,
    nodeports,
    noderesources,
    nodeunschedulable,
    podtopologyspread,
    preemption,
    prioritysort,
    schedulinggates,
    servingbatch,
    tainttoleration,
)
from scheduler.plugins.gpu import baselines, fragmentation, tessera
from scheduler.plugins.helper.args import args_problem

__all__ = [
    "BUILTIN",
    "ENTRY_POINT_GROUP",
    "REGISTRY",
    "PluginFactory",
    "build_framework",
    "build_plugins",
    "load_registry",
]

log = logging.getLogger(__name__)

PluginFactory = Callable[[Mapping[str, Any], Handle], Plugin]

ENTRY_POINT_GROUP = "tessera.plugins"

BUILTIN: dict[str, PluginFactory] = {}
"""tessera's own plugins, by name."""
for _module in (
    schedulinggates,
    prioritysort,
    nodeunschedulable,
    nodename,
    tainttoleration,
    nodeaffinity,
    nodeports,
    noderesources,
    podtopologyspread,
    interpodaffinity,
    dynamicresources,
    preemption,
    balancedallocation,
    defaultbinder,
    fragmentation,
    baselines,
    gangtopology,
    defaultpreemption,
    servingbatch,
    tessera,
):
    BUILTIN.update(_module.PLUGINS)


def _distribution(entry: metadata.EntryPoint) -> str:
    dist = entry.dist
    return f"distribution {dist.name!r}" if dist is not None else "an unknown distribution"


def load_registry(
    entry_points: Iterable[metadata.EntryPoint] | None = None,
) -> dict[str, PluginFactory]:
    """The built-in plugins plus those of the ``tessera.plugins`` entry points (by default
    the installed ones). ValueError naming the distribution for an entry point that fails
    to load, loads something without a matching ``name``, or reuses a taken name."""
    registry = dict(BUILTIN)
    owner: dict[str, str] = {}
    found = metadata.entry_points(group=ENTRY_POINT_GROUP) if entry_points is None else entry_points
    for entry in found:
        where = f"entry point {entry.name!r} ({entry.value}) of {_distribution(entry)}"
        try:
            factory = entry.load()
        except Exception as err:  # a broken third-party module: report it, do not crash
            raise ValueError(
                f"{ENTRY_POINT_GROUP}: {where} failed to load: {type(err).__name__}: {err}"
            ) from err
        name = getattr(factory, "name", None)
        if not callable(factory) or name != entry.name:
            raise ValueError(
                f"{ENTRY_POINT_GROUP}: {where} must load a plugin class or factory whose "
                f"name is {entry.name!r} (got {type(factory).__name__} named {name!r})"
            )
        if entry.name in BUILTIN:
            raise ValueError(
                f"{ENTRY_POINT_GROUP}: {where} clashes with tessera's built-in plugin "
                f"{entry.name!r}"
            )
        if entry.name in owner:
            raise ValueError(
                f"{ENTRY_POINT_GROUP}: {where} clashes with the plugin of the same name "
                f"from {owner[entry.name]}"
            )
        owner[entry.name] = _distribution(entry)
        registry[entry.name] = factory
        log.debug("registered plugin %s from %s", entry.name, owner[entry.name])
    return registry


class _Registry(Mapping[str, PluginFactory]):
    """The registry, read from the entry points on first use (so that importing tessera
    never fails because of a broken third-party plugin; the command that uses the registry
    reports it)."""

    def __init__(self) -> None:
        self._loaded: dict[str, PluginFactory] | None = None

    def _get(self) -> dict[str, PluginFactory]:
        if self._loaded is None:
            self._loaded = load_registry()
        return self._loaded

    def __getitem__(self, name: str) -> PluginFactory:
        return self._get()[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._get())

    def __len__(self) -> int:
        return len(self._get())


REGISTRY: Mapping[str, PluginFactory] = _Registry()
"""Every plugin tessera can run, by name: :data:`BUILTIN` plus the installed entry points."""


def build_plugins(
    profile: Profile, handle: Handle, registry: Mapping[str, PluginFactory] | None = None
) -> list[Plugin]:
    """Instantiate every plugin ``profile`` enables anywhere (once each, with its args), in
    order of first appearance. ValueError naming the source, the profile and the plugin for
    an unknown name or bad args."""
    known = REGISTRY if registry is None else registry
    head = f"{profile.source}: " if profile.source else ""
    plugins: list[Plugin] = []
    for name in profile.plugins.names():
        factory = known.get(name)
        if factory is None:
            names = ", ".join(sorted(known))
            raise ValueError(
                f"{head}profile {profile.name}: unknown plugin {name!r} (known: {names})"
            )
        try:
            plugins.append(factory(profile.args(name), handle))
        except ValidationError as err:
            raise ValueError(f"{head}profile {profile.name}: {args_problem(name, err)}") from err
        except ValueError as err:  # the plugin's own message names the plugin and field
            raise ValueError(f"{head}profile {profile.name}: {err}") from err
    return plugins


def build_framework(
    profile: Profile,
    backend: ClusterBackend,
    *,
    node_rank: npt.NDArray[np.int64] | None = None,
    registry: Mapping[str, PluginFactory] | None = None,
    extenders: SchedulerExtenders | None = None,
    sampler: NodeSampler | None = None,
) -> Framework:
    """A Framework running ``profile`` against ``backend`` (its plugins get a
    :class:`~scheduler.framework.backend.BackendHandle` over it); ``extenders`` and
    ``sampler`` put it in kube-scheduler mode (see :class:`Framework`).

    As kube-scheduler's ``NewFramework``, the profile must run exactly one QueueSort plugin
    and at least one Bind plugin (ValueError otherwise).
    """
    handle = BackendHandle(backend)
    head = f"{profile.source}: " if profile.source else ""
    plugins = build_plugins(profile, handle, registry)
    try:
        framework = Framework(
            profile, plugins, handle, node_rank=node_rank, extenders=extenders, sampler=sampler
        )
    except ValueError as err:
        raise ValueError(f"{head}{err}") from err
    if len(framework.points.queue_sort) != 1:
        raise ValueError(
            f"{head}profile {profile.name}: only one queue sort plugin required, but got "
            f"{len(framework.points.queue_sort)}"
        )
    if not framework.points.bind:
        raise ValueError(f"{head}profile {profile.name}: at least one bind plugin is needed")
    return framework
