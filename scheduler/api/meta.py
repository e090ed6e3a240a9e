"""Shared building blocks of the API models: the base model, field types, ObjectMeta.

Every model in ``scheduler.api`` derives from :class:`K8sModel`:

* Python attributes are snake_case; the JSON/YAML names are the exact Kubernetes camelCase
  names (generated, or given explicitly where Kubernetes capitalises differently, such as
  ``providerID`` and ``shareID``). Both names are accepted on input.
* Models are frozen; derive changed copies with ``model_copy(update=...)``.
* Unknown fields are ignored, so ``kubectl get -o yaml`` output loads as is. What is
  modelled round-trips: ``load(dump(x)) == x``.
* Models check shape and types only, never API validity: enumerations (operators, effects,
  allocation modes) are plain strings, and fields that Kubernetes requires but that the
  allocator must be able to report as missing default to their Go zero value.
* Field conventions mirror Go's JSON encoding: an optional scalar is ``None`` when absent
  (so ``adminAccess: false`` and an absent ``adminAccess`` stay distinct); a list or map
  field is an empty tuple/dict when absent and is left out of dumps when empty, like
  ``omitempty``.

:func:`K8sModel.to_dict` gives back what ``kubectl get -o yaml`` prints for the modelled fields.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping
from fractions import Fraction
from typing import Annotated, Any, ClassVar

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    StrictBool,
    StrictInt,
    model_serializer,
)
from pydantic.alias_generators import to_camel

from .quantity import parse_quantity, quantity_milli, quantity_value

__all__ = [
    "K8sModel",
    "KubeObject",
    "Loose",
    "ObjectMeta",
    "OwnerReference",
    "Quantity",
    "QuantityMap",
    "ResourceList",
    "StrictBool",
    "StrictInt",
    "Timestamp",
    "format_timestamp",
    "parse_timestamp",
    "resource_amount",
    "resource_amounts",
]


# Quantity strings already known to parse. Dumps repeat the same few values ("1", "10Gi")
# hundreds of thousands of times, so this memo makes validation of big slices cheap.
_VALID_QUANTITIES: set[str] = set()
_VALID_QUANTITIES_MAX = 1 << 16


def _quantity_text(value: object) -> str:
    """Accept a quantity as YAML gives it (string, int, float) and keep its string form."""
    if isinstance(value, str) and value in _VALID_QUANTITIES:
        return value
    if isinstance(value, bool):
        raise ValueError(f"quantity {value!r}: booleans are not quantities")
    if isinstance(value, int):
        text = str(value)
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"quantity {value!r}: not a Kubernetes quantity")
        text = repr(value)
    elif isinstance(value, str):
        text = value
    else:
        raise ValueError(f"quantity {value!r}: expected a string or a number")
    parse_quantity(text)
    if len(_VALID_QUANTITIES) < _VALID_QUANTITIES_MAX:
        _VALID_QUANTITIES.add(text)
    return text


Quantity = Annotated[str, BeforeValidator(_quantity_text)]
"""A Kubernetes quantity, stored as its original string (``4Gi``, ``500m``, ``8``).

Integers and floats from YAML are accepted and stored as their decimal text; anything that
is not a quantity raises ``ValueError`` naming the value. Read it with
:func:`~scheduler.api.quantity.parse_quantity` (exact ``Fraction``),
:func:`~scheduler.api.quantity.quantity_value` (whole units, rounded up) or
:func:`~scheduler.api.quantity.quantity_milli` (thousandths, rounded up).
"""

QuantityMap = dict[str, Quantity]
"""A ``ResourceList``-shaped map as written in objects: resource name -> quantity string."""

ResourceList = dict[str, int]
"""Integer resource amounts as the scheduler counts them: ``cpu`` in milli-cores, every
other resource (memory and ephemeral-storage in bytes, hugepages in bytes, pods and
extended resources as counts) in whole units, rounded up like ``Quantity.Value()``."""


def resource_amount(name: str, quantity: str | int | Fraction) -> int:
    """The integer the scheduler uses for ``name``: milli for ``cpu``, whole units otherwise.

    Mirrors kube-scheduler's ``framework.Resource`` (``MilliValue()`` for CPU, ``Value()`` for
    everything else); both round up.
    """
    if isinstance(quantity, Fraction):
        scaled = quantity * 1000 if name == "cpu" else quantity
        return math.ceil(scaled)
    return quantity_milli(quantity) if name == "cpu" else quantity_value(quantity)


def resource_amounts(quantities: Mapping[str, str]) -> ResourceList:
    """Convert a quantity map to integer amounts with :func:`resource_amount`."""
    return {name: resource_amount(name, q) for name, q in quantities.items()}


def _rfc3339(moment: dt.datetime | dt.date) -> str:
    if not isinstance(moment, dt.datetime):
        return moment.isoformat()
    if moment.tzinfo is not None:
        moment = moment.astimezone(dt.UTC).replace(tzinfo=None)
    text = moment.isoformat(timespec="microseconds" if moment.microsecond else "seconds")
    return text + "Z"


def parse_timestamp(text: str) -> float:
    """An RFC 3339 timestamp (``2026-01-02T03:04:05.678Z``; without a zone: UTC) in seconds
    since the epoch; ValueError naming the text when it is not one."""
    try:
        moment = dt.datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{text[:40]!r} is not an RFC 3339 timestamp") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.timestamp()


def format_timestamp(seconds: float, *, micro: bool = False) -> str:
    """``seconds`` since the epoch as the API writes timestamps (``2026-01-02T03:04:05Z``;
    ``micro``: with microseconds, as ``MicroTime`` fields such as ``eventTime``)."""
    moment = dt.datetime.fromtimestamp(seconds, dt.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ" if micro else "%Y-%m-%dT%H:%M:%SZ")


def _timestamp_text(value: object) -> object:
    """Unquoted YAML timestamps arrive as datetimes; keep every timestamp as RFC 3339 text."""
    if isinstance(value, dt.datetime | dt.date):
        return _rfc3339(value)
    return value


Timestamp = Annotated[str, BeforeValidator(_timestamp_text)]
"""An RFC 3339 timestamp kept as text (``2025-01-02T03:04:05Z``), exactly as given."""


def _plain_json(value: object) -> object:
    """Make loosely modelled values JSON-plain so that dumps reload equal."""
    if isinstance(value, dt.datetime | dt.date):
        return _rfc3339(value)
    if isinstance(value, Mapping):
        return {str(k): _plain_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain_json(v) for v in value]
    return value


Loose = Annotated[Any, BeforeValidator(_plain_json)]
"""A value tessera does not interpret (conditions, opaque driver parameters), kept as plain
JSON data so that it round-trips."""


class K8sModel(BaseModel):
    """Base of every API model; see the module docstring for the conventions."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="ignore",
        frozen=True,
    )

    _omit_if_empty: ClassVar[tuple[tuple[str, str], ...]] = ()

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        cls._omit_if_empty = tuple(
            (name, info.alias or name)
            for name, info in cls.model_fields.items()
            if info.default_factory in (tuple, dict)
        )

    @model_serializer(mode="wrap")
    def _omit_empty_collections(self, handler: SerializerFunctionWrapHandler) -> Any:
        data = handler(self)
        if isinstance(data, dict):
            for name, alias in self._omit_if_empty:
                if not getattr(self, name):
                    data.pop(alias, None)
                    data.pop(name, None)
        return data

    def to_dict(self) -> dict[str, Any]:
        """The object as Kubernetes JSON: camelCase names, absent and empty fields left out."""
        data: dict[str, Any] = self.model_dump(mode="json", by_alias=True, exclude_none=True)
        return data


class OwnerReference(K8sModel):
    """``metadata.ownerReferences[]``."""

    api_version: str = ""
    kind: str = ""
    name: str = ""
    uid: str = ""
    controller: StrictBool | None = None
    block_owner_deletion: StrictBool | None = None


class ObjectMeta(K8sModel):
    """``metadata`` of every object. Timestamps are kept as RFC 3339 text."""

    name: str | None = None
    generate_name: str | None = None
    namespace: str | None = None
    uid: str | None = None
    resource_version: str | None = None
    generation: StrictInt | None = None
    creation_timestamp: Timestamp | None = None
    deletion_timestamp: Timestamp | None = None
    deletion_grace_period_seconds: StrictInt | None = None
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)
    owner_references: tuple[OwnerReference, ...] = Field(default_factory=tuple)
    finalizers: tuple[str, ...] = Field(default_factory=tuple)

    def controller_ref(self) -> OwnerReference | None:
        """The owner reference with ``controller: true``, if any (``metav1.GetControllerOf``)."""
        for ref in self.owner_references:
            if ref.controller:
                return ref
        return None


class KubeObject(K8sModel):
    """A top-level Kubernetes object: ``apiVersion``, ``kind``, ``metadata``.

    Subclasses set ``apiVersion``/``kind`` defaults to the version tessera models (for DRA
    objects always ``resource.k8s.io/v1``; the loaders convert older versions first).
    """

    api_version: str = ""
    kind: str = ""
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)

    @property
    def name(self) -> str:
        """``metadata.name``, or ``""`` when unset."""
        return self.metadata.name or ""

    @property
    def namespace(self) -> str:
        """``metadata.namespace``, or ``""`` for cluster-scoped objects."""
        return self.metadata.namespace or ""

    @property
    def key(self) -> str:
        """``namespace/name`` for namespaced objects, ``name`` otherwise (cache keys)."""
        return f"{self.namespace}/{self.name}" if self.namespace else self.name
