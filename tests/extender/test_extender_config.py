"""The ``extenders:`` configuration: strict decoding, Go zero defaults, upstream validation,
the adaptive number of nodes to find, and the order extenders are called in."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from scheduler.extender.config import (
    DEFAULT_EXTENDER_TIMEOUT_SECONDS,
    ExtenderConfig,
    ExtenderSettings,
    InvalidSchedulerConfigError,
    call_order,
    extender_problems,
    ignored_extended_resources,
    nodes_to_find,
    num_feasible_nodes_to_find,
    percentage_problems,
)


def test_an_empty_entry_takes_go_zero_values() -> None:
    """kube-scheduler's v1 defaulting sets nothing on an extender: every field is its zero."""
    entry = ExtenderConfig.model_validate({})
    assert entry.url_prefix == ""
    assert (entry.filter_verb, entry.prioritize_verb, entry.preempt_verb, entry.bind_verb) == (
        "",
        "",
        "",
        "",
    )
    assert entry.weight == 0
    assert entry.http_timeout_ns == 0
    assert not entry.enable_https
    assert entry.tls_config is None
    assert not entry.node_cache_capable
    assert entry.managed_resources == ()
    assert not entry.ignorable


@pytest.mark.parametrize(
    ("http_timeout", "seconds"),
    [
        (None, DEFAULT_EXTENDER_TIMEOUT_SECONDS),  # unset -> 0 -> 5 s at runtime
        ("0s", DEFAULT_EXTENDER_TIMEOUT_SECONDS),
        ("30s", 30.0),
        ("1m30s", 90.0),  # 60 + 30
        ("250ms", 0.25),
        ("1.5h", 5400.0),  # 1.5 × 3600
        ("-1s", None),  # Go's http.Client ignores a timeout <= 0: no timeout at all
    ],
)
def test_http_timeout_is_a_go_duration(http_timeout: str | None, seconds: float | None) -> None:
    """``httpTimeout`` parses as a Go duration; 0 becomes the 5 s default, negative none."""
    data = {} if http_timeout is None else {"httpTimeout": http_timeout}
    assert ExtenderConfig.model_validate(data).timeout_seconds == seconds


def test_a_full_entry_loads_and_dumps_back_the_same() -> None:
    """Every documented key loads; dumping by alias gives a document that loads equal."""
    data: dict[str, Any] = {
        "urlPrefix": "https://gpu-extender.kube-system.svc:8443/scheduler",
        "filterVerb": "filter",
        "preemptVerb": "preempt",
        "prioritizeVerb": "prioritize",
        "weight": 2,
        "bindVerb": "bind",
        "enableHTTPS": True,
        "tlsConfig": {
            "insecure": False,
            "serverName": "gpu-extender.kube-system.svc",
            "caFile": "/etc/ca.crt",
            "certData": "Y2VydA==",
            "keyData": "a2V5",
        },
        "httpTimeout": "1m30s",
        "nodeCacheCapable": True,
        "managedResources": [{"name": "example.com/fpga", "ignoredByScheduler": True}],
        "ignorable": True,
    }
    entry = ExtenderConfig.model_validate(data)
    assert entry.http_timeout_ns == 90 * 10**9
    assert entry.tls_config is not None
    assert entry.tls_config.cert_data == b"cert"
    assert entry.tls_config.key_data == b"key"
    dumped = entry.model_dump(by_alias=True)
    assert dumped["httpTimeout"] == "1m30s"
    assert dumped["tlsConfig"]["certData"] == "Y2VydA=="
    assert ExtenderConfig.model_validate(dumped) == entry


def test_null_values_leave_zero_values() -> None:
    """``weight: null`` or ``managedResources: null`` decode like absent keys (Go)."""
    entry = ExtenderConfig.model_validate(
        {"weight": None, "managedResources": None, "tlsConfig": None, "ignorable": None}
    )
    assert entry == ExtenderConfig.model_validate({})


def test_whole_yaml_floats_are_integers() -> None:
    """``weight: 5.0`` reaches Go as 5 (sigs.k8s.io/yaml), so it is accepted."""
    assert ExtenderConfig.model_validate({"weight": 5.0}).weight == 5


@pytest.mark.parametrize(
    ("data", "field", "problem"),
    [
        (
            {"enableHttps": True},
            "enableHttps",
            "Extra inputs are not permitted",
        ),  # old KEP spelling
        ({"urlprefix": "x"}, "urlprefix", "Extra inputs are not permitted"),  # case-sensitive
        ({"url_prefix": "x"}, "url_prefix", "Extra inputs are not permitted"),
        ({"httpTimeout": 30}, "httpTimeout", "duration must be a string"),
        ({"httpTimeout": None}, "httpTimeout", 'time: invalid duration ""'),
        ({"httpTimeout": "30"}, "httpTimeout", 'time: missing unit in duration "30"'),
        ({"httpTimeout": "5 s"}, "httpTimeout", 'time: unknown unit " s"'),
        ({"weight": "5"}, "weight", "valid integer"),
        ({"weight": 5.5}, "weight", "valid integer"),
        ({"nodeCacheCapable": "true"}, "nodeCacheCapable", "valid boolean"),
        ({"tlsConfig": {"caData": "not base64!"}}, "tlsConfig.caData", "not standard base64"),
        ({"managedResources": [{"nam": "a/b"}]}, "managedResources.0.nam", "Extra inputs"),
    ],
)
def test_strict_decoding_rejects(data: dict[str, Any], field: str, problem: str) -> None:
    """Like kube-scheduler's strict config decoding: unknown keys and wrong types fail."""
    with pytest.raises(ValidationError) as caught:
        ExtenderConfig.model_validate(data)
    first = caught.value.errors(include_url=False)[0]
    assert ".".join(str(p) for p in first["loc"]) == field
    assert problem in first["msg"]


def _entries(*entries: dict[str, Any]) -> list[ExtenderConfig]:
    return [ExtenderConfig.model_validate(e) for e in entries]


@pytest.mark.parametrize(
    ("entries", "expected"),
    [
        # a valid two-entry setup: fast filter/score entry + bind-only entry
        (
            [
                {"urlPrefix": "u", "filterVerb": "f", "prioritizeVerb": "p", "weight": 5},
                {"urlPrefix": "u", "bindVerb": "bind", "httpTimeout": "120s"},
            ],
            [],
        ),
        # nothing is required: no urlPrefix, no verb
        ([{}], []),
        (
            [{"prioritizeVerb": "p"}],
            ["extenders[0].weight: Invalid value: 0: must have a positive weight applied to it"],
        ),
        (
            [{"prioritizeVerb": "p", "weight": -2}],
            ["extenders[0].weight: Invalid value: -2: must have a positive weight applied to it"],
        ),
        # weight without prioritizeVerb is not checked
        ([{"weight": -2}], []),
        (
            [{"bindVerb": "b"}, {"bindVerb": "b"}, {"bindVerb": "b"}],
            [
                'extenders: Invalid value: "found 3 extenders implementing bind": '
                "only one extender can implement bind"
            ],
        ),
        (
            [{"managedResources": [{"name": "example.com/fpga"}]}],
            [],
        ),
        (
            [{"managedResources": [{"name": "cpu"}, {"name": "kubernetes.io/gpu"}]}],
            [
                'extenders[0].managedResources[0].name: Invalid value: "cpu": '
                "is an invalid extended resource name",
                'extenders[0].managedResources[1].name: Invalid value: "kubernetes.io/gpu": '
                "is an invalid extended resource name",
            ],
        ),
        (
            [{"managedResources": [{"name": "requests.example.com/x"}]}],
            [
                'extenders[0].managedResources[0].name: Invalid value: "requests.example.com/x": '
                "is an invalid extended resource name"
            ],
        ),
        (
            [{"managedResources": [{"name": "Example.com/x"}]}],
            [
                'extenders[0].managedResources[0].name: Invalid value: "Example.com/x": '
                "prefix must be a DNS subdomain of at most 253 characters"
            ],
        ),
        # duplicates are checked across extenders
        (
            [
                {"managedResources": [{"name": "example.com/a"}]},
                {"managedResources": [{"name": "example.com/a"}]},
            ],
            [
                'extenders[1].managedResources[0].name: Invalid value: "example.com/a": '
                "duplicate extender managed resource name"
            ],
        ),
    ],
)
def test_extender_validation(entries: list[dict[str, Any]], expected: list[str]) -> None:
    """``validateExtenders``: weight with prioritize, one binder, valid unique resource names."""
    assert [str(p) for p in extender_problems(_entries(*entries))] == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, []),
        (0, []),
        (100, []),
        (-1, ["percentageOfNodesToScore: Invalid value: -1: not in valid range [0-100]"]),
        (101, ["percentageOfNodesToScore: Invalid value: 101: not in valid range [0-100]"]),
    ],
)
def test_percentage_validation(value: int | None, expected: list[str]) -> None:
    """``validatePercentageOfNodesToScore``: unset or 0..100."""
    assert [str(p) for p in percentage_problems(value)] == expected


def test_profile_percentage_problems_name_the_profile_path() -> None:
    """A profile's own percentage is checked with the same rule under its own path."""
    (problem,) = percentage_problems(120, "profiles[1].percentageOfNodesToScore")
    assert str(problem).startswith("profiles[1].percentageOfNodesToScore: Invalid value: 120")


def test_settings_check_lists_every_problem_in_one_error() -> None:
    """``ExtenderSettings.check`` raises one error listing all problems, percentage first."""
    settings = ExtenderSettings.model_validate(
        {
            "percentageOfNodesToScore": 150,
            "extenders": [{"prioritizeVerb": "p"}, {"bindVerb": "b"}, {"bindVerb": "b"}],
        }
    )
    with pytest.raises(InvalidSchedulerConfigError) as caught:
        settings.check()
    assert len(caught.value.problems) == 3
    assert str(caught.value).startswith("percentageOfNodesToScore: Invalid value: 150")
    ExtenderSettings.model_validate({"extenders": [{"urlPrefix": "u"}]}).check()


def test_settings_default_percentage_is_adaptive() -> None:
    """Unset ``percentageOfNodesToScore`` defaults to 0 (adaptive); extenders default empty."""
    settings = ExtenderSettings.model_validate({})
    assert settings.percentage == 0
    assert settings.extenders == ()


@pytest.mark.parametrize(
    ("percentage", "nodes", "expected"),
    [
        (0, 0, 0),
        (0, 99, 99),  # under 100 nodes: all
        (50, 99, 99),
        (0, 100, 100),  # 50 - 100//125 = 50 % -> 50, floor 100
        (0, 500, 230),  # 50 - 4 = 46 % of 500 = 230
        (0, 1000, 420),  # 50 - 8 = 42 % -> 420
        (0, 5000, 500),  # 50 - 40 = 10 % -> 500
        (0, 5624, 337),  # 50 - 5624//125 = 50 - 44 = 6 %; 5624 * 6 // 100 = 337
        (0, 6000, 300),  # 50 - 48 = 2 % -> floor 5 % -> 300
        (0, 20000, 1000),  # 50 - 160 < 5 -> 5 % -> 1000
        (30, 500, 150),  # the upstream comment's example
        (10, 500, 100),  # 50 nodes -> at least 100
        (100, 5000, 5000),
        (1, 2000, 100),
    ],
)
def test_num_feasible_nodes_to_find(percentage: int, nodes: int, expected: int) -> None:
    """``numFeasibleNodesToFind``: all under 100 nodes, adaptive 50 - n/125 % (>= 5 %), >= 100."""
    assert num_feasible_nodes_to_find(percentage, nodes) == expected


def test_nodes_to_find_stops_at_one_without_extender_filters_or_scoring() -> None:
    """With no filter extender and no scoring, kube-scheduler looks for a single feasible node."""
    assert nodes_to_find(0, 5000, has_extender_filters=False, has_scoring=False) == 1
    assert nodes_to_find(0, 5000, has_extender_filters=True, has_scoring=False) == 500
    assert nodes_to_find(0, 5000, has_extender_filters=False, has_scoring=True) == 500


def test_num_feasible_nodes_rejects_an_invalid_percentage() -> None:
    """A percentage validation would have refused is a programming error here."""
    with pytest.raises(ValueError, match="101"):
        num_feasible_nodes_to_find(101, 1000)


def test_ignorable_extenders_are_called_last() -> None:
    """``buildExtenders`` keeps config order but moves ignorable entries to the end."""
    entries = _entries(
        {"urlPrefix": "a", "ignorable": True},
        {"urlPrefix": "b"},
        {"urlPrefix": "c", "ignorable": True},
        {"urlPrefix": "d"},
    )
    assert [e.name for e in call_order(entries)] == ["b", "d", "a", "c"]


def test_ignored_extended_resources() -> None:
    """Only managed resources with ``ignoredByScheduler`` go to NodeResourcesFit's ignore list."""
    entries = _entries(
        {"managedResources": [{"name": "example.com/a", "ignoredByScheduler": True}]},
        {"managedResources": [{"name": "example.com/b"}]},
    )
    assert ignored_extended_resources(entries) == ("example.com/a",)


def test_call_urls_trim_the_prefix_and_append_the_verb_raw() -> None:
    """URL = urlPrefix without trailing slashes + "/" + verb (a verb may contain slashes)."""
    entry = ExtenderConfig.model_validate({"urlPrefix": "http://127.0.0.1:8888/scheduler//"})
    assert entry.url("filter") == "http://127.0.0.1:8888/scheduler/filter"
    assert entry.url("v1/filter") == "http://127.0.0.1:8888/scheduler/v1/filter"
