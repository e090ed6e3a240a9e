"""``kubescheduler.config.k8s.io/v1`` KubeSchedulerConfiguration, as kube-scheduler reads it.

The models mirror ``staging/src/k8s.io/kube-scheduler/config/v1/types.go`` (Kubernetes 1.35):
profiles with per-extension-point ``enabled``/``disabled`` plugin lists and ``multiPoint``,
``pluginConfig`` (plugin name + free-form ``args``), the global and per-profile
``percentageOfNodesToScore``, the queue backoffs and the extenders. Decoding is strict, as
kube-scheduler's is: an unknown field is an error (a misspelt ``multipoint`` never passes
silently). Fields that configure the kube-scheduler *process* rather than placement are
accepted and ignored (:data:`IGNORED_FIELDS`).

:func:`load_scheduler_config` reads a file, applies upstream's defaults
(``pkg/scheduler/apis/config/v1/defaults.go``: one profile when none is given, the default
scheduler name for a lone profile, backoffs 1 s / 10 s) and upstream's validation
(``pkg/scheduler/apis/config/validation/validation.go``). Every failure is a
:class:`~scheduler.api.errors.LoadError` of one line naming the file, the field path and the
offending value. What the profiles mean (merging with the default plugins, multiPoint
expansion, plugin args) is resolved later, by ``scheduler.plugins.configuration`` and the
framework; see docs/configuration.md.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt, ValidationError
from pydantic.alias_generators import to_camel

from .documents import read_yaml_file
from .errors import LoadError

__all__ = [
    "API_VERSION",
    "DEFAULT_SCHEDULER_NAME",
    "EXTENSION_POINTS",
    "IGNORED_FIELDS",
    "KIND",
    "KubeSchedulerConfiguration",
    "KubeSchedulerProfile",
    "Plugin",
    "PluginConfig",
    "PluginSet",
    "Plugins",
    "load_scheduler_config",
    "parse_scheduler_config",
]

API_VERSION = "kubescheduler.config.k8s.io/v1"
KIND = "KubeSchedulerConfiguration"
DEFAULT_SCHEDULER_NAME = "default-scheduler"
"""``v1.DefaultSchedulerName``: the name a lone profile gets, and pods get when unset."""

EXTENSION_POINTS = (
    "pre_enqueue",
    "queue_sort",
    "pre_filter",
    "filter",
    "post_filter",
    "pre_score",
    "score",
    "reserve",
    "permit",
    "pre_bind",
    "bind",
    "post_bind",
)
"""The attributes of :class:`Plugins` that are extension points (``multi_point`` aside)."""

IGNORED_FIELDS = (
    "parallelism",
    "leaderElection",
    "clientConnection",
    "enableProfiling",
    "enableContentionProfiling",
    "delayCacheUntilActive",
    "percentageOfPlacementsToScore",
    "profiles[].percentageOfPlacementsToScore",
)
"""Upstream fields accepted and not used: they configure the kube-scheduler process (worker
goroutines, leader election, the API client, pprof, informer start-up) or alpha workload
placement, none of which exists in tessera's framework."""

_INVALID_PLUGINS = ("AzureDiskLimits", "CinderLimits", "EBSLimits", "GCEPDLimits")
"""Plugins upstream's validation rejects in a v1 configuration (removed volume-limit
plugins, ``invalidPluginsByVersion``)."""

Int32 = Annotated[StrictInt, Field(ge=-(2**31), le=2**31 - 1)]
Int64 = Annotated[StrictInt, Field(ge=-(2**63), le=2**63 - 1)]


class _Config(BaseModel):
    """Base: camelCase names (snake_case accepted too), unknown fields rejected, frozen."""

    model_config = ConfigDict(
        extra="forbid", frozen=True, populate_by_name=True, alias_generator=to_camel
    )


class Plugin(_Config):
    """One plugin in a plugin set (``v1.Plugin``)."""

    name: str = Field(min_length=1, description="Registry name of the plugin.")
    weight: Int32 | None = Field(
        default=None,
        description="Score weight; read only where the plugin scores. Unset or 0 means 1.",
    )


class PluginSet(_Config):
    """Enabled and disabled plugins of one extension point (``v1.PluginSet``)."""

    enabled: tuple[Plugin, ...] = Field(
        default=(), description="Plugins to run here, after the default ones, in this order."
    )
    disabled: tuple[Plugin, ...] = Field(
        default=(), description='Default plugins not to run here; "*" disables them all.'
    )


class Plugins(_Config):
    """The plugin sets of every extension point (``v1.Plugins``)."""

    pre_enqueue: PluginSet = PluginSet()
    queue_sort: PluginSet = PluginSet()
    pre_filter: PluginSet = PluginSet()
    filter: PluginSet = PluginSet()
    post_filter: PluginSet = PluginSet()
    pre_score: PluginSet = PluginSet()
    score: PluginSet = PluginSet()
    reserve: PluginSet = PluginSet()
    permit: PluginSet = PluginSet()
    pre_bind: PluginSet = PluginSet()
    bind: PluginSet = PluginSet()
    post_bind: PluginSet = PluginSet()
    multi_point: PluginSet = Field(
        default=PluginSet(),
        description="Plugins enabled at every extension point they implement.",
    )

    def sets(self) -> Iterator[tuple[str, PluginSet]]:
        """``(attribute, set)`` for multiPoint and every extension point."""
        yield "multi_point", self.multi_point
        for point in EXTENSION_POINTS:
            yield point, getattr(self, point)

    def names(self) -> list[str]:
        """Every plugin name enabled anywhere, in order of first appearance (what upstream's
        ``pluginsNeeded`` instantiates)."""
        seen: dict[str, None] = {}
        for _, plugin_set in self.sets():
            for plugin in plugin_set.enabled:
                seen.setdefault(plugin.name, None)
        return list(seen)


class PluginConfig(_Config):
    """Arguments of one plugin (``v1.PluginConfig``); ``args`` as written, typed later."""

    name: str = Field(min_length=1, description="The plugin the args are for.")
    args: dict[str, Any] = Field(default_factory=dict, description="The plugin's arguments.")


class KubeSchedulerProfile(_Config):
    """One scheduling profile (``v1.KubeSchedulerProfile``)."""

    scheduler_name: str | None = Field(
        default=None, description="Pods whose spec.schedulerName equals this use the profile."
    )
    percentage_of_nodes_to_score: Int32 | None = Field(
        default=None, description="Overrides the global percentageOfNodesToScore."
    )
    percentage_of_placements_to_score: Int32 | None = Field(
        default=None, description="Accepted and ignored (alpha workload placement)."
    )
    plugins: Plugins | None = Field(
        default=None, description="Changes to the default plugins, per extension point."
    )
    plugin_config: tuple[PluginConfig, ...] = Field(default=(), description="Per-plugin arguments.")


class KubeSchedulerConfiguration(_Config):
    """The whole configuration file (``v1.KubeSchedulerConfiguration``)."""

    api_version: Literal["kubescheduler.config.k8s.io/v1"] = Field(
        default="kubescheduler.config.k8s.io/v1", alias="apiVersion"
    )
    kind: Literal["KubeSchedulerConfiguration"] = "KubeSchedulerConfiguration"
    percentage_of_nodes_to_score: Int32 | None = Field(
        default=None, description="Feasible nodes to find before scoring, in percent; 0 = auto."
    )
    pod_initial_backoff_seconds: Int64 = Field(
        default=1, description="Backoff after a pod's first failed attempt."
    )
    pod_max_backoff_seconds: Int64 = Field(default=10, description="Cap of the doubling backoff.")
    profiles: tuple[KubeSchedulerProfile, ...] = Field(default=(), description="The profiles.")
    extenders: tuple[dict[str, Any], ...] = Field(
        default=(),
        description="Scheduler extenders, as written (typed by scheduler.extender.config).",
    )
    # accepted and ignored (IGNORED_FIELDS)
    parallelism: Int32 | None = None
    leader_election: dict[str, Any] | None = None
    client_connection: dict[str, Any] | None = None
    enable_profiling: bool | None = None
    enable_contention_profiling: bool | None = None
    delay_cache_until_active: bool | None = None
    percentage_of_placements_to_score: Int32 | None = None

    def profile(self, scheduler_name: str) -> KubeSchedulerProfile | None:
        """The profile with this scheduler name, if any."""
        for profile in self.profiles:
            if profile.scheduler_name == scheduler_name:
                return profile
        return None


# -- loading ------------------------------------------------------------------------------------
def load_scheduler_config(path: str | Path) -> KubeSchedulerConfiguration:
    """Read, default and validate a KubeSchedulerConfiguration file (YAML or JSON).

    Who calls: the ``--config FILE`` option of ``tessera replay``/``inflate`` (and the
    future ``serve``/``plan``). Raises :class:`LoadError` (one line: file, field path,
    value) for unreadable YAML, a wrong apiVersion/kind, a bad field or an invalid value;
    ``OSError`` when the file cannot be read.
    """
    source = str(path)
    data = read_yaml_file(path, "scheduler configuration")
    return parse_scheduler_config(data, source=source)


def parse_scheduler_config(data: object, *, source: str) -> KubeSchedulerConfiguration:
    """Validate an already-parsed document (see :func:`load_scheduler_config`)."""
    if not isinstance(data, dict):
        raise LoadError(f"expected a {KIND} mapping, got {_got(data)}", source=source)
    api_version = data.get("apiVersion")
    if api_version != API_VERSION:
        raise LoadError(
            f"apiVersion {api_version!r}: tessera reads {API_VERSION} only",
            source=source,
            path=("apiVersion",),
        )
    if data.get("kind") != KIND:
        raise LoadError(
            f"kind {data.get('kind')!r}: expected {KIND}", source=source, path=("kind",)
        )
    try:
        config = KubeSchedulerConfiguration.model_validate(data)
    except ValidationError as err:
        first = err.errors(include_url=False)[0]
        raise LoadError(_problem(first), source=source, path=tuple(first["loc"])) from err
    config = with_defaults(config)
    problem = first_problem(config)
    if problem is not None:
        where, text = problem
        raise LoadError(text, source=source, path=where)
    return config


def _got(value: object) -> str:
    if isinstance(value, str | int | float | bool) or value is None:
        text = repr(value)
        return text if len(text) <= 60 else text[:57] + "..."
    return type(value).__name__


def _problem(error: Any) -> str:
    kind = error["type"]
    if kind == "missing":
        return "required field is missing"
    if kind == "extra_forbidden":
        return "unknown field (kube-scheduler decodes its configuration strictly)"
    message = str(error["msg"]).removeprefix("Value error, ")
    return f"{message} (got {_got(error.get('input'))})"


# -- defaults (defaults.go) ---------------------------------------------------------------------
def with_defaults(config: KubeSchedulerConfiguration) -> KubeSchedulerConfiguration:
    """Upstream ``SetDefaults_KubeSchedulerConfiguration`` for the modelled fields: one empty
    profile when none is given; a lone profile without a name is ``default-scheduler``
    (with several, every profile must name itself)."""
    profiles = config.profiles or (KubeSchedulerProfile(),)
    if len(profiles) == 1 and profiles[0].scheduler_name is None:
        profiles = (profiles[0].model_copy(update={"scheduler_name": DEFAULT_SCHEDULER_NAME}),)
    return config.model_copy(update={"profiles": profiles})


# -- validation (validation.go) -----------------------------------------------------------------
Problem = tuple[tuple[str | int, ...], str]


def first_problem(config: KubeSchedulerConfiguration) -> Problem | None:
    """The first violation of upstream's ``ValidateKubeSchedulerConfiguration`` rules that
    concern modelled fields, as ``(field path, problem)``; None when valid. (Upstream
    reports them all; one line is enough to fix the first.)"""
    for problem in _problems(config):
        return problem
    return None


def _problems(config: KubeSchedulerConfiguration) -> Iterator[Problem]:
    names: dict[str, int] = {}
    for i, profile in enumerate(config.profiles):
        where: tuple[str | int, ...] = ("profiles", i)
        yield from _profile_problems(where, profile)
        name = profile.scheduler_name or ""
        if name in names:
            yield (
                (*where, "schedulerName"),
                f"duplicate value {name!r} (profiles[{names[name]}] has it)",
            )
        names.setdefault(name, i)
    yield from _queue_sort_problems(config.profiles)
    yield from _percentage(("percentageOfNodesToScore",), config.percentage_of_nodes_to_score)
    if config.pod_initial_backoff_seconds <= 0:
        yield (
            ("podInitialBackoffSeconds",),
            f"must be greater than 0 (got {config.pod_initial_backoff_seconds})",
        )
    if config.pod_max_backoff_seconds < config.pod_initial_backoff_seconds:
        yield (
            ("podMaxBackoffSeconds",),
            f"must be greater than or equal to podInitialBackoffSeconds "
            f"{config.pod_initial_backoff_seconds} (got {config.pod_max_backoff_seconds})",
        )


def _percentage(where: tuple[str | int, ...], value: int | None) -> Iterator[Problem]:
    if value is not None and not 0 <= value <= 100:
        yield where, f"not in valid range [0, 100] (got {value})"


def _profile_problems(
    where: tuple[str | int, ...], profile: KubeSchedulerProfile
) -> Iterator[Problem]:
    if not profile.scheduler_name:
        yield (*where, "schedulerName"), "required (every profile of several needs a name)"
    yield from _percentage(
        (*where, "percentageOfNodesToScore"), profile.percentage_of_nodes_to_score
    )
    if profile.plugins is not None:
        for point, plugin_set in profile.plugins.sets():
            if point == "multi_point":
                continue  # upstream checks the specific extension points only
            for j, plugin in enumerate(plugin_set.enabled):
                if plugin.name in _INVALID_PLUGINS:
                    yield (
                        (*where, "plugins", to_camel(point), "enabled", j, "name"),
                        f"plugin {plugin.name!r} was removed from {API_VERSION}",
                    )
    seen: dict[str, int] = {}
    for j, entry in enumerate(profile.plugin_config):
        path = (*where, "pluginConfig", j, "name")
        if entry.name in seen:
            yield path, f"duplicate value {entry.name!r} (pluginConfig[{seen[entry.name]}])"
        seen.setdefault(entry.name, j)
        if entry.name in _INVALID_PLUGINS:
            yield path, f"plugin {entry.name!r} was removed from {API_VERSION}"


def _queue_sort_problems(profiles: Sequence[KubeSchedulerProfile]) -> Iterator[Problem]:
    """Upstream ``validateCommonQueueSort``: one queue order for the shared queue."""

    def queue_sort(profile: KubeSchedulerProfile) -> PluginSet:
        return profile.plugins.queue_sort if profile.plugins is not None else PluginSet()

    canon = queue_sort(profiles[0])
    if len(canon.enabled) > 1:
        yield (
            ("profiles", 0, "plugins", "queueSort", "enabled"),
            f"only one queue sort plugin can be enabled (got {len(canon.enabled)})",
        )
    name = canon.enabled[0].name if canon.enabled else ""
    canon_args = next((c.args for c in profiles[0].plugin_config if c.name == name), None)
    for i, profile in enumerate(profiles[1:], start=1):
        if queue_sort(profile) != canon:
            yield (
                ("profiles", i, "plugins", "queueSort"),
                "must be the same for all profiles (the queue is shared)",
            )
        for j, entry in enumerate(profile.plugin_config):
            if name and entry.name == name and entry.args != canon_args:
                yield (
                    ("profiles", i, "pluginConfig", j, "args"),
                    f"queueSort plugin {name}: args must be the same for all profiles",
                )
