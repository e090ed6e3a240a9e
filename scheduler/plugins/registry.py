"""The registry of built-in plugins, by name, and how a profile becomes a Framework.

The framework runtime never imports plugin modules; this module does, once, and hands it
instances. A profile naming an unknown plugin, or giving a plugin bad arguments, fails
with a ValueError naming the profile, the plugin and the problem.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import numpy.typing as npt
from pydantic import ValidationError

from scheduler.framework.backend import BackendHandle, ClusterBackend
from scheduler.framework.interfaces import Handle, Plugin
from scheduler.framework.profiles import Profile
from scheduler.framework.runtime import Framework
from scheduler.plugins import (
    balancedallocation,
    defaultbinder,
    defaultpreemption,
    dynamicresources,
    gangtopology,
    interpodaffinity,
    nodeaffinity,
    noderesources,
    nodeunschedulable,
    podtopologyspread,
    preemption,
    prioritysort,
    servingbatch,
    tainttoleration,
)
from scheduler.plugins.gpu import baselines, fragmentation, tessera

PluginFactory = Callable[[Mapping[str, Any], Handle], Plugin]

REGISTRY: dict[str, PluginFactory] = {}
for _module in (
    noderesources,
    nodeunschedulable,
    tainttoleration,
    nodeaffinity,
    podtopologyspread,
    interpodaffinity,
    prioritysort,
    defaultbinder,
    dynamicresources,
    fragmentation,
    baselines,
    balancedallocation,
    gangtopology,
    preemption,
    defaultpreemption,
    servingbatch,
    tessera,
):
    REGISTRY.update(_module.PLUGINS)


def build_plugins(profile: Profile, handle: Handle) -> list[Plugin]:
    """Instantiate the profile's plugins in order (ValueError naming a bad entry)."""
    plugins: list[Plugin] = []
    for config in profile.plugins:
        factory = REGISTRY.get(config.name)
        if factory is None:
            known = ", ".join(sorted(REGISTRY))
            raise ValueError(
                f"profile {profile.name}: unknown plugin {config.name!r} (known: {known})"
            )
        try:
            plugins.append(factory(config.args, handle))
        except ValidationError as err:
            raise ValueError(f"profile {profile.name}: plugin {config.name}: args: {err}") from err
        except ValueError as err:  # the plugin's own message names the plugin and field
            raise ValueError(f"profile {profile.name}: {err}") from err
    return plugins


def build_framework(
    profile: Profile, backend: ClusterBackend, *, node_rank: npt.NDArray[np.int64] | None = None
) -> Framework:
    """A Framework running ``profile`` against ``backend`` (its plugins get a
    :class:`~scheduler.framework.backend.BackendHandle` over it)."""
    handle = BackendHandle(backend)
    return Framework(profile, build_plugins(profile, handle), handle, node_rank=node_rank)
