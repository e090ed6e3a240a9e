"""The extender wire layer: golden payloads round-trip byte for byte; Go's decoding rules hold."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest

from scheduler.extender import wire

GOLDEN = Path(__file__).parent / "golden"

DECODERS: dict[str, Callable[[bytes], Any]] = {
    "bind_args": wire.decode_binding_args,
    "bind_result_error": wire.decode_binding_result,
    "bind_result_ok": wire.decode_binding_result,
    "filter_args_nodenames": wire.decode_extender_args,
    "filter_args_nodes": wire.decode_extender_args,
    "filter_result_error": wire.decode_filter_result,
    "filter_result_nodenames": wire.decode_filter_result,
    "filter_result_nodes": wire.decode_filter_result,
    "preempt_args_metavictims": wire.decode_preemption_args,
    "preempt_args_victims": wire.decode_preemption_args,
    "preempt_result": wire.decode_preemption_result,
    "prioritize_args_nodenames": wire.decode_extender_args,
    "prioritize_result": wire.decode_host_priority_list,
}


def test_every_golden_file_has_a_decoder() -> None:
    """The table below covers every shipped golden payload (none silently untested)."""
    assert sorted(p.stem for p in GOLDEN.glob("*.json")) == sorted(DECODERS)


@pytest.mark.parametrize("stem", sorted(DECODERS))
def test_golden_round_trips_byte_for_byte(stem: str) -> None:
    """Decoding a golden payload and encoding it again (indented) gives the same bytes."""
    raw = (GOLDEN / f"{stem}.json").read_bytes()
    decoded = DECODERS[stem](raw)
    assert wire.encode(decoded, indent=True) + b"\n" == raw


@pytest.mark.parametrize("stem", sorted(DECODERS))
def test_golden_compact_encoding_keeps_go_key_order(stem: str) -> None:
    """The compact encoding (what goes on the wire) is the golden value in the same key order."""
    raw = (GOLDEN / f"{stem}.json").read_bytes()
    compact = json.dumps(json.loads(raw), separators=(",", ":"), ensure_ascii=False).encode()
    assert wire.encode(DECODERS[stem](raw)) == compact


def test_golden_filter_args_read_as_kube_scheduler_meant() -> None:
    """nodeCacheCapable requests carry names only; full-object requests carry a NodeList."""
    by_name = wire.decode_extender_args((GOLDEN / "filter_args_nodenames.json").read_bytes())
    full = wire.decode_extender_args((GOLDEN / "filter_args_nodes.json").read_bytes())
    assert by_name.nodes is None
    assert by_name.node_names == ("gpu-node-a01", "gpu-node-b07")
    assert full.node_names is None
    assert full.nodes is not None
    assert full.candidate_names() == by_name.candidate_names()
    assert by_name.pod is not None
    assert by_name.pod["metadata"]["name"] == "llm-serve-0-1"


def test_golden_results_read_as_kube_scheduler_reads_them() -> None:
    """Filter, prioritize, bind and preempt replies expose the fields kube-scheduler uses."""
    names = wire.decode_filter_result((GOLDEN / "filter_result_nodenames.json").read_bytes())
    assert names.node_names == ("gpu-node-a01",)
    assert names.failed_and_unresolvable_nodes == {}
    assert names.failed_nodes is not None
    assert list(names.failed_nodes) == ["gpu-node-b07"]
    error = wire.decode_filter_result((GOLDEN / "filter_result_error.json").read_bytes())
    assert error.failed_nodes is None
    assert error.error.startswith("device inventory not synced")
    scores = wire.decode_host_priority_list((GOLDEN / "prioritize_result.json").read_bytes())
    assert [(h.host, h.score) for h in scores.root] == [("gpu-node-a01", 9), ("gpu-node-b07", 2)]
    bind = wire.decode_binding_args((GOLDEN / "bind_args.json").read_bytes())
    assert (bind.pod_namespace, bind.pod_name, bind.node) == (
        "inference",
        "llm-serve-0-1",
        "gpu-node-a01",
    )
    preempt = wire.decode_preemption_result((GOLDEN / "preempt_result.json").read_bytes())
    assert preempt.node_name_to_meta_victims is not None
    victims = preempt.node_name_to_meta_victims["gpu-node-a01"]
    assert len(victims.pods) == 2
    assert victims.num_pdb_violations == 0


# -- encoding -------------------------------------------------------------------------------------
def test_every_field_is_written_with_its_go_name_and_nil_as_null() -> None:
    """A default filter result has all five PascalCase keys, nils as null, Error as ""."""
    assert orjson.loads(wire.encode(wire.ExtenderFilterResult())) == {
        "Nodes": None,
        "NodeNames": None,
        "FailedNodes": None,
        "FailedAndUnresolvableNodes": None,
        "Error": "",
    }


def test_empty_lists_and_maps_stay_distinct_from_null() -> None:
    """``NodeNames: []`` (no node passes) and ``{}`` maps are written as such, not as null."""
    result = wire.ExtenderFilterResult(node_names=(), failed_nodes={})
    assert wire.encode(result).startswith(b'{"Nodes":null,"NodeNames":[],"FailedNodes":{}')


def test_map_keys_are_written_sorted_like_go() -> None:
    """Go sorts map keys when encoding; so does encode(), whatever the insertion order."""
    result = wire.ExtenderFilterResult(failed_nodes={"n2": "b", "n10": "c", "n1": "a"})
    assert b'"FailedNodes":{"n1":"a","n10":"c","n2":"b"}' in wire.encode(result)


def test_host_priority_list_is_a_bare_array() -> None:
    """The prioritize reply is a top-level JSON array of {Host, Score}."""
    reply = wire.HostPriorityList((wire.HostPriority(host="n1", score=7),))
    assert wire.encode(reply) == b'[{"Host":"n1","Score":7}]'


def test_meta_victims_and_binding_layout() -> None:
    """MetaPod is {"UID"}, MetaVictims {"Pods","NumPDBViolations"}, binding args in Go order."""
    result = wire.ExtenderPreemptionResult(
        node_name_to_meta_victims={"n1": wire.MetaVictims(pods=(wire.MetaPod(uid="u1"),))}
    )
    assert wire.encode(result) == (
        b'{"NodeNameToMetaVictims":{"n1":{"Pods":[{"UID":"u1"}],"NumPDBViolations":0}}}'
    )
    args = wire.ExtenderBindingArgs(pod_name="p", pod_namespace="ns", pod_uid="u", node="n")
    assert wire.encode(args) == b'{"PodName":"p","PodNamespace":"ns","PodUID":"u","Node":"n"}'


def test_node_list_writes_metadata_then_items() -> None:
    """A NodeList from an informer cache has no kind/apiVersion: metadata first, then items."""
    args = wire.ExtenderArgs(pod={}, nodes=wire.NodeList(items=({"metadata": {"name": "a"}},)))
    assert b'"Nodes":{"metadata":{},"items":[{"metadata":{"name":"a"}}]}' in wire.encode(args)


# -- decoding: Go's rules -------------------------------------------------------------------------
def test_keys_match_case_insensitively_like_go() -> None:
    """A reply in lowerCamel (as many Python extenders write) fills the PascalCase fields."""
    result = wire.decode_filter_result(b'{"nodeNames":["a"],"failedNodes":{"b":"full"},"ERROR":""}')
    assert result.node_names == ("a",)
    assert result.failed_nodes == {"b": "full"}


def test_exact_key_wins_and_python_attribute_names_are_not_wire_keys() -> None:
    """Go ignores ``node_names``: only Go names (any case) are keys on the wire."""
    result = wire.decode_filter_result(b'{"node_names":["x"],"NodeNames":["a"]}')
    assert result.node_names == ("a",)
    assert wire.decode_filter_result(b'{"node_names":["x"]}').node_names is None


def test_python_code_builds_structs_by_attribute_or_go_name() -> None:
    """In Python both ``node_names=`` and ``NodeNames=`` construct the same struct."""
    assert wire.ExtenderFilterResult(node_names=("a",)) == wire.ExtenderFilterResult.model_validate(
        {"NodeNames": ["a"]}
    )


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        # unknown keys are ignored
        (b'{"Error":"","Extra":{"deep":[1,2]}}', wire.ExtenderFilterResult()),
        # null string -> "" (Go leaves the zero value); null map value -> ""
        (
            b'{"Error":null,"FailedNodes":{"n":null}}',
            wire.ExtenderFilterResult(failed_nodes={"n": ""}),
        ),
        # null list element of []string -> ""
        (b'{"NodeNames":["a",null]}', wire.ExtenderFilterResult(node_names=("a", ""))),
        # a top-level null is the zero struct
        (b"null", wire.ExtenderFilterResult()),
        # empty containers stay empty, not null
        (
            b'{"NodeNames":[],"FailedNodes":{}}',
            wire.ExtenderFilterResult(node_names=(), failed_nodes={}),
        ),
        # Decoder.Decode reads the first value; trailing bytes are not an error
        (b'{"Error":"x"}\n{"Error":"y"} junk', wire.ExtenderFilterResult(error="x")),
    ],
)
def test_filter_result_decoding_follows_go(
    body: bytes, expected: wire.ExtenderFilterResult
) -> None:
    """Unknown keys, nulls, empty containers and trailing data decode as Go decodes them."""
    assert wire.decode_filter_result(body) == expected


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        (b"", "empty body"),
        (b"{not json", "not JSON"),
        (b"[]", "expected a JSON object, got array"),
        (b'{"NodeNames":"a"}', "NodeNames: expected an array, got string"),
        (b'{"NodeNames":[1]}', "NodeNames[0]: expected a string, got number 1"),
        (b'{"Error":false}', "Error: expected a string, got boolean"),
        (b'{"FailedNodes":["a"]}', "FailedNodes: expected an object, got array"),
        (b'{"Nodes":{"items":[7]}}', "Nodes.items[0]: expected an object, got number 7"),
        (b'{"Error":NaN}', "not JSON"),
    ],
)
def test_undecodable_filter_results_are_malformed(body: bytes, problem: str) -> None:
    """What Go's decoder rejects raises MalformedPayloadError naming the field and the value."""
    with pytest.raises(wire.MalformedPayloadError, match="ExtenderFilterResult: ") as caught:
        wire.decode_filter_result(body)
    assert problem in str(caught.value)


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        (b'[{"Host":"a","Score":7.5}]', "[0].Score: expected an integer, got number 7.5"),
        (b'[{"Host":"a","Score":7.0}]', "[0].Score: expected an integer, got number 7.0"),
        (b'[{"Host":"a","Score":"7"}]', "[0].Score: expected an integer, got string"),
        (b'[{"Host":"a","Score":true}]', "[0].Score: expected an integer, got boolean"),
        (b'[{"Host":"a","Score":9223372036854775808}]', "[0].Score: out of the int64 range"),
        (b'{"Host":"a","Score":1}', "expected a JSON array, got object"),
        (b"[3]", "[0]: expected an object, got number 3"),
    ],
)
def test_score_must_be_an_int64_literal(body: bytes, problem: str) -> None:
    """Go's int64 takes only integer literals in range; strings, floats, booleans fail."""
    with pytest.raises(wire.MalformedPayloadError) as caught:
        wire.decode_host_priority_list(body)
    assert problem in str(caught.value)


def test_host_priority_list_nulls() -> None:
    """A null reply is the empty list; a null element is the zero HostPriority (host "")."""
    assert wire.decode_host_priority_list(b"null").root == ()
    decoded = wire.decode_host_priority_list(b'[null,{"host":"b","score":-3}]')
    assert decoded.root == (wire.HostPriority(), wire.HostPriority(host="b", score=-3))


def test_invalid_utf8_is_replaced_as_go_does() -> None:
    """Go's decoder turns invalid UTF-8 inside strings into U+FFFD instead of failing."""
    assert wire.decode_binding_result(b'{"Error":"bad \xff byte"}').error == "bad \ufffd byte"


# -- decoding requests: malformed (400) versus invalid (200 + Error) ------------------------------
@pytest.mark.parametrize(
    ("body", "problem"),
    [
        (b'{"NodeNames":["a"]}', "ExtenderArgs: Pod: is null or missing"),
        (b'{"Pod":null,"NodeNames":["a"]}', "ExtenderArgs: Pod: is null or missing"),
        (b'{"Pod":{}}', "ExtenderArgs: neither Nodes nor NodeNames is set"),
        (b'{"Pod":{},"Nodes":null,"NodeNames":null}', "neither Nodes nor NodeNames is set"),
    ],
)
def test_extender_args_without_pod_or_candidates_are_invalid(body: bytes, problem: str) -> None:
    """Decodable args missing the pod or the candidates raise InvalidPayloadError."""
    with pytest.raises(wire.InvalidPayloadError) as caught:
        wire.decode_extender_args(body)
    assert problem in str(caught.value)


def test_extender_args_with_a_string_pod_are_malformed() -> None:
    """A pod that is not an object cannot decode into ``*v1.Pod``: MalformedPayloadError."""
    with pytest.raises(wire.MalformedPayloadError, match="Pod: expected an object, got string"):
        wire.decode_extender_args(b'{"Pod":"web-0","NodeNames":["a"]}')


def test_empty_candidate_list_is_valid_and_node_names_come_from_either_form() -> None:
    """``NodeNames: []`` is a valid (empty) request; Nodes items need a metadata.name."""
    assert wire.decode_extender_args(b'{"Pod":{},"NodeNames":[]}').candidate_names() == ()
    args = wire.decode_extender_args(b'{"Pod":{},"Nodes":{"items":[{"metadata":{}}]}}')
    with pytest.raises(
        wire.InvalidPayloadError, match=r"NodeList: items\[0\]: has no metadata.name"
    ):
        args.candidate_names()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (b'{"PodNamespace":"ns","PodUID":"u","Node":"n"}', "PodName"),
        (b'{"PodName":"p","PodUID":"u","Node":"n"}', "PodNamespace"),
        (b'{"PodName":"p","PodNamespace":"ns","PodUID":"","Node":"n"}', "PodUID"),
        (b'{"PodName":"p","PodNamespace":"ns","PodUID":"u","Node":null}', "Node"),
    ],
)
def test_binding_args_need_every_field(body: bytes, field: str) -> None:
    """A bind request without pod name, namespace, UID or node is invalid, naming the field."""
    with pytest.raises(wire.InvalidPayloadError, match=f"ExtenderBindingArgs: {field}: "):
        wire.decode_binding_args(body)


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        (b'{"NodeNameToMetaVictims":{"n":{"Pods":[]}}}', "Pod: is null or missing"),
        (b'{"Pod":{}}', "neither NodeNameToVictims nor NodeNameToMetaVictims is set"),
        (b'{"Pod":{},"NodeNameToMetaVictims":{"n":null}}', "NodeNameToMetaVictims.n: is null"),
        (
            b'{"Pod":{},"NodeNameToVictims":{"n":{"Pods":[null]}}}',
            "NodeNameToVictims.n.Pods[0]: is null",
        ),
    ],
)
def test_preemption_args_contract(body: bytes, problem: str) -> None:
    """Preempt requests need a pod, one victims map, and no null node entries or victims."""
    with pytest.raises(wire.InvalidPayloadError) as caught:
        wire.decode_preemption_args(body)
    assert problem in str(caught.value)


def test_preemption_result_with_null_victims_is_invalid() -> None:
    """kube-scheduler would dereference a null MetaVictims and crash; tessera reports it."""
    with pytest.raises(wire.InvalidPayloadError, match=r"NodeNameToMetaVictims.n.Pods\[1\]"):
        wire.decode_preemption_result(
            b'{"NodeNameToMetaVictims":{"n":{"Pods":[{"UID":"a"},null]}}}'
        )


def test_preemption_result_null_and_empty_mean_no_candidates() -> None:
    """Both a null map and ``{}`` decode to 'no node kept'; the lowerCamel keys also match."""
    assert wire.decode_preemption_result(b"{}").node_name_to_meta_victims is None
    kept = wire.decode_preemption_result(
        b'{"nodeNameToMetaVictims":{"n":{"pods":[{"uid":"a"}],"numPDBViolations":1}}}'
    ).node_name_to_meta_victims
    assert kept == {"n": wire.MetaVictims(pods=(wire.MetaPod(uid="a"),), num_pdb_violations=1)}
