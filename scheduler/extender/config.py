"""The ``extenders:`` entries and ``percentageOfNodesToScore`` of a KubeSchedulerConfiguration.

Models of ``kubescheduler.config.k8s.io/v1`` ``Extender``, ``ExtenderManagedResource`` and
``ExtenderTLSConfig`` (``k8s.io/kube-scheduler`` ``config/v1/types.go``, v0.35.0), decoded the
way kube-scheduler decodes its configuration file: strictly (an unknown or misspelt key such as
``enableHttps`` is an error; names are case-sensitive), with Go's zero values for absent keys
and for ``null``. kube-scheduler's v1 defaulting sets nothing on an extender entry, so every
default here is the Go zero value; the one runtime default, an ``httpTimeout`` of 0 meaning
5 s, is :attr:`ExtenderConfig.timeout_seconds`.

Validation (``validateExtenders`` and ``validatePercentageOfNodesToScore`` in
``pkg/scheduler/apis/config/validation/validation.go``) is separate from decoding, as it is
upstream: :func:`extender_problems` and :func:`percentage_problems` return every problem,
each printed like Go's ``field.Invalid`` (``extenders[0].weight: Invalid value: 0: must have
a positive weight applied to it``); :meth:`ExtenderSettings.check` raises them all at once.

Embedding: the full KubeSchedulerConfiguration reader can declare the two top-level fields
itself (``extenders: tuple[ExtenderConfig, ...]`` and ``percentageOfNodesToScore``), or derive
its model from :class:`ExtenderSettings`, and call the problem functions from its own
validation; a profile's own ``percentageOfNodesToScore`` uses :func:`percentage_problems`
with its path.

Also here, because kube-scheduler derives them from the same configuration:
:func:`num_feasible_nodes_to_find` (the adaptive sample size of in-tree filtering, which
bounds what a filter extender sees), :func:`call_order` (ignorable extenders last) and
:func:`ignored_extended_resources`.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    StrictBool,
    StrictInt,
    StrictStr,
    model_validator,
)

from scheduler.api.duration import NANOSECONDS_PER_SECOND, GoDuration
from scheduler.api.selectors import label_key_problem
from scheduler.framework.sampling import (
    MIN_FEASIBLE_NODES_PERCENTAGE_TO_FIND,
    MIN_FEASIBLE_NODES_TO_FIND,
    num_feasible_nodes_to_find,
)
from scheduler.plugins.noderesources import is_extended_resource

__all__ = [
    "DEFAULT_EXTENDER_TIMEOUT_SECONDS",
    "DEFAULT_PERCENTAGE_OF_NODES_TO_SCORE",
    "MIN_FEASIBLE_NODES_PERCENTAGE_TO_FIND",
    "MIN_FEASIBLE_NODES_TO_FIND",
    "ConfigProblem",
    "ExtenderConfig",
    "ExtenderManagedResource",
    "ExtenderSettings",
    "ExtenderTLSConfig",
    "InvalidSchedulerConfigError",
    "call_order",
    "extender_problems",
    "ignored_extended_resources",
    "nodes_to_find",
    "num_feasible_nodes_to_find",
    "percentage_problems",
]

DEFAULT_EXTENDER_TIMEOUT_SECONDS = 5.0
"""``DefaultExtenderTimeout`` (``pkg/scheduler/extender.go``): used when ``httpTimeout`` is 0."""

DEFAULT_PERCENTAGE_OF_NODES_TO_SCORE = 0
"""``config.DefaultPercentageOfNodesToScore``: 0 means adaptive."""

_INT32_MIN, _INT32_MAX = -(2**31), 2**31 - 1
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1


def _yaml_integral(value: Any) -> Any:
    """A whole YAML float (``5.0``) is an integer by the time Go decodes it (sigs.k8s.io/yaml
    re-encodes it as ``5``); any other float stays a float and is rejected."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


Int64 = Annotated[StrictInt, BeforeValidator(_yaml_integral), Field(ge=_INT64_MIN, le=_INT64_MAX)]
Int32 = Annotated[StrictInt, BeforeValidator(_yaml_integral), Field(ge=_INT32_MIN, le=_INT32_MAX)]


def _go_bytes(value: Any) -> Any:
    """Go ``[]byte`` in JSON: standard base64 (padding required; CR and LF are skipped)."""
    if value is None:
        return b""
    if isinstance(value, bytes):
        return value
    if not isinstance(value, str):
        raise ValueError(f"expected base64 text, got {type(value).__name__}")
    try:
        return base64.b64decode(value.replace("\r", "").replace("\n", ""), validate=True)
    except (binascii.Error, ValueError) as err:
        raise ValueError(f"not standard base64: {err}") from err


GoBytes = Annotated[
    bytes,
    BeforeValidator(_go_bytes),
    PlainSerializer(lambda b: base64.b64encode(b).decode("ascii"), return_type=str),
]
"""A Go ``[]byte`` field (``certData``, ``keyData``, ``caData``): base64 text in YAML."""


class _StrictConfig(BaseModel):
    """Decoded like kube-scheduler's config file: exact camelCase keys only, unknown keys are
    errors, ``null`` leaves a field at its Go zero value."""

    model_config = ConfigDict(
        frozen=True, extra="forbid", validate_by_alias=True, validate_by_name=False
    )

    @model_validator(mode="before")
    @classmethod
    def _null_is_zero(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        keep_null = {
            info.alias or name
            for name, info in cls.model_fields.items()
            if info.default is None or (info.alias or name) == "httpTimeout"
        }
        return {k: v for k, v in data.items() if v is not None or k in keep_null}


class ExtenderTLSConfig(_StrictConfig):
    """``ExtenderTLSConfig``: how kube-scheduler's HTTP client talks TLS to the extender.

    ``*Data`` fields (base64 in YAML) take precedence over the matching ``*File`` fields.
    """

    insecure: StrictBool = Field(
        default=False, description="Skip server-certificate verification (testing only)."
    )
    server_name: StrictStr = Field(
        default="",
        alias="serverName",
        description="SNI name and the name the server certificate is checked against.",
    )
    cert_file: StrictStr = Field(default="", alias="certFile", description="Client certificate.")
    key_file: StrictStr = Field(default="", alias="keyFile", description="Client key.")
    ca_file: StrictStr = Field(default="", alias="caFile", description="Trusted root CAs.")
    cert_data: GoBytes = Field(default=b"", alias="certData", description="PEM client cert.")
    key_data: GoBytes = Field(default=b"", alias="keyData", description="PEM client key.")
    ca_data: GoBytes = Field(default=b"", alias="caData", description="PEM root CAs.")

    @property
    def has_ca(self) -> bool:
        """A CA is configured (file or data); without one, ``enableHTTPS`` means insecure."""
        return bool(self.ca_file or self.ca_data)


class ExtenderManagedResource(_StrictConfig):
    """``ExtenderManagedResource``: an extended resource the extender manages."""

    name: StrictStr = Field(default="", description="Extended resource name (domain/name).")
    ignored_by_scheduler: StrictBool = Field(
        default=False,
        alias="ignoredByScheduler",
        description="Add the name to NodeResourcesFit's ignored resources in every profile.",
    )


class ExtenderConfig(_StrictConfig):
    """One ``extenders:`` entry (``Extender`` in ``kubescheduler.config.k8s.io/v1``).

    An empty verb means the extender does not offer that call. The URL of a call is
    ``urlPrefix`` with trailing slashes removed, ``/``, and the verb. kube-scheduler does not
    check ``urlPrefix`` at startup: a bad URL fails each call instead.
    """

    url_prefix: StrictStr = Field(
        default="", alias="urlPrefix", description="Base URL of the extender."
    )
    filter_verb: StrictStr = Field(default="", alias="filterVerb", description="Filter path.")
    preempt_verb: StrictStr = Field(default="", alias="preemptVerb", description="Preempt path.")
    prioritize_verb: StrictStr = Field(
        default="", alias="prioritizeVerb", description="Prioritize path."
    )
    weight: Int64 = Field(
        default=0,
        description="Multiplier of the prioritize scores; must be positive with prioritizeVerb.",
    )
    bind_verb: StrictStr = Field(
        default="",
        alias="bindVerb",
        description="Bind path; the extender then creates the Binding. At most one extender.",
    )
    enable_https: StrictBool = Field(
        default=False,
        alias="enableHTTPS",
        description="Use TLS settings; without a CA the server certificate is not verified.",
    )
    tls_config: ExtenderTLSConfig | None = Field(default=None, alias="tlsConfig")
    http_timeout_ns: GoDuration = Field(
        default=0,
        alias="httpTimeout",
        description="Timeout of every call of this entry, as a Go duration; 0 means 5s.",
    )
    node_cache_capable: StrictBool = Field(
        default=False,
        alias="nodeCacheCapable",
        description="Send node names (and victim UIDs) instead of full objects.",
    )
    managed_resources: tuple[ExtenderManagedResource, ...] = Field(
        default=(),
        alias="managedResources",
        description="Only pods requesting one of these are sent; empty means every pod.",
    )
    ignorable: StrictBool = Field(
        default=False,
        description="Scheduling goes on without this extender when a call fails.",
    )

    @property
    def name(self) -> str:
        """The extender's name in kube-scheduler's logs and scores: its ``urlPrefix``."""
        return self.url_prefix

    @property
    def is_filter(self) -> bool:
        """``IsFilter``: a filter verb is configured."""
        return bool(self.filter_verb)

    @property
    def is_prioritizer(self) -> bool:
        """``IsPrioritizer``: a prioritize verb is configured."""
        return bool(self.prioritize_verb)

    @property
    def is_binder(self) -> bool:
        """``IsBinder``: a bind verb is configured."""
        return bool(self.bind_verb)

    @property
    def supports_preemption(self) -> bool:
        """``SupportsPreemption``: a preempt verb is configured."""
        return bool(self.preempt_verb)

    @property
    def timeout_seconds(self) -> float | None:
        """The client timeout of every call: ``httpTimeout``, 5 s when it is 0, and no
        timeout at all when it is negative (Go's ``http.Client`` ignores a timeout <= 0)."""
        if self.http_timeout_ns == 0:
            return DEFAULT_EXTENDER_TIMEOUT_SECONDS
        if self.http_timeout_ns < 0:
            return None
        return self.http_timeout_ns / NANOSECONDS_PER_SECOND

    @property
    def managed_resource_names(self) -> frozenset[str]:
        """The names in ``managedResources`` (what ``IsInterested`` looks for)."""
        return frozenset(r.name for r in self.managed_resources)

    def url(self, verb: str) -> str:
        """The URL kube-scheduler posts ``verb`` to: ``TrimRight(urlPrefix, "/") + "/" + verb``."""
        return self.url_prefix.rstrip("/") + "/" + verb


class ExtenderSettings(_StrictConfig):
    """The extender-related top-level fields of a KubeSchedulerConfiguration.

    Both are global: extenders are shared by every profile (a profile may override only
    ``percentageOfNodesToScore``).
    """

    extenders: tuple[ExtenderConfig, ...] = Field(
        default=(), description="HTTP extenders, called in this order (ignorable ones last)."
    )
    percentage_of_nodes_to_score: Int32 | None = Field(
        default=None,
        alias="percentageOfNodesToScore",
        description=(
            "Stop in-tree filtering after this percentage of all nodes is feasible "
            "(minimum 100 nodes); 0 or unset means adaptive (50% - nodes/125, at least 5%)."
        ),
    )

    @property
    def percentage(self) -> int:
        """The global percentage after v1 defaulting (unset becomes 0, adaptive)."""
        if self.percentage_of_nodes_to_score is None:
            return DEFAULT_PERCENTAGE_OF_NODES_TO_SCORE
        return self.percentage_of_nodes_to_score

    def problems(self) -> list[ConfigProblem]:
        """Every validation problem of these fields, in kube-scheduler's order."""
        return [
            *percentage_problems(self.percentage_of_nodes_to_score),
            *extender_problems(self.extenders),
        ]

    def check(self) -> None:
        """Raise :class:`InvalidSchedulerConfigError` listing every problem, if any."""
        problems = self.problems()
        if problems:
            raise InvalidSchedulerConfigError(problems)


# -- validation -----------------------------------------------------------------------------------
def _go_value(value: object) -> str:
    """How ``field.Invalid`` prints a value: strings quoted (``%q``), numbers as they are."""
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return str(value)


@dataclass(frozen=True, slots=True)
class ConfigProblem:
    """One validation error: the field path, the offending value and what is wrong."""

    path: str
    value: object
    detail: str

    def __str__(self) -> str:
        return f"{self.path}: Invalid value: {_go_value(self.value)}: {self.detail}"


class InvalidSchedulerConfigError(ValueError):
    """A configuration kube-scheduler would refuse to start with; lists every problem."""

    def __init__(self, problems: Sequence[ConfigProblem], source: str = "") -> None:
        self.problems = tuple(problems)
        text = "; ".join(str(p) for p in self.problems)
        super().__init__(f"{source}: {text}" if source else text)


def percentage_problems(
    value: int | None, path: str = "percentageOfNodesToScore"
) -> list[ConfigProblem]:
    """``validatePercentageOfNodesToScore``: unset is fine, otherwise 0..100."""
    if value is not None and not 0 <= value <= 100:
        return [ConfigProblem(path, value, "not in valid range [0-100]")]
    return []


def _resource_name_problems(path: str, name: str) -> list[ConfigProblem]:
    """``validateExtendedResourceName``: a qualified name, then an extended-resource name."""
    problem = label_key_problem(name)
    if problem is not None:
        detail = problem.split(": ", 1)[-1]
        return [ConfigProblem(path, name, detail)]
    if not is_extended_resource(name):
        return [ConfigProblem(path, name, "is an invalid extended resource name")]
    return []


def extender_problems(
    extenders: Sequence[ExtenderConfig], path: str = "extenders"
) -> list[ConfigProblem]:
    """``validateExtenders``: every problem of the ``extenders`` list.

    * ``weight`` must be positive when ``prioritizeVerb`` is set;
    * each ``managedResources[].name`` must be a valid extended-resource name, unique across
      all extenders;
    * at most one extender may set ``bindVerb``.

    Nothing else is checked upstream: not ``urlPrefix``, not ``httpTimeout``'s sign, not
    that any verb is set.
    """
    problems: list[ConfigProblem] = []
    binders = 0
    seen: set[str] = set()
    for i, extender in enumerate(extenders):
        here = f"{path}[{i}]"
        if extender.prioritize_verb and extender.weight <= 0:
            problems.append(
                ConfigProblem(
                    f"{here}.weight", extender.weight, "must have a positive weight applied to it"
                )
            )
        if extender.bind_verb:
            binders += 1
        for j, resource in enumerate(extender.managed_resources):
            name_path = f"{here}.managedResources[{j}].name"
            problems.extend(_resource_name_problems(name_path, resource.name))
            if resource.name in seen:
                problems.append(
                    ConfigProblem(
                        name_path, resource.name, "duplicate extender managed resource name"
                    )
                )
            seen.add(resource.name)
    if binders > 1:
        problems.append(
            ConfigProblem(
                path,
                f"found {binders} extenders implementing bind",
                "only one extender can implement bind",
            )
        )
    return problems


# -- what kube-scheduler derives from the configuration -------------------------------------------
def call_order(extenders: Iterable[ExtenderConfig]) -> tuple[ExtenderConfig, ...]:
    """The order kube-scheduler calls extenders in (``buildExtenders``): the non-ignorable
    ones in configuration order, then the ignorable ones in configuration order."""
    listed = tuple(extenders)
    return tuple(e for e in listed if not e.ignorable) + tuple(e for e in listed if e.ignorable)


def ignored_extended_resources(extenders: Iterable[ExtenderConfig]) -> tuple[str, ...]:
    """Managed resources with ``ignoredByScheduler``; kube-scheduler adds them to
    NodeResourcesFit's ``ignoredResources`` in every profile (``buildExtenders``)."""
    return tuple(r.name for e in extenders for r in e.managed_resources if r.ignored_by_scheduler)


def nodes_to_find(
    percentage: int, num_all_nodes: int, *, has_extender_filters: bool, has_scoring: bool
) -> int:
    """How many feasible nodes ``findNodesThatPassFilters`` looks for.

    :func:`num_feasible_nodes_to_find`, except that a scheduler with no filtering extender
    and no scoring at all (no Score plugin in the profile, no extender with a prioritize
    verb) stops at the first feasible node.
    """
    if not has_extender_filters and not has_scoring:
        return 1
    return num_feasible_nodes_to_find(percentage, num_all_nodes)
