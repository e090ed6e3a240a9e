"""DRA-backed extended resources in the plugins: NodeResourcesFit leaves a class-backed
resource to DRA exactly where the node's allocatable has none of it; DynamicResources builds,
allocates, assumes and writes the special claim there, fails an unbacked unlisted resource
with "cannot fit resource" and a pod whose special claim exists already; the GPU shape and the
solver tables count extended resources (device plugin or DRA)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest

from scheduler.api.loaders import load_object
from scheduler.api.node import Node
from scheduler.api.pod import Pod
from scheduler.cluster.cache import ClusterCache
from scheduler.dra.extended import ExtendedResourceAllocation, extended_claim_key
from scheduler.dra.features import Features
from scheduler.framework.backend import BackendHandle
from scheduler.framework.cycle_state import CycleState
from scheduler.framework.podinfo import PodInfo
from scheduler.framework.status import Code
from scheduler.plugins.dynamicresources import DynamicResources
from scheduler.plugins.gpu.shape import gpu_shape
from scheduler.plugins.helper.solvertable import TableBuilder
from scheduler.plugins.noderesources import NodeResourcesFit
from simulator.drivers.build import build_cluster
from simulator.drivers.classes import device_classes
from simulator.drivers.spec import parse_cluster_spec
from tests.builders import FakeBackend, info, make_node, make_pod
from tests.unit.plugins.test_noderesources import Verdict, verdicts

GPU = "nvidia.com/gpu"
U = Code.UNSCHEDULABLE
UU = Code.UNSCHEDULABLE_AND_UNRESOLVABLE


def dra_objects(nodes: int) -> list[object]:
    """DeviceClasses and slices of ``nodes`` DRA nodes dra-0000... with 2 whole H100 GPUs,
    and the Node objects, as the simulated driver publishes them."""
    if nodes == 0:
        return [load_object(o) for o in device_classes()]
    spec = parse_cluster_spec(
        {
            "apiVersion": "tessera.io/v1alpha1",
            "kind": "ClusterSpec",
            "metadata": {"name": "unit"},
            "nodePools": [
                {
                    "name": "dra",
                    "count": nodes,
                    "node": {"cpu": "16", "memory": "64Gi"},
                    "accelerator": {"kind": "nvidia", "model": "H100-80GB", "count": 2},
                }
            ],
        }
    )
    return [load_object(o) for o in build_cluster(spec).objects()]


def handle_of(
    extra_nodes: Sequence[Node], pods: Sequence[Pod] = (), *, gate: bool = True, dra: int = 1
) -> BackendHandle:
    """A handle over DRA nodes (``dra`` of them, 2 GPUs each) plus ``extra_nodes``."""
    features = Features(consumable_capacity=True, extended_resource=gate)
    cache = ClusterCache(features=features)
    cache.add_all([*dra_objects(dra), *extra_nodes])  # type: ignore[list-item]
    for pod in pods:
        cache.add_pod(pod)
    return BackendHandle(FakeBackend(cache))


def fit(handle: BackendHandle, pod: Pod) -> list[Verdict]:
    """NodeResourcesFit's verdict on every node."""
    plugin = NodeResourcesFit({}, handle)
    snapshot = handle.cache.snapshot()
    state = CycleState()
    plugin.pre_filter(state, info(pod), snapshot)
    ids = np.arange(snapshot.size, dtype=np.intp)
    return verdicts(plugin.filter(state, info(pod), snapshot, ids), snapshot.size)


def gpu_pod(amount: int = 1, name: str = "p", resource: str = GPU) -> Pod:
    """A pod asking ``amount`` of ``resource`` (uid uid-<name>)."""
    pod = make_pod(name, cpu="1", requests={resource: amount})
    return pod.model_copy(
        update={"metadata": pod.metadata.model_copy(update={"uid": f"uid-{name}"})}
    )


PLUGIN_NODE = make_node("dp", cpu="16", memory="64Gi", allocatable={GPU: 2})
ZERO_NODE = make_node("zero", cpu="16", memory="64Gi", allocatable={GPU: 0})
CPU_NODE = make_node("cpu", cpu="16", memory="64Gi")


# -- NodeResourcesFit ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("gate", "pod", "expected"),
    [
        # gate on, class gpu.nvidia.com backs nvidia.com/gpu: the DRA node (no column) and the
        # zero/cpu nodes are left to DRA; the device-plugin node checks 1 <= 2 free
        (True, gpu_pod(1), [None, None, None, None]),
        # 3 > 2 allocatable on the device-plugin node only: unresolvable there
        (True, gpu_pod(3), [None, (UU, ("Insufficient nvidia.com/gpu",)), None, None]),
        # gate off: only the device-plugin node has the resource
        (
            False,
            gpu_pod(1),
            [
                (UU, ("Insufficient nvidia.com/gpu",)),
                None,
                (UU, ("Insufficient nvidia.com/gpu",)),
                (UU, ("Insufficient nvidia.com/gpu",)),
            ],
        ),
        # no class backs example.com/fpga: checked everywhere, even with the gate
        (
            True,
            gpu_pod(1, resource="example.com/fpga"),
            [(UU, ("Insufficient example.com/fpga",))] * 4,
        ),
    ],
)
def test_fit_leaves_class_backed_resources_to_dra_where_allocatable_is_zero(
    gate: bool, pod: Pod, expected: list[Verdict]
) -> None:
    """Nodes: dra-0000 (DRA GPUs), dp (nvidia.com/gpu: 2), zero (nvidia.com/gpu: 0), cpu."""
    handle = handle_of([PLUGIN_NODE, ZERO_NODE, CPU_NODE], gate=gate)
    assert handle.cache.node_names == ["dra-0000", "dp", "zero", "cpu"]
    assert fit(handle, pod) == expected


def test_fit_counts_what_is_used_on_device_plugin_nodes() -> None:
    """2 allocatable - 2 requested by a running pod = 0 free: resolvable Insufficient."""
    running = gpu_pod(2, name="r").model_copy(
        update={"spec": gpu_pod(2, name="r").spec.model_copy(update={"node_name": "dp"})}
    )
    handle = handle_of([PLUGIN_NODE], [running], dra=0)
    assert fit(handle, gpu_pod(1)) == [(U, ("Insufficient nvidia.com/gpu",))]


# -- DynamicResources ------------------------------------------------------------------------------
def run_dra(handle: BackendHandle, pod: Pod) -> tuple[DynamicResources, CycleState, list[Verdict]]:
    """PreFilter + Filter of DynamicResources over every node."""
    plugin = DynamicResources({}, handle)
    snapshot = handle.cache.snapshot()
    state = CycleState()
    _, status = plugin.pre_filter(state, info(pod), snapshot)
    assert status.ok, status.message()
    ids = np.arange(snapshot.size, dtype=np.intp)
    return plugin, state, verdicts(plugin.filter(state, info(pod), snapshot, ids), snapshot.size)


def test_dra_filter_serves_only_nodes_without_the_resource() -> None:
    """2 GPUs: the DRA node allocates them; the device-plugin node needs nothing from DRA;
    the zero and CPU nodes have no devices: cannot allocate."""
    handle = handle_of([PLUGIN_NODE, ZERO_NODE, CPU_NODE])
    _, _, got = run_dra(handle, gpu_pod(2))
    cannot = (U, ("cannot allocate all claims",))
    assert got == [None, None, cannot, cannot]


def test_dra_skips_pods_without_claims_or_backed_resources() -> None:
    """With the gate off a pod asking nvidia.com/gpu has nothing for DynamicResources."""
    handle = handle_of([], gate=False)
    _, status = DynamicResources({}, handle).pre_filter(
        CycleState(), info(gpu_pod(1)), handle.cache.snapshot()
    )
    assert status.code == Code.SKIP


def test_unbacked_resource_the_node_does_not_list_cannot_fit() -> None:
    """example.com/fpga has no class: nodes not listing it fail with "cannot fit resource"."""
    fpga = make_node("fpga", cpu="16", memory="64Gi", allocatable={"example.com/fpga": 1})
    handle = handle_of([fpga])
    pod = make_pod("p", cpu="1", requests={GPU: 1, "example.com/fpga": 1})
    _, _, got = run_dra(handle, pod)
    # dra-0000 lacks fpga; node fpga lists it but has no GPU devices for nvidia.com/gpu
    assert got == [(U, ("cannot fit resource",)), (U, ("cannot allocate all claims",))]


def test_reserve_assumes_and_prebind_writes_the_special_claim() -> None:
    """Reserve holds 2 devices under the pod's claim key (in memory, with its mappings);
    PreBind writes that allocation; Unreserve drops the in-memory claim."""
    handle = handle_of([])
    pod = gpu_pod(2)
    plugin, state, got = run_dra(handle, pod)
    assert got == [None]
    handle.cache.add_pod(pod)
    handle.cache.assume_pod("default/p", "dra-0000")
    assert plugin.reserve(state, info(pod), "dra-0000").ok
    key = extended_claim_key(pod)
    record = handle.cache.claims[key]
    assert record.in_memory and record.assumed and len(record.results) == 2
    assert [r.name for r in record.claim.spec.devices.requests] == ["container-0-request-1"]
    assert plugin.pre_bind(state, info(pod), "dra-0000").ok
    backend = handle.cluster
    assert isinstance(backend, FakeBackend)
    [(written, allocation, pod_key)] = backend.allocations
    assert (written, pod_key) == (key, "default/p")
    assert isinstance(allocation, ExtendedResourceAllocation)
    assert [(m.container_name, m.request_name) for m in allocation.mappings] == [
        ("c0", "container-0-request-1")
    ]
    plugin.unreserve(state, info(pod), "dra-0000")
    assert key not in handle.cache.claims
    assert not handle.cache.snapshot().is_allocated(allocation.devices[0].device_id)


def test_existing_special_claim_makes_every_node_unschedulable() -> None:
    """A special claim of the pod left by an earlier attempt: "cannot schedule extended
    resource claim" on every node (upstream deletes it in PostFilter, then retries)."""
    handle = handle_of([PLUGIN_NODE])
    pod = gpu_pod(1)
    plugin, state, _ = run_dra(handle, pod)
    handle.cache.add_pod(pod)
    handle.cache.assume_pod("default/p", "dra-0000")
    assert plugin.reserve(state, info(pod), "dra-0000").ok  # the claim now exists (in memory)
    _, _, got = run_dra(handle, pod)
    assert got == [(U, ("cannot schedule extended resource claim",))] * 2


# -- GPU shape and solver tables -------------------------------------------------------------------
def test_gpu_shape_counts_nvidia_gpu_as_whole_gpus() -> None:
    """nvidia.com/gpu: 3 is 3 whole GPUs of any model; 1 is one whole GPU."""
    handle = handle_of([PLUGIN_NODE])
    snapshot = handle.cache.snapshot()
    plugin = DynamicResources({}, handle)
    cache = plugin._match_cache(True)
    three = gpu_shape(info(gpu_pod(3, name="three")), snapshot, cache)
    one = gpu_shape(info(gpu_pod(1, name="one")), snapshot, cache)
    assert (three.gpu_milli, three.num_gpu, three.models) == (1000, 3, None)
    assert (one.gpu_milli, one.num_gpu, one.models) == (1000, 1, None)


def test_gpu_shape_counts_an_implicit_class_resource_as_its_devices() -> None:
    """deviceclass.resource.kubernetes.io/gpu.nvidia.com: 2 (gate on) is 2 whole GPUs."""
    handle = handle_of([])
    snapshot = handle.cache.snapshot()
    cache = DynamicResources({}, handle)._match_cache(True)
    pod = gpu_pod(2, resource="deviceclass.resource.kubernetes.io/gpu.nvidia.com")
    shape = gpu_shape(info(pod), snapshot, cache)
    assert (shape.gpu_milli, shape.num_gpu) == (1000, 2)


def members(*pods: Pod) -> list[PodInfo]:
    """The PodInfos of ``pods``."""
    return [info(p) for p in pods]


def test_solver_table_counts_device_plugin_and_dra_supply() -> None:
    """res:nvidia.com/gpu supply: DRA node = its 2 free devices, device-plugin node = 2 - 1
    requested; the CPU node offers none; demand is the request."""
    running = gpu_pod(1, name="r")
    running = running.model_copy(
        update={"spec": running.spec.model_copy(update={"node_name": "dp"})}
    )
    handle = handle_of([PLUGIN_NODE, CPU_NODE], [running])
    snapshot = handle.cache.snapshot()
    builder = TableBuilder(("kubernetes.io/hostname",))
    gang = members(gpu_pod(2))
    layout = builder.layout(gang, snapshot)
    assert layout.dims[-1] == "res:nvidia.com/gpu"
    ids = np.arange(snapshot.size, dtype=np.intp)
    table, _ = builder.table(gang, snapshot, ids, layout)
    assert table.free[:, -1].tolist() == [2, 1, 0]
    assert builder.demand(gang[0], [], layout)[-1] == 2


def test_victims_free_their_request_or_their_devices() -> None:
    """On the device-plugin node a victim frees its request; on the DRA node the devices its
    extended-resource claim holds (the class accepts both GPUs)."""
    handle = handle_of([PLUGIN_NODE])
    pod = gpu_pod(2, name="v")
    plugin, state, _ = run_dra(handle, pod)
    handle.cache.add_pod(pod)
    handle.cache.assume_pod("default/v", "dra-0000")
    assert plugin.reserve(state, info(pod), "dra-0000").ok
    snapshot = handle.cache.snapshot()
    builder = TableBuilder(("kubernetes.io/hostname",))
    layout = builder.layout(members(gpu_pod(2)), snapshot)
    claims = [extended_claim_key(pod)]
    on_dra = builder.freed_resources({GPU: 0}, claims, snapshot, 0, layout)
    on_plugin = builder.freed_resources({GPU: 2}, [], snapshot, 1, layout)
    assert (on_dra, on_plugin) == ([2], [2])
