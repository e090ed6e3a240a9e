"""tessera serve over a snapshot: filter, prioritize, bind and preempt of lone pods over HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from scheduler.extender.backend import UNKNOWN_NODE
from scheduler.extender.wire import (
    decode_binding_result,
    decode_filter_result,
    decode_host_priority_list,
    decode_preemption_result,
)
from tests.extender.serve_harness import (
    Served,
    bind_args,
    filter_args,
    gpu_allocation,
    gpu_pod,
    pods_and_claims,
    write_cluster,
    write_objects,
)

H100 = [f"h100-{i:04d}" for i in range(32)]
SYSTEM = [f"system-{i:04d}" for i in range(4)]


def _pods() -> dict[str, tuple[dict[str, Any], dict[str, Any] | None]]:
    pinned, claim = gpu_pod("pinned")
    pinned["spec"]["nodeSelector"] = {"example.com/nowhere": "x"}
    low = {f"low-{i}": gpu_pod(f"low-{i}", gpus=8, priority=-10, node=H100[i]) for i in range(2)}
    return {
        "one": gpu_pod("one"),
        "eight": gpu_pod("eight", gpus=8),
        "nine": gpu_pod("nine", gpus=9),
        "filler": gpu_pod("filler", gpus=8),
        "pinned": (pinned, claim),
        "cpu": gpu_pod("cpu", gpus=0),
        "urgent": gpu_pod("urgent", gpus=8, priority=1000),
        **low,
    }


PODS = _pods()


@pytest.fixture(scope="module")
def snapshot(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("snapshot")
    names = write_cluster(directory)
    assert names == H100 + SYSTEM
    objects = pods_and_claims(PODS.values())
    # the running low-priority pods hold their devices: written allocations
    for obj in objects:
        name = obj["metadata"]["name"]
        if obj["kind"] == "ResourceClaim" and name.startswith("low-"):
            node = PODS[name.removesuffix("-gpu")][0]["spec"]["nodeName"]
            pod_name = name.removesuffix("-gpu")
            obj["status"] = {
                "reservedFor": [
                    {"resource": "pods", "name": pod_name, "uid": f"uid-default-{pod_name}"}
                ],
                "allocation": gpu_allocation(node, range(8)),
            }
    write_objects(directory, "work", objects)
    return directory


@pytest.fixture
def served(snapshot: Path) -> Iterator[Served]:
    with Served(snapshot) as s:
        yield s


def _filter(served: Served, pod: str, names: list[str]) -> Any:
    response = served.post("filter", filter_args(PODS[pod][0], names))
    assert response.status_code == 200
    return decode_filter_result(response.content)


def test_filter_returns_every_feasible_node_and_each_rejection_with_its_reason(
    served: Served,
) -> None:
    names = [*SYSTEM[:2], *H100, "ghost-node"]
    result = _filter(served, "one", names)
    assert result.error == ""
    assert list(result.node_names or ()) == [n for n in H100 if n not in ("h100-0000", "h100-0001")]
    failed = result.failed_nodes or {}
    assert failed["ghost-node"] == UNKNOWN_NODE
    # the system nodes have no GPU; the two nodes whose 8 GPUs low-0/low-1 hold have none free
    for node in (*SYSTEM[:2], "h100-0000", "h100-0001"):
        assert failed[node] == "cannot allocate all claims"
    assert result.failed_and_unresolvable_nodes == {}
    assert set(failed) | set(result.node_names or ()) == set(names)


def test_unresolvable_rejections_go_to_their_own_map(served: Served) -> None:
    result = _filter(served, "pinned", H100[:3])
    assert result.node_names == ()
    assert set(result.failed_and_unresolvable_nodes or {}) == set(H100[:3])
    reason = (result.failed_and_unresolvable_nodes or {})["h100-0002"]
    assert "affinity" in reason.lower() or "selector" in reason.lower()


def test_a_pod_that_fits_nowhere_gets_a_reason_for_every_node(served: Served) -> None:
    result = _filter(served, "nine", H100)
    assert result.node_names == ()
    assert set(result.failed_nodes or {}) == set(H100)


def test_nodes_mode_echoes_the_feasible_node_objects(served: Served) -> None:
    nodes = [{"metadata": {"name": n, "labels": {"x": "y"}}} for n in ("h100-0005", "system-0000")]
    payload = {"Pod": PODS["one"][0], "Nodes": {"metadata": {}, "items": nodes}, "NodeNames": None}
    response = served.post("filter", payload)
    result = decode_filter_result(response.content)
    assert result.node_names is None
    assert result.nodes is not None
    assert [i["metadata"]["name"] for i in result.nodes.items] == ["h100-0005"]
    assert set(result.failed_nodes or {}) == {"system-0000"}


def test_prioritize_scores_every_node_given_from_0_to_10_with_tessera_s_pick_at_10(
    served: Served,
) -> None:
    names = [*H100[:8], SYSTEM[0]]
    response = served.post("prioritize", filter_args(PODS["one"][0], names))
    assert response.status_code == 200
    assert response.content.startswith(b"[")
    scores = {h.host: h.score for h in decode_host_priority_list(response.content).root}
    # in the order given; a node scoring 0 is left out (kube-scheduler adds nothing for it)
    assert list(scores) == [n for n in names if n in scores]
    assert all(1 <= s <= 10 for s in scores.values())
    assert list(scores.values()).count(10) == 1
    assert SYSTEM[0] not in scores  # infeasible for the pod: no score
    assert "h100-0000" not in scores  # its GPUs are all held


def test_bind_is_idempotent_and_never_moves_a_bound_pod(served: Served) -> None:
    pod = PODS["eight"][0]
    reply = decode_binding_result(served.post("bind", bind_args(pod, "h100-0010")).content)
    assert reply.error == ""
    record = served.state.cache.pods["default/eight"]
    assert record.node == "h100-0010"
    assert record.pod.spec.node_name == "h100-0010"
    again = decode_binding_result(served.post("bind", bind_args(pod, "h100-0010")).content)
    assert again.error == ""
    moved = decode_binding_result(served.post("bind", bind_args(pod, "h100-0011")).content)
    assert "already bound to node h100-0010" in moved.error
    # the claim holds the devices DynamicResources would pick (first fit) until it is written
    claim = served.state.cache.claims["default/eight-gpu"]
    assert claim.assumed
    assert sorted(r.device for r in claim.results) == [f"gpu-{g}" for g in range(8)]
    assert {r.pool for r in claim.results} == {"h100-0010"}
    # the node is full for the next pod
    result = _filter(served, "filler", ["h100-0010", "h100-0011"])
    assert result.node_names == ("h100-0011",)
    assert (result.failed_nodes or {})["h100-0010"] == "cannot allocate all claims"


def test_bind_checks_the_pod_uid_and_existence(served: Served) -> None:
    args = bind_args(PODS["one"][0], "h100-0003")
    args["PodUID"] = "another-uid"
    assert "UID" in decode_binding_result(served.post("bind", args).content).error
    ghost = bind_args(gpu_pod("ghost")[0], "h100-0003")
    assert "not found" in decode_binding_result(served.post("bind", ghost).content).error
    assert served.state.cache.pods["default/one"].node is None


def test_written_allocation_replaces_the_prediction_and_is_counted(served: Served) -> None:
    pod = PODS["filler"][0]
    assert (
        decode_binding_result(served.post("bind", bind_args(pod, "h100-0020")).content).error == ""
    )
    claim = PODS["filler"][1]
    assert claim is not None
    written = {
        **claim,
        "status": {
            "allocation": {
                "devices": {
                    "results": [
                        {
                            "request": "gpu",
                            "driver": "gpu.nvidia.com",
                            "pool": "h100-0020",
                            "device": f"gpu-{g}",
                        }
                        for g in range(8)
                    ]
                }
            }
        },
    }
    served.state.apply("ResourceClaim", "MODIFIED", written)
    record = served.state.cache.claims["default/filler-gpu"]
    assert not record.assumed
    assert served.state.predictions == 1
    assert served.state.mismatches == 0
    metrics = served.client.get("/metrics").text  # type: ignore[union-attr]
    assert "tessera_extender_dra_predictions_total 1.0" in metrics
    assert "tessera_extender_dra_prediction_mismatches_total 0.0" in metrics


def test_preempt_returns_the_planner_s_victims_by_uid(served: Served) -> None:
    proposals = {
        "NodeNameToMetaVictims": {
            H100[0]: {"Pods": [{"UID": "uid-default-low-0"}], "NumPDBViolations": 0},
            H100[1]: {"Pods": [{"UID": "uid-default-low-1"}], "NumPDBViolations": 1},
        }
    }
    # every other node has free GPUs: only the proposals are candidates here
    response = served.post(
        "preempt", {"Pod": PODS["urgent"][0], **proposals, "NodeNameToVictims": None}
    )
    assert response.status_code == 200
    result = decode_preemption_result(response.content)
    victims = result.node_name_to_meta_victims or {}
    assert len(victims) == 1
    ((node, meta),) = victims.items()
    assert node in (H100[0], H100[1])
    assert [p.uid for p in meta.pods] == [f"uid-default-low-{H100.index(node)}"]


def test_preempt_for_a_batch_pod_proposes_nothing(served: Served) -> None:
    batch = dict(PODS["eight"][0])
    batch["metadata"] = {**batch["metadata"], "labels": {"tessera.io/class": "batch"}}
    payload = {
        "Pod": batch,
        "NodeNameToMetaVictims": {H100[0]: {"Pods": [{"UID": "uid-default-low-0"}]}},
        "NodeNameToVictims": None,
    }
    result = decode_preemption_result(served.post("preempt", payload).content)
    assert result.node_name_to_meta_victims == {}


def test_health_readiness_and_metrics(served: Served) -> None:
    client = served.client
    assert client is not None
    assert client.get("/healthz").status_code == 200
    assert client.get("/readyz").status_code == 200
    _filter(served, "one", H100[:2])
    text = client.get("/metrics").text
    assert 'tessera_extender_request_seconds_count{verb="filter"}' in text
    assert 'tessera_extender_requests_total{outcome="ok",verb="filter"}' in text
    assert 'tessera_extender_cache_objects{kind="Node"} 36.0' in text


def test_verbs_live_under_the_prefix(snapshot: Path) -> None:
    with Served(snapshot, prefix="/tessera/") as served:
        client = served.client
        assert client is not None
        assert served.post("filter", filter_args(PODS["one"][0], H100[:1])).status_code == 200
        assert client.post("/filter", content=b"{}").status_code == 404
        assert client.get("/readyz").status_code == 200
