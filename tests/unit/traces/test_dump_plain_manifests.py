"""The dump reader takes plain manifests as `kubectl apply` would: no creationTimestamp means
arrival at 0, no namespace means the namespace "default" (so a pod finds the claim template
and PodGroup of its file); explicit namespaces and cluster-scoped objects are left alone."""

from __future__ import annotations

from pathlib import Path

from scheduler.api.dra import ResourceClaimTemplate
from scheduler.api.podgroup import PodGroup
from scheduler.api.priority import PriorityClass
from simulator.traces.dump import read_dump

MANIFEST = """\
apiVersion: scheduling.k8s.io/v1
kind: PriorityClass
metadata: {name: batch}
value: -10
---
apiVersion: resource.k8s.io/v1
kind: ResourceClaimTemplate
metadata: {name: one-gpu}
spec:
  spec:
    devices:
      requests:
      - name: gpu
        exactly: {deviceClassName: gpu.nvidia.com, allocationMode: ExactCount, count: 1}
---
apiVersion: scheduling.x-k8s.io/v1alpha1
kind: PodGroup
metadata: {name: pair, namespace: team-a}
spec: {minMember: 2}
---
apiVersion: v1
kind: Pod
metadata: {name: plain}
spec:
  containers: [{name: main, image: busybox}]
  resourceClaims: [{name: gpu, resourceClaimTemplateName: one-gpu}]
---
apiVersion: leaderworkerset.x-k8s.io/v1
kind: LeaderWorkerSet
metadata: {name: lws}
spec:
  replicas: 1
  leaderWorkerTemplate:
    size: 2
    workerTemplate:
      spec:
        containers: [{name: main, image: busybox}]
---
apiVersion: v1
kind: Pod
metadata: {name: placed, namespace: team-a}
spec:
  containers: [{name: main, image: busybox}]
"""


def test_plain_manifest_objects_land_in_default_and_arrive_at_zero(tmp_path: Path) -> None:
    """Pods, LWS pods and the claim template without a namespace are read into "default";
    explicit namespaces stay; the PriorityClass gets none; every pod arrives at 0."""
    path = tmp_path / "plain.yaml"
    path.write_text(MANIFEST, encoding="utf-8")
    trace = read_dump(path)
    pods = {item.pod.key: item for item in trace.items}
    assert set(pods) == {"default/plain", "default/lws-0", "default/lws-0-1", "team-a/placed"}
    assert {item.arrival for item in trace.items} == {0.0}
    kept = {type(obj): obj for obj in trace.objects}
    assert kept[ResourceClaimTemplate].key == "default/one-gpu"
    assert kept[PodGroup].key == "team-a/pair"
    assert kept[PriorityClass].key == "batch"
    assert kept[PriorityClass].metadata.namespace is None
