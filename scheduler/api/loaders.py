"""Read Kubernetes objects from YAML/JSON files, directories and dicts; write them back.

Input is what ``kubectl get -o yaml|json`` prints and what ``kubectl apply -f`` accepts:
multi-document YAML, single objects, ``kind: List`` (and typed lists such as ``PodList``)
with ``items``, JSON streams. Parsing and its guards (binary and non-UTF-8 files, alias
bombs, deep nesting) are :mod:`scheduler.api.documents`. Objects are dispatched on (API
group, kind) to the models of this package; ``resource.k8s.io`` objects of
``v1beta1``/``v1beta2`` are converted to ``v1`` first. A modelled kind in an unknown version
is an error.

Reading files (:class:`ObjectReader`, :func:`load_objects`) also does what the API server
does on create (:mod:`scheduler.api.defaults`): namespaces, requests from limits,
generated names for ``generateName`` — and refuses what it refuses: two objects of the
same kind, namespace and name in one input (both documents are named). Kinds tessera does
not read are reported once per kind as a warning (stderr under the CLI) and skipped.

Every failure raises :class:`LoadError` naming the file, the 1-based document index, the
1-based list-item index (for lists), the object kind and name, the field path (0-based
list indices, as Kubernetes prints paths) and the problem with the offending value, e.g.::

    nodes.yaml: document 2, item 5 (Node gpu-3): status.allocatable.cpu: quantity 'abc': not a
    Kubernetes quantity (e.g. 500m, 1Gi, 2)
"""

from __future__ import annotations

import gc
import logging
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import yaml
from pydantic import ValidationError
from pydantic_core import ErrorDetails

from .conversion import DRA_GROUP, DRA_VERSIONS, Converted, convert_dra_object
from .defaults import DEFAULT_NAMESPACE, apply_defaults
from .devicetaintrule import DEVICE_TAINT_RULE_VERSIONS, DeviceTaintRule
from .documents import (
    RawEntry,
    _event_documents,  # noqa: F401 - the YAML reader's tests import it from here
    _NotAList,
    entries_of_documents,
    file_entries,
    yaml_documents,
)
from .dra import DeviceClass, ResourceClaim, ResourceClaimTemplate, ResourceSlice
from .errors import FieldError, LoadError
from .lws import LWS_GROUP, LeaderWorkerSet
from .meta import KubeObject
from .names import NameGenerator, NameTakenError
from .node import Node
from .pod import Pod
from .podgroup import PodGroup
from .priority import PriorityClass
from .validation import check_object

__all__ = [
    "API_MODELS",
    "SUFFIXES",
    "Loaded",
    "ModelTable",
    "ObjectReader",
    "Origin",
    "dump_objects",
    "gc_paused",
    "input_files",
    "load_documents",
    "load_object",
    "load_objects",
    "load_yaml",
    "model_for",
    "read_objects",
    "validate_object",
]

_log = logging.getLogger(__name__)

_Dumper: type[yaml.SafeDumper] = getattr(yaml, "CSafeDumper", yaml.SafeDumper)

SUFFIXES = (".yaml", ".yml", ".json")
"""File suffixes read when loading a directory."""

ModelTable = Mapping[tuple[str, str], tuple[type[KubeObject], tuple[str, ...]]]
"""(API group, kind) -> (model, accepted versions). The core group is ``""``."""

API_MODELS: ModelTable = {
    ("", "Pod"): (Pod, ("v1",)),
    ("", "Node"): (Node, ("v1",)),
    (DRA_GROUP, "DeviceClass"): (DeviceClass, DRA_VERSIONS),
    (DRA_GROUP, "ResourceSlice"): (ResourceSlice, DRA_VERSIONS),
    (DRA_GROUP, "ResourceClaim"): (ResourceClaim, DRA_VERSIONS),
    (DRA_GROUP, "ResourceClaimTemplate"): (ResourceClaimTemplate, DRA_VERSIONS),
    (DRA_GROUP, "DeviceTaintRule"): (DeviceTaintRule, DEVICE_TAINT_RULE_VERSIONS),
    ("scheduling.k8s.io", "PriorityClass"): (PriorityClass, ("v1",)),
    (LWS_GROUP, "LeaderWorkerSet"): (LeaderWorkerSet, ("v1",)),
    ("scheduling.x-k8s.io", "PodGroup"): (PodGroup, ("v1alpha1",)),
    ("scheduling.sigs.k8s.io", "PodGroup"): (PodGroup, ("v1alpha1",)),
}
"""The kinds the scheduler itself reads (cluster state and scheduling inputs). Trace readers
add the workload kinds (:data:`scheduler.api.workloads.WORKLOAD_KINDS`)."""

_CONVERTED_DRA_KINDS = frozenset(
    ("DeviceClass", "ResourceSlice", "ResourceClaim", "ResourceClaimTemplate")
)


def model_for(api_version: str, kind: str) -> type[KubeObject] | None:
    """The model for objects of this apiVersion's group and kind, or ``None`` if unmodelled.

    Does not check the version; the loaders do.
    """
    group = api_version.rpartition("/")[0]
    entry = API_MODELS.get((group, kind))
    return entry[0] if entry else None


@dataclass(frozen=True, slots=True)
class Origin:
    """Where an object came from: file, 1-based document and list item, for messages."""

    source: str
    document: int | None = None
    item: int | None = None

    def __str__(self) -> str:
        parts = [f"document {self.document}"] if self.document is not None else []
        if self.item is not None:
            parts.append(f"item {self.item}")
        return f"{self.source}: {', '.join(parts)}" if parts else self.source

    def error(
        self,
        problem: str,
        *,
        kind: str | None = None,
        name: str | None = None,
        path: tuple[str | int, ...] = (),
    ) -> LoadError:
        """A LoadError located here."""
        return LoadError(
            problem,
            source=self.source,
            document=self.document,
            item=self.item,
            kind=kind,
            name=name,
            path=path,
        )


class Loaded(NamedTuple):
    """An object read from a file and where it was."""

    obj: KubeObject
    origin: Origin


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
    data: Mapping[str, Any], field: str, where: Origin, *, kind: str | None, name: str | None
) -> str:
    value = data.get(field)
    if isinstance(value, str) and value:
        return value
    problem = (
        "required field is missing" if value is None else f"expected a string, got {_got(value)}"
    )
    raise where.error(problem, kind=kind, name=name, path=(field,))


def _envelope(data: object, where: Origin) -> tuple[str, str, str, str | None]:
    """``(group, version, kind, name)`` of an object, or a located error."""
    if not isinstance(data, Mapping):
        raise where.error(f"expected a mapping (a Kubernetes object), got {_got(data)}")
    name = _object_name(data)
    kind = _required_string(data, "kind", where, kind=None, name=name)
    api_version = _required_string(data, "apiVersion", where, kind=kind, name=name)
    group, _, version = api_version.rpartition("/")
    return group, version, kind, name


def validate_object(
    data: Mapping[str, Any], where: Origin, models: ModelTable
) -> KubeObject | None:
    """Validate one parsed object into its model (no defaulting); ``None`` for a kind not in
    ``models``. Raises LoadError located at ``where``."""
    group, version, kind, name = _envelope(data, where)
    entry = models.get((group, kind))
    if entry is None:
        return None
    model, versions = entry
    if version not in versions:
        api_version = data["apiVersion"]
        raise where.error(
            f"{api_version!r} is not supported for {kind} (versions: {', '.join(versions)})",
            kind=kind,
            name=name,
            path=("apiVersion",),
        )
    # Go decodes `null` into a struct field as the zero value: `metadata: null` is no metadata
    data = {k: v for k, v in data.items() if v is not None or k in ("apiVersion", "kind")}
    converted = Converted(dict(data))
    if group == DRA_GROUP and kind in _CONVERTED_DRA_KINDS:
        try:
            converted = convert_dra_object(data)
        except FieldError as exc:
            raise where.error(exc.message, kind=kind, name=name, path=exc.path) from exc
    try:
        obj = model.model_validate(converted.data)
    except ValidationError as exc:
        errors = exc.errors(include_url=False)
        first = errors[0]
        problem = _problem(first)
        if len(errors) > 1:
            problem += f" (and {len(errors) - 1} more problem{'s' if len(errors) > 2 else ''})"
        path = converted.original_path(first["loc"])
        raise where.error(problem, kind=kind, name=name, path=path) from exc
    except RecursionError:
        raise where.error("nesting too deep to read", kind=kind, name=name) from None
    if isinstance(obj, DeviceTaintRule):
        found = obj.problem()
        if found is not None:
            raise where.error(found[1], kind=kind, name=name, path=found[0])
    return obj


def load_object(data: Mapping[str, Any], *, source: str = "<input>") -> KubeObject:
    """Validate one object dict into its model (no API-server defaulting).

    Raises :class:`LoadError` (prefixed with ``source``) for bad input, and also for a kind
    tessera does not model, since the caller asked for exactly this object.
    """
    where = Origin(source)
    obj = validate_object(data, where, API_MODELS)
    if obj is None:
        raise where.error(
            f"kind {data.get('kind')!r} of {data.get('apiVersion')!r} is not modelled",
            kind=str(data.get("kind")),
            name=_object_name(data),
        )
    return obj


@contextmanager
def gc_paused() -> Iterator[None]:
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


def input_files(path: Path) -> list[Path]:
    """The files an input path names: itself, or a directory's ``*.yaml``, ``*.yml`` and
    ``*.json`` files, recursively, in sorted relative-path order."""
    if path.is_dir():
        found = [p for p in path.rglob("*") if p.is_file() and p.suffix in SUFFIXES]
        return sorted(found, key=lambda p: p.relative_to(path).as_posix())
    if not path.exists():
        raise LoadError("no such file or directory", source=str(path))
    return [path]


class ObjectReader:
    """Reads inputs into models the way the API server would store them.

    One reader serves one input (a file, a directory, or several files read as one
    whole): duplicates are detected and generated names drawn across everything it reads.
    Per object, in order: parse (:mod:`scheduler.api.documents`), dispatch by kind
    (``models``), validate, API defaulting (``defaults``), ``generateName``, duplicate
    check. ``skipped`` counts the objects of kinds not in ``models`` by ``apiVersion kind``;
    the first of each is reported with a warning.

    ``succeeds(earlier, later)``, when given, lets an object reuse the name of an earlier one
    of its kind: a history of objects (a pod deleted and a new one created under its name, as
    a LeaderWorkerSet does when it scales a group down and up again) rather than one moment of
    the API server. It is asked only about a name already read; True accepts ``later`` (and
    the next reuse is checked against it), False is the duplicate error.
    """

    def __init__(
        self,
        *,
        models: ModelTable = API_MODELS,
        defaults: bool = True,
        namespace: str = DEFAULT_NAMESPACE,
        seed: str = "",
        succeeds: Callable[[KubeObject, KubeObject], bool] | None = None,
    ) -> None:
        self.models = models
        self.defaults = defaults
        self.namespace = namespace
        self.names = NameGenerator(seed)
        self.skipped: dict[str, int] = {}
        self.succeeds = succeeds
        self._seen: dict[tuple[str, str, str, str], Origin] = {}
        self._latest: dict[tuple[str, str, str, str], KubeObject] = {}

    def read(self, path: str | Path) -> Iterator[Loaded]:
        """Every object of a file, or of a directory tree (``*.yaml``, ``*.yml``,
        ``*.json``, recursively, in sorted path order); ``.json`` files are JSON streams,
        everything else YAML."""
        for file in input_files(Path(path)):
            yield from self.read_entries(file_entries(file), str(file))

    def read_entries(self, entries: Iterable[RawEntry], source: str) -> Iterator[Loaded]:
        """The objects of parsed entries (see the class docstring)."""
        iterator = iter(entries)
        while True:
            try:
                entry = next(iterator)
            except StopIteration:
                return
            except _NotAList as exc:
                raise Origin(source, exc.document).error(
                    f"expected a list, got {_got(exc.items)}", kind=exc.kind, path=("items",)
                ) from None
            where = Origin(source, entry.document, entry.item)
            obj = validate_object(entry.data, where, self.models)  # type: ignore[arg-type]
            if obj is None:
                self._skip(entry.data, where)  # type: ignore[arg-type]
                continue
            yield Loaded(self._admit(obj, where), where)

    def _skip(self, data: Mapping[str, Any], where: Origin) -> None:
        label = f"{data.get('apiVersion')} {data.get('kind')}"
        count = self.skipped.get(label, 0)
        self.skipped[label] = count + 1
        if count == 0:
            _log.warning(
                "%s: skipping %s (tessera does not read this kind; further %s objects are "
                "skipped silently)",
                where,
                label,
                data.get("kind"),
            )

    def _admit(self, obj: KubeObject, where: Origin) -> KubeObject:
        problem = check_object(obj)
        if problem is not None:
            raise where.error(problem[1], kind=obj.kind, name=obj.key or None, path=problem[0])
        if self.defaults:
            obj = apply_defaults(obj, self.namespace)
        group = obj.api_version.rpartition("/")[0]
        namespace = obj.metadata.namespace or ""
        if not obj.metadata.name and obj.metadata.generate_name:
            base = obj.metadata.generate_name

            def taken(name: str) -> bool:
                return (group, obj.kind, namespace, name) in self._seen

            try:
                name = self.names.generate(base, taken)
            except NameTakenError as exc:
                raise where.error(str(exc), kind=obj.kind) from None
            meta = obj.metadata.model_copy(update={"name": name})
            obj = obj.model_copy(update={"metadata": meta})
        if obj.metadata.name:
            key = (group, obj.kind, namespace, obj.metadata.name)
            first = self._seen.get(key)
            earlier = self._latest.get(key)
            if first is not None and not (
                self.succeeds is not None and earlier is not None and self.succeeds(earlier, obj)
            ):
                raise where.error(
                    f"duplicate object: {obj.kind} {obj.key} is also defined at {first}",
                    kind=obj.kind,
                    name=obj.key,
                )
            self._seen[key] = where
            if self.succeeds is not None:
                self._latest[key] = obj
        return obj

    def claim_name(self, group: str, kind: str, namespace: str, name: str, where: Origin) -> bool:
        """Record a name made by a controller (not read from the input); False when it is
        already taken, in which case nothing is recorded."""
        key = (group, kind, namespace, name)
        if key in self._seen:
            return False
        self._seen[key] = where
        return True

    def is_taken(self, group: str, kind: str, namespace: str, name: str) -> bool:
        """Whether an object of this kind, namespace and name was read or recorded."""
        return (group, kind, namespace, name) in self._seen


def load_documents(
    documents: Iterable[object], *, source: str = "<input>", defaults: bool = False
) -> list[KubeObject]:
    """Load parsed documents (dicts, ``List`` dicts, ``None`` for empty documents).

    Items of a typed list (``PodList``) that lack ``apiVersion``/``kind`` take them from the
    list. Unmodelled kinds are skipped with a warning. No API-server defaulting and no
    duplicate check unless ``defaults`` (then exactly as :func:`load_objects`).
    """
    reader = ObjectReader(defaults=defaults)
    with gc_paused():
        entries = entries_of_documents(list(documents))
        if defaults:
            return [o for o, _ in reader.read_entries(entries, source)]
        return _plain(entries, source)


def _plain(entries: Iterable[RawEntry], source: str) -> list[KubeObject]:
    """Validated models of entries, without defaulting or duplicate checks."""
    reader = ObjectReader(defaults=False)
    out: list[KubeObject] = []
    iterator = iter(entries)
    while True:
        try:
            entry = next(iterator)
        except StopIteration:
            return out
        except _NotAList as exc:
            raise Origin(source, exc.document).error(
                f"expected a list, got {_got(exc.items)}", kind=exc.kind, path=("items",)
            ) from None
        where = Origin(source, entry.document, entry.item)
        obj = validate_object(entry.data, where, API_MODELS)  # type: ignore[arg-type]
        if obj is None:
            reader._skip(entry.data, where)  # type: ignore[arg-type]
            continue
        out.append(obj)


def _yaml_documents(text: str, source: str) -> Iterator[object]:
    """The documents of a YAML text (see :func:`scheduler.api.documents.yaml_documents`)."""
    return yaml_documents(lambda: text, source)


def load_yaml(text: str, *, source: str = "<input>", defaults: bool = False) -> list[KubeObject]:
    """Load every object of a (multi-document) YAML text (see :func:`load_documents`)."""
    with gc_paused():
        entries = entries_of_documents(_yaml_documents(text, source))
        if defaults:
            return [o for o, _ in ObjectReader().read_entries(entries, source)]
        return _plain(entries, source)


def load_objects(path: str | Path, *, defaults: bool = True) -> list[KubeObject]:
    """Load every modelled object from a file or a directory tree, as the API server would
    store it (:class:`ObjectReader`; ``defaults=False`` reads the objects exactly as
    written, still refusing duplicates)."""
    reader = ObjectReader(defaults=defaults, seed=str(path))
    with gc_paused():
        return [obj for obj, _ in reader.read(path)]


def read_objects(path: str | Path, reader: ObjectReader) -> Iterator[Loaded]:
    """``reader.read(path)`` with the garbage collector paused while it runs."""
    with gc_paused():
        yield from reader.read(path)


def dump_objects(objects: Iterable[KubeObject]) -> str:
    """Multi-document YAML of ``objects`` (``to_dict`` form) that loads back equal."""
    return yaml.dump_all(
        [obj.to_dict() for obj in objects],
        Dumper=_Dumper,
        sort_keys=False,
        default_flow_style=False,
        allow_unicode=True,
    )
