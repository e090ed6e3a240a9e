"""The Scenario schema: shipped scenarios load; bad input is one line naming the file, the
field path and the value; durations and quantities are parsed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from simulator.scenarios.model import is_scenario, load_scenario, parse_scenario

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = sorted((ROOT / "traces" / "scenarios").glob("*.yaml"))
SCENARIOS = [p for p in SHIPPED if is_scenario(p)]


def base() -> dict[str, Any]:
    """A valid scenario document."""
    return {
        "apiVersion": "tessera.io/v1alpha1",
        "kind": "Scenario",
        "metadata": {"name": "s"},
        "cluster": "c.yaml",
        "duration": "1h",
        "priorityClasses": [{"name": "serving", "value": 1000}, {"name": "batch", "value": -1}],
        "workloads": [
            {
                "kind": "Deployment",
                "name": "web",
                "priorityClassName": "serving",
                "pod": {"accelerator": {"mig": {"profile": "1g.10gb"}}},
                "replicas": {"fixed": 2},
            },
            {
                "kind": "Job",
                "name": "train",
                "priorityClassName": "batch",
                "arrivals": {"every": "10m"},
                "duration": {"fixed": 600},
            },
        ],
    }


def test_shipped_scenarios_load() -> None:
    """The four shipped scenarios are scenarios and validate; the dumps are not scenarios."""
    names = {load_scenario(p).metadata.name for p in SCENARIOS}
    assert names == {"llm-serving-diurnal", "mig-inference", "nvl72-gangs", "tpu-slices"}
    assert not is_scenario(ROOT / "traces" / "scenarios" / "serving-batch-small.yaml")


def test_durations_accept_seconds_and_go_strings() -> None:
    """'1h' is 3600 s, 600 stays 600 s, '90s' is 90 s."""
    doc = base()
    doc["workloads"][1]["checkpointInterval"] = "90s"
    scenario = parse_scenario(doc)
    assert scenario.duration == 3600.0
    job = scenario.workloads[1]
    assert job.duration.fixed == 600.0  # type: ignore[union-attr]
    assert job.checkpoint_interval == 90.0  # type: ignore[union-attr]


def _set(doc: dict[str, Any], path: tuple[Any, ...], value: Any) -> dict[str, Any]:
    target = doc
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = value
    return doc


@pytest.mark.parametrize(
    ("path", "value", "expected"),
    [
        (("duration",), "forever", "duration: 'forever' is not a duration"),
        (("duration",), -5, "duration: -5 must be a finite number of seconds >= 0"),
        (("workloads", 0, "replicas"), {"fixed": -1}, "workloads[0].replicas.fixed: "),
        (
            ("workloads", 0, "pod", "accelerator"),
            {"gpus": 1, "tpuChips": 4},
            "workloads[0].pod.accelerator: set exactly one of gpus, mig, share, nvidiaGpu, "
            "tpuChips (got gpus, tpuChips)",
        ),
        (
            ("workloads", 0, "pod", "accelerator"),
            {"mig": {"profile": "big"}},
            "workloads[0].pod.accelerator.mig.profile: String should match pattern",
        ),
        (("workloads", 0, "pod", "cpu"), "lots", "workloads[0].pod.cpu: 'lots' is not a Kuber"),
        (("workloads", 1, "parallelism"), 0, "workloads[1].parallelism: must be 1..256 (got 0)"),
        (("workloads", 1, "colour"), "red", "workloads[1].colour: Extra inputs are not permitted"),
        (
            ("workloads", 0, "replicas"),
            {
                "demand": {"constant": 10},
                "autoscaling": {"targetPerReplica": 5, "minReplicas": 3, "maxReplicas": 1},
            },
            "workloads[0].replicas.autoscaling: maxReplicas must be >= minReplicas (got 1 < 3)",
        ),
        (
            ("workloads", 1, "priorityClassName"),
            "nightly",
            "workloads[1].priorityClassName: 'nightly' is not one of priorityClasses",
        ),
        (("kind",), "ClusterSpec", "kind: Input should be 'Scenario'"),
    ],
)
def test_errors_name_file_field_and_value(
    tmp_path: Path, path: tuple[Any, ...], value: Any, expected: str
) -> None:
    """A bad field gives one line: file, 'invalid scenario', the field path and the value."""
    file = tmp_path / "bad.yaml"
    file.write_text(yaml.safe_dump(_set(base(), path, value)), encoding="utf-8")
    with pytest.raises(ValueError, match="invalid scenario") as caught:
        load_scenario(file)
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(f"{file}: invalid scenario: ")
    assert expected in message


def test_unreadable_and_non_yaml_files_are_one_line_errors(tmp_path: Path) -> None:
    """A missing file and broken YAML name the file."""
    with pytest.raises(ValueError, match=r"missing.yaml: cannot read scenario"):
        load_scenario(tmp_path / "missing.yaml")
    broken = tmp_path / "broken.yaml"
    broken.write_text("kind: Scenario\nworkloads: [unclosed\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"broken.yaml: invalid YAML at line 3"):
        load_scenario(broken)
