"""Loaders: files, directories, multi-document YAML, Lists, JSON, round trips, error locations."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest
import yaml

from scheduler.api import (
    DeviceClass,
    DeviceRequestAllocationResult,
    LoadError,
    Node,
    NodeSelector,
    Pod,
    ResourceClaim,
    ResourceSlice,
    dump_objects,
    load_documents,
    load_object,
    load_objects,
    load_yaml,
    model_for,
)
from scheduler.api.loaders import _event_documents, _yaml_documents

FIXTURES = Path(__file__).parent / "fixtures" / "conformance"
CASE_FILES = sorted(FIXTURES.glob("*.yaml"))

NODE_YAML = """\
apiVersion: v1
kind: Node
metadata:
  name: {name}
status:
  allocatable: {{cpu: "8", memory: 32Gi}}
"""


def node_doc(name: str) -> str:
    return NODE_YAML.format(name=name)


def test_case_fixtures_are_present() -> None:
    """The copied conformance case files are there (the next tests iterate over them)."""
    assert len(CASE_FILES) >= 5


@pytest.mark.parametrize("case_file", CASE_FILES, ids=lambda p: p.stem)
def test_conformance_objects_load_and_dump_as_written(case_file: Path) -> None:
    """Every DeviceClass, ResourceSlice and ResourceClaim of a case file loads, and dumps
    back to the JSON it was written as (empty maps and an empty claim status aside)."""
    case = yaml.safe_load(case_file.read_text())
    kinds = {"deviceClasses": DeviceClass, "resourceSlices": ResourceSlice, "claims": ResourceClaim}
    loaded = []
    for key, model in kinds.items():
        for index, data in enumerate(case.get(key) or []):
            obj = load_object(data, source=f"{case_file.name}: {key}[{index}]")
            assert isinstance(obj, model)
            expected = _without_empty_maps(data)
            if model is ResourceClaim:
                expected.setdefault("status", {})
            assert obj.to_dict() == expected
            loaded.append(obj)
    assert load_yaml(dump_objects(loaded)) == loaded


@pytest.mark.parametrize("case_file", CASE_FILES, ids=lambda p: p.stem)
def test_conformance_expected_results_fit_the_models(case_file: Path) -> None:
    """Expected allocation results of the case files are valid result and selector shapes."""
    case = yaml.safe_load(case_file.read_text())
    for result in case["expect"].get("results") or []:
        for device in result["devices"]:
            assert DeviceRequestAllocationResult.model_validate(device).to_dict() == device
        if "nodeSelector" in result:
            node_selector = result["nodeSelector"]
            assert NodeSelector.model_validate(node_selector).to_dict() == node_selector


def _without_empty_maps(data: Any) -> Any:
    """``attributes: {}`` and similar empty maps are omitted in dumps, like omitempty."""
    if isinstance(data, dict):
        return {k: _without_empty_maps(v) for k, v in data.items() if v != {} or k == "cel"}
    if isinstance(data, list):
        return [_without_empty_maps(v) for v in data]
    return data


def test_multi_document_yaml_skips_empty_documents() -> None:
    """Multi-document YAML loads every object in order; empty documents are skipped."""
    text = "---\n" + node_doc("a") + "---\n---\n" + node_doc("b")
    objects = load_yaml(text, source="nodes.yaml")
    assert [o.name for o in objects] == ["a", "b"]
    assert all(isinstance(o, Node) for o in objects)


def test_list_and_typed_list() -> None:
    """kind: List items carry their own kinds; PodList items inherit kind and apiVersion."""
    listing = {
        "apiVersion": "v1",
        "kind": "List",
        "items": [
            {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n"}},
            {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "ns"}},
        ],
        "metadata": {"resourceVersion": ""},
    }
    typed = {"apiVersion": "v1", "kind": "PodList", "items": [{"metadata": {"name": "q"}}]}
    objects = load_documents([listing, typed])
    assert [(type(o), o.name) for o in objects] == [(Node, "n"), (Pod, "p"), (Pod, "q")]
    assert objects[2].api_version == "v1" and objects[2].kind == "Pod"
    assert load_documents([{"apiVersion": "v1", "kind": "List", "items": None}]) == []


def test_unknown_kinds_are_skipped_with_debug_log(caplog: pytest.LogCaptureFixture) -> None:
    """Kinds tessera does not model are skipped and logged at debug level, not errors."""
    docs = [
        {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"}},
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}},
        {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n"}},
    ]
    with caplog.at_level(logging.DEBUG, logger="scheduler.api.loaders"):
        objects = load_documents(docs, source="mixed.yaml")
    assert [o.name for o in objects] == ["n"]
    assert "Deployment" in caplog.text
    with pytest.raises(LoadError, match=r"<input> \(Deployment d\): kind 'Deployment'"):
        load_object(docs[0])


def test_model_for() -> None:
    """Dispatch is by API group and kind; the core group has no prefix."""
    assert model_for("v1", "Pod") is Pod
    assert model_for("resource.k8s.io/v1beta1", "ResourceSlice") is ResourceSlice
    assert model_for("apps/v1", "Pod") is None


def test_directory_is_read_recursively_in_sorted_order(tmp_path: Path) -> None:
    """A directory loads *.yaml, *.yml and *.json recursively, sorted by path; others ignored."""
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "2.yml").write_text(node_doc("n2"))
    (tmp_path / "a.yaml").write_text(node_doc("n1"))
    (tmp_path / "c.json").write_text(
        json.dumps({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n3"}})
    )
    (tmp_path / "notes.txt").write_text("not: [yaml")
    assert [o.name for o in load_objects(tmp_path)] == ["n1", "n2", "n3"]


def test_json_list_file(tmp_path: Path) -> None:
    """kubectl -o json output (a List) loads from a .json file."""
    data = {"apiVersion": "v1", "kind": "List", "items": [{"apiVersion": "v1", "kind": "Node"}]}
    path = tmp_path / "dump.json"
    path.write_text(json.dumps(data, indent=2))
    assert [type(o) for o in load_objects(path)] == [Node]


def test_dump_then_load_is_equal(tmp_path: Path) -> None:
    """dump_objects writes YAML that loads back to equal objects."""
    objects = load_yaml(node_doc("a") + "---\n" + node_doc("b"))
    path = tmp_path / "out.yaml"
    path.write_text(dump_objects(objects))
    assert load_objects(path) == objects


def test_event_reader_matches_safe_loader() -> None:
    """The fast YAML reader builds exactly what SafeLoader builds, on awkward YAML too."""
    text = """\
a: &x {b: 1, c: [yes, No, ~, 1.5, 0x1F, 2024-01-02T03:04:05Z, 2024-01-02, '1', "true", .inf]}
d: *x
e: ! 12
f: !!str 12
g: |
  multi
  line
h:
"": empty key
on: 1_000
---
---
- x
- [1, {k: v}, -4, +3, 0o17, 1:20]
"""
    assert list(_event_documents(text)) == list(yaml.load_all(text, Loader=yaml.SafeLoader))


@pytest.mark.parametrize(
    "text",
    [
        "a: !!int '3'\n",  # explicit tag
        "base: &b {x: 1}\nchild:\n  <<: *b\n  y: 2\n",  # merge key
        "? [1, 2]\n: v\n",  # non-scalar key (an error in both readers)
    ],
)
def test_unusual_yaml_falls_back_to_safe_loader(text: str) -> None:
    """Constructs the fast reader leaves alone are read by SafeLoader with the same result."""
    try:
        expected: Any = list(yaml.load_all(text, Loader=yaml.SafeLoader))
    except yaml.YAMLError:
        with pytest.raises(LoadError, match="invalid YAML"):
            load_yaml(text)
        return
    assert list(_yaml_documents(text, "x")) == expected


# --- error messages ----------------------------------------------------------------------------


def _error(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(LoadError) as info:
        load_objects(path)
    message = str(info.value)
    assert message.startswith(str(path) + ": ")
    return message[len(str(path)) + 2 :]


def test_error_bad_yaml_syntax(tmp_path: Path) -> None:
    """A YAML syntax error names the document, line and column."""
    text = node_doc("a") + "---\napiVersion: v1\nkind: Node\nmetadata: {name: [x\n"
    assert _error(tmp_path, "bad.yaml", text) == (
        "document 2: invalid YAML at line 11, column 1: did not find expected ',' or ']'"
    )


def test_error_bad_json_syntax(tmp_path: Path) -> None:
    """A JSON syntax error names line and column."""
    assert _error(tmp_path, "bad.json", '{"kind": "Node",\n "x": }') == (
        "document 1: invalid JSON at line 2, column 7: Expecting value"
    )


def test_error_non_mapping_document(tmp_path: Path) -> None:
    """A document that is not a mapping is reported with its index and type."""
    text = node_doc("a") + "---\n- just\n- a list\n"
    assert _error(tmp_path, "list.yaml", text) == (
        "document 2: expected a mapping (a Kubernetes object), got list"
    )


def test_error_bad_quantity_deep_in_slice(tmp_path: Path) -> None:
    """A bad quantity deep in a listed ResourceSlice names item, object and full path."""
    device = {
        "name": "gpu-1",
        "consumesCounters": [{"counterSet": "cs", "counters": {"memory": {"value": "10Qi"}}}],
    }
    listing = {
        "apiVersion": "v1",
        "kind": "List",
        "items": [
            {
                "apiVersion": "resource.k8s.io/v1",
                "kind": "ResourceSlice",
                "metadata": {"name": "ok"},
            },
            {
                "apiVersion": "resource.k8s.io/v1",
                "kind": "ResourceSlice",
                "metadata": {"name": "node-1-gpus"},
                "spec": {"driver": "d", "devices": [{"name": "gpu-0"}, device]},
            },
        ],
    }
    text = node_doc("a") + "---\n" + yaml.safe_dump(listing)
    assert _error(tmp_path, "slices.yaml", text) == (
        "document 2, item 2 (ResourceSlice node-1-gpus): "
        "spec.devices[1].consumesCounters[0].counters.memory.value: "
        "quantity '10Qi': not a Kubernetes quantity (e.g. 500m, 1Gi, 2)"
    )


def test_error_bad_node_quantity(tmp_path: Path) -> None:
    """The brief's example: a bad allocatable cpu on a listed Node."""
    items = [
        {"apiVersion": "v1", "kind": "Node", "metadata": {"name": f"gpu-{i}"}} for i in range(5)
    ]
    items[4]["status"] = {"allocatable": {"cpu": "abc"}}
    text = (
        node_doc("a")
        + "---\n"
        + yaml.safe_dump({"apiVersion": "v1", "kind": "List", "items": items})
    )
    assert _error(tmp_path, "nodes.yaml", text) == (
        "document 2, item 5 (Node gpu-4): status.allocatable.cpu: "
        "quantity 'abc': not a Kubernetes quantity (e.g. 500m, 1Gi, 2)"
    )


def test_error_wrong_type(tmp_path: Path) -> None:
    """A string where a list is required names the field and the value."""
    claim = {
        "apiVersion": "resource.k8s.io/v1",
        "kind": "ResourceClaim",
        "metadata": {"name": "c", "namespace": "ml"},
        "spec": {"devices": {"requests": [{"name": "r", "exactly": {"selectors": "gpu"}}]}},
    }
    assert _error(tmp_path, "claim.yaml", yaml.safe_dump(claim)) == (
        "document 1 (ResourceClaim ml/c): spec.devices.requests[0].exactly.selectors: "
        "expected a list, got string 'gpu'"
    )


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ({"kind": "Node"}, "document 1 (Node): apiVersion: required field is missing"),
        ({"apiVersion": "v1", "kind": 3}, "document 1: kind: expected a string, got integer 3"),
        (
            {"apiVersion": "v2", "kind": "Node", "metadata": {"name": "n"}},
            "document 1 (Node n): apiVersion: 'v2' is not supported for Node (versions: v1)",
        ),
        (
            {"apiVersion": "v1", "kind": "Node", "metadata": {"labels": {"a": 1, "b": True}}},
            "document 1 (Node): metadata.labels.a: expected a string, got integer 1 "
            "(and 1 more problem)",
        ),
        (
            {"apiVersion": "v1", "kind": "Node", "metadata": {"labels": {"x.io/gpu": 1}}},
            "document 1 (Node): metadata.labels[x.io/gpu]: expected a string, got integer 1",
        ),
    ],
)
def test_error_envelope(doc: dict[str, Any], message: str) -> None:
    """Missing or mistyped apiVersion/kind, unknown versions and label types are located."""
    with pytest.raises(LoadError) as info:
        load_documents([doc], source="x.yaml")
    assert str(info.value) == f"x.yaml: {message}"


def test_error_missing_file(tmp_path: Path) -> None:
    """A path that does not exist is a LoadError naming it."""
    with pytest.raises(LoadError, match="no such file"):
        load_objects(tmp_path / "nope.yaml")


def test_load_error_is_value_error() -> None:
    """LoadError is a ValueError and keeps the location parts as attributes."""
    with pytest.raises(ValueError) as info:
        load_documents([None, {"apiVersion": "v1", "kind": "Node", "spec": {"taints": "x"}}])
    error = info.value
    assert isinstance(error, LoadError)
    assert (error.document, error.item, error.kind, error.path) == (
        2,
        None,
        "Node",
        ("spec", "taints"),
    )
