"""Hypothesis properties of PodTopologySpread's filter on random small clusters: placing pods
one by one on nodes the filter admits (DoNotSchedule, maxSkew 1) never lets the skew among
the eligible domains exceed 1, never uses a node without the topology key, and always
leaves a place while a domain exists; with more ``minDomains`` than domains no domain ever
holds more than ``maxSkew`` pods."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scheduler.api.pod import Pod
from scheduler.framework.cycle_state import CycleState
from scheduler.plugins.podtopologyspread import PodTopologySpread
from tests.builders import HOSTNAME_LABEL, info, make_handle, make_node, make_pod

PROFILE = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
KEYS = ("zone", HOSTNAME_LABEL)


@dataclass(frozen=True)
class Cluster:
    """Node i's zone (None: no zone label), the spread key, and how many pods to place."""

    zones: tuple[str | None, ...]
    key: str
    pods: int
    min_domains: int | None


@st.composite
def clusters(draw: st.DrawFn) -> Cluster:
    """2-8 nodes over up to 4 zones (some without a zone), a key, 1-16 pods, minDomains."""
    zones = draw(st.lists(st.sampled_from([None, "z0", "z1", "z2", "z3"]), min_size=2, max_size=8))
    return Cluster(
        zones=tuple(zones),
        key=draw(st.sampled_from(KEYS)),
        pods=draw(st.integers(1, 16)),
        min_domains=draw(st.one_of(st.none(), st.integers(1, 6))),
    )


def replica(i: int, cluster: Cluster, node: str | None = None) -> Pod:
    """Replica ``i`` (app=web) with one DoNotSchedule maxSkew 1 constraint on the key."""
    constraint: dict[str, object] = {
        "maxSkew": 1,
        "topologyKey": cluster.key,
        "whenUnsatisfiable": "DoNotSchedule",
        "labelSelector": {"matchLabels": {"app": "web"}},
    }
    if cluster.min_domains is not None:
        constraint["minDomains"] = cluster.min_domains
    return make_pod(f"web-{i}", labels={"app": "web"}, topology_spread=[constraint], node_name=node)


@PROFILE
@given(cluster=clusters(), data=st.data())
def test_skew_never_exceeds_max_skew(cluster: Cluster, data: st.DataObject) -> None:
    """After every admitted placement: skew <= 1 over the eligible domains (or, with fewer
    domains than minDomains, no domain above 1); keyless nodes are never used; and while
    minDomains is met, some node always admits the next pod."""
    nodes = [
        make_node(f"n{i}", labels={"zone": zone} if zone else {})
        for i, zone in enumerate(cluster.zones)
    ]
    handle = make_handle(nodes)
    plugin = PodTopologySpread({}, handle)
    keyed = [n.name for n in nodes if cluster.key in n.metadata.labels]
    domains = {n.metadata.labels[cluster.key] for n in nodes if n.name in keyed}
    counts: Counter[str] = Counter(dict.fromkeys(domains, 0))
    for i in range(cluster.pods):
        snapshot = handle.cache.snapshot()
        state = CycleState()
        pod = info(replica(i, cluster))
        _, status = plugin.pre_filter(state, pod, snapshot)
        assert status.ok
        ids = np.arange(snapshot.size, dtype=np.intp)
        admitted = [
            snapshot.node_names[j] for j in ids[plugin.filter(state, pod, snapshot, ids).passed]
        ]
        assert set(admitted) <= set(keyed)
        if domains and len(domains) >= (cluster.min_domains or 1):
            assert admitted, f"no node admits pod {i} with counts {dict(counts)}"
        if not admitted:
            break
        node = data.draw(st.sampled_from(admitted), label=f"node of pod {i}")
        handle.cache.add_pod(replica(i, cluster, node))
        counts[handle.cache.nodes[node].metadata.labels[cluster.key]] += 1
        if len(domains) < (cluster.min_domains or 1):
            assert max(counts.values()) <= 1
        else:
            assert max(counts.values()) - min(counts.values()) <= 1
