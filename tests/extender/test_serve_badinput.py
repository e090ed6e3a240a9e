"""tessera serve and bad input: 400 for what Go cannot decode, 200 with an Error (or an empty
answer) for what it decodes but cannot use, 413 over the size cap, never a 5xx."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import orjson
import pytest

from scheduler.extender.wire import decode_filter_result
from tests.extender.serve_harness import (
    Served,
    bind_args,
    filter_args,
    gpu_pod,
    pods_and_claims,
    write_cluster,
    write_objects,
)

H100 = [f"h100-{i:04d}" for i in range(32)]
POD, CLAIM = gpu_pod("p")
VERBS = ("filter", "prioritize", "preempt", "bind")
EMPTY = {
    "prioritize": b"[]",
    "preempt": b'{"NodeNameToMetaVictims":{}}',
}


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    directory = tmp_path_factory.mktemp("bad")
    write_cluster(directory)
    write_objects(directory, "work", pods_and_claims([(POD, CLAIM)]))
    with Served(directory, max_body_bytes=64 * 1024) as s:
        yield s


@pytest.mark.parametrize("verb", VERBS)
@pytest.mark.parametrize("body", [b"", b"{", b"not json", b"\xff\xfe", b"[1, 2", b"NaN"])
def test_undecodable_bodies_get_400_with_a_message(served: Served, verb: str, body: bytes) -> None:
    response = served.post(verb, body)
    assert response.status_code == 400
    assert response.text.strip()


@pytest.mark.parametrize(
    ("verb", "payload", "where"),
    [
        ("filter", {"Pod": {}, "NodeNames": "h100-0000"}, "NodeNames"),
        ("prioritize", {"Pod": [], "NodeNames": []}, "Pod"),
        (
            "preempt",
            {"Pod": {}, "NodeNameToMetaVictims": {"n": {"NumPDBViolations": "1"}}},
            "NumPDBViolations",
        ),
        ("bind", {"PodName": 5}, "PodName"),
        ("filter", [1, 2], "expected a JSON object"),
    ],
)
def test_go_type_mismatches_get_400_naming_the_field(
    served: Served, verb: str, payload: Any, where: str
) -> None:
    response = served.post(verb, payload)
    assert response.status_code == 400
    assert where in response.text


def test_nesting_too_deep_is_a_400(served: Served) -> None:
    deep = b"[" * 100_000 + b"]" * 100_000
    for verb in VERBS:
        assert served.post(verb, b'{"Pod":' + deep[:60_000] + b"}").status_code in (400, 413)


@pytest.mark.parametrize("verb", VERBS)
def test_decodable_but_invalid_requests_get_200(served: Served, verb: str) -> None:
    payload: dict[str, Any] = {"PodName": "p"} if verb == "bind" else {"NodeNames": ["h100-0000"]}
    response = served.post(verb, payload)
    assert response.status_code == 200
    if verb in EMPTY:
        assert response.content == EMPTY[verb]
    else:
        error = orjson.loads(response.content)["Error"]
        assert error.startswith("Extender")
        assert "is null or missing" in error or "is empty or missing" in error


def test_top_level_null_is_the_zero_struct(served: Served) -> None:
    result = decode_filter_result(served.post("filter", b"null").content)
    assert result.error == "ExtenderArgs: Pod: is null or missing"


def test_trailing_bytes_after_the_first_json_value_are_ignored_as_go_does(served: Served) -> None:
    body = orjson.dumps(filter_args(POD, H100[:2])) + b" trailing {garbage"
    result = decode_filter_result(served.post("filter", body).content)
    assert result.error == ""
    assert result.node_names == tuple(H100[:2])


def test_an_unreadable_pod_is_an_error_naming_the_field(served: Served) -> None:
    pod = {**POD, "spec": {**POD["spec"], "containers": "main"}}
    result = decode_filter_result(served.post("filter", filter_args(pod, H100[:1])).content)
    assert "spec.containers" in result.error
    pod = {
        **POD,
        "metadata": {
            **POD["metadata"],
            "annotations": {"tessera.io/gang": "g", "tessera.io/gang-size": "many"},
        },
    }
    result = decode_filter_result(served.post("filter", filter_args(pod, H100[:1])).content)
    assert "tessera.io/gang-size" in result.error


def test_unknown_nodes_and_pods(served: Served) -> None:
    result = decode_filter_result(
        served.post("filter", filter_args(POD, ["nope", H100[0]])).content
    )
    assert result.node_names == (H100[0],)
    assert (result.failed_nodes or {})["nope"] == "node is not in tessera's cache"
    # a pod tessera has never seen is decided from the request alone; its claim must exist
    stranger, _ = gpu_pod("stranger")
    result = decode_filter_result(served.post("filter", filter_args(stranger, H100[:2])).content)
    assert result.node_names == ()
    assert set((result.failed_and_unresolvable_nodes or {}).values()) == {
        'resourceclaim "default/stranger-gpu" not found'
    }
    error = orjson.loads(served.post("bind", bind_args(stranger, H100[0])).content)["Error"]
    assert "not found" in error


def test_bodies_over_the_cap_get_413(served: Served) -> None:
    big = filter_args(POD, [f"node-{i:06d}" for i in range(10_000)])
    assert served.post("filter", big).status_code == 413
    client = served.client
    assert client is not None

    def chunks() -> Iterator[bytes]:
        for _ in range(100):
            yield b" " * 1024

    response = client.post(served.path("filter"), content=chunks())
    assert response.status_code == 413


def test_wrong_methods_and_paths_are_4xx(served: Served) -> None:
    client = served.client
    assert client is not None
    assert client.get("/filter").status_code == 405
    assert client.post("/nope", content=b"{}").status_code == 404
    assert client.post("/healthz", content=b"{}").status_code == 405


def test_internal_failures_answer_200_never_5xx(
    served: Served, monkeypatch: pytest.MonkeyPatch
) -> None:
    decisions = served.webhook.decisions

    def boom(*_: Any) -> Any:
        raise RuntimeError("boom")

    for verb in ("filter_json", "prioritize_json", "preempt"):
        monkeypatch.setattr(decisions, verb, boom)
    monkeypatch.setattr(served.webhook.binder, "bind", boom)
    args = filter_args(POD, H100[:1])
    result = decode_filter_result(served.post("filter", args).content)
    assert result.error == "tessera: internal error: boom"
    assert served.post("prioritize", args).content == b"[]"
    victims = {"Pod": POD, "NodeNameToMetaVictims": {}, "NodeNameToVictims": None}
    assert served.post("preempt", victims).content == EMPTY["preempt"]
    reply = served.post("bind", bind_args(POD, H100[0]))
    assert reply.status_code == 200
    assert orjson.loads(reply.content) == {"Error": "tessera: internal error: boom"}
