"""KubeSchedulerConfiguration v1: strict decoding, upstream defaults, upstream validation, and
one-line errors naming the file, the field path and the value."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from scheduler.api.errors import LoadError
from scheduler.api.kubeschedulerconfig import (
    DEFAULT_SCHEDULER_NAME,
    load_scheduler_config,
    parse_scheduler_config,
)

HEAD = {"apiVersion": "kubescheduler.config.k8s.io/v1", "kind": "KubeSchedulerConfiguration"}


def parse(**fields: Any) -> Any:
    """Parse a configuration made of the header and ``fields``."""
    return parse_scheduler_config({**HEAD, **fields}, source="s.yaml")


def test_empty_configuration_gets_one_default_profile_and_backoffs() -> None:
    """No profiles -> one profile named default-scheduler; backoffs default to 1 s and 10 s."""
    config = parse()
    assert [p.scheduler_name for p in config.profiles] == [DEFAULT_SCHEDULER_NAME]
    assert (config.pod_initial_backoff_seconds, config.pod_max_backoff_seconds) == (1, 10)
    assert config.profiles[0].plugins is None


def test_full_profile_is_read_with_camel_case_names(tmp_path: Path) -> None:
    """A profile with every kind of field loads from YAML into the typed models."""
    path = tmp_path / "c.yaml"
    path.write_text(
        "apiVersion: kubescheduler.config.k8s.io/v1\n"
        "kind: KubeSchedulerConfiguration\n"
        "percentageOfNodesToScore: 40\n"
        "podInitialBackoffSeconds: 2\n"
        "podMaxBackoffSeconds: 20\n"
        "leaderElection: {leaderElect: false}\n"
        "clientConnection: {kubeconfig: /etc/k.conf}\n"
        "parallelism: 8\n"
        "extenders: [{urlPrefix: 'http://x', filterVerb: filter}]\n"
        "profiles:\n"
        "- schedulerName: a\n"
        "  percentageOfNodesToScore: 10\n"
        "  plugins:\n"
        "    multiPoint: {enabled: [{name: X, weight: 4}], disabled: [{name: '*'}]}\n"
        "    preFilter: {disabled: [{name: X}]}\n"
        "  pluginConfig: [{name: X, args: {k: v}}]\n"
    )
    config = load_scheduler_config(path)
    (profile,) = config.profiles
    assert profile.scheduler_name == "a"
    assert profile.percentage_of_nodes_to_score == 10
    assert profile.plugins is not None
    assert profile.plugins.multi_point.enabled[0].weight == 4
    assert profile.plugins.pre_filter.disabled[0].name == "X"
    assert profile.plugin_config[0].args == {"k": "v"}
    assert config.extenders == ({"urlPrefix": "http://x", "filterVerb": "filter"},)
    assert config.percentage_of_nodes_to_score == 40
    assert config.parallelism == 8  # accepted, not used


@pytest.mark.parametrize(
    ("fields", "where", "problem"),
    [
        # strict decoding: a misspelt field is an error, as upstream
        (
            {"profiles": [{"plugins": {"multipoint": {}}}]},
            "profiles[0].plugins.multipoint",
            "unknown field",
        ),
        ({"percentageOfNodesToScore": 101}, "percentageOfNodesToScore", "got 101"),
        (
            {"profiles": [{"percentageOfNodesToScore": -1}]},
            "profiles[0].percentageOfNodesToScore",
            "not in valid range [0, 100] (got -1)",
        ),
        (
            {"profiles": [{"schedulerName": "a"}, {"schedulerName": "a"}]},
            "profiles[1].schedulerName",
            "duplicate value 'a'",
        ),
        # with several profiles every one needs a name (no default)
        (
            {"profiles": [{"schedulerName": "a"}, {}]},
            "profiles[1].schedulerName",
            "required",
        ),
        (
            {"profiles": [{"pluginConfig": [{"name": "X"}, {"name": "X"}]}]},
            "profiles[0].pluginConfig[1].name",
            "duplicate value 'X'",
        ),
        (
            {"profiles": [{"plugins": {"filter": {"enabled": [{"name": "EBSLimits"}]}}}]},
            "profiles[0].plugins.filter.enabled[0].name",
            "plugin 'EBSLimits' was removed",
        ),
        (
            {
                "profiles": [
                    {"schedulerName": "a", "plugins": {"queueSort": {"enabled": [{"name": "Q"}]}}},
                    {"schedulerName": "b"},
                ]
            },
            "profiles[1].plugins.queueSort",
            "must be the same for all profiles",
        ),
        (
            {
                "profiles": [
                    {
                        "schedulerName": "a",
                        "plugins": {"queueSort": {"enabled": [{"name": "Q"}]}},
                        "pluginConfig": [{"name": "Q", "args": {"x": 1}}],
                    },
                    {
                        "schedulerName": "b",
                        "plugins": {"queueSort": {"enabled": [{"name": "Q"}]}},
                        "pluginConfig": [{"name": "Q", "args": {"x": 2}}],
                    },
                ]
            },
            "profiles[1].pluginConfig[0].args",
            "args must be the same for all profiles",
        ),
        ({"podInitialBackoffSeconds": 0}, "podInitialBackoffSeconds", "greater than 0 (got 0)"),
        (
            {"podInitialBackoffSeconds": 20},  # the max stays at its default 10
            "podMaxBackoffSeconds",
            "greater than or equal to podInitialBackoffSeconds 20 (got 10)",
        ),
        (
            {"profiles": [{"plugins": {"score": {"enabled": [{"name": "X", "weight": "5"}]}}}]},
            "profiles[0].plugins.score.enabled[0].weight",
            "valid integer",
        ),
    ],
)
def test_invalid_configurations_name_file_field_and_value(
    fields: dict[str, Any], where: str, problem: str
) -> None:
    """Each upstream validation rule rejects its row, in one line: file, field path, problem."""
    with pytest.raises(LoadError) as caught:
        parse(**fields)
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(f"s.yaml: {where}: "), message
    assert problem in message


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        ({**HEAD, "apiVersion": "kubescheduler.config.k8s.io/v1beta3"}, "apiVersion"),
        ({**HEAD, "kind": "SchedulerProfile"}, "kind 'SchedulerProfile'"),
        (["a list"], "expected a KubeSchedulerConfiguration mapping"),
    ],
)
def test_wrong_document_is_rejected(data: Any, problem: str) -> None:
    """Another version, another kind, or not a mapping: a LoadError naming what is wrong."""
    with pytest.raises(LoadError, match=problem):
        parse_scheduler_config(data, source="s.yaml")


def test_bad_yaml_names_the_line(tmp_path: Path) -> None:
    """A YAML syntax error is reported with the file and its line."""
    path = tmp_path / "bad.yaml"
    path.write_text("apiVersion: x\nprofiles: [\n")
    with pytest.raises(LoadError, match=r"bad.yaml: invalid YAML at line 3"):
        load_scheduler_config(path)


def test_weight_zero_and_negative_weights_are_accepted_as_upstream() -> None:
    """Upstream does not bound weights (0 means 1 later); only int32 overflow is rejected."""
    config = parse(profiles=[{"plugins": {"score": {"enabled": [{"name": "X", "weight": 0}]}}}])
    assert config.profiles[0].plugins is not None
    assert config.profiles[0].plugins.score.enabled[0].weight == 0
    with pytest.raises(LoadError, match=r"weight: .*less than or equal to 2147483647"):
        parse(profiles=[{"plugins": {"score": {"enabled": [{"name": "X", "weight": 2**31}]}}}])
