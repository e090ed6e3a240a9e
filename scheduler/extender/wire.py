"""The JSON wire types of kube-scheduler's HTTP extender protocol, with Go-exact codecs.

These mirror ``k8s.io/kube-scheduler/extender/v1`` (``types.go``, unchanged from v0.33.0 to
v0.35.x; see ``docs/extender.md``). The Go structs carry no json tags, so on the wire:

* every field uses its Go name, PascalCase (``NodeNames``, ``FailedAndUnresolvableNodes``,
  ``NumPDBViolations``, ``UID``, ``PodUID``), and every field is always present;
* nil pointers, slices and maps are ``null``; a nil string is impossible (``""``);
* the Kubernetes objects inside (``Pod``, the ``Nodes`` NodeList, victim pods) keep their own
  camelCase API JSON. This layer keeps them as raw ``dict`` (:data:`RawObject`); the webhook
  converts them with ``scheduler.api`` models;
* ``HostPriorityList`` is a bare top-level JSON array.

Decoding follows Go's ``encoding/json`` as kube-scheduler and Go extenders use it: the first
JSON value of the body is read (trailing bytes are ignored); object keys match a field
exactly or, failing that, case-insensitively (``nodeNames`` fills ``NodeNames``); unknown keys
are ignored; a missing key or ``null`` leaves a string or integer at its zero value (``""``,
``0``) and a pointer, slice or map at ``None``; a top-level ``null`` is the zero struct.
Types are strict: ``"7"`` or ``7.5`` for an int64, ``5`` for a string, an object where an
array belongs are rejected, as Go rejects them. A key repeated under two spellings keeps its
last value (Go would merge two map-valued repeats).

Each ``decode_*`` function raises one of two errors, which tell the webhook which reply to
send:

* :class:`MalformedPayloadError` — the body is not JSON, or Go could not decode it into the
  struct (a type mismatch). The webhook answers HTTP 400; kube-scheduler counts any non-200
  as a failed call.
* :class:`InvalidPayloadError` — the body decodes, but breaks the protocol's contract (an
  ``ExtenderArgs`` without a pod or without candidates, a binding without a node, ``null``
  victims). For filter and bind the webhook answers HTTP 200 with the message in ``Error``.

Encoding (:func:`encode`) writes the Go layout with orjson: fields in Go declaration order,
every field present, map keys sorted (Go sorts map keys), raw objects as given. Two
deliberate differences from ``json.Marshal``: ``<``, ``>`` and ``&`` are not escaped to
``\\u003c`` etc. (any JSON decoder reads both the same), and an empty slice is written ``[]``
where a Go nil slice would be ``null`` (only for lists whose ``null`` and ``[]`` mean the same
thing: NodeList items, victim pods).
"""

from __future__ import annotations

import json
from abc import abstractmethod
from collections.abc import Iterable, Mapping, Sequence
from typing import Annotated, Any, ClassVar, TypeVar

import orjson
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    RootModel,
    StrictInt,
    StrictStr,
    ValidationError,
    ValidationInfo,
    model_validator,
)

from scheduler.api.errors import format_field_path

__all__ = [
    "MAX_EXTENDER_PRIORITY",
    "MIN_EXTENDER_PRIORITY",
    "ExtenderArgs",
    "ExtenderBindingArgs",
    "ExtenderBindingResult",
    "ExtenderFilterResult",
    "ExtenderPreemptionArgs",
    "ExtenderPreemptionResult",
    "HostPriority",
    "HostPriorityList",
    "InvalidPayloadError",
    "MalformedPayloadError",
    "MetaPod",
    "MetaVictims",
    "NodeList",
    "RawObject",
    "Victims",
    "WireError",
    "WireModel",
    "decode_binding_args",
    "decode_binding_result",
    "decode_extender_args",
    "decode_filter_result",
    "decode_host_priority_list",
    "decode_preemption_args",
    "decode_preemption_result",
    "encode",
    "object_name",
]

MIN_EXTENDER_PRIORITY = 0
"""``extenderv1.MinExtenderPriority``: the lowest score a prioritize reply should give."""

MAX_EXTENDER_PRIORITY = 10
"""``extenderv1.MaxExtenderPriority``: the highest score a prioritize reply should give.
kube-scheduler multiplies by ``MaxNodeScore / MaxExtenderPriority`` (= 10) and does not clamp."""

RawObject = dict[str, Any]
"""A Kubernetes object (Pod, Node) as its API JSON, not interpreted at this layer."""

_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1
Int64 = Annotated[StrictInt, Field(ge=_INT64_MIN, le=_INT64_MAX)]
"""Go ``int64``: an integer literal in range; ``7.0``, ``"7"`` and ``true`` are rejected."""


# -- errors ---------------------------------------------------------------------------------------
class WireError(ValueError):
    """A payload that cannot be used: names the Go type, the field path and the problem."""

    def __init__(self, type_name: str, problem: str, path: Sequence[str | int] = ()) -> None:
        self.type_name = type_name
        self.problem = problem
        self.path = tuple(path)
        where = format_field_path(self.path)
        super().__init__(f"{type_name}: {where}: {problem}" if where else f"{type_name}: {problem}")


class MalformedPayloadError(WireError):
    """Not JSON, or JSON that Go's decoder rejects for this type (the webhook answers 400)."""


class InvalidPayloadError(WireError):
    """Decodable JSON that breaks the protocol contract (the webhook answers 200 + ``Error``)."""


# -- Go-style key matching and null handling ------------------------------------------------------
def _go_fold(key: str) -> str:
    """Go's ``foldName`` restricted to what can equal an ASCII field name.

    ASCII letters fold to upper case; U+017F (long s) and U+212A (Kelvin sign) fold to ``S`` and
    ``K`` as in Go's fold sets; every other non-ASCII character stays itself and so never matches.
    """
    return "".join(
        "S" if c == "\u017f" else "K" if c == "\u212a" else c.upper() if c.isascii() else c
        for c in key
    )


def _nulls_to(default: Any) -> Any:
    """A before-validator turning ``null`` list elements into Go's zero element."""

    def convert(value: Any) -> Any:
        if isinstance(value, list):
            return [default() if item is None else item for item in value]
        return value

    return convert


def _null_values_to_empty(value: Any) -> Any:
    """``map[string]string``: a ``null`` value decodes to ``""`` in Go."""
    if isinstance(value, dict):
        return {k: "" if v is None else v for k, v in value.items()}
    return value


GoStringList = Annotated[tuple[StrictStr, ...], BeforeValidator(_nulls_to(str))]
GoStringMap = Annotated[dict[str, StrictStr], BeforeValidator(_null_values_to_empty)]
RawObjectList = Annotated[tuple[RawObject, ...], BeforeValidator(_nulls_to(dict))]


_FROM_WIRE = "tessera.extender.wire"
"""Validation-context key: the input is wire JSON, so Python attribute names are not keys."""


class _GoStruct(BaseModel):
    """Base of the wire structs: Go field names as aliases, Go decoding rules for keys.

    Python code may build a struct with either the snake_case attribute names or the Go
    names; wire input is matched the way ``encoding/json`` matches it (module docstring).
    """

    model_config = ConfigDict(
        frozen=True, validate_by_name=True, validate_by_alias=True, extra="ignore"
    )

    go_name: ClassVar[str] = ""
    _exact: ClassVar[dict[str, str]]
    _folded: ClassVar[dict[str, str]]
    _zero_on_null: ClassVar[frozenset[str]]

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        cls.go_name = cls.__name__
        exact: dict[str, str] = {}
        folded: dict[str, str] = {}
        zero_on_null: set[str] = set()
        for name, info in cls.model_fields.items():
            alias = info.alias or name
            exact[alias] = alias
            folded.setdefault(_go_fold(alias), alias)
            if info.default is not None:
                zero_on_null.add(alias)
        cls._exact, cls._folded, cls._zero_on_null = exact, folded, frozenset(zero_on_null)

    @model_validator(mode="before")
    @classmethod
    def _go_decode_keys(cls, data: Any, info: ValidationInfo) -> Any:
        if data is None:
            return {}
        if not isinstance(data, dict):
            return data
        from_wire = bool(info.context and info.context.get(_FROM_WIRE))
        out: dict[str, Any] = {}
        for key, value in data.items():
            target = cls._exact.get(key) or cls._folded.get(_go_fold(key))
            if target is None:
                if from_wire or key not in cls.model_fields:
                    continue
                target = cls.model_fields[key].alias or key
            if value is None and target in cls._zero_on_null:
                out.pop(target, None)
                continue
            out[target] = value
        return out

    @abstractmethod
    def to_wire(self) -> Any:
        """The JSON value Go's ``json.Marshal`` writes for this struct (see :func:`encode`)."""


def _sorted_map(value: Mapping[str, Any] | None, convert: Any = None) -> Any:
    if value is None:
        return None
    if convert is None:
        return {k: value[k] for k in sorted(value)}
    return {k: convert(value[k]) for k in sorted(value)}


# -- the structs ----------------------------------------------------------------------------------
class MetaPod(_GoStruct):
    """``MetaPod``: a pod identified by UID only (``{"UID": ...}``)."""

    uid: StrictStr = Field(default="", alias="UID")

    def to_wire(self) -> dict[str, Any]:
        return {"UID": self.uid}


class MetaVictims(_GoStruct):
    """``MetaVictims``: victim pods of one node by UID, and how many PDBs evicting them breaks.

    kube-scheduler sends these when ``nodeCacheCapable`` is true, and always reads them back in
    ``ExtenderPreemptionResult``.
    """

    pods: Annotated[tuple[MetaPod, ...], BeforeValidator(_nulls_to(dict))] = Field(
        default=(), alias="Pods"
    )
    num_pdb_violations: Int64 = Field(default=0, alias="NumPDBViolations")

    def to_wire(self) -> dict[str, Any]:
        return {
            "Pods": [p.to_wire() for p in self.pods],
            "NumPDBViolations": self.num_pdb_violations,
        }


class Victims(_GoStruct):
    """``Victims``: full victim pods of one node (sent when ``nodeCacheCapable`` is false)."""

    pods: RawObjectList = Field(default=(), alias="Pods")
    num_pdb_violations: Int64 = Field(default=0, alias="NumPDBViolations")

    def to_wire(self) -> dict[str, Any]:
        return {"Pods": list(self.pods), "NumPDBViolations": self.num_pdb_violations}


class NodeList(_GoStruct):
    """``v1.NodeList`` as it travels inside ``ExtenderArgs``/``ExtenderFilterResult``.

    kube-scheduler's objects come from informer caches, so ``kind``/``apiVersion`` are
    normally empty and omitted; ``metadata`` is always written (``{}``), then ``items``.
    """

    kind: StrictStr = ""
    api_version: StrictStr = Field(default="", alias="apiVersion")
    metadata: RawObject = Field(default_factory=dict)
    items: RawObjectList = ()

    def to_wire(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.kind:
            out["kind"] = self.kind
        if self.api_version:
            out["apiVersion"] = self.api_version
        out["metadata"] = self.metadata
        out["items"] = list(self.items)
        return out

    def names(self) -> tuple[str, ...]:
        """``metadata.name`` of every item (InvalidPayloadError if one has none)."""
        return tuple(
            object_name(item, "NodeList", ("items", i)) for i, item in enumerate(self.items)
        )


class ExtenderArgs(_GoStruct):
    """``ExtenderArgs``: the filter and prioritize request.

    Exactly one candidate form is set by kube-scheduler: ``Nodes`` (full NodeList) when the
    extender entry has ``nodeCacheCapable: false``, ``NodeNames`` when it is true.
    """

    pod: RawObject | None = Field(default=None, alias="Pod")
    nodes: NodeList | None = Field(default=None, alias="Nodes")
    node_names: GoStringList | None = Field(default=None, alias="NodeNames")

    def to_wire(self) -> dict[str, Any]:
        return {
            "Pod": self.pod,
            "Nodes": None if self.nodes is None else self.nodes.to_wire(),
            "NodeNames": None if self.node_names is None else list(self.node_names),
        }

    def candidate_names(self) -> tuple[str, ...]:
        """The candidate node names: ``NodeNames`` if set, else the names of ``Nodes`` items."""
        if self.node_names is not None:
            return self.node_names
        if self.nodes is not None:
            return self.nodes.names()
        raise InvalidPayloadError(self.go_name, "neither Nodes nor NodeNames is set")


class ExtenderFilterResult(_GoStruct):
    """``ExtenderFilterResult``: the filter reply.

    How kube-scheduler reads it (``HTTPExtender.Filter``): a non-empty ``Error`` fails the
    call; otherwise ``NodeNames`` is used if the entry is ``nodeCacheCapable`` and it is
    non-null, else ``Nodes`` if non-null, else no node passes. ``FailedAndUnresolvableNodes``
    wins over ``FailedNodes`` for a node listed in both.
    """

    nodes: NodeList | None = Field(default=None, alias="Nodes")
    node_names: GoStringList | None = Field(default=None, alias="NodeNames")
    failed_nodes: GoStringMap | None = Field(default=None, alias="FailedNodes")
    failed_and_unresolvable_nodes: GoStringMap | None = Field(
        default=None, alias="FailedAndUnresolvableNodes"
    )
    error: StrictStr = Field(default="", alias="Error")

    def to_wire(self) -> dict[str, Any]:
        return {
            "Nodes": None if self.nodes is None else self.nodes.to_wire(),
            "NodeNames": None if self.node_names is None else list(self.node_names),
            "FailedNodes": _sorted_map(self.failed_nodes),
            "FailedAndUnresolvableNodes": _sorted_map(self.failed_and_unresolvable_nodes),
            "Error": self.error,
        }


class HostPriority(_GoStruct):
    """``HostPriority``: one node's score from a prioritize reply (0..10 by convention)."""

    host: StrictStr = Field(default="", alias="Host")
    score: Int64 = Field(default=0, alias="Score")

    def to_wire(self) -> dict[str, Any]:
        return {"Host": self.host, "Score": self.score}


class HostPriorityList(RootModel[tuple[HostPriority, ...]]):
    """``HostPriorityList``: the prioritize reply, a bare JSON array of :class:`HostPriority`."""

    model_config = ConfigDict(frozen=True)
    go_name: ClassVar[str] = "HostPriorityList"

    root: Annotated[tuple[HostPriority, ...], BeforeValidator(_nulls_to(dict))] = ()

    def to_wire(self) -> list[dict[str, Any]]:
        """The bare array."""
        return [h.to_wire() for h in self.root]


class ExtenderBindingArgs(_GoStruct):
    """``ExtenderBindingArgs``: the bind request (pod identity and the chosen node)."""

    pod_name: StrictStr = Field(default="", alias="PodName")
    pod_namespace: StrictStr = Field(default="", alias="PodNamespace")
    pod_uid: StrictStr = Field(default="", alias="PodUID")
    node: StrictStr = Field(default="", alias="Node")

    def to_wire(self) -> dict[str, Any]:
        return {
            "PodName": self.pod_name,
            "PodNamespace": self.pod_namespace,
            "PodUID": self.pod_uid,
            "Node": self.node,
        }


class ExtenderBindingResult(_GoStruct):
    """``ExtenderBindingResult``: the bind reply; a non-empty ``Error`` fails the binding."""

    error: StrictStr = Field(default="", alias="Error")

    def to_wire(self) -> dict[str, Any]:
        return {"Error": self.error}


class ExtenderPreemptionArgs(_GoStruct):
    """``ExtenderPreemptionArgs``: the preempt request.

    kube-scheduler sets ``NodeNameToMetaVictims`` (UIDs) when the entry is
    ``nodeCacheCapable``, else ``NodeNameToVictims`` (full pods); the other map is ``null``.
    """

    pod: RawObject | None = Field(default=None, alias="Pod")
    node_name_to_victims: dict[str, Victims] | None = Field(default=None, alias="NodeNameToVictims")
    node_name_to_meta_victims: dict[str, MetaVictims] | None = Field(
        default=None, alias="NodeNameToMetaVictims"
    )

    def to_wire(self) -> dict[str, Any]:
        return {
            "Pod": self.pod,
            "NodeNameToVictims": _sorted_map(self.node_name_to_victims, Victims.to_wire),
            "NodeNameToMetaVictims": _sorted_map(
                self.node_name_to_meta_victims, MetaVictims.to_wire
            ),
        }


class ExtenderPreemptionResult(_GoStruct):
    """``ExtenderPreemptionResult``: the preempt reply, always in UID form.

    The nodes kept (a subset of the candidates) and, per node, the victims accepted. An empty
    or ``null`` map means "no preemption possible".
    """

    node_name_to_meta_victims: dict[str, MetaVictims] | None = Field(
        default=None, alias="NodeNameToMetaVictims"
    )

    def to_wire(self) -> dict[str, Any]:
        return {
            "NodeNameToMetaVictims": _sorted_map(
                self.node_name_to_meta_victims, MetaVictims.to_wire
            )
        }


WireModel = _GoStruct | HostPriorityList


# -- encoding -------------------------------------------------------------------------------------
def encode(payload: WireModel, *, indent: bool = False) -> bytes:
    """The payload as JSON bytes in Go's layout (module docstring); ``indent`` pretty-prints
    with two spaces, the layout of ``json.dumps(..., indent=2)``."""
    option = orjson.OPT_INDENT_2 if indent else 0
    return orjson.dumps(payload.to_wire(), option=option)


# -- decoding -------------------------------------------------------------------------------------
_WHITESPACE = b" \t\r\n"


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _first_json_value(type_name: str, body: bytes | str) -> Any:
    """The first JSON value in ``body``, as Go's ``json.Decoder.Decode`` reads it."""
    raw = body.encode() if isinstance(body, str) else body
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as err:
        first_error = err
    stripped = raw.lstrip(_WHITESPACE)
    if not stripped:
        raise MalformedPayloadError(type_name, "empty body (EOF)")
    try:
        # Go replaces invalid UTF-8 with U+FFFD instead of failing.
        text = stripped.decode("utf-8", errors="replace")
        value, _end = json.JSONDecoder(parse_constant=_reject_constant).raw_decode(text)
    except ValueError:
        raise MalformedPayloadError(type_name, f"not JSON: {first_error}") from first_error
    return value


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return f"number {value!r}"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


_EXPECTED = {
    "string_type": "expected a string",
    "int_type": "expected an integer",
    "int_from_float": "expected an integer",
    "less_than_equal": "out of the int64 range",
    "greater_than_equal": "out of the int64 range",
    "tuple_type": "expected an array",
    "list_type": "expected an array",
    "dict_type": "expected an object",
    "model_type": "expected an object",
    "model_attributes_type": "expected an object",
}
"""What Go expected, by pydantic error type (the decode failures a wire struct can hit)."""

_M = TypeVar("_M", bound=BaseModel)


def _validate(model: type[_M], type_name: str, value: Any) -> _M:
    """Validate decoded JSON into ``model``; a Go decode failure becomes MalformedPayloadError."""
    if value is not None and not isinstance(value, dict) and model is not HostPriorityList:
        raise MalformedPayloadError(type_name, f"expected a JSON object, got {_json_type(value)}")
    try:
        return model.model_validate(value, context={_FROM_WIRE: True})
    except ValidationError as err:
        first = err.errors(include_url=False)[0]
        path = [p for p in first["loc"] if p != "root"]
        expected = _EXPECTED.get(first["type"], first["msg"])
        problem = f"{expected}, got {_json_type(first['input'])}"
        raise MalformedPayloadError(type_name, problem, path) from err


def _null_entries(
    type_name: str, field: str, mapping: Any, list_key: str | None
) -> InvalidPayloadError | None:
    """Find a ``null`` map value (or ``null`` element of its ``list_key`` list) in raw JSON."""
    if not isinstance(mapping, dict):
        return None
    for node, entry in mapping.items():
        if entry is None:
            return InvalidPayloadError(type_name, "is null", (field, node))
        if list_key is None or not isinstance(entry, dict):
            continue
        items = next((v for k, v in entry.items() if _go_fold(k) == _go_fold(list_key)), None)
        for i, item in enumerate(items if isinstance(items, list) else ()):
            if item is None:
                return InvalidPayloadError(type_name, "is null", (field, node, list_key, i))
    return None


def _raw_field(data: Any, go_field: str) -> Any:
    """The raw JSON value a struct field would decode from (Go's key matching), or None."""
    if not isinstance(data, dict):
        return None
    found = None
    for key, value in data.items():
        if key == go_field or _go_fold(key) == _go_fold(go_field):
            found = value
    return found


def decode_extender_args(body: bytes | str) -> ExtenderArgs:
    """Read a filter or prioritize request.

    Invalid (HTTP 200 + ``Error``): ``Pod`` is null or missing, or neither ``Nodes`` nor
    ``NodeNames`` is set.
    """
    args = _validate(ExtenderArgs, "ExtenderArgs", _first_json_value("ExtenderArgs", body))
    if args.pod is None:
        raise InvalidPayloadError("ExtenderArgs", "is null or missing", ("Pod",))
    if args.nodes is None and args.node_names is None:
        raise InvalidPayloadError("ExtenderArgs", "neither Nodes nor NodeNames is set")
    return args


def decode_filter_result(body: bytes | str) -> ExtenderFilterResult:
    """Read a filter reply (kube-scheduler side). Only Go decode failures are raised."""
    value = _first_json_value("ExtenderFilterResult", body)
    return _validate(ExtenderFilterResult, "ExtenderFilterResult", value)


def decode_host_priority_list(body: bytes | str) -> HostPriorityList:
    """Read a prioritize reply: a JSON array (``null`` is the empty list, as in Go)."""
    value = _first_json_value("HostPriorityList", body)
    if value is None:
        return HostPriorityList(())
    if not isinstance(value, list):
        raise MalformedPayloadError(
            "HostPriorityList", f"expected a JSON array, got {_json_type(value)}"
        )
    return _validate(HostPriorityList, "HostPriorityList", value)


def decode_binding_args(body: bytes | str) -> ExtenderBindingArgs:
    """Read a bind request.

    Invalid: an empty or missing ``PodName``, ``PodNamespace``, ``PodUID`` or ``Node``.
    """
    args = _validate(
        ExtenderBindingArgs, "ExtenderBindingArgs", _first_json_value("ExtenderBindingArgs", body)
    )
    for alias, value in (
        ("PodName", args.pod_name),
        ("PodNamespace", args.pod_namespace),
        ("PodUID", args.pod_uid),
        ("Node", args.node),
    ):
        if not value:
            raise InvalidPayloadError("ExtenderBindingArgs", "is empty or missing", (alias,))
    return args


def decode_binding_result(body: bytes | str) -> ExtenderBindingResult:
    """Read a bind reply (kube-scheduler side)."""
    value = _first_json_value("ExtenderBindingResult", body)
    return _validate(ExtenderBindingResult, "ExtenderBindingResult", value)


def decode_preemption_args(body: bytes | str) -> ExtenderPreemptionArgs:
    """Read a preempt request.

    Invalid: ``Pod`` null or missing; neither victims map set; a ``null`` node entry or a
    ``null`` victim (kube-scheduler never sends either).
    """
    name = "ExtenderPreemptionArgs"
    data = _first_json_value(name, body)
    for field in ("NodeNameToVictims", "NodeNameToMetaVictims"):
        problem = _null_entries(name, field, _raw_field(data, field), "Pods")
        if problem is not None:
            raise problem
    args = _validate(ExtenderPreemptionArgs, name, data)
    if args.pod is None:
        raise InvalidPayloadError(name, "is null or missing", ("Pod",))
    if args.node_name_to_victims is None and args.node_name_to_meta_victims is None:
        raise InvalidPayloadError(
            name, "neither NodeNameToVictims nor NodeNameToMetaVictims is set"
        )
    return args


def decode_preemption_result(body: bytes | str) -> ExtenderPreemptionResult:
    """Read a preempt reply (kube-scheduler side).

    A ``null`` node entry or ``null`` pod is InvalidPayloadError: kube-scheduler 1.35 would
    dereference the nil pointer in ``convertToVictims`` and crash; tessera reports it instead.
    """
    name = "ExtenderPreemptionResult"
    data = _first_json_value(name, body)
    problem = _null_entries(
        name, "NodeNameToMetaVictims", _raw_field(data, "NodeNameToMetaVictims"), "Pods"
    )
    if problem is not None:
        raise problem
    return _validate(ExtenderPreemptionResult, name, data)


# -- helpers for callers --------------------------------------------------------------------------
def object_name(obj: Mapping[str, Any], type_name: str, path: Iterable[str | int] = ()) -> str:
    """``metadata.name`` of a raw object inside ``type_name`` at ``path``.

    InvalidPayloadError if the object has no string ``metadata.name``.
    """
    meta = obj.get("metadata")
    name = meta.get("name") if isinstance(meta, Mapping) else None
    if not isinstance(name, str) or not name:
        raise InvalidPayloadError(type_name, "has no metadata.name", tuple(path))
    return name
