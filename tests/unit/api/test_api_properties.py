"""Hypothesis properties of the API layer: round trips, selector/toleration laws, YAML reading."""

from __future__ import annotations

from typing import Any

import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from scheduler.api import (
    NodeSelector,
    Pod,
    Taint,
    Toleration,
    dump_objects,
    format_quantity,
    load_object,
    load_yaml,
    node_selector_matches,
    parse_quantity,
    pod_requests,
    tolerates,
)
from scheduler.api.loaders import _event_documents

FAST = settings(max_examples=60, deadline=None)

names = st.text("abcdefgh-0123456789", min_size=1, max_size=8).map(lambda s: "x" + s + "z")
quantities = st.one_of(
    st.integers(0, 10**6).map(str),
    st.integers(1, 4096).map(lambda n: f"{n}Mi"),
    st.integers(1, 999).map(lambda n: f"{n}m"),
)
attributes = st.one_of(
    st.integers(-(2**40), 2**40).map(lambda v: {"int": v}),
    st.booleans().map(lambda v: {"bool": v}),
    names.map(lambda v: {"string": v}),
    st.tuples(st.integers(0, 9), st.integers(0, 9)).map(lambda v: {"version": f"{v[0]}.{v[1]}.0"}),
)
taints = st.fixed_dictionaries(
    {"key": names, "effect": st.sampled_from(["NoSchedule", "NoExecute", "None"])},
    optional={"value": names},
)
devices = st.fixed_dictionaries(
    {"name": names},
    optional={
        "attributes": st.dictionaries(names, attributes, min_size=1, max_size=4),
        "capacity": st.dictionaries(
            names, quantities.map(lambda q: {"value": q}), min_size=1, max_size=3
        ),
        "consumesCounters": st.lists(
            st.fixed_dictionaries(
                {
                    "counterSet": names,
                    "counters": st.dictionaries(
                        names, quantities.map(lambda q: {"value": q}), min_size=1, max_size=3
                    ),
                }
            ),
            min_size=1,
            max_size=2,
        ),
        "taints": st.lists(taints, min_size=1, max_size=2),
        "allowMultipleAllocations": st.booleans(),
        "bindsToNode": st.booleans(),
    },
)
slices = st.builds(
    lambda name, driver, generation, devs: {
        "apiVersion": "resource.k8s.io/v1",
        "kind": "ResourceSlice",
        "metadata": {"name": name},
        "spec": {
            "driver": driver,
            "pool": {"name": name, "generation": generation, "resourceSliceCount": 1},
            "nodeName": name,
            "devices": devs,
        },
    },
    names,
    names,
    st.integers(0, 10),
    st.lists(devices, min_size=1, max_size=4),
)


@FAST
@given(slices)
def test_slice_dump_is_identity(data: dict[str, Any]) -> None:
    """A ResourceSlice dumps back to exactly the JSON it was loaded from."""
    obj = load_object(data)
    assert obj.to_dict() == data
    assert load_yaml(dump_objects([obj])) == [obj]


labels = st.dictionaries(st.sampled_from(["a", "b", "c", "d"]), names, max_size=4)


@FAST
@given(labels, st.sampled_from(["a", "b", "c", "d"]), st.lists(names, min_size=1, max_size=3))
def test_in_and_notin_are_complements(
    node_labels: dict[str, str], key: str, values: list[str]
) -> None:
    """For any labels, exactly one of In and NotIn matches; likewise Exists and DoesNotExist."""

    def matches(operator: str, vals: list[str]) -> bool:
        term = {"matchExpressions": [{"key": key, "operator": operator, "values": vals}]}
        selector = NodeSelector.model_validate({"nodeSelectorTerms": [term]})
        return node_selector_matches(selector, "n", node_labels)

    assert matches("In", values) != matches("NotIn", values)
    assert matches("Exists", []) != matches("DoesNotExist", [])


@FAST
@given(taints)
def test_wildcard_and_exact_tolerations(taint_data: dict[str, Any]) -> None:
    """Exists with no key and no effect tolerates any taint; an exact copy tolerates it too."""
    taint = Taint.model_validate(taint_data)
    assert tolerates(Toleration(operator="Exists"), taint)
    exact = Toleration(key=taint.key, operator="Equal", value=taint.value, effect=taint.effect)
    assert tolerates(exact, taint)


cpu = st.integers(0, 64000).map(lambda m: {"cpu": f"{m}m"})


@FAST
@given(st.lists(cpu, max_size=4), st.lists(st.tuples(cpu, st.booleans()), max_size=4), cpu)
def test_adding_a_container_never_lowers_requests(
    app: list[dict[str, str]], init: list[tuple[dict[str, str], bool]], extra: dict[str, str]
) -> None:
    """pod_requests is monotone: another app container never lowers the request, and
    without init containers the request is the plain sum."""

    def build(containers: list[dict[str, str]]) -> Pod:
        return Pod.model_validate(
            {
                "spec": {
                    "containers": [{"name": "c", "resources": {"requests": r}} for r in containers],
                    "initContainers": [
                        {
                            "name": "i",
                            "resources": {"requests": r},
                            "restartPolicy": "Always" if s else None,
                        }
                        for r, s in init
                    ],
                }
            }
        )

    before = pod_requests(build(app)).get("cpu", 0)
    after = pod_requests(build([*app, extra])).get("cpu", 0)
    assert after >= before
    if not init:
        assert before == sum(int(r["cpu"][:-1]) for r in app)


@FAST
@given(st.integers(0, 2**62), st.booleans())
def test_format_quantity_round_trips_integers(value: int, binary: bool) -> None:
    """format_quantity of an integer parses back to the same integer."""
    assert parse_quantity(format_quantity(value, binary=binary)) == value


scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**12), 10**12),
    st.floats(allow_nan=False, allow_infinity=True),
    st.text("yesnoYNtrufal0123456789.:-+_ ~<=xabc", max_size=8),
)
json_like = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.text("abcxyz0-", max_size=4), inner, max_size=4),
    ),
    max_leaves=20,
)


@FAST
@given(st.lists(json_like, min_size=1, max_size=3), st.sampled_from([None, True, False]))
def test_event_reader_equals_safe_loader(docs: list[Any], flow: bool | None) -> None:
    """The fast YAML reader and SafeLoader build equal values from any dumped data."""
    text = yaml.dump_all(docs, Dumper=yaml.SafeDumper, default_flow_style=flow)
    assert list(_event_documents(text)) == list(yaml.load_all(text, Loader=yaml.SafeLoader))
