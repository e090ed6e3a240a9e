"""The wire details without a server: field selectors, ListOptions validation, body decoding,
joined list bodies — each against upstream's behaviour and wording."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
import pytest
import yaml

from simulator.apiserver import bodies, listing
from simulator.apiserver.discovery import aggregated, resource_list
from simulator.apiserver.listing import PART_BYTES, json_list, yaml_list
from simulator.apiserver.options import parse_list_options, parse_resource_version
from simulator.apiserver.resources import TABLE, Resource
from simulator.apiserver.selectors import FieldTerm, parse_field_selector, selectable_fields
from simulator.apiserver.status import ApiError
from simulator.apiserver.store import Store


def _resource(name: str) -> Resource:
    return next(r for r in TABLE.resources if r.name == name)


def _error(fn: Any, *args: Any) -> ApiError:
    with pytest.raises(ApiError) as info:
        fn(*args)
    return info.value


# -- field selectors (k8s.io/apimachinery/pkg/fields/selector.go, field-label conversions) -------


@pytest.mark.parametrize(
    ("text", "terms"),
    [
        ("spec.nodeName=n1", [("spec.nodeName", "n1", True)]),
        ("spec.nodeName==n1", [("spec.nodeName", "n1", True)]),
        ("spec.nodeName!=n1", [("spec.nodeName", "n1", False)]),
        # terms are sorted, empty ones skipped
        ("status.phase=Running,,spec.nodeName=", [
            ("spec.nodeName", "", True), ("status.phase", "Running", True)]),
        # \, \= \\ are the only escapes; a comma after a backslash does not split
        (r"spec.nodeName=a\,b\=c\\d", [("spec.nodeName", "a,b=c\\d", True)]),
        # the legacy alias of the pod conversion function
        ("spec.host=n1", [("spec.nodeName", "n1", True)]),
        # split at the first operator position: "a" then "!=" is tried before "="
        ("metadata.name!=x", [("metadata.name", "x", False)]),
    ],
)  # fmt: skip
def test_field_selector_parses_as_upstream(text: str, terms: list[tuple[str, str, bool]]) -> None:
    """Pod field selectors parse into upstream's terms (sorted, unescaped, aliases renamed)."""
    assert parse_field_selector(text, _resource("pods")) == tuple(FieldTerm(*t) for t in terms)


@pytest.mark.parametrize(
    ("resource", "text", "message"),
    [
        ("pods", "spec.nodeName",
         "invalid selector: 'spec.nodeName'; can't understand 'spec.nodeName'"),
        ("pods", r"spec.nodeName=a\x", r"invalid field selector: invalid escape sequence: \x"),
        ("pods", "spec.nodeName=a\\", "invalid field selector: invalid escape sequence: \\"),
        # "a=b=c": split at the first "=", the value "b=c" has an unescaped "=" (rune 61)
        ("pods", "spec.nodeName=b=c", "invalid field selector: unescaped character in value: 61"),
        ("pods", "spec.bogus=1", "field label not supported: spec.bogus"),
        # no trimming: the field is " spec.nodeName"
        ("pods", " spec.nodeName=a", "field label not supported:  spec.nodeName"),
        ("nodes", "metadata.namespace=x", "field label not supported: metadata.namespace"),
        ("resourceslices", "spec.pool=x",
         "field label not supported for resource.k8s.io/v1, Kind=ResourceSlice: spec.pool"),
        ("jobs", "status.active=1", 'field label "status.active" not supported for batchv1.Job'),
        ("deviceclasses", "spec.x=1",
         '"spec.x" is not a known field selector: only "metadata.name", "metadata.namespace"'),
        ("leaderworkersets", "spec.x=1", "field label not supported: spec.x"),
    ],
)  # fmt: skip
def test_field_selector_errors_have_upstream_wording(
    resource: str, text: str, message: str
) -> None:
    """Malformed selectors and unsupported fields are 400 with upstream's exact message."""
    err = _error(parse_field_selector, text, _resource(resource))
    assert (err.code, err.reason, err.message) == (400, "BadRequest", message)


def test_default_conversion_accepts_namespace_on_cluster_scoped_kinds() -> None:
    """DeviceClass (no conversion function of its own) takes metadata.namespace, which reads
    "" (upstream's DefaultMetaV1FieldSelectorConversion); a Node does not."""
    assert parse_field_selector("metadata.namespace=", _resource("deviceclasses"))
    assert "metadata.namespace" not in _resource("nodes").field_labels


def test_event_source_is_component_then_reporting_controller() -> None:
    """An event's `source` field is source.component, or reportingComponent when that is
    empty (pkg/registry/core/event/strategy.go ToSelectableFields)."""
    events = _resource("events")
    both = {"source": {"component": "kubelet"}, "reportingComponent": "kube-scheduler"}
    only_reporting = {"reportingComponent": "kube-scheduler"}
    assert selectable_fields(events, both)["source"] == "kubelet"
    assert selectable_fields(events, both)["reportingComponent"] == "kube-scheduler"
    assert selectable_fields(events, only_reporting)["source"] == "kube-scheduler"


def test_job_and_pod_computed_fields() -> None:
    """A Job's status.successful is status.succeeded (0 when unset); a pod's
    spec.hostNetwork defaults to "false" and status.podIPs always reads ""."""
    jobs, pods = _resource("jobs"), _resource("pods")
    assert selectable_fields(jobs, {"status": {"succeeded": 3}})["status.successful"] == "3"
    assert selectable_fields(jobs, {})["status.successful"] == "0"
    fields = selectable_fields(pods, {"status": {"podIPs": [{"ip": "10.0.0.1"}]}})
    assert (fields["spec.hostNetwork"], fields["status.podIPs"]) == ("false", "")


# -- ListOptions (k8s.io/apimachinery/pkg/apis/meta/internalversion/validation) -----------------


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({"resourceVersionMatch": "Exact"},
         'ListOptions.meta.k8s.io "" is invalid: resourceVersionMatch: Forbidden: '
         "resourceVersionMatch is forbidden unless resourceVersion is provided"),
        # every violation at once, bracketed as utilerrors.Aggregate
        ({"resourceVersionMatch": "Bogus", "continue": "x"},
         'ListOptions.meta.k8s.io "" is invalid: [resourceVersionMatch: Forbidden: '
         "resourceVersionMatch is forbidden unless resourceVersion is provided, "
         "resourceVersionMatch: Forbidden: resourceVersionMatch is forbidden when continue is "
         'provided, resourceVersionMatch: Unsupported value: "Bogus": supported values: '
         '"Exact", "NotOlderThan", ""]'),
        ({"resourceVersion": "0", "resourceVersionMatch": "Exact"},
         'ListOptions.meta.k8s.io "" is invalid: resourceVersionMatch: Forbidden: '
         'resourceVersionMatch "exact" is forbidden for resourceVersion "0"'),
        ({"sendInitialEvents": "true"},
         'ListOptions.meta.k8s.io "" is invalid: sendInitialEvents: Forbidden: '
         "sendInitialEvents is forbidden for list"),
        ({"watch": "1", "sendInitialEvents": "true"},
         'ListOptions.meta.k8s.io "" is invalid: resourceVersionMatch: Forbidden: '
         "sendInitialEvents requires setting resourceVersionMatch to NotOlderThan"),
        ({"watch": "1", "resourceVersionMatch": "Exact"},
         'ListOptions.meta.k8s.io "" is invalid: [resourceVersionMatch: Forbidden: '
         "resourceVersionMatch is forbidden for watch unless sendInitialEvents is provided, "
         'resourceVersionMatch: Unsupported value: "Exact": supported values: "NotOlderThan"]'),
    ],
)  # fmt: skip
def test_list_options_validation_as_upstream(query: dict[str, str], message: str) -> None:
    """ListOptions violations are one 422 on ListOptions.meta.k8s.io with upstream's text."""
    err = _error(parse_list_options, query, _resource("pods"))
    assert (err.code, err.reason, err.message) == (422, "Invalid", message)
    assert err.details is not None and err.details["kind"] == "ListOptions"


def test_send_initial_events_without_bookmarks_is_accepted() -> None:
    """1.35 accepts sendInitialEvents without allowWatchBookmarks (the watch then just gets
    no initial-events-end bookmark)."""
    query = {"watch": "1", "sendInitialEvents": "true", "resourceVersionMatch": "NotOlderThan"}
    opts = parse_list_options(query, _resource("pods"))
    assert opts.send_initial_events and not opts.bookmarks


@pytest.mark.parametrize(
    ("value", "expected"),
    [(None, None), ("", None), ("0", None), ("7", 7), (str(2**64 - 1), 2**64 - 1)],
)
def test_resource_version_parses_as_uint64(value: str | None, expected: int | None) -> None:
    """resourceVersion is a uint64; unset, empty and "0" all mean any version."""
    assert parse_resource_version(value) == expected


@pytest.mark.parametrize(
    ("value", "reason"),
    [("-1", "invalid syntax"), ("x", "invalid syntax"), (str(2**64), "value out of range")],
)
def test_bad_resource_version_is_400(value: str, reason: str) -> None:
    """A resourceVersion that is not a uint64 is 400 with strconv.ParseUint's reason."""
    err = _error(parse_resource_version, value)
    expected = f'invalid resource version: strconv.ParseUint: parsing "{value}": {reason}'
    assert err.message == expected


# -- bodies -----------------------------------------------------------------------------------


def test_yaml_converts_as_yaml_to_json() -> None:
    """YAML keys become strings, timestamps stay strings, huge integers become floats."""
    raw = b"a: 2001-12-14\n2: x\nfalse: y\n1.5: z\nbig: 123456789012345678901234567890\n"
    assert bodies.decode_yaml(raw) == {
        "a": "2001-12-14",
        "2": "x",
        "false": "y",
        "1.5": "z",
        "big": 1.2345678901234568e29,
    }


@pytest.mark.parametrize(
    ("raw", "prefix"),
    [
        (b"x: !!binary aGVsbG8=\n", "error converting YAML to JSON: "),
        (b"x: !!set {a, b}\n", "error converting YAML to JSON: "),
        (b"~: x\n", "error converting YAML to JSON: unsupported map key"),
        (b"x: .nan\n", "error converting YAML to JSON: json: unsupported value: NaN"),
        (b"? [a, b]\n: c\n", "the body of the request could not be decoded: "),
        (b"--- a\n--- b\n", "the body of the request could not be decoded: "),
    ],
)
def test_yaml_values_json_cannot_hold_are_400(raw: bytes, prefix: str) -> None:
    """Binary, sets, null keys and NaN are 400 'error converting YAML to JSON'; compound keys
    and several documents are 400 at decoding."""
    err = _error(bodies.decode_yaml, raw)
    assert err.code == 400 and err.message.startswith(prefix), err.message


def test_yaml_alias_bomb_is_refused_and_fair_aliasing_is_not() -> None:
    """A billion-laughs document stops at go-yaml's 'excessive aliasing' guard after a few
    thousand nodes; a document reusing one anchor a few times decodes."""
    levels = [b"a: &a [x, x, x, x, x, x, x, x, x, x]\n"]
    for i in range(1, 9):
        name, prev = chr(ord("a") + i).encode(), chr(ord("a") + i - 1).encode()
        levels.append(name + b": &" + name + b" [" + b", ".join([b"*" + prev] * 10) + b"]\n")
    err = _error(bodies.decode_yaml, b"".join(levels))
    assert err.message == "yaml: document contains excessive aliasing"
    fair = b"base: &b {cpu: '1'}\nx: *b\ny: *b\n"
    assert bodies.decode_yaml(fair)["y"] == {"cpu": "1"}


def test_nesting_beyond_the_limit_is_400() -> None:
    """A body nested deeper than MAX_DEPTH is 400 naming the limit; exactly at it decodes."""
    depth = bodies.MAX_DEPTH
    assert bodies.decode_json(b"[" * depth + b"]" * depth) is not None
    err = _error(bodies.decode_json, b"[" * (depth + 1) + b"]" * (depth + 1))
    assert f"more than {depth} levels" in err.message
    err = _error(bodies.decode_yaml, b"a: " + b"[" * (depth + 1) + b"]" * (depth + 1))
    assert f"more than {depth} levels" in err.message


# -- joined list bodies -----------------------------------------------------------------------


def _body(response: Any) -> tuple[int, bytes]:
    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    async def receive() -> dict[str, Any]:
        return {"type": "http.request"}

    asyncio.run(response({"type": "http", "method": "GET"}, receive, send))
    headers = dict(sent[0]["headers"])
    return int(headers[b"content-length"]), b"".join(m.get("body", b"") for m in sent[1:])


@pytest.mark.parametrize("count", [0, 1, 7])
def test_json_and_yaml_lists_are_the_stored_objects(count: int) -> None:
    """A JSON list body parses to the stored objects, its Content-Length is exact, and the
    YAML list parses to the same document."""
    store = Store(TABLE)
    nodes = _resource("nodes")
    big = "x" * (PART_BYTES // 3)  # several parts
    for i in range(count):
        store.create(nodes, {"metadata": {"name": f"n{i}", "labels": {"pad": "y"}}, "pad": big})
    entries = store.list_page(nodes, "").entries
    meta = {"resourceVersion": str(store.rv)}
    length, body = _body(json_list(nodes, meta, entries))
    document = orjson.loads(body)
    assert length == len(body)
    assert document["kind"] == "NodeList" and document["metadata"] == meta
    assert document["items"] == [e.obj() for e in entries]
    length, text = _body(yaml_list(nodes, meta, entries))
    assert length == len(text)
    assert yaml.load(text, Loader=yaml.CSafeLoader) == document


@pytest.mark.parametrize("part", [1, 4, 10**9])
def test_joined_body_parts_are_the_join_for_any_part_size(
    part: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Whatever the part size, the parts concatenate to head + sep.join(items) + tail and
    Content-Length counts exactly those bytes."""
    monkeypatch.setattr(listing, "PART_BYTES", part)
    for items in ([], [b"a"], [b"ab", b"c", b"def", b"g", b"hi"]):
        response = listing.JoinedResponse(b"[", items, b", ", b"]", "application/json")
        body = b"".join(response.parts())
        assert body == b"[" + b", ".join(items) + b"]"
        assert int(response.headers["content-length"]) == len(body)


# -- discovery: short names and categories, in both formats --------------------------------------


def test_discovery_aliases_only_when_a_resource_has_them() -> None:
    """``shortNames`` and ``categories`` follow the verbs in APIResourceList and in the
    aggregated format alike, and are omitted when empty (pods: po/all, nodes: no, bindings, which
    only APIResourceList lists: neither)."""
    legacy = {r["name"]: r for r in resource_list(TABLE, "", "v1", True)["resources"]}
    discovered = aggregated(TABLE, core=True, version="v2", writable=True)
    modern = {r["resource"]: r for r in discovered["items"][0]["versions"][0]["resources"]}
    for entries in (legacy, modern):
        keys = list(entries["pods"])
        verbs = keys.index("verbs")
        assert keys[verbs : verbs + 3] == ["verbs", "shortNames", "categories"]
        assert (entries["pods"]["shortNames"], entries["pods"]["categories"]) == (["po"], ["all"])
        assert entries["nodes"]["shortNames"] == ["no"] and "categories" not in entries["nodes"]
    assert "shortNames" not in legacy["bindings"] and "categories" not in legacy["bindings"]
