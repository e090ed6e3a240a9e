"""Compile-time checks and the evaluation rewrite of checked DRA selectors.

Callers: :class:`scheduler.dra.cel.CelEnvironment` after type-checking a selector.

* :func:`validate` applies cel-go's AST validators of the apiserver base environment
  (homogeneous aggregate literals, literal arguments of ``matches`` / ``duration`` /
  ``timestamp``) and rejects construction of the environment's private message types;
* :func:`rewrite_for_evaluation` prepares the expression for the evaluation environment:
  lookups of an unknown domain in ``device.attributes`` / ``device.capacity`` yield an empty
  map (upstream's map-with-default), ``==`` / ``!=`` / ``in`` whose operands may hold Kubernetes
  objects call the Python implementation of cel-go's equality, and Kubernetes object
  constructors on literals are built once.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from scheduler.dra.cel_ast import (
    PRIVATE_MESSAGES,
    CheckedSelector,
    children,
    describe_type,
    is_domain_map,
    may_hold_object,
    new_expr,
)
from scheduler.dra.cel_libs import EQUALS_FUNCTION, IN_FUNCTION, NOT_EQUALS_FUNCTION
from scheduler.dra.cel_objects import FIELD as OBJECT_FIELD


def _is_domain_operand(selector: CheckedSelector, node: Any) -> bool:
    """Whether ``node`` evaluates to ``device.attributes`` / ``device.capacity``: by type, or
    as a field of a bound ``device`` (whose maps the checker types as ``map(string, dyn)``)."""
    if is_domain_map(selector.type_of(node)):
        return True
    if node.WhichOneof("expr_kind") != "select_expr":
        return False
    select = node.select_expr
    if select.test_only or select.field not in ("attributes", "capacity"):
        return False
    owner = selector.type_of(select.operand)
    return bool(
        owner is not None
        and owner.WhichOneof("type_kind") == "message_type"
        and owner.message_type == "kubernetes.DRADevice"
    )


def _types_equivalent(a: Any | None, b: Any | None) -> bool:
    return _normalized(a) == _normalized(b)


def _normalized(t: Any | None) -> str:
    text = describe_type(t)
    return text if t is None or t.WhichOneof("type_kind") != "type_param" else "~"


def _is_empty_literal(node: Any) -> bool:
    kind = node.WhichOneof("expr_kind")
    if kind == "list_expr":
        return len(node.list_expr.elements) == 0
    if kind == "struct_expr":
        return not node.struct_expr.message_name and len(node.struct_expr.entries) == 0
    return False


def validate(
    selector: CheckedSelector, literal_check: Callable[[str, str], str | None]
) -> list[tuple[int, str]]:
    """cel-go's AST validators; returns (node id, message) issues, empty when valid.

    ``literal_check(function, literal)`` returns why a literal argument of ``matches``,
    ``duration`` or ``timestamp`` is invalid, or None.
    """
    issues: list[tuple[int, str]] = []
    _validate_node(
        selector, selector.checked.expr, exempt=False, issues=issues, literal_check=literal_check
    )
    return issues


def _string_literal(node: Any) -> str | None:
    if node.WhichOneof("expr_kind") != "const_expr":
        return None
    if node.const_expr.WhichOneof("constant_kind") != "string_value":
        return None
    return str(node.const_expr.string_value)


def _validate_node(
    selector: CheckedSelector,
    node: Any,
    *,
    exempt: bool,
    issues: list[tuple[int, str]],
    literal_check: Callable[[str, str], str | None],
) -> None:
    kind = node.WhichOneof("expr_kind")
    child_exempt = False
    if kind == "call_expr":
        call = node.call_expr
        child_exempt = call.function == "format"
        literal = _string_literal(call.args[0]) if call.args else None
        if (
            call.function in ("matches", "duration", "timestamp")
            and literal is not None
            and literal_check(call.function, literal) is not None
        ):
            issues.append((call.args[0].id, f"invalid {call.function} argument"))
    elif kind == "list_expr":
        child_exempt = exempt
        if not exempt:
            _check_homogeneous(
                selector,
                list(node.list_expr.elements),
                issues,
                set(node.list_expr.optional_indices),
            )
    elif kind == "struct_expr":
        name = node.struct_expr.message_name
        if name in PRIVATE_MESSAGES:
            issues.append((node.id, f"undeclared reference to '{name}'"))
        elif not name:
            child_exempt = exempt
            if not exempt:
                entries = list(node.struct_expr.entries)
                _check_homogeneous(selector, [e.map_key for e in entries], issues, set())
                optional = {i for i, e in enumerate(entries) if e.optional_entry}
                _check_homogeneous(selector, [e.value for e in entries], issues, optional)
    for child in children(node):
        _validate_node(
            selector, child, exempt=child_exempt, issues=issues, literal_check=literal_check
        )


def _check_homogeneous(
    selector: CheckedSelector, nodes: list[Any], issues: list[tuple[int, str]], optional: set[int]
) -> None:
    first: Any | None = None
    first_set = False
    for index, node in enumerate(nodes):
        if _is_empty_literal(node):
            continue
        node_type = selector.type_of(node)
        if index in optional and node_type is not None:
            params = node_type.abstract_type.parameter_types
            node_type = params[0] if params else node_type
        if not first_set:
            first, first_set = node_type, True
            continue
        if not _types_equivalent(first, node_type):
            issues.append(
                (
                    node.id,
                    f"expected type '{describe_type(first)}' but found "
                    f"'{describe_type(node_type)}'",
                )
            )
            return


def _string_constant(selector: CheckedSelector, value: str) -> Any:
    node = new_expr()
    node.id = selector.new_id()
    node.const_expr.string_value = value
    return node


def _default_lookup(selector: CheckedSelector, node: Any, operand: Any, key: Any) -> None:
    """Turn ``operand[key]`` (held by ``node``) into ``operand[?key].orValue({})``."""
    lookup = new_expr()
    lookup.id = selector.new_id()
    lookup.call_expr.function = "_[?_]"
    lookup.call_expr.args.add().CopyFrom(operand)
    lookup.call_expr.args.add().CopyFrom(key)
    node_id = node.id
    node.Clear()
    node.id = node_id
    node.call_expr.function = "orValue"
    node.call_expr.target.CopyFrom(lookup)
    empty = node.call_expr.args.add()
    empty.id = selector.new_id()
    empty.struct_expr.SetInParent()


def _wrap_optional(selector: CheckedSelector, node: Any) -> None:
    """Turn ``node`` into ``optional.of(node)``."""
    inner = new_expr()
    inner.CopyFrom(node)
    inner.id = selector.new_id()
    node_id = node.id
    node.Clear()
    node.id = node_id
    node.call_expr.function = "optional.of"
    node.call_expr.args.add().CopyFrom(inner)


Folder = Callable[[str, list[Any]], tuple[str, str] | None]


def rewrite_for_evaluation(selector: CheckedSelector, fold: Folder) -> None:
    """Apply the evaluation rewrites (see the module docstring) in place.

    ``fold(function, literal_args)`` returns (message type, encoding) of a Kubernetes object
    constructor called on literal arguments when it may be built once, else None; the call is
    replaced by a message literal.
    """
    _rewrite(selector, selector.checked.expr, fold)


def _literal_args(call: Any) -> list[Any] | None:
    values = []
    for arg in call.args:
        if arg.WhichOneof("expr_kind") != "const_expr":
            return None
        which = arg.const_expr.WhichOneof("constant_kind")
        if which not in ("string_value", "bool_value"):
            return None
        values.append(getattr(arg.const_expr, which))
    return values


def _rewrite(selector: CheckedSelector, node: Any, fold: Folder) -> None:
    for child in children(node):
        _rewrite(selector, child, fold)
    kind = node.WhichOneof("expr_kind")
    references = selector.checked.reference_map
    if kind == "select_expr":
        select = node.select_expr
        if not select.test_only and _is_domain_operand(selector, select.operand):
            operand = new_expr()
            operand.CopyFrom(select.operand)
            key = _string_constant(selector, select.field)
            _default_lookup(selector, node, operand, key)
        return
    if kind != "call_expr":
        return
    call = node.call_expr
    function = call.function
    literals = None if call.HasField("target") else _literal_args(call)
    folded = None if literals is None else fold(function, literals)
    if folded is not None:
        node_id = node.id
        node.Clear()
        node.id = node_id
        node.struct_expr.message_name = folded[0]
        entry = node.struct_expr.entries.add()
        entry.id = selector.new_id()
        entry.field_key = OBJECT_FIELD
        entry.value.id = selector.new_id()
        entry.value.const_expr.string_value = folded[1]
        references.pop(node_id, None)
        return
    if function in ("_[_]", "_[?_]", "_?._") and len(call.args) == 2:
        if _is_domain_operand(selector, call.args[0]):
            operand = new_expr()
            operand.CopyFrom(call.args[0])
            key = new_expr()
            key.CopyFrom(call.args[1])
            references.pop(node.id, None)
            _default_lookup(selector, node, operand, key)
            if function != "_[_]":
                _wrap_optional(selector, node)
        return
    if function in ("_==_", "_!=_") and len(call.args) == 2:
        left, right = (selector.type_of(a) for a in call.args)
        if may_hold_object(left) or may_hold_object(right):
            call.function = EQUALS_FUNCTION if function == "_==_" else NOT_EQUALS_FUNCTION
            references.pop(node.id, None)
        return
    if function == "@in" and len(call.args) == 2:
        element, collection = (selector.type_of(a) for a in call.args)
        collection_kind = None if collection is None else collection.WhichOneof("type_kind")
        if may_hold_object(element) and collection_kind != "map_type":
            call.function = IN_FUNCTION
            references.pop(node.id, None)
