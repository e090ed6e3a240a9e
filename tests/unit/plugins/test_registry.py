"""The registry: built-ins plus ``tessera.plugins`` entry points read through importlib.metadata
(real ``.dist-info`` directories on a temporary path), and the errors naming distributions."""

from __future__ import annotations

from collections.abc import Mapping
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest

from scheduler.framework.interfaces import Handle
from scheduler.plugins.registry import BUILTIN, ENTRY_POINT_GROUP, REGISTRY, load_registry


class Spread:
    """A minimal out-of-tree plugin (a Filter that passes every node)."""

    name = "Spread"

    def __init__(self, args: Mapping[str, Any], handle: Handle) -> None:
        self.args = dict(args)

    def filter(self, state: Any, pod: Any, snapshot: Any, nodes: Any) -> Any:
        """Not called here."""
        raise AssertionError


def installed(root: Path, dist: str, entries: Mapping[str, str]) -> list[metadata.EntryPoint]:
    """Write ``dist``'s metadata with ``entries`` (name -> object reference) under ``root``
    and read its tessera.plugins entry points back through importlib.metadata."""
    info = root / f"{dist.replace('-', '_')}-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 1.0\n")
    lines = [f"[{ENTRY_POINT_GROUP}]", *(f"{n} = {ref}" for n, ref in entries.items())]
    (info / "entry_points.txt").write_text("\n".join(lines) + "\n")
    (found,) = [d for d in metadata.distributions(path=[str(root)]) if d.name == dist]
    return [e for e in found.entry_points if e.group == ENTRY_POINT_GROUP]


HERE = __name__


def test_entry_point_plugin_joins_the_builtins(tmp_path: Path) -> None:
    """An installed entry point adds its plugin under its name, beside every built-in."""
    registry = load_registry(installed(tmp_path, "spread-plugin", {"Spread": f"{HERE}:Spread"}))
    assert registry["Spread"] is Spread
    assert set(registry) == {*BUILTIN, "Spread"}


def test_default_registry_holds_the_builtins() -> None:
    """REGISTRY (read lazily from the installed entry points) has every built-in plugin."""
    assert set(BUILTIN) <= set(REGISTRY)
    assert REGISTRY["NodeResourcesFit"] is BUILTIN["NodeResourcesFit"]


@pytest.mark.parametrize(
    ("entries", "problem"),
    [
        (
            {"Spread": "no_such_module_for_tessera:Spread"},
            "entry point 'Spread' (no_such_module_for_tessera:Spread) of distribution "
            "'broken-plugin' failed to load: ModuleNotFoundError",
        ),
        (
            {"Other": f"{HERE}:Spread"},
            "must load a plugin class or factory whose name is 'Other' (got type named 'Spread')",
        ),
        (
            {"NodeResourcesFit": f"{HERE}:Spread"},
            "must load a plugin class or factory whose name is 'NodeResourcesFit'",
        ),
    ],
)
def test_broken_entry_points_name_the_distribution(
    tmp_path: Path, entries: dict[str, str], problem: str
) -> None:
    """A failing import or a name mismatch is a one-line error naming the distribution."""
    with pytest.raises(ValueError) as caught:
        load_registry(installed(tmp_path, "broken-plugin", entries))
    assert problem in str(caught.value)
    assert "distribution 'broken-plugin'" in str(caught.value)


class NodeResourcesFit(Spread):
    """An out-of-tree plugin reusing a built-in's name."""

    name = "NodeResourcesFit"


def test_name_clashes_are_errors_naming_both_sides(tmp_path: Path) -> None:
    """Reusing a built-in's name, or another distribution's, is refused."""
    clash = installed(
        tmp_path / "a", "shadow-plugin", {"NodeResourcesFit": f"{HERE}:NodeResourcesFit"}
    )
    with pytest.raises(
        ValueError, match="clashes with tessera's built-in plugin 'NodeResourcesFit'"
    ):
        load_registry(clash)
    first = installed(tmp_path / "b", "first-plugin", {"Spread": f"{HERE}:Spread"})
    second = installed(tmp_path / "c", "second-plugin", {"Spread": f"{HERE}:Spread"})
    with pytest.raises(
        ValueError,
        match=r"distribution 'second-plugin'.* clashes with the plugin of the same name from "
        r"distribution 'first-plugin'",
    ):
        load_registry([*first, *second])
