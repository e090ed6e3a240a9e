"""The rapidyaml path for large YAML files (scheduler/api/yaml_fast.py): every document reads
exactly as plain PyYAML with libyaml (``CSafeLoader``) reads it, types included; documents
it cannot prove go to the libyaml reader, problems are reported as the libyaml reader
reports them, and without rapidyaml everything still reads the same."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from scheduler.api import documents, yaml_fast
from scheduler.api.documents import file_entries
from scheduler.api.errors import LoadError
from scheduler.api.limits import MAX_NESTING_DEPTH

pytestmark = pytest.mark.skipif(not yaml_fast.available(), reason="rapidyaml not installed")

# Documents the proof accepts: ordinary Kubernetes-style YAML, including quoted strings
# that would be numbers, booleans or timestamps if they were plain.
PLAIN_DOCUMENTS = [
    """\
apiVersion: resource.k8s.io/v1
kind: ResourceSlice
metadata:
  name: n-0-gpu.nvidia.com-0
  creationTimestamp: "2024-01-15T12:00:00Z"
  labels:
    present: "true"
    zone: 'on'
spec:
  nodeName: n-0
  pool: {name: n-0, generation: 1, resourceSliceCount: 1}
  devices:
  - name: gpu-0
    attributes:
      uuid: {string: GPU-0a1b}
      index: {int: 0}
      cores: {int: -12}
      productName: {string: NVIDIA H100 80GB HBM3}
    capacity:
      memory: {value: 80Gi}
      copies: {value: '8'}
      count: {value: "12"}
""",
    """\
kind: Node
apiVersion: v1
metadata:
  name: n-0
  annotations:
    note: |
      first line
      second line
    folded: >-
      one
      two
    multi: plain words
      over two lines
    empty: ""
    none:
    nulls: null
    yes-no: "yes"
status:
  capacity: {cpu: "96", memory: 1Ti, pods: "110"}
  conditions:
  - type: Ready
    status: "True"
  - type: DiskPressure
    status: "False"
  flags: [true, false, 3, "3", x]
""",
    "- one\n- 2\n- '3'\n",
    "just a string\n",
    "a: caf\u00e9\nb: 'it''s'\nc: ~x\n",
    "a: 8\nb: '8'\nc: '~'\nd: '2024-01-15'\n",
]

# Documents the proof refuses (or screening sends away): each must still read as PyYAML.
TRICKY_DOCUMENTS = [
    "a: yes\nb: no\nc: on\nd: Off\n",
    "a: ~\nb: Null\nc: NULL\n",
    "a: 0x1F\nb: 017\nc: 0o17\nd: 0b101\ne: 1_000\nf: 1:20\ng: +12\n",
    "a: 1e3\nb: 1.0\nc: .5\nd: .inf\ne: -.inf\nf: 12.\n",
    "a: 2024-01-15\nb: 2024-01-15T12:00:00Z\nc: '2024-01-15'\n",
    "8: eight\n'9': nine\ntrue: t\n",
    "a: 123456789012345678901234567890\n",
    "a: &x {b: 1}\nc: *x\n",
    "a: !!str 123\nb: !!int '7'\n",
    "base: &b {x: 1}\nderived:\n  <<: *b\n  y: 2\n",
    'a: "tab\\there"\nb: "\\u00e9\\x41"\n',
    "a: 1\r\nb: 2\r\n",
    "a: x@y\nb: 50%\n",
    "a: 1\n...\n",
    "a: 1\nb: '~'\nc: ~\n",
    "a:\tb\nc: 1\tb\n",
]


def _libyaml(text: str) -> list[object]:
    """Plain PyYAML's reading through libyaml (what tessera's reference reader matches)."""
    return list(yaml.load_all(text, Loader=yaml.CSafeLoader))


def _typed(value: object) -> object:
    """``value`` with every scalar tagged by its type (1, 1.0 and True compare unequal)."""
    if isinstance(value, dict):
        return {_typed(k): _typed(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_typed(v) for v in value]
    return (type(value).__name__, repr(value))


@pytest.fixture
def fast(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """The fast path for every file, with small blocks (documents cut across them); yields
    the texts the libyaml reader was given."""
    monkeypatch.setattr(yaml_fast, "FAST_MIN_BYTES", 0)
    monkeypatch.setattr(yaml_fast, "_BLOCK", 97)
    referred: list[str] = []
    reference = documents._reference

    def spy(text: str, *, source: str) -> list[object]:
        referred.append(text)
        return reference(text, source=source)

    monkeypatch.setattr(documents, "_reference", spy)
    yield referred


def _stream(parts: list[str]) -> str:
    return "".join(f"---\n{p}" if i else p for i, p in enumerate(parts))


def _read(path: Path) -> list[object]:
    return [e.data for e in file_entries(path)]


def test_plain_documents_are_read_by_rapidyaml_as_pyyaml_reads_them(
    tmp_path: Path, fast: list[str]
) -> None:
    """Kubernetes-style documents (quoted "8", "true", timestamps, block scalars, flow
    collections, empty documents) never reach the libyaml reader and equal PyYAML's."""
    text = _stream([*PLAIN_DOCUMENTS, "", *PLAIN_DOCUMENTS[:2]])
    path = tmp_path / "plain.yaml"
    path.write_text(text)
    assert _typed(_read(path)) == _typed([d for d in _libyaml(text) if d is not None])
    assert fast == []


@pytest.mark.parametrize("tricky", TRICKY_DOCUMENTS)
def test_tricky_documents_read_as_pyyaml_reads_them(
    tmp_path: Path, fast: list[str], tricky: str
) -> None:
    """YAML 1.1 scalars, anchors, tags, merge keys, escapes, tabs, CRLF, document ends:
    the result is PyYAML's, and only the tricky document goes to the libyaml reader."""
    text = _stream([PLAIN_DOCUMENTS[0], tricky, PLAIN_DOCUMENTS[1]])
    path = tmp_path / "tricky.yaml"
    path.write_bytes(text.encode())
    assert _typed(_read(path)) == _typed(_libyaml(text))
    assert len(fast) == 1 and tricky.split("\n", maxsplit=1)[0] in fast[0]


def _message(path: Path) -> str:
    with pytest.raises(LoadError) as caught:
        _read(path)
    return str(caught.value)


@pytest.mark.parametrize(
    "bad",
    [
        "a: [1, 2\n",
        "a: b: c\n",
        "a: `x\n",
        "\x00binary\n",
        "a: " + "[" * (MAX_NESTING_DEPTH + 1) + "]" * (MAX_NESTING_DEPTH + 1) + "\n",
        "a: " + "\n".join("  " * i + "- " for i in range(MAX_NESTING_DEPTH + 2)) + "x\n",
    ],
)
def test_problems_are_reported_as_the_libyaml_reader_reports_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, bad: str
) -> None:
    """A bad third document: the same message (file, document, line) with and without the
    fast path."""
    path = tmp_path / "bad.yaml"
    path.write_text(_stream([PLAIN_DOCUMENTS[0], PLAIN_DOCUMENTS[1], bad]))
    reference = _message(path)
    assert str(path) in reference
    monkeypatch.setattr(yaml_fast, "FAST_MIN_BYTES", 0)
    assert _message(path) == reference


def test_without_rapidyaml_everything_reads_through_libyaml(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The fallback: no rapidyaml, same documents, and fast_documents declines at once."""
    text = _stream([*PLAIN_DOCUMENTS, *TRICKY_DOCUMENTS])
    path = tmp_path / "any.yaml"
    path.write_bytes(text.encode())
    monkeypatch.setattr(yaml_fast, "FAST_MIN_BYTES", 0)
    with_fast = _read(path)
    monkeypatch.setattr(yaml_fast, "ryml", None)
    assert not yaml_fast.available()
    with pytest.raises(yaml_fast.NotProven) as caught:
        next(iter(yaml_fast.fast_documents(path, lambda text: [])))
    assert caught.value.document == 1
    assert _typed(_read(path)) == _typed(with_fast) == _typed(_libyaml(text))


def test_small_files_do_not_take_the_fast_path(tmp_path: Path) -> None:
    """Below FAST_MIN_BYTES the libyaml reader reads the file (rapidyaml is not called)."""
    path = tmp_path / "small.yaml"
    path.write_text(PLAIN_DOCUMENTS[0])
    assert path.stat().st_size < yaml_fast.FAST_MIN_BYTES

    def refuse(*_: object, **__: object) -> Iterator[object]:
        raise AssertionError("fast path taken")

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(yaml_fast, "fast_documents", refuse)
        assert _read(path) == _libyaml(PLAIN_DOCUMENTS[0])
