"""Runtime representation of Kubernetes CEL objects (quantity, semver, URL).

In the evaluation environment each object is a protobuf message of the same name as upstream's
CEL type (``kubernetes.Quantity``, ``kubernetes.Semver``, ``kubernetes.URL``) holding one
string field, ``encoded``, with tessera's encoding of the value. Being messages, they behave
like upstream's opaque objects for everything tessera does not implement itself: ``type(q)`` is
``kubernetes.Quantity``, and string, list and arithmetic functions reject them with "no such
overload". Equality and ``in`` on them go through :mod:`scheduler.dra.cel_values`.
"""

from __future__ import annotations

from typing import Any

from google.protobuf import (
    descriptor_pb2,
    descriptor_pool,
    message_factory,
)

QUANTITY = "kubernetes.Quantity"
SEMVER = "kubernetes.Semver"
URL = "kubernetes.URL"
FIELD = "encoded"


def _build_pool() -> descriptor_pool.DescriptorPool:
    proto = descriptor_pb2.FileDescriptorProto(
        name="tessera/cel_objects.proto", package="kubernetes", syntax="proto3"
    )
    for name in ("Quantity", "Semver", "URL"):
        message = proto.message_type.add(name=name)
        message.field.add(
            name=FIELD,
            number=1,
            type=descriptor_pb2.FieldDescriptorProto.TYPE_STRING,
            label=descriptor_pb2.FieldDescriptorProto.LABEL_OPTIONAL,
        )
    pool = descriptor_pool.DescriptorPool()
    pool.Add(proto)
    return pool


POOL = _build_pool()
"""Descriptor pool of the evaluation environment."""

_CLASSES: dict[str, Any] = {
    name: message_factory.GetMessageClass(POOL.FindMessageTypeByName(name))
    for name in (QUANTITY, SEMVER, URL)
}
_KINDS = {cls: name for name, cls in _CLASSES.items()}


def make(kind: str, encoded: str) -> Any:
    """A runtime object of ``kind`` (one of the three type names) carrying ``encoded``."""
    return _CLASSES[kind](encoded=encoded)


def object_kind(value: Any) -> str | None:
    """The Kubernetes type name of a runtime object, or None for any other value."""
    return _KINDS.get(type(value))


def encoded(value: Any, kind: str) -> str | None:
    """The encoding inside a runtime object of ``kind``, or None when it is something else."""
    if _KINDS.get(type(value)) != kind:
        return None
    text: str = getattr(value, FIELD)
    return text
