"""Result construction (docs/semantics/dra.md §4.11): class config once per class, claim config
per named request, and the claim's node selector."""

from __future__ import annotations

from typing import Any

import pytest

from scheduler.api.loaders import load_object
from scheduler.dra.claims import (
    ClaimSpec,
    ClassSpec,
    ConfigResult,
    ConfigSpec,
    DeviceResult,
    RequestGroup,
    RequestSpec,
)
from scheduler.dra.inventory import CompiledDevice, CompiledSlice, compile_slice
from scheduler.dra.results import ResultError, build_allocation, node_selector_for
from tests.builders import rslice

NODE = "node-1"
PINNED = {
    "nodeSelectorTerms": [
        {"matchFields": [{"key": "metadata.name", "operator": "In", "values": [NODE]}]}
    ]
}


def term(*reqs: tuple[str, str, list[str]]) -> dict[str, Any]:
    """A node selector of one term of matchExpressions."""
    return {
        "nodeSelectorTerms": [
            {"matchExpressions": [{"key": k, "operator": o, "values": v} for k, o, v in reqs]}
        ]
    }


def rs(device: dict[str, Any], **selection: Any) -> CompiledSlice:
    """A compiled slice with one device and the given node selection."""
    body = rslice("s", "p", [device], **selection)
    compiled = compile_slice(load_object(body, source="test"))  # type: ignore[arg-type]
    return compiled


def pick(s: CompiledSlice) -> tuple[CompiledSlice, CompiledDevice]:
    """The slice and its only device."""
    return (s, s.devices[0])


R1 = ("region", "In", ["region-1"])
EARTH = ("planet", "In", ["earth"])

SELECTOR_TABLE: list[tuple[str, list[CompiledSlice], bool, Any]] = [
    # id, slices of the picked devices, bindsToNode honoured, expected node selector
    ("node-local", [rs({"name": "d"}, nodeName=NODE)], False, PINNED),
    ("all-nodes-only", [rs({"name": "d"}, allNodes=True)], False, None),
    ("selector", [rs({"name": "d"}, nodeSelector=term(R1))], False, term(R1)),
    # two single-term selectors: AND-merged into one term, the repeated requirement once
    (
        "merge-dedup",
        [rs({"name": "a"}, nodeSelector=term(R1)), rs({"name": "b"}, nodeSelector=term(EARTH, R1))],
        False,
        term(R1, EARTH),
    ),
    # allNodes contributes nothing to the merge
    (
        "all-nodes-plus-selector",
        [rs({"name": "a"}, allNodes=True), rs({"name": "b"}, nodeSelector=term(EARTH))],
        False,
        term(EARTH),
    ),
    # one node-local device pins the claim whatever the others say
    (
        "local-wins",
        [rs({"name": "a"}, nodeSelector=term(R1)), rs({"name": "b"}, nodeName=NODE)],
        False,
        PINNED,
    ),
    # per-device selection: the device's own fields count
    (
        "per-device-name",
        [rs({"name": "d", "nodeName": NODE}, perDeviceNodeSelection=True)],
        False,
        PINNED,
    ),
    (
        "per-device-all",
        [rs({"name": "d", "allNodes": True}, perDeviceNodeSelection=True)],
        False,
        None,
    ),
    (
        "per-device-selector",
        [rs({"name": "d", "nodeSelector": term(EARTH)}, perDeviceNodeSelection=True)],
        False,
        term(EARTH),
    ),
    # bindsToNode pins only when the binding gates are on
    ("binds-to-node-on", [rs({"name": "d", "bindsToNode": True}, allNodes=True)], True, PINNED),
    ("binds-to-node-off", [rs({"name": "d", "bindsToNode": True}, allNodes=True)], False, None),
    ("no-devices", [], False, None),
]


@pytest.mark.parametrize(
    ("slices", "binds", "expected"),
    [pytest.param(s, b, e, id=i) for i, s, b, e in SELECTOR_TABLE],
)
def test_node_selector(slices: list[CompiledSlice], binds: bool, expected: Any) -> None:
    """The claim's node selector follows dra.md §4.11."""
    got = node_selector_for([pick(s) for s in slices], NODE, bind_to_node=binds)
    assert got == expected


def test_match_fields_merged_separately() -> None:
    """matchFields requirements of a slice selector land in the term's matchFields."""
    fields = {
        "nodeSelectorTerms": [
            {"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["n1", "n2"]}]}
        ]
    }
    got = node_selector_for(
        [
            pick(rs({"name": "a"}, nodeSelector=fields)),
            pick(rs({"name": "b"}, nodeSelector=term(R1))),
        ],
        NODE,
        bind_to_node=False,
    )
    assert got == {
        "nodeSelectorTerms": [
            {
                "matchExpressions": [{"key": "region", "operator": "In", "values": ["region-1"]}],
                "matchFields": [{"key": "metadata.name", "operator": "In", "values": ["n1", "n2"]}],
            }
        ]
    }


def test_multi_term_selector_cannot_be_expressed() -> None:
    """A device from a slice whose selector has two terms makes the result an error."""
    two = {
        "nodeSelectorTerms": [term(R1)["nodeSelectorTerms"][0], term(EARTH)["nodeSelectorTerms"][0]]
    }
    with pytest.raises(ResultError, match=r"unsupported ResourceSlice\.NodeSelector with 2 terms"):
        node_selector_for([pick(rs({"name": "d"}, nodeSelector=two))], NODE, bind_to_node=False)


def spec(name: str, cls: str, sub: str = "") -> RequestSpec:
    """A request (or ``name/sub`` subrequest) of class ``cls``."""
    full = f"{name}/{sub}" if sub else name
    return RequestSpec(name=full, base=name, sub=sub, class_name=cls)


def opaque(tag: str) -> dict[str, Any]:
    """An opaque config body tagged ``tag``."""
    return {"driver": "driver-a", "parameters": {"tag": tag}}


CLASS_A = ClassSpec("class-a", config=(ConfigSpec((), opaque("a")),))
CLASS_B = ClassSpec("class-b", config=(ConfigSpec((), opaque("b1")), ConfigSpec((), opaque("b2"))))
CLASS_C = ClassSpec("class-c")


def allocation_config(claim: ClaimSpec, chosen: list[tuple[RequestSpec, ClassSpec]]) -> Any:
    """The config of ``build_allocation`` for the chosen requests (no devices needed)."""
    return build_allocation(claim, chosen, [], NODE, bind_to_node=False).config


def claim_with(config: tuple[ConfigSpec, ...], *names: str) -> ClaimSpec:
    """A claim with plain requests ``names`` and claim config ``config``."""
    groups = tuple(RequestGroup(n, spec(n, "class-a")) for n in names)
    return ClaimSpec("default", "c", "uid", groups, config=config)


def test_class_config_once_per_class() -> None:
    """Class configs come once per class, listing every (sub)request that used it."""
    claim = claim_with((), "req-0", "req-1", "req-2", "req-3")
    chosen = [
        (spec("req-0", "class-a"), CLASS_A),
        (spec("req-1", "class-b", "sub-1"), CLASS_B),
        (spec("req-2", "class-a"), CLASS_A),
        (spec("req-3", "class-c"), CLASS_C),  # no config
    ]
    assert allocation_config(claim, chosen) == (
        ConfigResult("FromClass", ("req-0", "req-2"), opaque("a")),
        ConfigResult("FromClass", ("req-1/sub-1",), opaque("b1")),
        ConfigResult("FromClass", ("req-1/sub-1",), opaque("b2")),
    )


def test_claim_config_per_named_request() -> None:
    """A claim config is copied once per chosen request it names (dra.md §9.5 quirk 6)."""
    config = (
        ConfigSpec(("req-0", "req-1"), opaque("x")),
        ConfigSpec((), opaque("y")),
        ConfigSpec(("req-1",), opaque("z")),
        ConfigSpec(("req-9",), opaque("gone")),  # names no request of the claim
    )
    claim = claim_with(config, "req-0", "req-1")
    chosen = [(spec("req-0", "class-c"), CLASS_C), (spec("req-1", "class-c"), CLASS_C)]
    assert allocation_config(claim, chosen) == (
        ConfigResult("FromClaim", ("req-0", "req-1"), opaque("x")),
        ConfigResult("FromClaim", ("req-0", "req-1"), opaque("x")),
        ConfigResult("FromClaim", (), opaque("y")),
        ConfigResult("FromClaim", ("req-1",), opaque("z")),
    )


def test_claim_config_subrequests() -> None:
    """Config naming the chosen ``req/sub`` or the base name is kept; other alternatives drop."""
    config = (
        ConfigSpec(("req-0/sub-0",), opaque("s0")),
        ConfigSpec(("req-0/sub-1",), opaque("s1")),
        ConfigSpec(("req-0",), opaque("base")),
        ConfigSpec(("req-0/sub-1", "req-0"), opaque("both")),  # names the same request twice
    )
    claim = claim_with(config, "req-0")
    chosen = [(spec("req-0", "class-c", "sub-1"), CLASS_C)]
    assert allocation_config(claim, chosen) == (
        ConfigResult("FromClaim", ("req-0/sub-1",), opaque("s1")),
        ConfigResult("FromClaim", ("req-0",), opaque("base")),
        ConfigResult("FromClaim", ("req-0/sub-1", "req-0"), opaque("both")),
    )


def test_class_then_claim_config_and_devices_in_order() -> None:
    """FromClass entries precede FromClaim entries; devices keep allocation order."""
    s = rs({"name": "d"}, nodeName=NODE)
    results = [
        DeviceResult("req-0", "driver-a", "p", "d2"),
        DeviceResult("req-0", "driver-a", "p", "d1"),
    ]
    claim = claim_with((ConfigSpec((), opaque("y")),), "req-0")
    allocation = build_allocation(
        claim,
        [(spec("req-0", "class-a"), CLASS_A)],
        [(s, s.devices[0], r) for r in results],
        NODE,
        bind_to_node=False,
    )
    assert [c.source for c in allocation.config] == ["FromClass", "FromClaim"]
    assert [r.device for r in allocation.devices] == ["d2", "d1"]
    assert allocation.node_selector == PINNED
