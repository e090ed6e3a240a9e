"""Per-evaluation latency of DRA selectors (writes bench/results/cel.json).

Three typical selectors are timed on a population of GPU-like devices:

* ``first_evaluation``: ``matches`` on a device seen for the first time (builds the device's
  CEL activation, then evaluates);
* ``evaluation``: ``matches`` on a device whose activation already exists - what every further
  selector costs without a result cache;
* ``cached``: the allocator's per-(device, expression) result cache hit (a dict lookup).

Run: ``python bench/bench_cel.py [--devices N] [--repeats R]``.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from collections.abc import Callable
from fractions import Fraction
from functools import partial
from pathlib import Path
from typing import Any

from scheduler.dra.cel import CelDevice, CelEnvironment, CompiledSelector

SELECTORS = {
    "driver_equality": 'device.driver == "gpu.nvidia.com"',
    "attribute_string_equality": "device.attributes['gpu.nvidia.com'].type == 'gpu'",
    "capacity_compare": (
        'device.capacity["gpu.nvidia.com"].memory.compareTo(quantity("40Gi")) >= 0'
    ),
}
RESULTS = Path(__file__).resolve().parent / "results" / "cel.json"


def make_device(index: int) -> CelDevice:
    """One GPU-like device with a handful of attributes and capacities."""
    return CelDevice(
        driver="gpu.nvidia.com",
        attributes={
            "type": "gpu",
            "productName": "NVIDIA A100-SXM4-80GB",
            "index": index,
            "uuid": f"GPU-{index:08d}",
            "driverVersion": "550.54.15",
            "resource.kubernetes.io/pcieRoot": f"pci0000:{index % 8:02x}",
        },
        capacity={"memory": Fraction(80 * 2**30), "multiprocessors": Fraction(108)},
    )


def _timed(call: Callable[[], object]) -> float:
    start = time.perf_counter_ns()
    call()
    return (time.perf_counter_ns() - start) / 1000.0


def _summary(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]
    return {
        "median_us": round(statistics.median(ordered), 3),
        "p99_us": round(p99, 3),
        "samples": len(ordered),
    }


def bench_selector(selector: CompiledSelector, devices: int, repeats: int) -> dict[str, object]:
    """Time one selector in the three modes."""
    fresh = [make_device(i) for i in range(devices)]
    first = [_timed(partial(selector.matches, device)) for device in fresh]
    population = [make_device(i) for i in range(devices)]
    for device in population:
        selector.matches(device)
    warm = [
        _timed(partial(selector.matches, device)) for _ in range(repeats) for device in population
    ]
    cache = {(i, selector.expression): selector.matches(d) for i, d in enumerate(population)}
    cached = [
        _timed(partial(cache.__getitem__, (i, selector.expression)))
        for _ in range(repeats)
        for i in range(devices)
    ]
    return {
        "expression": selector.expression,
        "worst_case_cost": selector.worst_case_cost,
        "first_evaluation": _summary(first),
        "evaluation": _summary(warm),
        "cached": _summary(cached),
    }


def main() -> None:
    """Run the benchmark and write the JSON report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    env = CelEnvironment(consumable_capacity=False)
    compiled = {name: env.compile(expression) for name, expression in SELECTORS.items()}
    report: dict[str, Any] = {
        "benchmark": "cel",
        "python": platform.python_version(),
        "devices": args.devices,
        "repeats": args.repeats,
        "selectors": {
            name: bench_selector(selector, args.devices, args.repeats)
            for name, selector in compiled.items()
        },
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2) + "\n")
    for name, entry in report["selectors"].items():
        warm = entry["evaluation"]
        print(
            f"{name:28} evaluation median {warm['median_us']:7.2f} us  p99 {warm['p99_us']:7.2f} us"
        )
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
