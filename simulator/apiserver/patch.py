"""PATCH bodies: JSON merge patch, strategic merge patch, JSON patch.

* ``application/merge-patch+json`` — RFC 7386: maps merge recursively, ``null`` deletes,
  anything else (lists included) replaces.
* ``application/strategic-merge-patch+json`` — ``k8s.io/apimachinery/pkg/util/strategicpatch``
  for the fields tessera serves: lists tagged ``patchStrategy:"merge"`` upstream merge by their
  ``patchMergeKey`` (:data:`MERGE_KEYS`, taken from the struct tags in ``k8s.io/api``), lists of
  scalars tagged so are unions, every other list is replaced; the directives ``$patch``
  (``replace``, ``delete``, ``merge``) on maps and list items, ``$deleteFromPrimitiveList/<f>``
  and ``$retainKeys`` are honoured; ``$setElementOrder/<f>`` is accepted and ignored (order
  of merged lists is the existing order with new items appended). Custom resources
  (LeaderWorkerSet, PodGroup) do not accept it, as upstream: 415.
* ``application/json-patch+json`` — RFC 6902 (add, remove, replace, move, copy, test) with
  RFC 6901 pointers.

A malformed patch raises ``PatchError`` (400 in the API); one that cannot apply (a missing
path, a failed ``test``) raises ``PatchConflict`` (422).
"""

from __future__ import annotations

import copy
from typing import Any

Obj = dict[str, Any]
Path = tuple[str, ...]


class PatchError(ValueError):
    """The patch document is malformed."""


class PatchConflict(ValueError):
    """The patch is well-formed but does not apply to the object."""


_POD_SPEC: dict[Path, str] = {
    ("containers",): "name",
    ("initContainers",): "name",
    ("ephemeralContainers",): "name",
    ("containers", "ports"): "containerPort",
    ("initContainers", "ports"): "containerPort",
    ("containers", "env"): "name",
    ("initContainers", "env"): "name",
    ("containers", "volumeMounts"): "mountPath",
    ("initContainers", "volumeMounts"): "mountPath",
    ("volumes",): "name",
    ("imagePullSecrets",): "name",
    ("hostAliases",): "ip",
    ("resourceClaims",): "name",
    ("schedulingGates",): "name",
}
_META: dict[Path, str] = {("metadata", "ownerReferences"): "uid"}
_POD_STATUS: dict[Path, str] = {
    ("status", "conditions"): "type",
    ("status", "podIPs"): "ip",
    ("status", "resourceClaimStatuses"): "name",
}


def _under(prefix: Path, keys: dict[Path, str]) -> dict[Path, str]:
    return {prefix + k: v for k, v in keys.items()}


_TEMPLATE = _under(("spec", "template", "spec"), _POD_SPEC)

MERGE_KEYS: dict[str, dict[Path, str]] = {
    "Pod": {**_META, **_under(("spec",), _POD_SPEC), **_POD_STATUS},
    "Node": {
        **_META,
        ("status", "conditions"): "type",
        ("status", "addresses"): "type",
        ("status", "images"): "names",
    },
    "Namespace": {**_META, ("status", "conditions"): "type"},
    "ResourceClaim": {**_META, ("status", "reservedFor"): "uid"},
    "Deployment": {**_META, **_TEMPLATE, ("status", "conditions"): "type"},
    "ReplicaSet": {**_META, **_TEMPLATE, ("status", "conditions"): "type"},
    "StatefulSet": {**_META, **_TEMPLATE, ("status", "conditions"): "type"},
    "Job": {**_META, **_TEMPLATE},
}
"""Kind -> field path (list items add no segment) -> merge key, for lists merged by key."""

PRIMITIVE_MERGE: frozenset[Path] = frozenset({("metadata", "finalizers")})
"""Lists of scalars that strategic merge patch unions instead of replacing."""

SMP_UNSUPPORTED_KINDS = frozenset({"LeaderWorkerSet", "PodGroup"})


# -- JSON merge patch --------------------------------------------------------------------------
def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 merge of ``patch`` into ``target`` (returns a new value)."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    out = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = merge_patch(out.get(key), value)
    return out


# -- strategic merge patch ---------------------------------------------------------------------
def strategic_merge_patch(kind: str, target: Obj, patch: Any) -> Obj:
    """Strategic merge of ``patch`` into ``target`` for an object of ``kind``."""
    if not isinstance(patch, dict):
        raise PatchError("strategic merge patch must be a JSON object")
    result = _smp_map(target, patch, (), MERGE_KEYS.get(kind, {}))
    if not isinstance(result, dict):
        raise PatchConflict("the patch deletes the whole object")
    return result


def _smp_map(target: Any, patch: Obj, path: Path, keys: dict[Path, str]) -> Obj | None:
    directive = patch.get("$patch")
    if directive == "delete":
        return None
    base = dict(target) if isinstance(target, dict) else {}
    if directive == "replace":
        return {k: copy.deepcopy(v) for k, v in patch.items() if not k.startswith("$")}
    if directive not in (None, "merge"):
        raise PatchError(f"Unknown patch type: {directive}")
    retain = patch.get("$retainKeys")
    for key, value in patch.items():
        if key.startswith("$deleteFromPrimitiveList/"):
            field = key.split("/", 1)[1]
            if not isinstance(value, list):
                raise PatchError(f"{key}: expected a list")
            current = base.get(field)
            if isinstance(current, list):
                base[field] = [v for v in current if v not in value]
            continue
        if key.startswith("$"):
            continue
        sub = (*path, key)
        if value is None:
            base.pop(key, None)
        elif isinstance(value, dict):
            merged = _smp_map(base.get(key), value, sub, keys)
            if merged is None:
                base.pop(key, None)
            else:
                base[key] = merged
        elif isinstance(value, list):
            base[key] = _smp_list(base.get(key), value, sub, keys)
        else:
            base[key] = copy.deepcopy(value)
    if retain is not None:
        if not isinstance(retain, list):
            raise PatchError("$retainKeys: expected a list")
        base = {k: v for k, v in base.items() if k in retain}
    return base


def _smp_list(target: Any, patch: list[Any], path: Path, keys: dict[Path, str]) -> list[Any]:
    current = list(target) if isinstance(target, list) else []
    merge_key = keys.get(path)
    if merge_key is None:
        if path in PRIMITIVE_MERGE:
            return current + [v for v in patch if v not in current]
        for item in patch:
            if isinstance(item, dict) and item.get("$patch") == "replace":
                return [
                    copy.deepcopy({k: v for k, v in i.items() if k != "$patch"})
                    for i in patch
                    if not (isinstance(i, dict) and set(i) == {"$patch"})
                ]
        return [_strip_directives(copy.deepcopy(v)) for v in patch]
    if any(isinstance(i, dict) and i.get("$patch") == "replace" for i in patch):
        return [
            _strip_directives(copy.deepcopy(i))
            for i in patch
            if not (isinstance(i, dict) and i.get("$patch") == "replace" and len(i) == 1)
        ]
    for item in patch:
        if not isinstance(item, dict):
            raise PatchError(
                f"{'.'.join(path)}: list items must be objects (merge key {merge_key})"
            )
        if merge_key not in item:
            raise PatchError(
                f"{'.'.join(path)}: map: {item} does not contain declared merge key: {merge_key}"
            )
        index = next(
            (
                i
                for i, old in enumerate(current)
                if isinstance(old, dict) and old.get(merge_key) == item[merge_key]
            ),
            None,
        )
        if item.get("$patch") == "delete":
            if index is not None:
                current.pop(index)
            continue
        if index is None:
            current.append(_strip_directives(copy.deepcopy(item)))
        else:
            merged = _smp_map(current[index], item, path, keys)
            if merged is not None:
                current[index] = merged
    return current


def _strip_directives(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _strip_directives(v) for k, v in value.items() if not k.startswith("$")}
    if isinstance(value, list):
        return [_strip_directives(v) for v in value]
    return value


# -- JSON patch --------------------------------------------------------------------------------
def _pointer(text: Any) -> list[str]:
    if not isinstance(text, str) or (text and not text.startswith("/")):
        raise PatchError(f"invalid JSON pointer {text!r}")
    if text == "":
        return []
    return [p.replace("~1", "/").replace("~0", "~") for p in text[1:].split("/")]


def _parent(doc: Any, parts: list[str]) -> tuple[Any, str]:
    node = doc
    for part in parts[:-1]:
        node = _child(node, part)
    return node, parts[-1]


def _child(node: Any, part: str) -> Any:
    if isinstance(node, dict):
        if part not in node:
            raise PatchConflict(f"path component {part!r} not found")
        return node[part]
    if isinstance(node, list):
        index = _index(node, part, allow_end=False)
        return node[index]
    raise PatchConflict(f"path component {part!r} does not name a container")


def _index(node: list[Any], part: str, *, allow_end: bool) -> int:
    if part == "-" and allow_end:
        return len(node)
    if not part.isdigit() or (len(part) > 1 and part.startswith("0")):
        raise PatchConflict(f"invalid list index {part!r}")
    index = int(part)
    if index > len(node) or (index == len(node) and not allow_end):
        raise PatchConflict(f"list index {index} out of range")
    return index


def _get(doc: Any, parts: list[str]) -> Any:
    node = doc
    for part in parts:
        node = _child(node, part)
    return node


def _add(doc: Any, parts: list[str], value: Any) -> Any:
    if not parts:
        return value
    parent, last = _parent(doc, parts)
    if isinstance(parent, dict):
        parent[last] = value
    elif isinstance(parent, list):
        parent.insert(_index(parent, last, allow_end=True), value)
    else:
        raise PatchConflict(f"cannot add at {'/'.join(parts)}")
    return doc


def _remove(doc: Any, parts: list[str]) -> Any:
    if not parts:
        raise PatchConflict("cannot remove the whole document")
    parent, last = _parent(doc, parts)
    if isinstance(parent, dict):
        if last not in parent:
            raise PatchConflict(f"path {'/'.join(parts)} not found")
        return parent.pop(last)
    if isinstance(parent, list):
        return parent.pop(_index(parent, last, allow_end=False))
    raise PatchConflict(f"cannot remove at {'/'.join(parts)}")


def json_patch(target: Obj, patch: Any) -> Obj:
    """Apply an RFC 6902 patch (a list of operations) to a copy of ``target``."""
    if not isinstance(patch, list):
        raise PatchError("json patch must be a JSON array of operations")
    doc: Any = copy.deepcopy(target)
    for op in patch:
        if not isinstance(op, dict) or not isinstance(op.get("op"), str):
            raise PatchError(f"invalid operation {op!r}")
        name = op["op"]
        parts = _pointer(op.get("path"))
        if name in ("add", "replace", "test") and "value" not in op:
            raise PatchError(f"operation {name}: missing value")
        if name == "add":
            doc = _add(doc, parts, copy.deepcopy(op["value"]))
        elif name == "remove":
            _remove(doc, parts)
        elif name == "replace":
            _get(doc, parts)
            if parts:
                _remove(doc, parts)
            doc = _add(doc, parts, copy.deepcopy(op["value"]))
        elif name in ("move", "copy"):
            source = _pointer(op.get("from"))
            value = _get(doc, source)
            if name == "move":
                if parts[: len(source)] == source and len(parts) > len(source):
                    raise PatchConflict("cannot move a value into itself")
                _remove(doc, source)
            doc = _add(doc, parts, copy.deepcopy(value))
        elif name == "test":
            if _get(doc, parts) != op["value"]:
                raise PatchConflict(f"test failed at {op.get('path')}")
        else:
            raise PatchError(f"unknown operation {name!r}")
    if not isinstance(doc, dict):
        raise PatchConflict("the patched document is not an object")
    result: Obj = doc
    return result
