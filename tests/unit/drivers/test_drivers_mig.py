"""MIG geometry, static layout placement and the GPU catalog."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from simulator.drivers.catalog import (
    GPU_MODELS,
    H100_80GB,
    MIG_MODELS,
    approximations,
    binary_quantity,
    gpu_model,
)
from simulator.drivers.mig import Placement, all_placements, fits, place_layout


def test_every_mig_model_has_the_shared_geometry() -> None:
    """All MIG models share ids, starts, sizes and max counts, and list 25 placements."""
    expected = {
        19: ((0, 1, 2, 3, 4, 5, 6), 1, 7),
        20: ((0, 1, 2, 3, 4, 5, 6), 1, 1),
        15: ((0, 2, 4, 6), 2, 4),
        14: ((0, 2, 4), 2, 3),
        9: ((0, 4), 4, 2),
        5: ((0,), 4, 1),
        0: ((0,), 8, 1),
    }
    for model in MIG_MODELS:
        got = {p.gi_profile_id: (p.starts, p.size, p.max_count) for p in model.mig_profiles}
        assert got == expected, model.name
        # 7 + 7 + 4 + 3 + 2 + 1 + 1 = 25 placements
        assert len(all_placements(model)) == 25, model.name


def test_h100_profile_table_matches_nvidia_smi() -> None:
    """H100 profile memory/SM/engine values are the real nvidia-smi -lgip numbers."""
    table = {
        p.name: (
            p.memory_mib,
            p.multiprocessors,
            p.copy_engines,
            p.decoders,
            p.jpeg_engines,
            p.ofa_engines,
            p.encoders,
        )
        for p in H100_80GB.mig_profiles
    }
    # MiB = GiB shown x 1024: 9.75 -> 9984, 19.62 -> 20096, 39.50 -> 40448, 79.25 -> 81152
    assert table == {
        "1g.10gb": (9984, 16, 1, 1, 1, 0, 0),
        "1g.10gb+me": (9984, 16, 1, 1, 1, 1, 0),
        "1g.20gb": (20096, 26, 1, 1, 1, 0, 0),
        "2g.20gb": (20096, 32, 2, 2, 2, 0, 0),
        "3g.40gb": (40448, 60, 3, 3, 3, 0, 0),
        "4g.40gb": (40448, 64, 4, 4, 4, 0, 0),
        "7g.80gb": (81152, 132, 8, 7, 7, 1, 0),
    }


def test_unknown_model_lists_known_models() -> None:
    """An unknown GPU model name raises a ValueError listing the catalog."""
    with pytest.raises(ValueError, match=r"unknown GPU model 'H300'; known models: A100-40GB"):
        gpu_model("H300")


def test_approximations_are_flagged_for_unpublished_values() -> None:
    """H200/B200/GB200 SM counts and the undisclosed openb models are listed as approximations."""
    flagged = {(a.subject, a.field) for a in approximations()}
    assert ("H200-141GB 1g.18gb", "multiprocessors") in flagged
    assert ("B200 7g.180gb", "multiprocessors") in flagged
    assert ("GB200 3g.93gb", "multiprocessors") in flagged
    assert ("H200-141GB 3g.71gb", "memory_mib") in flagged
    assert ("G2", "memory_mib") in flagged
    assert ("G3", "memory_mib") in flagged
    # Real H100 numbers are not approximations.
    assert not any(s.startswith("H100-80GB ") for s, _ in flagged)
    assert all(a.reason for a in approximations())


def test_openb_models_are_not_mig_capable() -> None:
    """The openb trace models are plain (shared) GPUs without MIG profiles."""
    for name in ("A10", "G2", "G3", "P100", "T4", "V100M16", "V100M32"):
        assert not GPU_MODELS[name].mig_capable


@pytest.mark.parametrize(
    ("nbytes", "text"),
    [
        (0, "0"),
        (81152 * 2**20, "81152Mi"),  # 79.25 Gi is not whole -> Mi
        (80 * 2**30, "80Gi"),
        (2 * 2**40, "2Ti"),
        (1536, "1536"),  # 1.5 Ki is not whole -> plain bytes
        (2048, "2Ki"),
    ],
)
def test_binary_quantity_is_canonical(nbytes: int, text: str) -> None:
    """Byte counts print in the largest BinarySI unit that keeps an integer."""
    assert binary_quantity(nbytes) == text


def _starts(placements: list[Placement]) -> list[tuple[str, int]]:
    return [(p.profile.name, p.start) for p in placements]


@pytest.mark.parametrize(
    ("layout", "expected"),
    [
        # 4g takes slices 0-3 (only start 0), 3g then fits at 4 (slices 4-7).
        (["3g.40gb", "4g.40gb"], [("4g.40gb", 0), ("3g.40gb", 4)]),
        # Two 3g: 0-3 and 4-7.
        (["3g.40gb", "3g.40gb"], [("3g.40gb", 0), ("3g.40gb", 4)]),
        # 3 x 2g at 0, 2, 4; the 1g.20gb (starts 0,2,4,6) lands on 6-7.
        (
            ["1g.20gb", "2g.20gb", "2g.20gb", "2g.20gb"],
            [("2g.20gb", 0), ("2g.20gb", 2), ("2g.20gb", 4), ("1g.20gb", 6)],
        ),
        # 3g first fit at 0 would leave 1g.10gb no start 7: search backtracks to 3g@4.
        (
            ["3g.40gb", "2g.20gb", "1g.10gb", "1g.10gb"],
            [("2g.20gb", 0), ("1g.10gb", 2), ("1g.10gb", 3), ("3g.40gb", 4)],
        ),
        (["1g.10gb"] * 7, [("1g.10gb", s) for s in range(7)]),
        (["7g.80gb"], [("7g.80gb", 0)]),
    ],
)
def test_place_layout_first_fit(layout: list[str], expected: list[tuple[str, int]]) -> None:
    """Static layouts are placed at the lowest starts that work, sorted by start."""
    assert _starts(place_layout(H100_80GB, layout)) == expected


@pytest.mark.parametrize(
    ("layout", "message"),
    [
        # 1 + 1 + ... : 7 x 1 + 2 = 9 memory slices > 8
        (["1g.10gb"] * 7 + ["1g.20gb"], "needs 9 memory slices, a GPU has 8"),
        (["1g.10gb+me", "1g.10gb+me"], r"2 x 1g.10gb\+me exceeds its maximum of 1"),
        # 4 + 2 + 1 + 1 = 8 slices, but 4g@0, 2g@4, 1g@6 leaves only slice 7 (no 1g start).
        (["4g.40gb", "2g.20gb", "1g.10gb", "1g.10gb"], "no non-overlapping placement exists"),
        (["5g.50gb"], r"unknown MIG profile '5g.50gb'; known: 1g.10gb"),
        ([], "empty"),
    ],
)
def test_place_layout_rejects_impossible_layouts(layout: list[str], message: str) -> None:
    """Impossible layouts raise a ValueError that names the model and the reason."""
    with pytest.raises(ValueError, match=message):
        place_layout(H100_80GB, layout)


def test_place_layout_on_non_mig_model_fails() -> None:
    """A layout on a GPU without MIG is rejected with the model named."""
    with pytest.raises(ValueError, match="T4 is not MIG-capable"):
        place_layout(GPU_MODELS["T4"], ["1g.10gb"])


def test_fits_enforces_slices_and_single_media_instance() -> None:
    """fits() rejects overlapping slices, invalid starts and a second +me instance."""
    by_name = {p.name: p for p in H100_80GB.mig_profiles}
    three_g = Placement(by_name["3g.40gb"], 4)
    assert fits(Placement(by_name["4g.40gb"], 0), [three_g])
    assert not fits(Placement(by_name["2g.20gb"], 4), [three_g])
    assert not fits(Placement(by_name["2g.20gb"], 6), [])  # 6 is not a 2g start
    me = Placement(by_name["1g.10gb+me"], 0)
    assert not fits(Placement(by_name["1g.10gb+me"], 1), [me])
    assert fits(Placement(by_name["1g.10gb"], 1), [me])


def _exhaustive_fits(layout: list[str]) -> bool:
    profiles = [H100_80GB.profile(n) for n in layout]
    for starts in itertools.product(*(p.starts for p in profiles)):
        placed: list[Placement] = []
        ok = True
        for profile, start in zip(profiles, starts, strict=True):
            candidate = Placement(profile, start)
            if not fits(candidate, placed):
                ok = False
                break
            placed.append(candidate)
        if ok:
            return True
    return False


@settings(max_examples=150, deadline=None)
@given(st.lists(st.sampled_from([p.name for p in H100_80GB.mig_profiles]), min_size=1, max_size=5))
def test_place_layout_succeeds_iff_some_placement_exists(layout: list[str]) -> None:
    """place_layout finds a placement exactly when an exhaustive search over starts does."""
    possible = _exhaustive_fits(layout)
    if possible:
        placed = place_layout(H100_80GB, layout)
        assert sorted(p.profile.name for p in placed) == sorted(layout)
        used = [s for p in placed for s in p.memory_slices]
        assert len(used) == len(set(used))
        assert sum(p.profile.media_extensions for p in placed) <= 1
    else:
        with pytest.raises(ValueError, match="MIG layout"):
            place_layout(H100_80GB, layout)
