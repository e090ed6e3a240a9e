"""Upstream DRA allocator conformance: every case file under tests/conformance/dra.

The cases are translations of `k8s.io/dynamic-resource-allocation` v0.35.6
`TestAllocator/<name>` (each file names its source); README.md fixes the format and the
outcome mapping. A case passes when `tessera dra allocate` would print what `expect` says.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from scheduler.dra.cases import compare, load_case, outcome_json, run_case

CASES = sorted((Path(__file__).parent / "dra").glob("*.yaml"))


def test_cases_are_present() -> None:
    """The shipped sample of the upstream table is all there (45 files)."""
    assert len(CASES) == 45


@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_upstream_case(path: Path) -> None:
    """The allocator's outcome, devices, node selector and config match upstream's."""
    case = load_case(path)
    assert case.source.startswith("kubernetes/dynamic-resource-allocation@v0.35.6")
    problems = compare(case, outcome_json(case, run_case(case)))
    assert problems == []
