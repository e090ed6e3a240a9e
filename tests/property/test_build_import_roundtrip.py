"""``tessera cluster build`` never writes objects that ``tessera cluster import`` rejects.

Hypothesis draws cluster specs from the spec's own vocabulary (GPU models and their MIG
profiles from the catalog, TPU generations and topologies, CPU-only pools, device-plugin
exposure, labels and taints, Kubernetes 1.34–1.36 with the DRA gates on or off), keeps the
ones the spec validator accepts, builds each as YAML or JSON and imports the directory
through the real CLI: the import must succeed with every node back, and the re-import of
what ``import -o`` writes must succeed too.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from simulator.cli import app
from simulator.drivers.catalog import GPU_MODELS, TPU_GENERATIONS
from simulator.drivers.spec import parse_cluster_spec

RUNNER = CliRunner()


@st.composite
def _accelerator(draw: st.DrawFn) -> dict[str, Any]:
    kind = draw(st.sampled_from(["none", "nvidia", "shared-gpu", "tpu"]))
    if kind == "none":
        return {"kind": "none"}
    if kind == "tpu":
        name = draw(st.sampled_from(sorted(TPU_GENERATIONS)))
        gen = TPU_GENERATIONS[name]
        topologies = sorted({*gen.single_host, *gen.multi_host})
        return {"kind": "tpu", "generation": name, "topology": draw(st.sampled_from(topologies))}
    model_name = draw(st.sampled_from(sorted(GPU_MODELS)))
    count = draw(st.integers(1, 8))
    if kind == "shared-gpu":
        return {"kind": "shared-gpu", "model": model_name, "count": count}
    model = GPU_MODELS[model_name]
    mig: dict[str, Any] = {"mode": "none"}
    if model.mig_profiles:
        mode = draw(st.sampled_from(["none", "static", "dynamic"]))
        mig = {"mode": mode}
        if mode == "static":
            names = [p.name for p in model.mig_profiles]
            mig["layout"] = draw(st.lists(st.sampled_from(names), min_size=1, max_size=3))
    exposure = draw(st.sampled_from(["dra", "device-plugin"]))
    return {"kind": "nvidia", "model": model_name, "count": count, "mig": mig, "exposure": exposure}


@st.composite
def specs(draw: st.DrawFn) -> dict[str, Any]:
    """A cluster spec mapping (not necessarily valid: the test keeps the valid ones)."""
    pools = []
    for i in range(draw(st.integers(1, 3))):
        pool: dict[str, Any] = {
            "name": f"pool-{i}",
            "count": draw(st.integers(1, 4)),
            "node": {
                "cpu": draw(st.sampled_from(["8", "96", "1500m"])),
                "memory": draw(st.sampled_from(["16Gi", "2Ti", "393216Mi"])),
            },
            "accelerator": draw(_accelerator()),
            "placement": {"zone": "zone-a", "nodesPerRack": draw(st.integers(1, 4))},
        }
        if draw(st.booleans()):
            pool["labels"] = {"example.com/team": draw(st.sampled_from(["a", "b-1", ""]))}
        if draw(st.booleans()):
            pool["taints"] = [
                {"key": "example.com/dedicated", "value": "x", "effect": "NoSchedule"}
            ]
        pools.append(pool)
    return {
        "apiVersion": "tessera.io/v1alpha1",
        "kind": "ClusterSpec",
        "metadata": {"name": "prop"},
        "kubernetesVersion": draw(st.sampled_from(["1.34", "1.35", "1.36"])),
        "featureGates": {
            "DRAPartitionableDevices": draw(st.booleans()),
            "DRAConsumableCapacity": draw(st.booleans()),
        },
        "nodePools": pools,
    }


def _valid(data: dict[str, Any]) -> bool:
    try:
        parse_cluster_spec(data, "prop")
    except ValueError:
        return False
    return True


@settings(
    max_examples=25, suppress_health_check=[HealthCheck.filter_too_much, HealthCheck.too_slow]
)
@given(data=specs(), fmt=st.sampled_from(["yaml", "json"]))
def test_build_output_imports(data: dict[str, Any], fmt: str) -> None:
    """Every valid spec's build imports cleanly, all nodes back; so does import's -o."""
    assume(_valid(data))
    import yaml

    nodes = sum(p["count"] for p in data["nodePools"])
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        spec = root / "spec.yaml"
        spec.write_text(yaml.safe_dump(data), encoding="utf-8")
        built = root / "built"
        result = RUNNER.invoke(
            app, ["cluster", "build", str(spec), "-o", str(built), "--format", fmt]
        )
        if result.exit_code == 2:
            assume(False)  # a spec only the builder refuses (e.g. racks that do not nest)
        assert result.exit_code == 0, result.output
        again = root / "again"
        result = RUNNER.invoke(app, ["cluster", "import", str(built), "-o", str(again)])
        assert result.exit_code == 0, result.output
        assert "wrote " in result.stdout
        result = RUNNER.invoke(app, ["cluster", "import", str(again)])
        assert result.exit_code == 0, result.output
        written = (again / "nodes.yaml").read_text(encoding="utf-8")
        assert written.count("kind: Node\n") == nodes
