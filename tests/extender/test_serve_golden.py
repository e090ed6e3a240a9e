"""Every golden payload round-trips through tessera serve.

Requests (``*_args*``) are POSTed to the running server over a snapshot holding the golden
pod, its nodes (with H100 ResourceSlices), claim, template and victims; each reply must be
200 and read back with kube-scheduler's decoder into the layout of the golden reply of that
verb. Replies (``*_result*``) decode and re-encode to the same bytes.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from scheduler.extender.wire import (
    decode_binding_result,
    decode_filter_result,
    decode_host_priority_list,
    decode_preemption_result,
    encode,
)
from simulator.drivers.build import build_cluster
from simulator.drivers.spec import load_cluster_spec
from tests.extender.serve_harness import GOLDEN, TWO_RACK, Served, write_objects

REQUESTS = {
    "filter_args_nodenames": ("filter", "filter_result_nodenames"),
    "filter_args_nodes": ("filter", "filter_result_nodes"),
    "prioritize_args_nodenames": ("prioritize", "prioritize_result"),
    "preempt_args_metavictims": ("preempt", "preempt_result"),
    "preempt_args_victims": ("preempt", "preempt_result"),
    "bind_args": ("bind", "bind_result_ok"),
}
REPLIES = {
    "filter_result_nodenames": decode_filter_result,
    "filter_result_nodes": decode_filter_result,
    "filter_result_error": decode_filter_result,
    "prioritize_result": decode_host_priority_list,
    "preempt_result": decode_preemption_result,
    "bind_result_ok": decode_binding_result,
    "bind_result_error": decode_binding_result,
}


def _golden(stem: str) -> Any:
    return orjson.loads((GOLDEN / f"{stem}.json").read_bytes())


def test_every_golden_file_is_covered() -> None:
    """No golden payload is left out of the round trip."""
    stems = {p.stem for p in GOLDEN.glob("*.json")}
    assert stems == set(REQUESTS) | set(REPLIES)


def _renamed_slices(node: str) -> list[dict[str, Any]]:
    """The H100 slices of the two-rack cluster's first node, published for ``node``."""
    built = build_cluster(load_cluster_spec(TWO_RACK))
    source = "h100-0000"
    out = []
    for raw in built.resource_slices:
        if raw["spec"].get("nodeName") != source:
            continue
        text = orjson.dumps(raw).decode().replace(source, node)
        out.append(orjson.loads(text))
    return out


@pytest.fixture(scope="module")
def snapshot(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("golden")
    args = _golden("filter_args_nodes")
    pod = copy.deepcopy(args["Pod"])
    nodes = [{"apiVersion": "v1", "kind": "Node", **n} for n in args["Nodes"]["items"]]
    built = build_cluster(load_cluster_spec(TWO_RACK))
    objects: list[dict[str, Any]] = [*built.device_classes, *nodes]
    for node in nodes:
        objects.extend(_renamed_slices(node["metadata"]["name"]))
    namespace = pod["metadata"]["namespace"]
    spec = {
        "devices": {
            "requests": [
                {"name": "gpu", "exactly": {"deviceClassName": "gpu.nvidia.com", "count": 2}}
            ]
        }
    }
    objects.append(
        {
            "apiVersion": "resource.k8s.io/v1",
            "kind": "ResourceClaimTemplate",
            "metadata": {"name": "llm-serve-gpus", "namespace": namespace},
            "spec": {"spec": spec},
        }
    )
    claim_name = pod["status"]["resourceClaimStatuses"][0]["resourceClaimName"]
    objects.append(
        {
            "apiVersion": "resource.k8s.io/v1",
            "kind": "ResourceClaim",
            "metadata": {"name": claim_name, "namespace": namespace},
            "spec": spec,
        }
    )
    objects.append({"apiVersion": "v1", "kind": "Pod", **pod})
    for victims in _golden("preempt_args_victims")["NodeNameToVictims"].values():
        objects.extend({"apiVersion": "v1", "kind": "Pod", **v} for v in victims["Pods"])
    write_objects(directory, "golden", objects)
    return directory


@pytest.fixture(scope="module")
def served(snapshot: Path) -> Iterator[Served]:
    with Served(snapshot) as s:
        yield s


@pytest.mark.parametrize("stem", sorted(REQUESTS))
def test_golden_request_gets_a_reply_in_the_golden_layout(served: Served, stem: str) -> None:
    verb, reply_stem = REQUESTS[stem]
    body = (GOLDEN / f"{stem}.json").read_bytes()
    response = served.post(verb, body)
    assert response.status_code == 200, response.text
    reply = orjson.loads(response.content)
    expected = _golden(reply_stem)
    if isinstance(expected, list):
        assert isinstance(reply, list)
        assert [set(h) for h in reply] == [{"Host", "Score"}] * len(reply)
        given = orjson.loads(body)["NodeNames"]
        assert [h["Host"] for h in reply] == [n for n in given if n in {h["Host"] for h in reply}]
        assert all(isinstance(h["Score"], int) and 0 < h["Score"] <= 10 for h in reply)
    else:
        assert list(reply) == list(expected)
    REPLIES[reply_stem](response.content)
    if verb == "filter":
        result = decode_filter_result(response.content)
        assert result.error == ""
        passed = result.node_names if result.node_names is not None else ()
        if result.nodes is not None:
            passed = tuple(n["metadata"]["name"] for n in result.nodes.items)
        # an LWS worker: its gang is planned whole, and it passes exactly its planned node
        assert len(passed) == 1
        rejected = {**(result.failed_nodes or {}), **(result.failed_and_unresolvable_nodes or {})}
        assert set(rejected) | set(passed) == {"gpu-node-a01", "gpu-node-b07"}


@pytest.mark.parametrize("stem", sorted(REPLIES))
def test_golden_reply_round_trips(stem: str) -> None:
    data = (GOLDEN / f"{stem}.json").read_bytes()
    assert encode(REPLIES[stem](data), indent=True) + b"\n" == data
