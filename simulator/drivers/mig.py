"""MIG placement geometry: which GPU instances fit where on one GPU.

A placement is ``(profile, start)``; it occupies memory slices ``[start, start + size)`` of the 8.
The whole rule (docs/devices.md §1.4): the start must be one of the profile's valid
starts, the memory slices must be free, and at most one ``+me`` instance may exist. Per-profile
maximum counts and the 7-compute-slice limit then hold automatically.

Callers: the NVIDIA driver (dynamic MIG publishes every placement of every profile; static MIG
places a configured layout) and the cluster spec (a static layout must be placeable).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from simulator.drivers.catalog import MEMORY_SLICES, GpuModel, MigProfile


@dataclass(frozen=True)
class Placement:
    """One GPU instance of ``profile`` at memory slice ``start``."""

    profile: MigProfile
    start: int

    @property
    def memory_slices(self) -> range:
        """The memory slices this instance occupies."""
        return range(self.start, self.start + self.profile.size)


def profile_placements(profile: MigProfile) -> list[Placement]:
    """Every placement of one profile, by ascending start."""
    return [Placement(profile, start) for start in profile.starts]


def all_placements(model: GpuModel) -> list[Placement]:
    """Every placement of every profile of ``model`` (catalog profile order, then start)."""
    return [p for profile in model.mig_profiles for p in profile_placements(profile)]


def fits(placement: Placement, existing: Iterable[Placement]) -> bool:
    """True iff ``placement`` can be created next to ``existing`` on the same GPU.

    Checks a valid start, memory slices inside the GPU and free, and at most one +me instance.
    """
    profile = placement.profile
    if placement.start not in profile.starts:
        return False
    if placement.start + profile.size > MEMORY_SLICES:
        return False
    used: set[int] = set()
    media = False
    for other in existing:
        used.update(other.memory_slices)
        media = media or other.profile.media_extensions
    if used.intersection(placement.memory_slices):
        return False
    return not (media and profile.media_extensions)


def place_layout(model: GpuModel, layout: Sequence[str]) -> list[Placement]:
    """Place the instances named in ``layout`` on one GPU of ``model``, first fit.

    Larger instances go first (ties: the profile with fewer valid starts first, then layout
    order), each at the lowest start that fits; if that greedy choice leads to a dead end the
    search backtracks, so a layout is rejected only when no placement exists at all. The result
    is sorted by start.

    Raises ValueError naming the model and the layout when a profile is unknown, the model is not
    MIG-capable, the layout is empty, a per-profile maximum or the one-+me rule is exceeded, the
    memory slices do not add up, or no non-overlapping placement exists.
    """
    shown = "[" + ", ".join(layout) + "]"
    if not model.mig_capable:
        raise ValueError(f"MIG layout {shown}: GPU model {model.name} is not MIG-capable")
    if not layout:
        raise ValueError(f"MIG layout for {model.name}: empty; name at least one profile")
    profiles = [model.profile(name) for name in layout]
    counts = Counter(p.name for p in profiles)
    for profile in model.mig_profiles:
        if counts[profile.name] > profile.max_count:
            raise ValueError(
                f"MIG layout {shown} for {model.name}: {counts[profile.name]} x {profile.name} "
                f"exceeds its maximum of {profile.max_count} per GPU"
            )
    media = sum(1 for p in profiles if p.media_extensions)
    if media > 1:
        raise ValueError(
            f"MIG layout {shown} for {model.name}: {media} +me instances; at most one per GPU"
        )
    slices_needed = sum(p.size for p in profiles)
    if slices_needed > MEMORY_SLICES:
        raise ValueError(
            f"MIG layout {shown} for {model.name}: needs {slices_needed} memory slices, "
            f"a GPU has {MEMORY_SLICES}"
        )
    order = sorted(
        range(len(profiles)),
        key=lambda i: (-profiles[i].size, len(profiles[i].starts), i),
    )
    placed = _search([profiles[i] for i in order], [])
    if placed is None:
        raise ValueError(
            f"MIG layout {shown} for {model.name}: no non-overlapping placement exists "
            f"(valid starts: "
            + "; ".join(f"{p.name} {list(p.starts)}" for p in dict.fromkeys(profiles))
            + ")"
        )
    return sorted(placed, key=lambda p: p.start)


def _search(remaining: list[MigProfile], placed: list[Placement]) -> list[Placement] | None:
    """Depth-first first fit: lowest start first, backtracking on dead ends."""
    if not remaining:
        return placed
    profile, rest = remaining[0], remaining[1:]
    for start in profile.starts:
        candidate = Placement(profile, start)
        if fits(candidate, placed):
            found = _search(rest, [*placed, candidate])
            if found is not None:
                return found
    return None
