"""Turning files into plain documents, one at a time, safely.

Called by the loaders (:mod:`scheduler.api.loaders`) for every input file; yields
:class:`RawEntry` values (a parsed object with its 1-based document and list-item index)
and raises :class:`~scheduler.api.errors.LoadError` naming the file, document, line and
problem for anything it refuses. Nothing here knows about Kubernetes kinds except that a
document whose ``kind`` ends in ``List`` and that has ``items`` is a list of objects.

Algorithm overview:

* **Text.** Files are read in chunks as UTF-8; a NUL byte (a binary file) or bytes that are
  not UTF-8 (including UTF-16, which PowerShell writes) stop the read with the byte offset.
* **YAML** goes through libyaml's C parser (``yaml.CSafeLoader``; PyYAML's pure-Python
  parser, with a logged notice, when PyYAML was built without libyaml). Documents are built
  straight from the parser's event stream (:func:`_event_documents`), which is several times
  faster than PyYAML's constructor and lets each document be yielded as soon as it ends.
  Plain scalars are resolved and constructed exactly as ``SafeLoader`` does. Constructs the
  event reader leaves alone (explicit tags, merge keys, non-scalar keys, reused anchors)
  make it hand the rest of the file to ``SafeLoader`` itself, with the same guards.
* **Guards** (the API server's YAML decoder has the same ones): nesting deeper than
  :data:`~scheduler.api.limits.MAX_NESTING_DEPTH`, an alias to an anchor that contains it
  (a self-referencing document), and alias expansion beyond go-yaml's ratio
  (:func:`~scheduler.api.limits.alias_ratio_allowed`, the "billion laughs" defence) are
  refused. Aliases are shared, never copied, so a refused document costs no more memory
  than its text.
* **JSON** is a stream of values (one object, a ``kind: List``, or several objects one per
  line as ``kubectl apply -f`` accepts). A value on one line is parsed by orjson; anything
  else by the standard library's incremental decoder, and the ``items`` of a List are
  decoded and yielded one at a time, so a dump is never held as one tree.
"""

from __future__ import annotations

import codecs
import json
import logging
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from functools import lru_cache, partial
from pathlib import Path
from typing import IO, Any

import orjson
import yaml

from . import yaml_fast
from .errors import LoadError
from .limits import MAX_ALIAS_NODES, MAX_NESTING_DEPTH, alias_ratio_allowed

__all__ = [
    "RawEntry",
    "entries_of_documents",
    "file_entries",
    "is_list",
    "json_entries",
    "read_yaml_file",
    "yaml_documents",
]

_log = logging.getLogger(__name__)

_Loader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
if _Loader is yaml.SafeLoader:  # pragma: no cover - depends on how PyYAML was built
    _log.info("PyYAML has no libyaml: reading YAML with the pure-Python parser (slower)")

_CHUNK = 1 << 20
_LINE_MAX = 64 << 20  # longer single-line values are decoded incrementally


@dataclass(frozen=True, slots=True)
class RawEntry:
    """One object as parsed: ``data`` (normally a mapping), the 1-based ``document`` of the
    file and, for an item of a List, its 1-based ``item`` index."""

    data: object
    document: int
    item: int | None = None


# --- text ----------------------------------------------------------------------------------------


class _Text:
    """A UTF-8 text reader over a binary file that refuses binary and non-UTF-8 content.

    ``read`` is what libyaml's parser calls; ``chunks`` is what the JSON reader uses.
    """

    def __init__(self, raw: IO[bytes], source: str) -> None:
        self._raw = raw
        self._source = source
        self._decoder = codecs.getincrementaldecoder("utf-8")("strict")
        self._offset = 0
        self._first = True

    def _check(self, data: bytes) -> None:
        if self._first:
            self._first = False
            if data[:2] in (b"\xff\xfe", b"\xfe\xff"):
                raise LoadError(
                    "the file is UTF-16 (a byte-order mark at offset 0); save it as UTF-8",
                    source=self._source,
                )
        nul = data.find(b"\x00")
        if nul >= 0:
            raise LoadError(
                f"not a text file: NUL byte at offset {self._offset + nul} (a binary file?)",
                source=self._source,
            )

    def read(self, size: int = -1) -> str:
        """Up to ``size`` bytes of the file, decoded (``""`` at the end)."""
        data = self._raw.read(size if size and size > 0 else _CHUNK)
        self._check(data)
        try:
            text = self._decoder.decode(data, final=not data)
        except UnicodeDecodeError as exc:
            raise LoadError(
                f"not UTF-8: byte 0x{data[exc.start]:02x} at offset {self._offset + exc.start} "
                "cannot be decoded",
                source=self._source,
            ) from None
        self._offset += len(data)
        return text


# --- YAML ----------------------------------------------------------------------------------------

_CORE_TAG = "tag:yaml.org,2002:"
_TRIGGERS = frozenset(c for c in yaml.SafeLoader.yaml_implicit_resolvers if c)
_RESOLVER = yaml.resolver.Resolver()
_CONSTRUCTOR = yaml.constructor.SafeConstructor()
_NO_KEY = object()


class _Unsupported(Exception):
    """Raised by the event reader for constructs it leaves to the standard loader."""


class _Refused(Exception):
    """A document the guards refuse: ``problem`` and the 1-based line where it was seen."""

    def __init__(self, problem: str, line: int | None) -> None:
        super().__init__(problem)
        self.problem = problem
        self.line = line


@lru_cache(maxsize=8192)
def _plain_scalar(text: str) -> object:
    """A plain scalar resolved and constructed exactly as SafeLoader does."""
    # PyYAML's resolver is untyped; it returns the tag string.
    tag: str = _RESOLVER.resolve(yaml.ScalarNode, text, (True, False))  # type: ignore[no-untyped-call]
    if tag in (_CORE_TAG + "merge", _CORE_TAG + "value"):
        raise _Unsupported(tag)
    return _CONSTRUCTOR.construct_document(yaml.ScalarNode(tag, text))


class _AliasBudget:
    """go-yaml's alias guard for one document: nodes decoded, nodes decoded through aliases."""

    __slots__ = ("aliased", "decoded")

    def __init__(self) -> None:
        self.decoded = 0
        self.aliased = 0

    def expand(self, nodes: int, line: int | None) -> None:
        self.decoded += nodes
        self.aliased += nodes
        if (
            self.aliased > MAX_ALIAS_NODES
            and self.decoded > 1000
            and self.aliased / self.decoded > alias_ratio_allowed(self.decoded)
        ):
            raise _Refused("document contains excessive aliasing (an alias bomb?)", line)


def _line(event: Any) -> int | None:
    mark = getattr(event, "start_mark", None)
    return mark.line + 1 if mark is not None else None


def _event_documents(text: str | IO[str] | _Text) -> Iterator[object]:
    """Parse YAML into documents from libyaml events (see the module docstring)."""
    # per anchor: (value, expanded node count, height); None while its collection is open
    anchors: dict[str, tuple[object, int, int] | None] = {}
    stack: list[dict[object, object] | list[object]] = []
    keys: list[object] = []
    opened: list[tuple[str | None, int]] = []  # (anchor, decoded count when opened)
    heights: list[int] = []  # per open collection: the tallest child so far
    budget = _AliasBudget()
    root: object = None
    for event in yaml.parse(text, Loader=_Loader):
        obj: object
        height = 0
        if isinstance(event, yaml.ScalarEvent):
            budget.decoded += 1
            value, tag = event.value, event.tag
            if tag is None or tag == "!":
                plain = event.implicit[0] and (not value or value[0] in _TRIGGERS)
                obj = _plain_scalar(value) if plain else value
            elif tag == _CORE_TAG + "str":
                obj = value
            else:
                raise _Unsupported(tag)
            if event.anchor is not None:
                if event.anchor in anchors:
                    raise _Unsupported(event.anchor)
                anchors[event.anchor] = (obj, 1, 0)
        elif isinstance(event, yaml.CollectionStartEvent):
            budget.decoded += 1
            mapping = isinstance(event, yaml.MappingStartEvent)
            if event.tag not in (None, "!", _CORE_TAG + ("map" if mapping else "seq")):
                raise _Unsupported(event.tag)
            if len(stack) >= MAX_NESTING_DEPTH:
                raise _Refused(f"nesting deeper than {MAX_NESTING_DEPTH} levels", _line(event))
            container: dict[object, object] | list[object] = {} if mapping else []
            if event.anchor is not None:
                if event.anchor in anchors:
                    raise _Unsupported(event.anchor)
                anchors[event.anchor] = None
            stack.append(container)
            keys.append(_NO_KEY)
            opened.append((event.anchor, budget.decoded))
            heights.append(0)
            continue
        elif isinstance(event, yaml.CollectionEndEvent):
            obj = stack.pop()
            keys.pop()
            anchor, at = opened.pop()
            height = heights.pop() + 1
            if anchor is not None:
                anchors[anchor] = (obj, budget.decoded - at + 1, height)
        elif isinstance(event, yaml.AliasEvent):
            if event.anchor not in anchors:
                raise _Unsupported(event.anchor)
            found = anchors[event.anchor]
            if found is None:
                raise _Refused(
                    f"anchor {event.anchor!r} value contains itself (a self-referencing alias)",
                    _line(event),
                )
            obj, nodes, height = found
            budget.expand(nodes, _line(event))
            if len(stack) + height > MAX_NESTING_DEPTH:
                raise _Refused(
                    f"nesting deeper than {MAX_NESTING_DEPTH} levels (through alias "
                    f"{event.anchor!r})",
                    _line(event),
                )
        elif isinstance(event, yaml.DocumentEndEvent):
            yield root
            root, anchors, budget = None, {}, _AliasBudget()
            continue
        else:
            continue
        if not stack:
            root = obj
            continue
        heights[-1] = max(heights[-1], height)
        top = stack[-1]
        if isinstance(top, list):
            top.append(obj)
        elif keys[-1] is _NO_KEY:
            if isinstance(obj, dict | list):
                raise _Unsupported("non-scalar key")
            keys[-1] = obj
        else:
            top[keys[-1]] = obj
            keys[-1] = _NO_KEY


def _check_node(root: yaml.Node) -> None:
    """The guards of :func:`_event_documents` on a composed node graph (SafeLoader path)."""
    size: dict[int, tuple[int, int]] = {}  # id -> (expanded nodes, height)
    unique = 0
    # iterative post-order walk; a node met again while open is a cycle
    open_ids: set[int] = set()
    work: list[tuple[yaml.Node, bool]] = [(root, False)]
    while work:
        node, done = work.pop()
        key = id(node)
        if done:
            open_ids.discard(key)
            children = _children(node)
            nodes = 1 + sum(size[id(c)][0] for c in children)
            height = 1 + max((size[id(c)][1] for c in children), default=0)
            if height > MAX_NESTING_DEPTH:
                raise _Refused(
                    f"nesting deeper than {MAX_NESTING_DEPTH} levels", node.start_mark.line + 1
                )
            size[key] = (nodes, height if isinstance(node, yaml.CollectionNode) else 0)
            continue
        if key in size:
            continue
        if key in open_ids:
            raise _Refused(
                "an anchor's value contains itself (a self-referencing alias)",
                node.start_mark.line + 1,
            )
        unique += 1
        open_ids.add(key)
        work.append((node, True))
        for child in _children(node):
            if id(child) in open_ids:
                raise _Refused(
                    "an anchor's value contains itself (a self-referencing alias)",
                    child.start_mark.line + 1,
                )
            if id(child) not in size:
                work.append((child, False))
    decoded = size[id(root)][0]
    aliased = decoded - unique
    if (
        aliased > MAX_ALIAS_NODES
        and decoded > 1000
        and aliased / decoded > alias_ratio_allowed(decoded)
    ):
        raise _Refused("document contains excessive aliasing (an alias bomb?)", None)


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


def _yaml_problem(exc: Exception) -> str:
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or str(exc)
    if mark is not None:
        return f"invalid YAML at line {mark.line + 1}, column {mark.column + 1}: {problem}"
    return f"invalid YAML: {problem}"


def _refused(exc: _Refused, source: str, document: int) -> LoadError:
    where = f"line {exc.line}: " if exc.line is not None else ""
    return LoadError(where + exc.problem, source=source, document=document)


def _safe_loader_documents(text: str | IO[str] | _Text, source: str, skip: int) -> Iterator[object]:
    """Documents through SafeLoader with the guards, after the first ``skip`` ones."""
    loader = _Loader(text)
    index = 0
    try:
        while loader.check_node():
            node = loader.get_node()
            index += 1
            if node is None:
                if index > skip:
                    yield None
                continue
            if index <= skip:
                continue
            _check_node(node)
            yield loader.construct_document(node)
    except _Refused as exc:
        raise _refused(exc, source, index) from None
    except LoadError:
        raise
    except (yaml.YAMLError, ValueError) as exc:
        raise LoadError(_yaml_problem(exc), source=source, document=index + 1) from exc
    except RecursionError:
        raise LoadError(
            f"nesting deeper than {MAX_NESTING_DEPTH} levels", source=source, document=index + 1
        ) from None
    finally:
        loader.dispose()


def yaml_documents(
    open_text: Callable[[], str | IO[str] | _Text], source: str, *, path: Path | None = None
) -> Iterator[object]:
    """Yield the documents of a YAML stream one at a time (see the module docstring).

    ``open_text`` returns the text, or a fresh reader positioned at its start; it is called
    again when the event reader hands over to SafeLoader. ``path``: the file the text is
    read from, which lets a large file go through rapidyaml (:mod:`.yaml_fast`) — each
    document proven equal to this reader's result or read by it — with this reader taking
    over, from the document where the fast path stopped, to report a problem.
    """
    done = 0
    if path is not None and yaml_fast.available() and _size(path) >= yaml_fast.FAST_MIN_BYTES:
        try:
            for document in yaml_fast.fast_documents(path, partial(_reference, source=source)):
                yield document
                done += 1
            return
        except yaml_fast.NotProven as stop:
            _log.debug("%s: reading from document %d with libyaml", source, stop.document)
    yield from _reference_documents(open_text, source, skip=done)


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0  # the reader reports it


def _reference(text: str, *, source: str) -> list[object]:
    """One document's text through the reference reader (all its documents)."""
    return list(_reference_documents(lambda: text, source, skip=0))


def _reference_documents(
    open_text: Callable[[], str | IO[str] | _Text], source: str, *, skip: int
) -> Iterator[object]:
    """The event reader, handing over to SafeLoader for what it leaves alone; the first
    ``skip`` documents are read (their problems reported) but not yielded."""
    done = 0
    try:
        for document in _event_documents(open_text()):
            done += 1
            if done > skip:
                yield document
        return
    except LoadError:
        raise
    except _Unsupported:
        _log.debug("%s: using the standard YAML constructor", source)
    except _Refused as exc:
        raise _refused(exc, source, done + 1) from None
    except (yaml.YAMLError, ValueError) as exc:
        raise LoadError(_yaml_problem(exc), source=source, document=done + 1) from exc
    yield from _safe_loader_documents(open_text(), source, max(done, skip))


# --- JSON ----------------------------------------------------------------------------------------

_WHITESPACE = " \t\r\n"
_DECODER = json.JSONDecoder()


class _JsonStream:
    """An incremental reader of a stream of JSON values over chunks of text.

    The buffer always starts at a line start, so decoder positions translate into absolute
    line and column numbers for messages.
    """

    def __init__(self, read: Callable[[int], str], source: str) -> None:
        self._read = read
        self._source = source
        self.buffer = ""
        self.pos = 0
        self.eof = False
        self.line_base = 0  # lines before the buffer start
        self.document = 0

    def fill(self) -> bool:
        """Append the next chunk (dropping consumed whole lines); False at the end."""
        if self.eof:
            return False
        cut = self.buffer.rfind("\n", 0, self.pos) + 1
        if cut:
            self.line_base += self.buffer.count("\n", 0, cut)
            self.buffer = self.buffer[cut:]
            self.pos -= cut
        chunk = self._read(_CHUNK)
        if not chunk:
            self.eof = True
            return False
        if not self.buffer and self.line_base == 0 and chunk.startswith("\ufeff"):
            chunk = chunk[1:]
        self.buffer += chunk
        return True

    def peek(self) -> str:
        """The next non-whitespace character ("" at the end); consumes the whitespace."""
        while True:
            buffer, pos = self.buffer, self.pos
            while pos < len(buffer) and buffer[pos] in _WHITESPACE:
                pos += 1
            self.pos = pos
            if pos < len(buffer):
                return buffer[pos]
            if not self.fill():
                return ""

    def expect(self, char: str) -> None:
        """Consume ``char`` (after whitespace) or fail."""
        found = self.peek()
        if found != char:
            self.fail(f"expected {char!r}, found {found!r}" if found else f"expected {char!r}")
        self.pos += 1

    def value(self) -> object:
        """Decode the JSON value at the cursor, reading more text as needed."""
        last: tuple[str, int] | None = None
        if not self.peek():
            self.fail("expected a value")
        while True:
            try:
                value, end = _DECODER.raw_decode(self.buffer, self.pos)
            except json.JSONDecodeError as exc:
                seen = (exc.msg, exc.pos - self.pos)
                retry = not self.eof and (seen != last or exc.msg.startswith("Unterminated"))
                if retry and self.fill():
                    last = seen
                    continue
                raise self._error(exc.msg, self.pos + seen[1]) from None
            except RecursionError:
                problem = f"nesting deeper than {MAX_NESTING_DEPTH} levels"
                raise self._error(problem, self.pos) from None
            self.pos = end
            return value

    def line_value(self) -> tuple[bool, object]:
        """A value that ends its line, parsed by orjson: ``(True, value)``; ``(False, None)``
        when the line is not one whole value (the caller then decodes incrementally)."""
        end = self.buffer.find("\n", self.pos)
        while end < 0 and not self.eof and len(self.buffer) - self.pos < _LINE_MAX:
            self.fill()
            end = self.buffer.find("\n", self.pos)
        if end < 0 and not self.eof:
            return False, None
        line = self.buffer[self.pos : end if end >= 0 else len(self.buffer)]
        try:
            value = orjson.loads(line)
        except orjson.JSONDecodeError:
            return False, None
        self.pos += len(line)
        return True, value

    def _error(self, problem: str, pos: int) -> LoadError:
        line = self.line_base + self.buffer.count("\n", 0, pos) + 1
        column = pos - self.buffer.rfind("\n", 0, pos)
        return LoadError(
            f"invalid JSON at line {line}, column {column}: {problem}",
            source=self._source,
            document=max(self.document, 1),
        )

    def fail(self, problem: str) -> None:
        """Raise a LoadError at the cursor."""
        raise self._error(problem, self.pos)

    def closes(self, close: str, problem: str) -> bool:
        """Consume the separator after a member: True at ``close``, False at ``,``; anything
        else fails with ``problem`` at the separator."""
        sep = self.peek()
        self.pos += 1
        if sep == close:
            return True
        if sep != ",":
            self.pos -= 1
            self.fail(problem)
        return False


def json_entries(read: Callable[[int], str], source: str) -> Iterator[RawEntry]:
    """The entries of a JSON stream: each top-level value is a document; a List's items are
    entries of that document, decoded one at a time."""
    stream = _JsonStream(read, source)
    while True:
        first = stream.peek()
        if not first:
            return
        stream.document += 1
        if first == "{":
            whole, value = stream.line_value()
            if whole:
                yield from entries_of_documents([value], first_document=stream.document)
                continue
            yield from _json_object(stream)
        else:
            yield from entries_of_documents([stream.value()], first_document=stream.document)


def _json_object(stream: _JsonStream) -> Iterator[RawEntry]:
    """One top-level object decoded key by key; the ``items`` array is streamed."""
    document = stream.document
    header: dict[str, object] = {}
    deferred: list[tuple[int, object]] = []
    streamed = False
    stream.expect("{")
    if stream.peek() == "}":
        stream.pos += 1
        yield RawEntry(header, document)
        return
    while True:
        key = stream.value()
        if not isinstance(key, str):
            stream.fail("expected a string key")
        stream.expect(":")
        kind = header.get("kind")
        if key == "items" and stream.peek() == "[" and (kind is None or _list_kind(kind)):
            streamed = True
            stream.pos += 1
            index = 0
            if stream.peek() == "]":
                stream.pos += 1
            else:
                while True:
                    index += 1
                    item = stream.value()
                    entry = _list_item(header, item, document, index)
                    if entry is None:
                        deferred.append((index, item))
                    else:
                        yield entry
                    if stream.closes("]", "expected ',' or ']' in items"):
                        break
        else:
            header[str(key)] = stream.value()
        if stream.closes("}", "expected ',' or '}'"):
            break
    if not streamed:
        yield from entries_of_documents([header], first_document=document)
        return
    kind = header.get("kind")
    if not (isinstance(kind, str) and _list_kind(kind)):
        raise LoadError(
            f"an object with 'items' whose kind {kind!r} is not a List",
            source=stream._source,
            document=document,
        )
    for index, item in deferred:
        entry = _list_item(header, item, document, index, final=True)
        assert entry is not None
        yield entry


# --- shared --------------------------------------------------------------------------------------


def _list_kind(kind: object) -> bool:
    return isinstance(kind, str) and kind.endswith("List")


def is_list(data: Mapping[str, Any]) -> bool:
    """Whether a document is a list of objects (``kind: ...List`` with ``items``)."""
    return _list_kind(data.get("kind")) and "items" in data


def _list_item(
    header: Mapping[str, object], item: object, document: int, index: int, *, final: bool = False
) -> RawEntry | None:
    """An item of a List, taking ``apiVersion``/``kind`` from a typed list (``PodList``).

    None when the item needs the list's kind and it is not known yet (JSON streams where
    ``kind`` comes after ``items``); ``final`` forces a result.
    """
    if not isinstance(item, Mapping) or ("kind" in item and "apiVersion" in item):
        return RawEntry(item, document, index)
    kind = header.get("kind")
    if kind is None and not final:
        return None
    item_kind = kind[: -len("List")] if isinstance(kind, str) else ""
    if not item_kind:
        return RawEntry(item, document, index)
    defaults = {"apiVersion": header.get("apiVersion"), "kind": item_kind}
    return RawEntry({**defaults, **item}, document, index)


def entries_of_documents(
    documents: Iterator[object] | list[object], *, first_document: int = 1
) -> Iterator[RawEntry]:
    """Entries of parsed documents: empty documents skipped, Lists expanded into items."""
    for offset, document in enumerate(documents):
        number = first_document + offset
        if document is None:
            continue
        if isinstance(document, Mapping) and is_list(document):
            items = document["items"] or []
            if not isinstance(items, list):
                raise _NotAList(number, str(document["kind"]), items)
            for index, item in enumerate(items, start=1):
                entry = _list_item(document, item, number, index, final=True)
                assert entry is not None
                yield entry
            continue
        yield RawEntry(document, number)


class _NotAList(Exception):
    """``items`` of a List that is not a list (the loader reports it with the kind)."""

    def __init__(self, document: int, kind: str, items: object) -> None:
        super().__init__(kind)
        self.document = document
        self.kind = kind
        self.items = items


def _opener(file: Path, source: str, what: str, opened: list[IO[bytes]]) -> Callable[[], _Text]:
    """A function returning a fresh reader of ``file`` at each call, each added to
    ``opened`` for the caller to close; a file that cannot be opened is a LoadError
    ``cannot read <what>: <reason>``."""

    def open_text() -> _Text:
        try:
            raw = file.open("rb")
        except OSError as exc:
            raise LoadError(f"cannot read {what}: {exc.strerror or exc}", source=source) from exc
        opened.append(raw)
        return _Text(raw, source)

    return open_text


def file_entries(path: Path) -> Iterator[RawEntry]:
    """Every entry of one file: ``.json`` as a JSON stream, anything else as YAML."""
    source = str(path)
    opened: list[IO[bytes]] = []
    open_text = _opener(path, source, "file", opened)
    try:
        if path.suffix == ".json":
            reader = open_text()
            yield from json_entries(reader.read, source)
        else:
            yield from entries_of_documents(yaml_documents(open_text, source, path=path))
    finally:
        for raw in opened:
            raw.close()


def read_yaml_file(path: str | Path, what: str = "file", *, first_only: bool = False) -> object:
    """The one document of a YAML (or JSON, a subset of YAML) file that is not a stream of
    Kubernetes objects: a cluster spec, a scenario, a DRA case file, a scheduler
    configuration. ``None`` for an empty file.

    The same guards as every other reader (:func:`yaml_documents`: binary and non-UTF-8
    files, alias bombs, self-referencing anchors, nesting deeper than
    :data:`~scheduler.api.limits.MAX_NESTING_DEPTH`); LoadError naming the file (and line)
    for those, for invalid YAML, for more than one document and for a file that cannot be
    read (``what`` names the kind of file in that message). ``first_only``: the first
    document, whatever follows it (to tell what kind of file this is).
    """
    file = Path(path)
    source = str(file)
    opened: list[IO[bytes]] = []
    open_text = _opener(file, source, what, opened)

    try:
        documents = yaml_documents(open_text, source)
        first = next(documents, None)
        if not first_only and next(documents, None) is not None:
            raise LoadError(f"expected one YAML document (a {what}), found several", source=source)
        return first
    except LoadError as exc:
        if exc.document != 1:
            raise
        # one document per file: "document 1" says nothing
        raise LoadError(exc.problem, source=source, path=exc.path) from None
    finally:
        for raw in opened:
            raw.close()
