"""Protocol conformance, checked once for every registered plugin: each implements every
extension point whose methods it defines, with the Protocol's signature, and the runtime
wires it into exactly those points."""

from __future__ import annotations

import inspect

import pytest

from scheduler.framework import interfaces
from scheduler.framework.profiles import Profile
from scheduler.framework.runtime import Framework
from scheduler.plugins.registry import REGISTRY
from tests.builders import make_handle, make_node

# extension point -> (Protocol, its methods, the runtime's list in Framework.points)
POINTS: dict[str, tuple[type, tuple[str, ...], str | None]] = {
    "PreEnqueue": (interfaces.PreEnqueuePlugin, ("pre_enqueue",), "pre_enqueue"),
    "QueueSort": (interfaces.QueueSortPlugin, ("less",), "queue_sort"),
    "PreFilter": (interfaces.PreFilterPlugin, ("pre_filter",), "pre_filter"),
    "Filter": (interfaces.FilterPlugin, ("filter",), "filter"),
    "PostFilter": (interfaces.PostFilterPlugin, ("post_filter",), "post_filter"),
    "PreScore": (interfaces.PreScorePlugin, ("pre_score",), "pre_score"),
    "Score": (interfaces.ScorePlugin, ("score", "normalize"), "score"),
    "Reserve": (interfaces.ReservePlugin, ("reserve", "unreserve"), "reserve"),
    "Permit": (interfaces.PermitPlugin, ("permit",), "permit"),
    "PreBind": (interfaces.PreBindPlugin, ("pre_bind",), "pre_bind"),
    "Bind": (interfaces.BindPlugin, ("bind",), "bind"),
    "GangPlacement": (interfaces.GangPlacementPlugin, ("place_gang",), "gang"),
    "GangPreemption": (interfaces.GangPreemptionPlugin, ("preempt_gang",), None),
}


def _parameters(function: object) -> list[str]:
    """Parameter names of a function or bound method, without ``self``."""
    names = list(inspect.signature(function).parameters)  # type: ignore[arg-type]
    return names[1:] if names and names[0] == "self" else names


@pytest.mark.parametrize("registered", sorted(REGISTRY))
def test_registered_plugin_implements_the_points_its_methods_claim(registered: str) -> None:
    """Each plugin fully implements, with the Protocol's signature, every point it touches."""
    # name == registry key; isinstance passes; the runtime wires it into exactly those points
    handle = make_handle([make_node("n0")])
    plugin = REGISTRY[registered]({}, handle)
    assert plugin.name == registered
    assert isinstance(plugin, interfaces.Plugin)
    claimed: set[str] = set()
    for point, (protocol, methods, _) in POINTS.items():
        present = [m for m in methods if callable(getattr(plugin, m, None))]
        if not present:
            assert not isinstance(plugin, protocol), point
            continue
        claimed.add(point)
        assert present == list(methods), f"{registered} has {present} of {point}'s {methods}"
        assert isinstance(plugin, protocol), point
        for method in methods:
            expected = _parameters(getattr(protocol, method))
            assert _parameters(getattr(plugin, method)) == expected, f"{registered}.{method}"
    assert claimed, f"{registered} implements no extension point"
    profile = Profile.of("one", [registered])
    framework = Framework(profile, [plugin], handle)
    wired = {
        point
        for point, (_, _, attr) in POINTS.items()
        if attr is not None and plugin in getattr(framework.points, attr)
    }
    assert wired == claimed - {"GangPreemption"}
