"""Checked CEL syntax trees as cel-expr-python produces them.

cel-expr-python returns a compiled expression as a serialized ``cel.expr.CheckedExpr`` (inside
a ``google.protobuf.Any``) and accepts one back. This module declares the subset of that proto
schema tessera reads or edits (expressions, constants, checked types, references, source
positions), decodes it into :class:`CheckedSelector`, and offers the type predicates the
validation, rewrite (:mod:`scheduler.dra.cel_transform`) and cost bound
(:mod:`scheduler.dra.cel_cost`) rely on. Fields of the proto not declared here are carried
through unchanged.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from google.protobuf import (
    descriptor_pb2,
    descriptor_pool,
    message_factory,
)

_FD = descriptor_pb2.FieldDescriptorProto
_SCALARS = {
    "string": _FD.TYPE_STRING,
    "int64": _FD.TYPE_INT64,
    "uint64": _FD.TYPE_UINT64,
    "int32": _FD.TYPE_INT32,
    "bool": _FD.TYPE_BOOL,
    "double": _FD.TYPE_DOUBLE,
    "bytes": _FD.TYPE_BYTES,
}
_PKG = ".tessera.celast."

# (message, [(field, number, type, repeated, oneof index)], oneofs, nested)
_Field = tuple[str, int, str, bool, int | None]
_EXPR_FIELDS: list[_Field] = [
    ("id", 2, "int64", False, None),
    ("const_expr", 3, "Constant", False, 0),
    ("ident_expr", 4, "Expr.Ident", False, 0),
    ("select_expr", 5, "Expr.Select", False, 0),
    ("call_expr", 6, "Expr.Call", False, 0),
    ("list_expr", 7, "Expr.CreateList", False, 0),
    ("struct_expr", 8, "Expr.CreateStruct", False, 0),
    ("comprehension_expr", 9, "Expr.Comprehension", False, 0),
]
_NESTED_EXPR: dict[str, list[_Field]] = {
    "Ident": [("name", 1, "string", False, None)],
    "Select": [
        ("operand", 1, "Expr", False, None),
        ("field", 2, "string", False, None),
        ("test_only", 3, "bool", False, None),
    ],
    "Call": [
        ("target", 1, "Expr", False, None),
        ("function", 2, "string", False, None),
        ("args", 3, "Expr", True, None),
    ],
    "CreateList": [
        ("elements", 1, "Expr", True, None),
        ("optional_indices", 2, "int32", True, None),
    ],
    "CreateStruct": [
        ("message_name", 1, "string", False, None),
        ("entries", 2, "Expr.CreateStruct.Entry", True, None),
    ],
    "Comprehension": [
        ("iter_var", 1, "string", False, None),
        ("iter_range", 2, "Expr", False, None),
        ("accu_var", 3, "string", False, None),
        ("accu_init", 4, "Expr", False, None),
        ("loop_condition", 5, "Expr", False, None),
        ("loop_step", 6, "Expr", False, None),
        ("result", 7, "Expr", False, None),
        ("iter_var2", 8, "string", False, None),
    ],
}
_ENTRY_FIELDS: list[_Field] = [
    ("id", 1, "int64", False, None),
    ("field_key", 2, "string", False, 0),
    ("map_key", 3, "Expr", False, 0),
    ("value", 4, "Expr", False, None),
    ("optional_entry", 5, "bool", False, None),
]
_CONSTANT_FIELDS: list[_Field] = [
    ("null_value", 1, "int32", False, 0),
    ("bool_value", 2, "bool", False, 0),
    ("int64_value", 3, "int64", False, 0),
    ("uint64_value", 4, "uint64", False, 0),
    ("double_value", 5, "double", False, 0),
    ("string_value", 6, "string", False, 0),
    ("bytes_value", 7, "bytes", False, 0),
]
_TYPE_FIELDS: list[_Field] = [
    ("dyn", 1, "Empty", False, 0),
    ("null", 2, "int32", False, 0),
    ("primitive", 3, "int32", False, 0),
    ("wrapper", 4, "int32", False, 0),
    ("well_known", 5, "int32", False, 0),
    ("list_type", 6, "Type.ListType", False, 0),
    ("map_type", 7, "Type.MapType", False, 0),
    ("function", 8, "Empty", False, 0),
    ("message_type", 9, "string", False, 0),
    ("type_param", 10, "string", False, 0),
    ("type", 11, "Type", False, 0),
    ("error", 12, "Empty", False, 0),
    ("abstract_type", 14, "Type.AbstractType", False, 0),
]
_NESTED_TYPE: dict[str, list[_Field]] = {
    "ListType": [("elem_type", 1, "Type", False, None)],
    "MapType": [("key_type", 1, "Type", False, None), ("value_type", 2, "Type", False, None)],
    "AbstractType": [
        ("name", 1, "string", False, None),
        ("parameter_types", 2, "Type", True, None),
    ],
}


def _add_fields(message: Any, fields: list[_Field]) -> None:
    for name, number, kind, repeated, oneof in fields:
        field = message.field.add(
            name=name,
            number=number,
            label=_FD.LABEL_REPEATED if repeated else _FD.LABEL_OPTIONAL,
        )
        if kind in _SCALARS:
            field.type = _SCALARS[kind]
        else:
            field.type = _FD.TYPE_MESSAGE
            field.type_name = _PKG + kind
        if oneof is not None:
            field.oneof_index = oneof


def _map_entry(message: Any, name: str, value_type: str) -> None:
    entry = message.nested_type.add(name=name)
    entry.options.map_entry = True
    _add_fields(entry, [("key", 1, "int64", False, None), ("value", 2, value_type, False, None)])


def _build_pool() -> descriptor_pool.DescriptorPool:
    proto = descriptor_pb2.FileDescriptorProto(
        name="tessera/cel_ast.proto", package="tessera.celast", syntax="proto3"
    )
    expr = proto.message_type.add(name="Expr")
    expr.oneof_decl.add(name="expr_kind")
    _add_fields(expr, _EXPR_FIELDS)
    for name, fields in _NESTED_EXPR.items():
        nested = expr.nested_type.add(name=name)
        _add_fields(nested, fields)
        if name == "CreateStruct":
            entry = nested.nested_type.add(name="Entry")
            entry.oneof_decl.add(name="key_kind")
            _add_fields(entry, _ENTRY_FIELDS)
    constant = proto.message_type.add(name="Constant")
    constant.oneof_decl.add(name="constant_kind")
    _add_fields(constant, _CONSTANT_FIELDS)
    type_message = proto.message_type.add(name="Type")
    type_message.oneof_decl.add(name="type_kind")
    _add_fields(type_message, _TYPE_FIELDS)
    for name, fields in _NESTED_TYPE.items():
        _add_fields(type_message.nested_type.add(name=name), fields)
    proto.message_type.add(name="Empty")
    reference = proto.message_type.add(name="Reference")
    _add_fields(reference, [("name", 1, "string", False, None)])
    source = proto.message_type.add(name="SourceInfo")
    _add_fields(source, [("line_offsets", 3, "int32", True, None)])
    source_positions = source.nested_type.add(name="PositionsEntry")
    source_positions.options.map_entry = True
    _add_fields(
        source_positions, [("key", 1, "int64", False, None), ("value", 2, "int32", False, None)]
    )
    source.field.add(
        name="positions",
        number=4,
        label=_FD.LABEL_REPEATED,
        type=_FD.TYPE_MESSAGE,
        type_name=_PKG + "SourceInfo.PositionsEntry",
    )
    checked = proto.message_type.add(name="CheckedExpr")
    _map_entry(checked, "ReferenceMapEntry", "Reference")
    _map_entry(checked, "TypeMapEntry", "Type")
    _add_fields(
        checked,
        [
            ("reference_map", 2, "CheckedExpr.ReferenceMapEntry", True, None),
            ("type_map", 3, "CheckedExpr.TypeMapEntry", True, None),
            ("expr", 4, "Expr", False, None),
            ("source_info", 5, "SourceInfo", False, None),
        ],
    )
    wrapper = proto.message_type.add(name="AnyWrapper")
    _add_fields(
        wrapper, [("type_url", 1, "string", False, None), ("value", 2, "bytes", False, None)]
    )
    pool = descriptor_pool.DescriptorPool()
    pool.Add(proto)
    return pool


_POOL = _build_pool()
_CHECKED = message_factory.GetMessageClass(
    _POOL.FindMessageTypeByName("tessera.celast.CheckedExpr")
)
_WRAPPER = message_factory.GetMessageClass(_POOL.FindMessageTypeByName("tessera.celast.AnyWrapper"))

_PRIMITIVES = {1: "bool", 2: "int", 3: "uint", 4: "double", 5: "string", 6: "bytes"}
_WELL_KNOWN = {
    1: "google.protobuf.Any",
    2: "google.protobuf.Timestamp",
    3: "google.protobuf.Duration",
}
OBJECT_TYPES = frozenset({"kubernetes.Quantity", "kubernetes.Semver", "kubernetes.URL"})
_DYNAMIC_MESSAGES = frozenset({"google.protobuf.Struct", "google.protobuf.Value"})
PRIVATE_MESSAGES = OBJECT_TYPES | {"kubernetes.DRADevice"}


class CheckedSelector:
    """One decoded checked expression (mutable while it is validated and rewritten)."""

    def __init__(self, serialized: bytes) -> None:
        self._wrapper = _WRAPPER.FromString(serialized)
        self.checked: Any = _CHECKED.FromString(self._wrapper.value)
        self._next_id = max([*self.checked.type_map.keys(), *self._ids()], default=0) + 1

    def _ids(self) -> Iterator[int]:
        for node in walk(self.checked.expr):
            yield int(node.id)

    def serialize(self) -> bytes:
        """The (possibly rewritten) expression in the form ``Env.deserialize`` accepts."""
        self._wrapper.value = self.checked.SerializeToString()
        data: bytes = self._wrapper.SerializeToString()
        return data

    def type_of(self, node: Any) -> Any | None:
        """The checked type of a node, or None when the checker recorded none."""
        types = self.checked.type_map
        return types.get(node.id)

    def new_id(self) -> int:
        """A node id unused in this expression."""
        self._next_id += 1
        return self._next_id

    def offset(self, node_id: int) -> int:
        """Character offset of a node in the source, or 0 when unknown."""
        positions = self.checked.source_info.positions
        return int(positions[node_id]) if node_id in positions else 0


def new_expr() -> Any:
    """A detached, empty expression node (to build rewritten sub-trees)."""
    return _CHECKED().expr


def children(node: Any) -> list[Any]:
    """The direct sub-expressions of a node."""
    kind = node.WhichOneof("expr_kind")
    if kind == "select_expr":
        return [node.select_expr.operand]
    if kind == "call_expr":
        call = node.call_expr
        head = [call.target] if call.HasField("target") else []
        return [*head, *call.args]
    if kind == "list_expr":
        return list(node.list_expr.elements)
    if kind == "struct_expr":
        out = []
        for entry in node.struct_expr.entries:
            if entry.HasField("map_key"):
                out.append(entry.map_key)
            out.append(entry.value)
        return out
    if kind == "comprehension_expr":
        c = node.comprehension_expr
        return [c.iter_range, c.accu_init, c.loop_condition, c.loop_step, c.result]
    return []


def walk(node: Any) -> Iterator[Any]:
    """Pre-order traversal of a node and all its descendants."""
    stack = [node]
    while stack:
        current = stack.pop()
        yield current
        stack.extend(reversed(children(current)))


def describe_type(t: Any | None) -> str:
    """cel-go's spelling of a checked type (``int``, ``list(string)``, ``dyn`` ...)."""
    if t is None:
        return "dyn"
    kind = t.WhichOneof("type_kind")
    if kind == "primitive":
        return _PRIMITIVES.get(t.primitive, "dyn")
    if kind == "wrapper":
        return f"wrapper({_PRIMITIVES.get(t.wrapper, 'dyn')})"
    if kind == "well_known":
        return _WELL_KNOWN.get(t.well_known, "dyn")
    if kind == "list_type":
        return f"list({describe_type(t.list_type.elem_type)})"
    if kind == "map_type":
        m = t.map_type
        return f"map({describe_type(m.key_type)}, {describe_type(m.value_type)})"
    if kind == "message_type":
        return str(t.message_type)
    if kind == "type_param":
        return str(t.type_param)
    if kind == "type":
        return f"type({describe_type(t.type)})" if t.type.WhichOneof("type_kind") else "type"
    if kind == "abstract_type":
        params = ", ".join(describe_type(p) for p in t.abstract_type.parameter_types)
        return f"{t.abstract_type.name}({params})" if params else str(t.abstract_type.name)
    if kind == "null":
        return "null_type"
    if kind == "error":
        return "*error*"
    return "dyn"


def is_bool_or_any(t: Any | None) -> bool:
    """True for the result types a selector may have: bool, or an attribute value (Any)."""
    if t is None:
        return False
    kind = t.WhichOneof("type_kind")
    return bool(
        (kind == "primitive" and t.primitive == 1) or (kind == "well_known" and t.well_known == 1)
    )


def may_hold_object(t: Any | None) -> bool:
    """Whether a value of this static type may be (or contain) a Kubernetes object."""
    if t is None:
        return True
    kind = t.WhichOneof("type_kind")
    if kind in ("dyn", "type_param", "error"):
        return True
    if kind == "well_known":
        return bool(t.well_known == 1)
    if kind == "message_type":
        return t.message_type in OBJECT_TYPES or t.message_type in _DYNAMIC_MESSAGES
    if kind == "list_type":
        return may_hold_object(t.list_type.elem_type)
    if kind == "map_type":
        return may_hold_object(t.map_type.value_type)
    if kind == "abstract_type":
        return any(may_hold_object(p) for p in t.abstract_type.parameter_types)
    return False


def _is_string(t: Any) -> bool:
    return bool(t.WhichOneof("type_kind") == "primitive" and t.primitive == 5)


def is_domain_map(t: Any | None) -> bool:
    """Whether a type is ``device.attributes`` / ``device.capacity`` (domain -> map)."""
    if t is None or t.WhichOneof("type_kind") != "map_type":
        return False
    if not _is_string(t.map_type.key_type):
        return False
    value = t.map_type.value_type
    kind = value.WhichOneof("type_kind")
    if kind == "message_type":
        return bool(value.message_type == "google.protobuf.Struct")
    if kind != "map_type" or not _is_string(value.map_type.key_type):
        return False
    leaf = value.map_type.value_type
    leaf_kind = leaf.WhichOneof("type_kind")
    if leaf_kind == "well_known":
        return bool(leaf.well_known == 1)
    return bool(leaf_kind == "message_type" and leaf.message_type == "kubernetes.Quantity")


def root_type(selector: CheckedSelector) -> Any | None:
    """The checked type of the whole expression."""
    return selector.type_of(selector.checked.expr)


def format_issue(expression: str, offset: int, message: str) -> str:
    """One issue in cel-go's layout: ``ERROR: <input>:L:C: msg`` plus the marked line."""
    line_start = expression.rfind("\n", 0, offset) + 1
    line_end = expression.find("\n", offset)
    line_text = expression[line_start : line_end if line_end != -1 else len(expression)]
    line = expression.count("\n", 0, offset) + 1
    column = offset - line_start
    marker = "." * column + "^"
    return f"ERROR: <input>:{line}:{column + 1}: {message}\n | {line_text}\n | {marker}"
