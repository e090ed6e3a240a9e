"""tessera's own DRA case files (tests/dra_cases): the rules of docs/semantics/dra.md §4 and
§9.3-9.5 that the upstream sample in tests/conformance does not pin, and the DRA-backed extended
resources of docs/semantics/extended-resources.md, each worked out by hand.

A case passes when the allocator's printed outcome matches its ``expect`` exactly as the
conformance test checks it (:func:`scheduler.dra.cases.compare`).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from scheduler.dra.cases import compare, load_case, outcome_json, run_case

CASE_DIR = Path(__file__).resolve().parents[2] / "dra_cases"
CASES = sorted(CASE_DIR.glob("*.yaml"))


def test_case_files_are_present() -> None:
    """The tessera case set is shipped (40-100 files)."""
    assert 40 <= len(CASES) <= 100


@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_case_file_metadata(path: Path) -> None:
    """Every case is tessera's own, for 1.35, and its notes cite the section it pins (of
    dra.md, or of extended-resources.md)."""
    case = load_case(path)
    assert case.source == "tessera"
    text = path.read_text(encoding="utf-8")
    assert "k8sVersion: '1.35'" in text
    assert "notes: " in text and ("dra.md §" in text or "extended-resources.md §" in text)
    assert case.expect.get("outcome") in ("allocated", "unschedulable", "error")


@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_tessera_case(path: Path) -> None:
    """The allocator's outcome, devices, node selector and config match the hand-worked answer."""
    case = load_case(path)
    problems = compare(case, outcome_json(case, run_case(case)))
    assert problems == []
