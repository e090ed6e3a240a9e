"""Document reading (scheduler/api/documents.py) and the file reader built on it: JSON
streams and streamed List items, YAML guards at their thresholds, unknown kinds reported
once, duplicates named with both documents."""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path

import pytest

from scheduler.api.documents import json_entries
from scheduler.api.errors import LoadError
from scheduler.api.loaders import load_objects, load_yaml


def entries(text: str) -> list[tuple[object, int, int | None]]:
    """(data, document, item) of a JSON text read in tiny chunks (to cross chunk borders)."""
    position = 0

    def read(size: int) -> str:
        nonlocal position
        chunk = text[position : position + 7]
        position += len(chunk)
        return chunk

    return [(e.data, e.document, e.item) for e in json_entries(read, "x.json")]


def test_json_stream_of_objects_and_a_pretty_list() -> None:
    """One object per line, then an indented List whose kind comes after its items (kubectl
    order): every object is an entry, list items numbered, typed-list kind inherited."""
    lines = [
        json.dumps({"kind": "A", "apiVersion": "v1"}),
        json.dumps({"kind": "B", "apiVersion": "v1"}),
    ]
    listing = json.dumps(
        {
            "apiVersion": "v1",
            "items": [{"metadata": {"name": "q"}}, {"kind": "Pod", "apiVersion": "v1"}],
            "kind": "PodList",
        },
        indent=2,
    )
    found = entries("\n".join(lines) + "\n" + listing + "\n")
    assert found[0][1:] == (1, None) and found[1][1:] == (2, None)
    assert found[2] == ({"kind": "Pod", "apiVersion": "v1"}, 3, 2)
    assert found[3] == ({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "q"}}, 3, 1)


def test_json_errors_name_line_and_column_across_chunks() -> None:
    """A syntax error deep in a streamed list item is located in the whole file."""
    text = (
        '{"kind": "List", "apiVersion": "v1",\n "items": [\n  {"kind": "Pod"},\n  {"kind": }\n]}\n'
    )
    with pytest.raises(
        LoadError, match=r"document 1: invalid JSON at line 4, column 12: Expecting value"
    ):
        entries(text)


@pytest.mark.parametrize(
    ("text", "where"),
    [
        (
            '{"kind": "List", "apiVersion": "v1",\n "items": [\n  {"kind": "Pod"}\n  {}\n]}\n',
            "line 4, column 3: expected ',' or ']' in items",
        ),
        ('{"kind": "List"\n "apiVersion": "v1"}\n', "line 2, column 2: expected ',' or '}'"),
    ],
)
def test_json_missing_separator_is_located_at_it(text: str, where: str) -> None:
    """A streamed object or items array missing a ',' fails at the character found instead."""
    with pytest.raises(LoadError, match=re.escape(f"document 1: invalid JSON at {where}")):
        entries(text)


def test_yaml_alias_expansion_within_the_ratio_loads() -> None:
    """A document with a few aliases (well under go-yaml's ratio) loads."""
    text = (
        "apiVersion: v1\nkind: Node\nmetadata:\n  name: n\n  labels: &l {a: b}\n  annotations: *l\n"
    )
    (node,) = load_yaml(text)
    assert node.metadata.annotations == {"a": "b"}


def test_yaml_guards_on_the_safe_loader_path() -> None:
    """Constructs that send the reader to SafeLoader (a merge key) are guarded too."""
    text = "base: &b [[[[[[[[[[[[x]]]]]]]]]]]]\nitem:\n  <<: {k: *b}\n"
    deep = "a: " + "[" * 120 + "]" * 120 + "\nb: !!str x\n"
    with pytest.raises(LoadError, match="nesting deeper than 100 levels"):
        load_yaml(deep)
    with pytest.raises(LoadError):
        load_yaml(text)  # not a Kubernetes object, but parsed without harm first


def test_unknown_kinds_are_reported_once(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Three ConfigMaps and a Service: one warning per kind, naming the first document."""
    docs = [
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": f"c{i}"}} for i in range(3)
    ]
    docs.append({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s"}})
    path = tmp_path / "mixed.json"
    path.write_text("\n".join(json.dumps(d) for d in docs))
    with caplog.at_level(logging.WARNING):
        assert load_objects(path) == []
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 2
    assert "document 1: skipping v1 ConfigMap" in warnings[0]
    assert "document 4: skipping v1 Service" in warnings[1]


def test_duplicates_across_files_name_both(tmp_path: Path) -> None:
    """The same ResourceClaim in two files of one directory: both locations named."""
    claim = (
        "apiVersion: resource.k8s.io/v1\nkind: ResourceClaim\nmetadata: {name: c, namespace: ml}\n"
    )
    (tmp_path / "a.yaml").write_text(claim)
    (tmp_path / "b.yaml").write_text(claim)
    with pytest.raises(LoadError) as info:
        load_objects(tmp_path)
    message = str(info.value)
    assert message.startswith(f"{tmp_path / 'b.yaml'}: document 1 (ResourceClaim ml/c): ")
    assert f"also defined at {tmp_path / 'a.yaml'}: document 1" in message


def test_same_name_in_other_namespace_or_kind_is_no_duplicate(tmp_path: Path) -> None:
    """Duplicates are per kind and namespace."""
    path = tmp_path / "ok.yaml"
    path.write_text(
        "apiVersion: v1\nkind: Pod\nmetadata: {name: x, namespace: a}\n---\n"
        "apiVersion: v1\nkind: Pod\nmetadata: {name: x, namespace: b}\n---\n"
        "apiVersion: v1\nkind: Node\nmetadata: {name: x}\n"
    )
    assert len(load_objects(path)) == 3
