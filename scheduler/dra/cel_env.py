"""The two cel-expr-python environments behind DRA selectors.

* The **check** environment reproduces the types of kube-scheduler's environment so that
  type errors, unknown fields and result types are reported at compile time as upstream does:
  ``device`` is a message ``kubernetes.DRADevice`` (``allowMultipleAllocations`` only in the
  DRAConsumableCapacity variant), ``device.attributes`` is ``map(string, map(string,
  google.protobuf.Any))``, ``device.capacity`` is ``map(string, map(string,
  kubernetes.Quantity))``; Kubernetes objects are (empty) message types; library functions are
  declared with cel-go's signatures (type parameters included); cel-go's cross-type numeric
  comparisons are added to ``<``, ``<=``, ``>``, ``>=``. Nothing is ever evaluated in it.
* The **evaluation** environment declares every variable ``dyn`` and binds the library
  functions to their Python implementations; Kubernetes objects are the messages of
  :mod:`scheduler.dra.cel_objects`. The checked, rewritten expression is deserialized into it.
"""

from __future__ import annotations

import re
from functools import cache, lru_cache
from typing import Any

import yaml
from cel_expr_python import cel
from cel_expr_python.ext import ext_bindings, ext_optional, ext_strings
from google.protobuf import (
    descriptor_pb2,
    descriptor_pool,
    struct_pb2,
)

from scheduler.dra import cel_objects
from scheduler.dra.cel_libs import (
    NUMERIC_CROSS_TYPE,
    RUNTIME_ONLY,
    Function,
    Overload,
    library_functions,
)
from scheduler.dra.cel_quantity import cel_quantity
from scheduler.dra.cel_regex import re2_error
from scheduler.dra.cel_semver import cel_semver
from scheduler.dra.cel_url import cel_url

_FD = descriptor_pb2.FieldDescriptorProto
_PRIMITIVE_TYPES = {
    "int": cel.Type.INT,
    "uint": cel.Type.UINT,
    "double": cel.Type.DOUBLE,
    "bool": cel.Type.BOOL,
    "string": cel.Type.STRING,
}


def _device_pool(consumable_capacity: bool) -> descriptor_pool.DescriptorPool:
    pool = descriptor_pool.DescriptorPool()
    struct_file = descriptor_pb2.FileDescriptorProto()
    struct_pb2.DESCRIPTOR.CopyToProto(struct_file)
    pool.Add(struct_file)
    proto = descriptor_pb2.FileDescriptorProto(
        name="tessera/dra_device.proto",
        package="kubernetes",
        syntax="proto3",
        dependency=["google/protobuf/struct.proto"],
    )
    for name in ("Quantity", "Semver", "URL"):
        proto.message_type.add(name=name)
    device = proto.message_type.add(name="DRADevice")
    device.field.add(name="driver", number=1, type=_FD.TYPE_STRING, label=_FD.LABEL_OPTIONAL)
    if consumable_capacity:
        device.field.add(
            name="allowMultipleAllocations", number=2, type=_FD.TYPE_BOOL, label=_FD.LABEL_OPTIONAL
        )
    for number, name in ((3, "attributes"), (4, "capacity")):
        entry = device.nested_type.add(name=f"{name.capitalize()}Entry")
        entry.options.map_entry = True
        entry.field.add(name="key", number=1, type=_FD.TYPE_STRING, label=_FD.LABEL_OPTIONAL)
        entry.field.add(
            name="value",
            number=2,
            type=_FD.TYPE_MESSAGE,
            type_name=".google.protobuf.Struct",
            label=_FD.LABEL_OPTIONAL,
        )
        device.field.add(
            name=name,
            number=number,
            type=_FD.TYPE_MESSAGE,
            type_name=f".kubernetes.DRADevice.{name.capitalize()}Entry",
            label=_FD.LABEL_REPEATED,
        )
    pool.Add(proto)
    return pool


def _split_params(text: str) -> list[str]:
    depth, start, parts = 0, 0, []
    for index, char in enumerate(text):
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        elif char == "," and depth == 0:
            parts.append(text[start:index].strip())
            start = index + 1
    parts.append(text[start:].strip())
    return parts


def _yaml_type(text: str) -> dict[str, Any]:
    if text.startswith("~"):
        return {"type_name": text[1:], "is_type_param": True}
    if "(" in text:
        name, inner = text.split("(", 1)
        return {"type_name": name, "params": [_yaml_type(p) for p in _split_params(inner[:-1])]}
    return {"type_name": text}


def _yaml_overload(overload: Overload) -> dict[str, Any]:
    args = list(overload.args)
    out: dict[str, Any] = {"id": overload.overload_id}
    if overload.member:
        out["target"] = _yaml_type(args.pop(0))
    if args:
        out["args"] = [_yaml_type(a) for a in args]
    out["return"] = _yaml_type(overload.result)
    return out


def _check_config(functions: list[Function]) -> Any:
    document = {
        "name": "tessera.dra.selectors",
        "functions": [
            {"name": f.name, "overloads": [_yaml_overload(o) for o in f.overloads]}
            for f in functions
        ],
    }
    return cel.NewEnvConfigFromYaml(yaml.safe_dump(document, sort_keys=False))


def _cross_type_comparisons() -> Any:
    decls = []
    for function, stem in (
        ("_<_", "less"),
        ("_<=_", "less_equals"),
        ("_>_", "greater"),
        ("_>=_", "greater_equals"),
    ):
        overloads = [
            cel.Overload(
                f"{stem}_{a}_{b}", cel.Type.BOOL, [_PRIMITIVE_TYPES[a], _PRIMITIVE_TYPES[b]]
            )
            for a, b in NUMERIC_CROSS_TYPE
        ]
        decls.append(cel.FunctionDecl(function, overloads))
    return cel.CelExtension("tessera.cross_type_numeric_comparisons", decls)


@cache
def check_env(consumable_capacity: bool) -> Any:
    """The type-checking environment (one per DRAConsumableCapacity setting)."""
    any_type = cel.Type("google.protobuf.Any")
    quantity = cel.Type("kubernetes.Quantity")
    string = cel.Type.STRING
    return cel.NewEnv(
        descriptor_pool=_device_pool(consumable_capacity),
        config=_check_config(library_functions()),
        variables={
            "device": cel.Type("kubernetes.DRADevice"),
            "device.attributes": cel.Type.Map(string, cel.Type.Map(string, any_type)),
            "device.capacity": cel.Type.Map(string, cel.Type.Map(string, quantity)),
        },
        extensions=[
            ext_bindings.ExtBindings(),
            ext_optional.ExtOptional(),
            _cross_type_comparisons(),
        ],
    )


def _eval_param(overloads: list[Overload], position: int) -> Any:
    kinds = {o.args[position] for o in overloads}
    if all(k.startswith("list(") for k in kinds):
        return cel.Type.List(cel.Type.DYN)
    if kinds == {"string"}:
        return cel.Type.STRING
    return cel.Type.DYN


def _eval_decls() -> list[Any]:
    decls = []
    for function in library_functions():
        if function.impl is None:
            continue
        groups: dict[tuple[bool, int], list[Overload]] = {}
        for overload in function.overloads:
            if not overload.native:
                groups.setdefault((overload.member, len(overload.args)), []).append(overload)
        overloads = [
            cel.Overload(
                f"tessera_{function.name}_{arity}{'_member' if member else ''}",
                cel.Type.DYN,
                [_eval_param(group, i) for i in range(arity)],
                is_member=member,
                impl=function.impl,
            )
            for (member, arity), group in groups.items()
        ]
        decls.append(cel.FunctionDecl(function.name, overloads))
    for name, arity, impl in RUNTIME_ONLY:
        overload = cel.Overload(f"{name}_{arity}", cel.Type.BOOL, [cel.Type.DYN] * arity, impl=impl)
        decls.append(cel.FunctionDecl(name, [overload]))
    return decls


@cache
def eval_env() -> Any:
    """The evaluation environment shared by every selector."""
    dyn = cel.Type.DYN
    return cel.NewEnv(
        descriptor_pool=cel_objects.POOL,
        variables={"device": dyn, "device.attributes": dyn, "device.capacity": dyn},
        extensions=[
            ext_strings.ExtStrings(2),
            ext_bindings.ExtBindings(),
            ext_optional.ExtOptional(),
            cel.CelExtension("tessera.dra", _eval_decls()),
        ],
    )


@cache
def _literal_env() -> Any:
    return cel.NewEnv(variables={"p": cel.Type.STRING})


@lru_cache(maxsize=1024)
def literal_problem(function: str, literal: str) -> str | None:
    """Why a literal argument of ``matches`` / ``duration`` / ``timestamp`` is invalid."""
    if function == "matches":
        return re2_error(literal)
    result = _literal_env().compile(f"{function}(p)").eval(data={"p": literal})
    if result.type() == cel.Type.ERROR:
        return str(result.value())
    return None


_FOLDABLE: dict[str, Any] = {"quantity": cel_quantity, "semver": cel_semver, "url": cel_url}


def fold_constant(function: str, args: list[Any]) -> tuple[str, str] | None:
    """(object type, encoding) of ``quantity`` / ``semver`` / ``url`` on literal arguments, or
    None when the call must stay (another function, or a failure that must surface - or not -
    at evaluation)."""
    impl = _FOLDABLE.get(function)
    if impl is None:
        return None
    try:
        result = impl(*args)
    except Exception:  # any failure keeps the call, to fail (or not) at evaluation
        return None
    kind = cel_objects.object_kind(result)
    text = None if kind is None else cel_objects.encoded(result, kind)
    return None if kind is None or text is None else (kind, text)


_STATUS = re.compile(r"^[A-Z_]+: ")
_STATUS_SUFFIX = re.compile(r"\s*\[[A-Z_]+\]$")
_MISSING_KEY = re.compile(r'^Key not found in map : "?(.*?)"?$')
_INDEX = re.compile(r"^Index error: index=(-?\d+) size=(\d+)$")


def compile_message(error: Exception) -> str:
    """cel-go's layout of a cel-expr-python compile failure."""
    text = _STATUS_SUFFIX.sub("", _STATUS.sub("", str(error).strip()))
    return f"compilation failed: {text}"


def runtime_message(raw: str) -> str:
    """cel-go's wording of a cel-expr-python runtime error."""
    text = _STATUS.sub("", raw.strip())
    missing = _MISSING_KEY.match(text)
    if missing:
        return f"no such key: {missing.group(1)}"
    index = _INDEX.match(text)
    if index:
        return f"index '{index.group(1)}' out of range in list size '{index.group(2)}'"
    if text.startswith("No matching overloads found"):
        return "no such overload"
    if text == "divide by zero":
        return "division by zero"
    return text
