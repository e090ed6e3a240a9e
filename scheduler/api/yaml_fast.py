"""Large YAML streams through rapidyaml, each document proven to read as PyYAML reads it.

Called by :func:`scheduler.api.documents.yaml_documents` for YAML files of at least
:data:`FAST_MIN_BYTES` when the optional ``rapidyaml`` package (``ryml``) is importable; the
libyaml event reader of that module remains the reference and the fallback. libyaml's parser
hands every scalar to Python as an event object, which costs about as much again as the
parse itself (18 s for the 138 MiB YAML of a 500-node cluster); rapidyaml parses in C++ and
writes each document as JSON, which orjson turns into Python objects, both without a Python
call per scalar.

rapidyaml resolves plain scalars as YAML 1.2 JSON does, PyYAML (and the API server's go-yaml)
as YAML 1.1 does, and rapidyaml accepts a few things libyaml refuses. So nothing is taken
from rapidyaml that is not shown to equal PyYAML's reading:

1. **Cutting.** The file is read in blocks and cut into documents at lines that start with
   ``---`` (followed by a blank or the end of the line) — in a valid stream always a document
   start, for libyaml and for the YAML spec alike (an indicator at column 0 cannot continue a
   scalar), so each piece reads alone as it reads in the file.
2. **Screening.** A document with a line that starts with ``...`` (a document end), or whose
   text holds a byte of ``! & * @ ` % < \\`` (tags,
   anchors, aliases, reserved indicators, directives, merge keys, escapes), a tab, a
   carriage return or another control character, a non-ASCII character libyaml refuses, or
   content on its ``---`` line, is read by the reference reader (only that document).
3. **Parsing.** rapidyaml parses the document and emits it as JSON; orjson reads that. A
   parse error sends the document to the reference reader.
4. **Proof.** rapidyaml writes a plain scalar unquoted when it is a JSON number, ``true``,
   ``false`` or ``null``, and quoted otherwise; a quoted YAML scalar stays quoted. So:
   integers, booleans and nulls read by orjson are plain JSON tokens, which YAML 1.1 reads
   the same way. A float is not trusted (``1e3`` is a float in JSON, a string in YAML 1.1).
   A string whose PyYAML plain reading is a string is the same either way. A string that
   PyYAML would read as something else if it were plain (``"8"``, ``"true"``, a quoted
   timestamp) is accepted when it cannot have been plain: rapidyaml would have written that
   plain scalar unquoted (asked of rapidyaml itself, once per distinct string), or the
   string has no blank and none of its occurrences in the document text stands where a
   plain scalar could (between a blank, line start, ``[``, ``{`` or ``,`` and a blank, line
   end, ``,``, ``]``, ``}`` or ``:``). Keys, always quoted in rapidyaml's JSON, get only the
   second test. Nesting deeper than :data:`~scheduler.api.limits.MAX_NESTING_DEPTH` is not
   accepted either. A document that fails the proof is read by the reference reader.

When the reference reader fails on a document, :class:`NotProven` tells the caller to read
the file with the reference reader from that document on, which then reports the error with
its file line. rapidyaml prints its own diagnostic on stderr for a document it cannot parse
(it has no switch for that); tessera's message follows it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from functools import lru_cache
from pathlib import Path
from typing import Any

import orjson
import yaml

from .errors import LoadError
from .limits import MAX_NESTING_DEPTH

try:  # optional: without it every YAML file goes through libyaml
    import ryml
except ImportError:  # pragma: no cover - depends on the installation
    ryml = None

__all__ = ["FAST_MIN_BYTES", "NotProven", "available", "fast_documents"]

FAST_MIN_BYTES = 1 << 20
"""Smaller YAML files go straight to the reference reader (the fast path buys little there)."""

_BLOCK = 8 << 20
_DOCUMENT_START = re.compile(rb"\n---(?=[ \t\r\n]|\Z)")
# bytes that send a document to the reference reader (see the module docstring, step 2)
_SCREENED = bytes(range(0x09)) + b"\t\x0b\x0c\r" + bytes(range(0x0E, 0x20)) + b"\x7f!&*@`%<\\"
_KEEP = bytes(b for b in range(256) if b not in _SCREENED)
_REFUSED_BY_LIBYAML = re.compile(
    "[^\t\n\r\x20-\x7e\x85\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]"
)
_TRIGGERS = frozenset(c for c in yaml.SafeLoader.yaml_implicit_resolvers if c)
_RESOLVER = yaml.resolver.Resolver()
_STR_TAG = "tag:yaml.org,2002:str"
_PLAIN_BEFORE = frozenset(" \t\r\n[{,")
_PLAIN_AFTER = frozenset(" \t\r\n,]}:")


class NotProven(Exception):
    """The reference reader failed on document ``document`` (1-based): the caller reads the
    file with it from there to report the problem."""

    def __init__(self, document: int) -> None:
        super().__init__(document)
        self.document = document


class _Ambiguous(Exception):
    """A document the proof does not accept."""


def available() -> bool:
    """Whether rapidyaml is importable."""
    return ryml is not None


@lru_cache(maxsize=65536)
def _plain_is_str(text: str) -> bool:
    """Whether PyYAML reads ``text`` as a string when it is a plain scalar."""
    if not text or text[0] not in _TRIGGERS:
        return bool(text)
    # PyYAML's resolver is untyped; it returns the tag string.
    tag: str = _RESOLVER.resolve(yaml.ScalarNode, text, (True, False))  # type: ignore[no-untyped-call]
    return tag == _STR_TAG


@lru_cache(maxsize=4096)
def _unquoted_by_ryml(text: str) -> bool:
    """Whether rapidyaml writes a plain scalar ``text`` unquoted in JSON (so a JSON string
    equal to ``text`` was quoted in the YAML)."""
    if ryml is None or any(c in text for c in "\r\n\t #:,[]{}\"'"):
        return False
    try:
        tree = ryml.parse_in_arena(b"k: " + text.encode())
        buffer = bytearray(2 * len(text) + 64)
        failed, size = ryml.emit_json_to_substr(tree, tree.root_id(), buffer)
        if failed:
            return False
        value = orjson.loads(memoryview(buffer)[:size])
    except orjson.JSONDecodeError:
        return True  # written as it is, and not valid JSON: not a string
    except Exception:  # any rapidyaml failure: no conclusion
        return False
    return not (isinstance(value, dict) and isinstance(value.get("k"), str))


def _never_plain(text: str, document: str) -> bool:
    """Whether no occurrence of ``text`` in ``document`` stands where a plain scalar equal to
    it could (see the module docstring, step 4)."""
    if not text or any(c.isspace() for c in text):
        return False
    start = document.find(text)
    while start >= 0:
        end = start + len(text)
        before = document[start - 1] if start else "\n"
        after = document[end] if end < len(document) else "\n"
        if before in _PLAIN_BEFORE and after in _PLAIN_AFTER:
            return False
        start = document.find(text, start + 1)
    return True


_SAFE_KEYS: set[str] = set()  # keys PyYAML reads as these strings when plain
_SAFE_VALUES: set[str] = set()  # values that are these strings, plain or quoted
_SAFE_LIMIT = 1 << 16


def _prove(value: object, document: str) -> None:
    """Raise :class:`_Ambiguous` unless ``value`` (orjson's reading of rapidyaml's JSON) is
    what PyYAML reads from ``document`` (step 4), level by level."""
    if len(_SAFE_VALUES) > _SAFE_LIMIT or len(_SAFE_KEYS) > _SAFE_LIMIT:
        _SAFE_VALUES.clear()
        _SAFE_KEYS.clear()
    triggers, safe_keys, safe_values = _TRIGGERS, _SAFE_KEYS, _SAFE_VALUES
    level: list[Any] = [value]
    depth = 0
    while level:
        deeper: list[Any] = []
        for item in level:
            kind = type(item)
            if kind is dict:
                if not safe_keys.issuperset(item):
                    for key in item:
                        if key not in safe_keys:
                            _prove_key(key, document)
                children = item.values()
            elif kind is list:
                children = item
            else:
                children = (item,)
            for child in children:
                kind = type(child)
                if kind is str:
                    if child and child[0] in triggers and child not in safe_values:
                        _prove_value(child, document)
                elif kind is dict or kind is list:
                    deeper.append(child)
                elif kind is float:
                    raise _Ambiguous
        depth += 1
        if deeper and depth >= MAX_NESTING_DEPTH:
            raise _Ambiguous
        level = deeper


def _prove_key(key: str, document: str) -> None:
    if _plain_is_str(key):
        _SAFE_KEYS.add(key)
    elif not _never_plain(key, document):
        raise _Ambiguous


def _prove_value(text: str, document: str) -> None:
    if _plain_is_str(text) or _unquoted_by_ryml(text):
        _SAFE_VALUES.add(text)
    elif not _never_plain(text, document):
        raise _Ambiguous


def _screened(chunk: bytes) -> bool:
    """Whether a document must go to the reference reader before parsing (step 2)."""
    if len(chunk.translate(None, _KEEP)) or _has_document_end(chunk):
        return True
    if chunk.startswith(b"---"):
        first = chunk.split(b"\n", 1)[0][3:].strip()
        if first and not first.startswith(b"#"):
            return True
    return False


def _rapid(chunk: bytes, text: str, buffer: bytearray) -> list[object]:
    """The documents of ``chunk`` through rapidyaml, proven (raises :class:`_Ambiguous`);
    ``buffer`` receives the JSON (grown as needed)."""
    if not text.isascii() and _REFUSED_BY_LIBYAML.search(text):
        raise _Ambiguous
    try:
        tree = ryml.parse_in_arena(chunk)
    except Exception:  # rapidyaml's parse errors: the reference reader reports them
        raise _Ambiguous from None
    root = tree.root_id()
    ids = list(ryml.children(tree, root)) if tree.is_stream(root) else [root]
    out: list[object] = []
    for node in ids:
        if not tree.is_stream(root) and not (tree.has_val(node) or tree.is_container(node)):
            continue  # a root without content: comments only
        try:
            # into a buffer of ours: emit_json_malloc leaks its buffer (rapidyaml 0.15.2)
            failed, size = ryml.emit_json_to_substr(tree, node, buffer)
            if failed:
                buffer.extend(bytes(size - len(buffer)))
                failed, size = ryml.emit_json_to_substr(tree, node, buffer)
        except Exception:  # rapidyaml's own limits (nesting): the reference reader decides
            raise _Ambiguous from None
        if failed:
            raise _Ambiguous
        try:
            value = orjson.loads(memoryview(buffer)[:size])
        except orjson.JSONDecodeError:
            raise _Ambiguous from None
        _prove(value, text)
        out.append(value)
    return out


def _has_document_end(chunk: bytes) -> bool:
    """Whether a line of ``chunk`` starts with ``...`` (conservatively: whatever follows)."""
    return chunk.startswith(b"...") or chunk.find(b"\n...") >= 0


def _chunks(path: Path) -> Iterator[bytes]:
    """The file cut into documents (step 1)."""
    with path.open("rb") as raw:
        pending = b""
        while True:
            block = raw.read(_BLOCK)
            data = pending + block
            if not block:
                if data:
                    yield data
                return
            cuts = [m.start() + 1 for m in _DOCUMENT_START.finditer(data)]
            if not cuts:
                pending = data
                continue
            previous = 0
            for cut in cuts:
                if cut > previous:
                    yield data[previous:cut]
                previous = cut
            pending = data[previous:]


def fast_documents(path: Path, reference: Callable[[str], list[object]]) -> Iterator[object]:
    """The documents of the YAML file ``path`` (see the module docstring).

    ``reference(text)`` reads one document's text with the reference reader; when it raises,
    :class:`NotProven` carries the number of that document. Raises :class:`NotProven` with
    document 1 for a file this path does not read at all (no rapidyaml, a byte-order mark).
    """
    if ryml is None:
        raise NotProven(1)
    done = 0
    buffer = bytearray(1 << 16)
    for chunk in _chunks(path):
        if done == 0 and chunk[:3] == b"\xef\xbb\xbf":
            raise NotProven(done + 1)
        try:
            text = chunk.decode("utf-8")
        except UnicodeDecodeError:
            raise NotProven(done + 1) from None
        try:
            if _screened(chunk):
                raise _Ambiguous
            documents = _rapid(chunk, text, buffer)
        except _Ambiguous:
            try:
                documents = reference(text)
            except LoadError:  # reported by the caller's reference reading of the file
                raise NotProven(done + 1) from None
        for document in documents:
            done += 1
            yield document
