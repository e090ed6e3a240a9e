"""Read Kubernetes objects from YAML/JSON files, directories and dicts; write them back.

Input is what ``kubectl get -o yaml|json`` prints: multi-document YAML, single objects,
``kind: List`` (and typed lists such as ``PodList``) with ``items``. Objects are dispatched
on (API group, kind) to the models of this package; ``resource.k8s.io`` objects of
``v1beta1``/``v1beta2`` are converted to ``v1`` first. Kinds tessera does not model are
skipped with a debug log line; a modelled kind in an unknown version is an error.

Every failure raises :class:`LoadError` naming the file, the 1-based document index, the
1-based list-item index (for lists), the object kind and name, the field path (0-based
list indices, as Kubernetes prints paths) and the problem with the offending value, e.g.::

    nodes.yaml: document 2, item 5 (Node gpu-3): status.allocatable.cpu: quantity 'abc': not a
    Kubernetes quantity (e.g. 500m, 1Gi, 2)

Parsing uses libyaml (``CSafeLoader``/``CSafeDumper``) when PyYAML has it.
"""

from __future__ import annotations

import gc
import json
import logging
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError
from pydantic_core import ErrorDetails

from .conversion import DRA_GROUP, DRA_VERSIONS, Converted, convert_dra_object
from .dra import DeviceClass, ResourceClaim, ResourceClaimTemplate, ResourceSlice
from .errors import FieldError, LoadError
from .lws import LWS_GROUP, LeaderWorkerSet
from .meta import KubeObject
from .node import Node
from .pod import Pod
from .podgroup import PodGroup
from .priority import PriorityClass

__all__ = [
    "SUFFIXES",
    "dump_objects",
    "load_documents",
    "load_object",
    "load_objects",
    "load_yaml",
    "model_for",
]

_log = logging.getLogger(__name__)

_Loader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_Dumper: type[yaml.SafeDumper] = getattr(yaml, "CSafeDumper", yaml.SafeDumper)

SUFFIXES = (".yaml", ".yml", ".json")
"""File suffixes read when loading a directory."""

# (API group, kind) -> (model, accepted versions). The core group is "".
_MODELS: dict[tuple[str, str], tuple[type[KubeObject], tuple[str, ...]]] = {
    ("", "Pod"): (Pod, ("v1",)),
    ("", "Node"): (Node, ("v1",)),
    (DRA_GROUP, "DeviceClass"): (DeviceClass, DRA_VERSIONS),
    (DRA_GROUP, "ResourceSlice"): (ResourceSlice, DRA_VERSIONS),
    (DRA_GROUP, "ResourceClaim"): (ResourceClaim, DRA_VERSIONS),
    (DRA_GROUP, "ResourceClaimTemplate"): (ResourceClaimTemplate, DRA_VERSIONS),
    ("scheduling.k8s.io", "PriorityClass"): (PriorityClass, ("v1",)),
    (LWS_GROUP, "LeaderWorkerSet"): (LeaderWorkerSet, ("v1",)),
    ("scheduling.x-k8s.io", "PodGroup"): (PodGroup, ("v1alpha1",)),
    ("scheduling.sigs.k8s.io", "PodGroup"): (PodGroup, ("v1alpha1",)),
}


def model_for(api_version: str, kind: str) -> type[KubeObject] | None:
    """The model for objects of this apiVersion's group and kind, or ``None`` if unmodelled.

    Does not check the version; the loaders do.
    """
    group = api_version.rpartition("/")[0]
    entry = _MODELS.get((group, kind))
    return entry[0] if entry else None


@dataclass(frozen=True, slots=True)
class _Where:
    """Where an object came from, for error messages."""

    source: str
    document: int | None = None
    item: int | None = None

    def error(
        self,
        problem: str,
        *,
        kind: str | None = None,
        name: str | None = None,
        path: tuple[str | int, ...] = (),
    ) -> LoadError:
        return LoadError(
            problem,
            source=self.source,
            document=self.document,
            item=self.item,
            kind=kind,
            name=name,
            path=path,
        )


_TYPE_WORDS: dict[type, str] = {
    str: "string",
    int: "integer",
    float: "number",
    bool: "boolean",
    list: "list",
    tuple: "list",
    dict: "mapping",
    type(None): "null",
}

_EXPECTED: dict[str, str] = {
    "string_type": "expected a string",
    "int_type": "expected an integer",
    "int_parsing": "expected an integer",
    "bool_type": "expected a boolean",
    "bool_parsing": "expected a boolean",
    "tuple_type": "expected a list",
    "list_type": "expected a list",
    "dict_type": "expected a mapping",
    "model_type": "expected a mapping",
    "model_attributes_type": "expected a mapping",
}


def _got(value: object) -> str:
    """``string 'abc'`` / ``integer 3`` / ``list``: the offending value for messages."""
    word = _TYPE_WORDS.get(type(value), type(value).__name__)
    if isinstance(value, str | int | float | bool):
        text = repr(value)
        if len(text) > 60:
            text = text[:57] + "..."
        return f"{word} {text}"
    return word


def _problem(error: ErrorDetails) -> str:
    """One pydantic error as a sentence naming the offending value."""
    if error["type"] == "value_error":
        ctx = error.get("ctx") or {}
        return str(ctx.get("error", error["msg"]))
    if error["type"] == "missing":
        return "required field is missing"
    expected = _EXPECTED.get(error["type"], error["msg"])
    return f"{expected}, got {_got(error['input'])}"


def _object_name(data: Mapping[str, Any]) -> str | None:
    metadata = data.get("metadata")
    if not isinstance(metadata, Mapping):
        return None
    name, namespace = metadata.get("name"), metadata.get("namespace")
    if not isinstance(name, str) or not name:
        return None
    return f"{namespace}/{name}" if isinstance(namespace, str) and namespace else name


def _required_string(
    data: Mapping[str, Any], field: str, where: _Where, *, kind: str | None, name: str | None
) -> str:
    value = data.get(field)
    if isinstance(value, str) and value:
        return value
    problem = (
        "required field is missing" if value is None else f"expected a string, got {_got(value)}"
    )
    raise where.error(problem, kind=kind, name=name, path=(field,))


def _load_one(data: object, where: _Where) -> KubeObject | None:
    """Validate one object; ``None`` for a kind tessera does not model."""
    if not isinstance(data, Mapping):
        raise where.error(f"expected a mapping (a Kubernetes object), got {_got(data)}")
    name = _object_name(data)
    kind = _required_string(data, "kind", where, kind=None, name=name)
    api_version = _required_string(data, "apiVersion", where, kind=kind, name=name)
    group, _, version = api_version.rpartition("/")
    entry = _MODELS.get((group, kind))
    if entry is None:
        _log.debug("%s: skipping %s %s (kind not modelled)", where.source, api_version, kind)
        return None
    model, versions = entry
    if version not in versions:
        raise where.error(
            f"{api_version!r} is not supported for {kind} (versions: {', '.join(versions)})",
            kind=kind,
            name=name,
            path=("apiVersion",),
        )
    converted = Converted(dict(data))
    if group == DRA_GROUP:
        try:
            converted = convert_dra_object(data)
        except FieldError as exc:
            raise where.error(exc.message, kind=kind, name=name, path=exc.path) from exc
    try:
        return model.model_validate(converted.data)
    except ValidationError as exc:
        errors = exc.errors(include_url=False)
        first = errors[0]
        problem = _problem(first)
        if len(errors) > 1:
            problem += f" (and {len(errors) - 1} more problem{'s' if len(errors) > 2 else ''})"
        path = converted.original_path(first["loc"])
        raise where.error(problem, kind=kind, name=name, path=path) from exc


def load_object(data: Mapping[str, Any], *, source: str = "<input>") -> KubeObject:
    """Validate one object dict into its model.

    Raises :class:`LoadError` (prefixed with ``source``) for bad input, and also for a kind
    tessera does not model, since the caller asked for exactly this object.
    """
    where = _Where(source)
    obj = _load_one(data, where)
    if obj is None:
        raise where.error(
            f"kind {data.get('kind')!r} of {data.get('apiVersion')!r} is not modelled",
            kind=str(data.get("kind")),
            name=_object_name(data),
        )
    return obj


@contextmanager
def _gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while building many objects.

    A dump of thousands of ResourceSlices creates millions of small objects and none of
    them is garbage; the collector's repeated full passes over them otherwise take more
    time than the parsing itself. The previous state is restored on exit.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _is_list(data: Mapping[str, Any]) -> bool:
    kind = data.get("kind")
    return isinstance(kind, str) and kind.endswith("List") and "items" in data


def load_documents(documents: Iterable[object], *, source: str = "<input>") -> list[KubeObject]:
    """Load parsed documents (dicts, ``List`` dicts, ``None`` for empty documents).

    Items of a typed list (``PodList``) that lack ``apiVersion``/``kind`` take them from the
    list. Unmodelled kinds are skipped.
    """
    with _gc_paused():
        return _load_documents(documents, source)


def _load_documents(documents: Iterable[object], source: str) -> list[KubeObject]:
    objects: list[KubeObject] = []
    for doc_index, document in enumerate(documents, start=1):
        if document is None:
            continue
        where = _Where(source, doc_index)
        if isinstance(document, Mapping) and _is_list(document):
            items = document["items"] or []
            if not isinstance(items, list):
                raise where.error(
                    f"expected a list, got {_got(items)}",
                    kind=str(document["kind"]),
                    path=("items",),
                )
            item_kind = document["kind"][: -len("List")]
            defaults = {"apiVersion": document.get("apiVersion"), "kind": item_kind}
            for item_index, item in enumerate(items, start=1):
                typed = {**defaults, **item} if isinstance(item, Mapping) and item_kind else item
                obj = _load_one(typed, _Where(source, doc_index, item_index))
                if obj is not None:
                    objects.append(obj)
            continue
        obj = _load_one(document, where)
        if obj is not None:
            objects.append(obj)
    return objects


def _yaml_problem(exc: Exception) -> str:
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or str(exc)
    if mark is not None:
        return f"invalid YAML at line {mark.line + 1}, column {mark.column + 1}: {problem}"
    return f"invalid YAML: {problem}"


# --- YAML reading -----------------------------------------------------------------------------
# PyYAML's constructor is pure Python and dominates load time for big dumps (thousands of
# ResourceSlices). The reader below builds the same Python values straight from libyaml's
# event stream: plain scalars are resolved by SafeLoader's own resolver and constructor
# (memoised, and skipped for text whose first character cannot start a non-string), and
# anything unusual (explicit tags, merge keys, non-scalar keys, duplicate anchors) makes it
# give up so that the standard SafeLoader reads the text instead.

_CORE_TAG = "tag:yaml.org,2002:"
_TRIGGERS = frozenset(c for c in yaml.SafeLoader.yaml_implicit_resolvers if c)
_RESOLVER = yaml.resolver.Resolver()
_CONSTRUCTOR = yaml.constructor.SafeConstructor()
_NO_KEY = object()


class _Unsupported(Exception):
    """Raised by the event reader for constructs it leaves to the standard loader."""


@lru_cache(maxsize=8192)
def _plain_scalar(text: str) -> object:
    """A plain scalar resolved and constructed exactly as SafeLoader does."""
    # PyYAML's resolver is untyped; it returns the tag string.
    tag: str = _RESOLVER.resolve(yaml.ScalarNode, text, (True, False))  # type: ignore[no-untyped-call]
    if tag in (_CORE_TAG + "merge", _CORE_TAG + "value"):
        raise _Unsupported(tag)
    return _CONSTRUCTOR.construct_document(yaml.ScalarNode(tag, text))


def _event_documents(text: str) -> Iterator[object]:
    """Parse ``text`` into documents from libyaml events (see the comment above)."""
    anchors: dict[str, object] = {}
    stack: list[dict[object, object] | list[object]] = []
    keys: list[object] = []
    root: object = None
    for event in yaml.parse(text, Loader=_Loader):
        obj: object
        if isinstance(event, yaml.ScalarEvent):
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
                anchors[event.anchor] = obj
        elif isinstance(event, yaml.CollectionStartEvent):
            mapping = isinstance(event, yaml.MappingStartEvent)
            if event.tag not in (None, "!", _CORE_TAG + ("map" if mapping else "seq")):
                raise _Unsupported(event.tag)
            container: dict[object, object] | list[object] = {} if mapping else []
            if event.anchor is not None:
                if event.anchor in anchors:
                    raise _Unsupported(event.anchor)
                anchors[event.anchor] = container
            stack.append(container)
            keys.append(_NO_KEY)
            continue
        elif isinstance(event, yaml.CollectionEndEvent):
            obj = stack.pop()
            keys.pop()
        elif isinstance(event, yaml.AliasEvent):
            if event.anchor not in anchors:
                raise _Unsupported(event.anchor)
            obj = anchors[event.anchor]
        elif isinstance(event, yaml.DocumentEndEvent):
            yield root
            root, anchors = None, {}
            continue
        else:
            continue
        if not stack:
            root = obj
            continue
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


def _yaml_documents(text: str, source: str) -> Iterator[object]:
    """Yield parsed documents one at a time, turning syntax errors into LoadErrors."""
    done = 0
    try:
        for document in _event_documents(text):
            yield document
            done += 1
        return
    except _Unsupported:
        _log.debug("%s: using the standard YAML constructor", source)
    except (yaml.YAMLError, ValueError) as exc:
        raise LoadError(_yaml_problem(exc), source=source, document=done + 1) from exc
    documents = yaml.load_all(text, Loader=_Loader)
    index = 0
    while True:
        try:
            document = next(documents)
        except StopIteration:
            return
        except (yaml.YAMLError, ValueError) as exc:
            raise LoadError(_yaml_problem(exc), source=source, document=index + 1) from exc
        index += 1
        if index > done:
            yield document


def load_yaml(text: str, *, source: str = "<input>") -> list[KubeObject]:
    """Load every object of a (multi-document) YAML text."""
    return load_documents(_yaml_documents(text, source), source=source)


def _load_json(text: str, source: str) -> list[KubeObject]:
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise LoadError(
            f"invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}",
            source=source,
            document=1,
        ) from exc
    return load_documents([document], source=source)


def _files(path: Path) -> list[Path]:
    if path.is_dir():
        found = [p for p in path.rglob("*") if p.is_file() and p.suffix in SUFFIXES]
        return sorted(found, key=lambda p: p.relative_to(path).as_posix())
    if not path.exists():
        raise LoadError("no such file or directory", source=str(path))
    return [path]


def load_objects(path: str | Path) -> list[KubeObject]:
    """Load every modelled object from a file, or from a directory tree.

    A directory is read recursively, files ending in ``.yaml``, ``.yml`` or ``.json`` in
    sorted path order. ``.json`` files are parsed as JSON, everything else as YAML.
    """
    objects: list[KubeObject] = []
    files = _files(Path(path))
    with _gc_paused():
        for file in files:
            objects.extend(_load_file(file))
    return objects


def _load_file(file: Path) -> list[KubeObject]:
    source = str(file)
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise LoadError(f"cannot read file: {exc}", source=source) from exc
    if file.suffix == ".json":
        return _load_json(text, source)
    return load_yaml(text, source=source)


def dump_objects(objects: Iterable[KubeObject]) -> str:
    """Multi-document YAML of ``objects`` (``to_dict`` form) that loads back equal."""
    return yaml.dump_all(
        [obj.to_dict() for obj in objects],
        Dumper=_Dumper,
        sort_keys=False,
        default_flow_style=False,
        allow_unicode=True,
    )
