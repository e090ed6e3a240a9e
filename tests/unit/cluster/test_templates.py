"""Device templates: identical pools share one template; per-pool state lives in rows."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from scheduler.api.dra import ResourceSlice
from scheduler.cluster.cache import ClusterCache
from scheduler.cluster.devices import TemplateState
from scheduler.cluster.templates import DeviceTemplate, instance_sensitive, pool_signature
from scheduler.dra.inventory import CompiledSlice, compile_slice
from simulator.clusters import cluster_from_spec
from tests.builders import pools_spec

DRIVER = "gpu.nvidia.com"
H100_DYNAMIC = {"kind": "nvidia", "model": "H100-80GB", "count": 8, "mig": {"mode": "dynamic"}}
MI = 2**20


def device(name: str, consumes: dict[str, str] | None = None, **attrs: str) -> dict[str, Any]:
    """A device dict: string attributes, optional consumption from counter set ``cs``."""
    out: dict[str, Any] = {
        "name": name,
        "attributes": {k: {"string": v} for k, v in attrs.items()},
    }
    if consumes:
        counters = {c: {"value": v} for c, v in consumes.items()}
        out["consumesCounters"] = [{"counterSet": "cs", "counters": counters}]
    return out


def hand_slice(
    pool: str, devices: list[dict[str, Any]], counters: dict[str, str] | None = None
) -> CompiledSlice:
    """One complete single-slice pool on node ``pool`` (driver example.com)."""
    spec: dict[str, Any] = {
        "driver": "example.com",
        "nodeName": pool,
        "pool": {"name": pool, "generation": 1, "resourceSliceCount": 1},
        "devices": devices,
    }
    if counters is not None:
        spec["sharedCounters"] = [
            {"name": "cs", "counters": {c: {"value": v} for c, v in counters.items()}}
        ]
    return compile_slice(
        ResourceSlice.model_validate({"metadata": {"name": f"{pool}-slice"}, "spec": spec})
    )


@pytest.mark.parametrize("templated", [False, True])
def test_two_identical_nodes_share_one_template_with_two_rows(templated: bool) -> None:
    """Two 8xH100 dynamic-MIG nodes: one template of 208 kinds, one row per node."""
    cache = cluster_from_spec(
        pools_spec([("gpu-node", 2, H100_DYNAMIC)]), templated=templated
    ).cache
    inventory = cache.devices
    assert len(inventory.templates) == 1
    assert inventory.templates[0].kinds == 208  # 8 GPUs x 26 devices
    rows = {node: [(t, r) for t, r, _ in inventory.rows_of_node[node]] for node in cache.node_names}
    assert rows == {"gpu-node-0000": [(0, 0)], "gpu-node-0001": [(0, 1)]}
    state = inventory.states[0]
    assert state.rows == 2
    assert state.row_node.tolist()[:2] == [0, 1]
    assert state.row_alive[:2].all()


def test_different_shapes_get_different_templates() -> None:
    """Pools that differ in GPU count or MIG mode do not share a template."""
    static = {"kind": "nvidia", "model": "H100-80GB", "count": 2}
    static["mig"] = {"mode": "static", "layout": ["3g.40gb", "3g.40gb"]}
    cache = cluster_from_spec(
        pools_spec(
            [
                ("eight", 2, H100_DYNAMIC),
                ("four", 1, {**H100_DYNAMIC, "count": 4}),
                ("static", 1, static),
            ]
        ),
        templated=True,
    ).cache
    templates = cache.devices.templates
    # 8 x 26, 4 x 26, 2 GPUs x two 3g.40gb instances
    assert [t.kinds for t in templates] == [208, 104, 4]
    assert [s.rows for s in cache.devices.states] == [2, 1, 1]


def test_dynamic_mig_template_tables() -> None:
    """Counter totals and one 3g.40gb's consumption, as the H100 driver publishes them."""
    cache = cluster_from_spec(pools_spec([("gpu-node", 1, H100_DYNAMIC)]), templated=True).cache
    t = cache.devices.templates[0]
    assert t.set_names == [f"gpu-{g}-counter-set" for g in range(8)]
    assert t.integral
    col = {name: i for i, name in enumerate(t.counter_names)}
    total = t.set_totals[t.set_names.index("gpu-2-counter-set")]
    # one H100: 81152Mi of memory, 132 SMs, 8 memory slices of 1, 7 decoders
    assert total[col["memory"]] == 81152 * MI
    assert total[col["multiprocessors"]] == 132
    assert total[col["decoders"]] == 7
    assert [total[col[f"memory-slice-{i}"]] for i in range(8)] == [1] * 8
    k = t.kind_of[(DRIVER, "gpu-2-mig-3g40gb-9-4")]
    used = t.consumes[k]
    assert np.flatnonzero(used.any(axis=1)).tolist() == [2]  # only gpu-2's set
    # 3g.40gb placed at start 4: 40448Mi, 60 SMs, memory slices 4..7
    assert used[2, col["memory"]] == 40448 * MI
    assert used[2, col["multiprocessors"]] == 60
    assert [used[2, col[f"memory-slice-{i}"]] for i in range(8)] == [0, 0, 0, 0, 1, 1, 1, 1]
    full = t.kind_of[(DRIVER, "gpu-2")]
    assert np.array_equal(t.consumes[full, 2], total)  # the whole GPU takes everything
    assert t.capacity[full, t.capacity_names.index("memory")] == 81152 * MI
    assert t.exclusive.all() and len(t.shared_kinds) == 0


def test_gpu_layout_groups_26_kinds_per_physical_gpu() -> None:
    """The GPU layout maps each GPU to its whole device, its counter set and its 26 kinds."""
    cache = cluster_from_spec(pools_spec([("gpu-node", 1, H100_DYNAMIC)]), templated=True).cache
    t = cache.devices.templates[0]
    layout = t.gpus
    assert layout.count == 8
    assert layout.model == "NVIDIA H100 80GB HBM3"
    assert layout.shared_kind == [-1] * 8
    for g in range(8):
        assert t.devices[layout.full_kind[g]].name == f"gpu-{g}"
        assert t.set_names[layout.counter_set[g]] == f"gpu-{g}-counter-set"
        names = {t.devices[k].name for k in layout.kinds[g]}
        assert len(names) == 26
        assert all(n == f"gpu-{g}" or n.startswith(f"gpu-{g}-mig-") for n in names)
    assert [t.counter_names[c] for c in layout.slice_counters] == [
        f"memory-slice-{i}" for i in range(8)
    ]
    k = t.kind_of[(DRIVER, "gpu-5-mig-1g10gb-19-3")]
    assert sorted(t.kinds_sharing_sets(k).tolist()) == sorted(layout.kinds[5])


def test_signature_ignores_node_pool_and_uuid_but_not_other_attributes() -> None:
    """Pools differing only in node, pool and uuid share a template; another attribute does not."""
    counters = {"mem": "4"}
    a = hand_slice("n1", [device("d0", {"mem": "2"}, model="m", uuid="u-1")], counters)
    b = hand_slice("n2", [device("d0", {"mem": "2"}, model="m", uuid="u-2")], counters)
    c = hand_slice("n3", [device("d0", {"mem": "2"}, model="other", uuid="u-3")], counters)
    assert pool_signature([a], "n1") == pool_signature([b], "n2")
    assert pool_signature([a], "n1") != pool_signature([c], "n3")
    cache = ClusterCache()
    for s in (a, b, c):
        cache.add_compiled_slice(s)
    pools = cache.devices.pools
    entries = [pools[("example.com", n)] for n in ("n1", "n2", "n3")]
    assert [(e.template, e.row) for e in entries] == [(0, 0), (0, 1), (1, 0)]


def test_materialize_shares_devices_unless_instance_values_differ() -> None:
    """Materialised slices share template devices unless instance attributes override them."""
    s = hand_slice("__NODE__", [device("d0", model="m", uuid="placeholder"), device("d1")])
    t = DeviceTemplate(0, [s], node_local=True, instance_names=frozenset({"uuid"}))
    (plain,) = t.materialize("n7", "n7", None)
    assert (plain.name, plain.pool, plain.node_name) == ("n7/0", "n7", "n7")
    assert plain.devices[0] is s.devices[0]
    (own,) = t.materialize("n8", "n8", {"d0": {"uuid": ("string", "GPU-n8")}})
    assert own.devices[0].attributes["uuid"] == ("string", "GPU-n8")
    assert own.devices[0].attributes["model"] == ("string", "m")
    assert own.devices[0].shape_of is s.devices[0]
    assert own.devices[1] is s.devices[1]


@pytest.mark.parametrize(
    ("expression", "extra", "sensitive"),
    [
        ("device.attributes['gpu.nvidia.com'].type == 'gpu'", frozenset(), False),
        ("device.attributes['gpu.nvidia.com'].uuid == 'GPU-1'", frozenset(), True),
        ("device.attributes['gpu.nvidia.com'].parentUUID != ''", frozenset(), True),
        # a macro could iterate the attribute map, so it may read anything
        ("device.attributes['gpu.nvidia.com'].exists(k, k == 'type')", frozenset(), True),
        ("device.attributes['tpu.google.com'].sliceName == 's'", frozenset(), False),
        ("device.attributes['tpu.google.com'].sliceName == 's'", frozenset({"sliceName"}), True),
        ("device.attributes['tpu.google.com'].sliceName == 's'", frozenset({"d/sliceName"}), True),
    ],
)
def test_instance_sensitive(expression: str, extra: frozenset[str], sensitive: bool) -> None:
    """A selector is instance-sensitive when it may read uuid, parentUUID or extra names."""
    assert instance_sensitive(expression, extra) is sensitive


def test_templated_pools_record_their_instance_attribute_names() -> None:
    """The NVIDIA driver's per-node attributes (uuid, parentUUID) become instance names."""
    cache = cluster_from_spec(pools_spec([("gpu-node", 2, H100_DYNAMIC)]), templated=True).cache
    assert cache.devices.templates[0].instance_names == frozenset({"uuid", "parentUUID"})


def test_fractional_counters_disable_counter_tables() -> None:
    """A fractional counter makes the template non-integral: counters are not tracked at all."""
    s = hand_slice("n1", [device("d0", {"mem": "250m"}), device("d1", {"mem": "1"})], {"mem": "1"})
    t = DeviceTemplate(0, [s], node_local=True, instance_names=frozenset())
    assert not t.integral
    state = TemplateState(t)
    row = state.add_row(0)
    state.allocate(row, 1, shared=False, consumed=None)
    # d1 is held; d0 still shows available because counters are not tracked
    assert state.available[row].tolist() == [True, False]


def test_template_state_allocate_release_arithmetic() -> None:
    """Counters left and availability follow allocations exactly and return on release."""
    devices = [device("d0", {"mem": "2"}), device("d1", {"mem": "3"}), device("d2", {"mem": "2"})]
    t = DeviceTemplate(0, [hand_slice("n1", devices, {"mem": "4"})], True, frozenset())
    state = TemplateState(t)
    row = state.add_row(5)
    assert state.row_node[row] == 5
    assert state.available[row].tolist() == [True, True, True]
    state.allocate(row, 0, shared=False, consumed=None)
    # mem 4 - 2 = 2 left: d1 (needs 3) no longer fits, d2 (needs 2) does, d0 is taken
    assert state.counters_left[row].tolist() == [[2]]
    assert state.available[row].tolist() == [False, False, True]
    state.allocate(row, 2, shared=False, consumed=None)
    assert state.counters_left[row].tolist() == [[0]]
    assert state.available[row].tolist() == [False, False, False]
    state.release(row, 0, shared=False, consumed=None)
    state.release(row, 2, shared=False, consumed=None)
    assert state.counters_left[row].tolist() == [[4]]
    assert state.available[row].tolist() == [True, True, True]
    assert not state.allocated[row].any()


def test_template_state_reuses_removed_rows() -> None:
    """A removed row is dead and unavailable; the next add_row reuses it, fully reset."""
    t = DeviceTemplate(
        0, [hand_slice("n1", [device("d0", {"mem": "1"})], {"mem": "1"})], True, frozenset()
    )
    state = TemplateState(t)
    first, second = state.add_row(0), state.add_row(1)
    state.allocate(first, 0, shared=False, consumed=None)
    state.remove_row(first)
    assert not state.row_alive[first] and not state.available[first].any()
    again = state.add_row(7)
    assert again == first and state.rows == 2
    assert state.row_node[again] == 7
    assert not state.allocated[again].any() and state.counters_left[again].tolist() == [[1]]
    assert state.available[again].tolist() == [True]
    bulk = state.add_rows(np.array([3, 4], dtype=np.int32))
    assert bulk.tolist() == [2, 3] and state.row_node[:4].tolist() == [7, 1, 3, 4]
    assert second == 1


def test_template_state_copy_is_frozen() -> None:
    """A copied state has the same values and cannot be written."""
    t = DeviceTemplate(
        0, [hand_slice("n1", [device("d0", {"mem": "1"})], {"mem": "1"})], True, frozenset()
    )
    state = TemplateState(t)
    state.add_row(0)
    frozen = state.copy()
    assert frozen.available.tolist() == [[True]]
    with pytest.raises(ValueError, match="read-only"):
        frozen.available[0, 0] = False
    state.allocate(0, 0, shared=False, consumed=None)
    assert frozen.available.tolist() == [[True]]
