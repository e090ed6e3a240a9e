"""Model <-> allocator-record conversions of scheduler.dra.convert."""

from __future__ import annotations

from pathlib import Path

import pytest

from scheduler.api.dra import AllocationResult
from scheduler.dra.cases import load_case, run_case
from scheduler.dra.convert import allocation_json, allocation_result, device_results

CASES = sorted((Path(__file__).parents[2] / "conformance" / "dra").glob("*.yaml"))


@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_constructed_allocation_equals_validated_json(path: Path) -> None:
    """allocation_result (model_construct) equals validating allocation_json, and reads back."""
    outcome = run_case(load_case(path))
    for allocation in outcome.allocations:
        built = allocation_result(allocation)
        validated = AllocationResult.model_validate(allocation_json(allocation))
        assert built == validated
        assert built.to_dict() == validated.to_dict()
        assert device_results(built) == list(allocation.devices)
