"""The synthetic openb-like trace generator: the fitted model, seeded determinism, the
empirical shape mix, Poisson arrivals, log-normal durations, rate sizing, and CSVs that the
openb reader replays."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from simulator.inputs import read_trace
from simulator.traces.openb import OpenbPod, read_pods
from simulator.traces.synthetic import (
    DEFAULT_POD_LIST,
    SyntheticConfig,
    fit_openb,
    generate,
    load_openb_model,
    rate_for_allocation,
    write_openb_csv,
)


def row(name: str, gpus: int, milli: int, created: int, deleted: int, cpu: int = 4000) -> OpenbPod:
    """An openb pod row with the given GPU shape and lifetime."""
    return OpenbPod(
        name, cpu, 8192, gpus, milli if gpus else 0, (), "LS", "Running", created, deleted
    )


# lifetimes 10 s and 1000 s: log mean ln(100), log std ln(10)
TINY = [row("a", 1, 500, 0, 10), row("b", 2, 1000, 5, 1005)]


def test_fit_takes_log_mean_and_std_of_lifetimes() -> None:
    """The fit is the mean and std of log lifetimes; the means follow from it."""
    # mean duration exp(mu + sigma^2/2) = 100 x exp(ln(10)^2 / 2) ~ 1416.6 s
    model = fit_openb(TINY, "tiny")
    assert model.log_mu == pytest.approx(math.log(100.0))
    assert model.log_sigma == pytest.approx(math.log(10.0))
    assert model.mean_duration == pytest.approx(100.0 * math.exp(math.log(10.0) ** 2 / 2))
    assert model.mean_gpu_milli == 1250.0


def test_fit_refuses_lists_without_lifetimes() -> None:
    """An empty list, or one without creation/deletion times, cannot be fitted."""
    with pytest.raises(ValueError, match=r"empty\.csv: no pods to fit"):
        fit_openb([], "empty.csv")
    timeless = [OpenbPod("m", 1000, 1024, 1, 1000)]
    with pytest.raises(ValueError, match=r"multigpu\.csv: creation_time/deletion_time"):
        fit_openb(timeless, "multigpu.csv")


def test_the_shipped_default_list_fits_its_published_lifetimes() -> None:
    """The default openb list fits log-lifetime mean ~6.444 and std ~1.877."""
    model = load_openb_model()
    assert len(model.shapes) == 8152 and model.source == str(DEFAULT_POD_LIST)
    assert round(model.log_mu, 3) == 6.444
    assert round(model.log_sigma, 3) == 1.877


def test_same_seed_same_pods_and_other_seed_differs() -> None:
    """generate() is a pure function of the model and the config."""
    model = fit_openb(TINY)
    config = SyntheticConfig(pods=200, rate=0.5, seed=3)
    assert generate(model, config) == generate(model, config)
    assert generate(model, config) != generate(model, SyntheticConfig(200, 0.5, seed=4))


def test_a_shorter_trace_is_a_prefix_of_a_longer_one() -> None:
    """The first 300 pods of a 1,000-pod trace equal the 300-pod trace (same seed and rate)."""
    model = fit_openb(TINY)
    long = generate(model, SyntheticConfig(pods=1_000, rate=0.5, seed=8))
    assert generate(model, SyntheticConfig(pods=300, rate=0.5, seed=8)) == long[:300]


def test_pods_copy_shapes_with_the_empirical_frequencies() -> None:
    """Synthetic pods copy openb shapes at their empirical frequencies."""
    # 3 pods of shape A and 1 of shape B: ~75% of 20,000 draws are A
    shapes = [row(f"a{i}", 1, 300, 0, 100) for i in range(3)] + [row("b", 8, 1000, 0, 100, 32000)]
    pods = generate(fit_openb(shapes), SyntheticConfig(pods=20_000, rate=1.0, seed=1))
    share_a = sum(1 for p in pods if (p.num_gpu, p.gpu_milli, p.cpu_milli) == (1, 300, 4000))
    assert abs(share_a / len(pods) - 0.75) < 0.01
    assert all((p.num_gpu, p.gpu_milli) in ((1, 300), (8, 1000)) for p in pods)
    assert pods[0].name == "synth-pod-000000" and pods[-1].name == "synth-pod-019999"


def test_arrivals_are_poisson_and_durations_log_normal() -> None:
    """Arrival gaps average 1/rate and log durations have the fitted mean and std."""
    model = fit_openb([row("a", 1, 1000, 0, 100_000), row("b", 1, 1000, 0, 10_000_000)])
    pods = generate(model, SyntheticConfig(pods=50_000, rate=0.2, seed=9))
    created = np.array([p.creation_time for p in pods], dtype=np.float64)
    assert (np.diff(created) >= 0).all() and (created == np.floor(created)).all()
    # mean gap 1 / 0.2 = 5 s, standard error 5 / sqrt(n) ~ 0.022
    assert abs(created[-1] / len(pods) - 5.0) < 0.1
    lifetimes = np.array([p.deletion_time - p.creation_time for p in pods], dtype=np.float64)
    assert lifetimes.min() >= 1
    logs = np.log(lifetimes)
    # within 5 standard errors: sigma / sqrt(n) for the mean, sigma / sqrt(2n) for the std
    assert abs(logs.mean() - model.log_mu) < 5 * model.log_sigma / math.sqrt(len(pods))
    assert abs(logs.std() - model.log_sigma) < 5 * model.log_sigma / math.sqrt(2 * len(pods))


def test_rate_for_allocation_is_littles_law() -> None:
    """rate = target x capacity / (mean GPU milli x mean duration); bad inputs refused."""
    model = fit_openb(TINY)
    rate = rate_for_allocation(model, 8_000, 0.8)
    assert rate == pytest.approx(0.8 * 8_000 / (1250.0 * model.mean_duration))
    with pytest.raises(ValueError, match=r"target: 1.5 must be within \(0, 1\]"):
        rate_for_allocation(model, 8_000, 1.5)
    with pytest.raises(ValueError, match="capacity_gpu_milli: 0 must be positive"):
        rate_for_allocation(model, 0, 0.5)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"pods": 0, "rate": 1.0}, "SyntheticConfig.pods: 0 must be at least 1"),
        ({"pods": 5, "rate": 0.0}, "SyntheticConfig.rate: 0.0 must be a positive number"),
        ({"pods": 5, "rate": float("inf")}, "SyntheticConfig.rate: inf must be"),
        ({"pods": 5, "rate": 1.0, "prefix": ""}, "SyntheticConfig.prefix"),
    ],
)
def test_bad_config_names_the_field(kwargs: dict[str, object], message: str) -> None:
    """A bad config value raises ValueError naming the field and the value."""
    with pytest.raises(ValueError, match=message):
        SyntheticConfig(**kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize("suffix", [".csv", ".csv.gz"])
def test_written_csv_replays_through_the_openb_reader(tmp_path: Path, suffix: str) -> None:
    """The written CSV reads back as the same pods and replays with their lifetimes."""
    model = fit_openb(TINY)
    pods = generate(model, SyntheticConfig(pods=50, rate=0.1, seed=2))
    path = write_openb_csv(pods, tmp_path / f"synth{suffix}")
    again = write_openb_csv(pods, tmp_path / f"again{suffix}")
    assert path.read_bytes() == again.read_bytes()
    back = read_pods(path)
    assert [(p.name, p.cpu_milli, p.num_gpu, p.gpu_milli, p.creation_time) for p in back] == [
        (p.name, p.cpu_milli, p.num_gpu, p.gpu_milli, p.creation_time) for p in pods
    ]
    trace = read_trace(path)
    assert [(i.arrival, i.duration) for i in trace.items] == [
        (float(p.creation_time or 0), float((p.deletion_time or 0) - (p.creation_time or 0)))
        for p in pods
    ]
    with pytest.raises(ValueError, match=r"expected a \.csv or \.csv\.gz file name"):
        write_openb_csv(pods, tmp_path / "synth.txt")
