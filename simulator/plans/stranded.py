"""Stranded capacity: how many more pods of a shape fit in a replay's cluster *now*.

Who calls: :func:`simulator.plans.points.run_task` for a snapshot task (a replay stopped at
``snapshot_at``). :func:`measure` reads the replay's cluster at that moment and, for each
probe shape, asks the replay's own framework (the policy's filters, the DRA allocator,
topology plugins) to place probe pods one after another until one does not fit — the
``cluster-capacity`` question asked of the real scheduler — then removes the probes, so every
shape sees the same state. Probes have the lowest priority there is, so preemption never
frees room for them: what is counted is capacity that is free and usable as it lies.

Shapes (:func:`default_probes` picks them from the cluster spec):

* ``gpus:N`` — a pod claiming N whole GPUs (``gpu.nvidia.com``) — e.g. one member of an
  8-GPU gang;
* ``mig:PROFILE`` — a pod claiming one MIG partition of that profile (``mig.nvidia.com``);
* ``nvidia-gpu:N`` — a pod asking for ``nvidia.com/gpu: N`` (device-plugin pools);
* ``tpu-slice`` — a whole TPU slice: one pod per VM of a slice (node pool
  ``cloud.google.com/gke-nodepool``), each claiming all the VM's chips; a slice counts when
  every VM takes its pod.

Free accelerators are the GPU view's free whole-GPU equivalents; ``stranded`` is what the
shape cannot use: free minus fits x accelerators per probe.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from scheduler.api.dra import ResourceClaimTemplate
from scheduler.api.loaders import load_object
from scheduler.framework.podinfo import pod_info
from simulator.drivers.catalog import gpu_model
from simulator.experiments.replay import Replay

__all__ = ["MAX_PROBES", "default_probes", "measure", "probe_label"]

MAX_PROBES = 400
"""At most this many probe pods per shape (the count is then a lower bound)."""
PROBE_NAMESPACE = "tessera-probe"
PROBE_PRIORITY = -2_000_000_000
SLICE_LABEL = "cloud.google.com/gke-nodepool"
HOSTNAME = "kubernetes.io/hostname"
GPU_PROFILE = "device.attributes['gpu.nvidia.com'].profile"


def default_probes(cluster: Mapping[str, Any]) -> tuple[str, ...]:
    """The probe shapes for a cluster spec (as data; see the module docstring)."""
    out: list[str] = []
    for pool in cluster.get("nodePools", ()):
        accel = pool.get("accelerator") or {}
        kind = accel.get("kind")
        if kind == "nvidia":
            count = int(accel["count"])
            if accel.get("exposure", "dra") == "device-plugin":
                out.append(f"nvidia-gpu:{count}")
                continue
            mig = (accel.get("mig") or {}).get("mode", "none")
            if mig != "static":
                out.append(f"gpus:{count}")
            if mig != "none":
                names = [p.name for p in gpu_model(accel["model"]).mig_profiles]
                for prefix in ("1g.", "3g."):
                    found = next((n for n in names if n.startswith(prefix)), None)
                    if found is not None:
                        out.append(f"mig:{found}")
        elif kind == "tpu":
            out.append("tpu-slice")
    return tuple(dict.fromkeys(out))


def probe_label(probe: str) -> str:
    """A probe shape in words (plural)."""
    kind, _, arg = probe.partition(":")
    if kind == "gpus":
        return f"{arg}-GPU pods (DRA)"
    if kind == "mig":
        return f"MIG {arg} slices"
    if kind == "nvidia-gpu":
        return f"nvidia.com/gpu: {arg} pods"
    return "whole TPU slices"


def _template(name: str, request: dict[str, Any]) -> ResourceClaimTemplate:
    obj = load_object(
        {
            "apiVersion": "resource.k8s.io/v1",
            "kind": "ResourceClaimTemplate",
            "metadata": {"name": name, "namespace": PROBE_NAMESPACE},
            "spec": {"spec": {"devices": {"requests": [{"name": "accel", "exactly": request}]}}},
        },
        source="stranded-capacity probe",
    )
    assert isinstance(obj, ResourceClaimTemplate)
    return obj


def _pod(
    name: str, template: str | None, extended: Mapping[str, str], selector: Mapping[str, str]
) -> Any:
    resources: dict[str, Any] = {"requests": {"cpu": "1", "memory": "1Gi", **extended}}
    if extended:
        resources["limits"] = dict(extended)
    spec: dict[str, Any] = {
        "priority": PROBE_PRIORITY,
        "containers": [
            {"name": "main", "image": "registry.k8s.io/pause:3.10", "resources": resources}
        ],
    }
    if template is not None:
        resources["claims"] = [{"name": "accel"}]
        spec["resourceClaims"] = [{"name": "accel", "resourceClaimTemplateName": template}]
    if selector:
        spec["nodeSelector"] = dict(selector)
    return load_object(
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": name, "namespace": PROBE_NAMESPACE},
            "spec": spec,
        },
        source="stranded-capacity probe",
    )


class _Prober:
    """Places probe pods through the replay's framework and takes them away again."""

    def __init__(self, replay: Replay) -> None:
        self.replay = replay
        self.backend = replay.backend
        self.framework = replay.framework
        self.placed: list[str] = []
        self.serial = 0

    def template(self, name: str, request: dict[str, Any]) -> str:
        if f"{PROBE_NAMESPACE}/{name}" not in self.backend.templates:
            self.backend.add_template(_template(name, request))
        return name

    def place(
        self, template: str | None, extended: Mapping[str, str], selector: Mapping[str, str]
    ) -> bool:
        self.serial += 1
        pod = self.backend.create_pod(_pod(f"probe-{self.serial}", template, extended, selector))
        cache = self.replay.cache
        info = pod_info(pod, priority_classes=cache.priority_classes, pod_groups=cache.pod_groups)
        result = self.framework.schedule_one(info)
        key = info.key
        if result.status.ok and result.node is not None:
            self.placed.append(key)
            return True
        self.backend.delete_pod(key)
        return False

    def clear(self) -> None:
        for key in reversed(self.placed):
            self.backend.delete_pod(key)
        self.placed = []

    def count(self, template: str | None, extended: Mapping[str, str]) -> tuple[int, bool]:
        fits = 0
        while fits < MAX_PROBES and self.place(template, extended, {}):
            fits += 1
        self.clear()
        return fits, fits >= MAX_PROBES


def _slices(replay: Replay) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for name in replay.cache.node_names:
        labels = replay.cache.nodes[name].metadata.labels
        if "cloud.google.com/gke-tpu-topology" in labels and SLICE_LABEL in labels:
            out.setdefault(labels[SLICE_LABEL], []).append(name)
    return out


def _probe(prober: _Prober, probe: str, replay: Replay) -> dict[str, Any]:
    kind, _, arg = probe.partition(":")
    size = 0.0
    if kind == "gpus":
        n = int(arg)
        template = prober.template(
            f"gpus-{n}",
            {"deviceClassName": "gpu.nvidia.com", "allocationMode": "ExactCount", "count": n},
        )
        fits, capped = prober.count(template, {})
        size = float(n)
    elif kind == "mig":
        profile = arg
        template = prober.template(
            f"mig-{profile.replace('.', '').replace('+', '-')}",
            {
                "deviceClassName": "mig.nvidia.com",
                "allocationMode": "ExactCount",
                "count": 1,
                "selectors": [{"cel": {"expression": f"{GPU_PROFILE} == '{profile}'"}}],
            },
        )
        fits, capped = prober.count(template, {})
        size = int(profile.split("g.")[0]) / 7.0
    elif kind == "nvidia-gpu":
        fits, capped = prober.count(None, {"nvidia.com/gpu": arg})
        size = float(arg)
    else:
        fits, capped = 0, False
        for slice_name, vms in sorted(_slices(replay).items()):
            chips = _chips(replay, vms[0])
            template = prober.template(
                f"tpu-{chips}",
                {
                    "deviceClassName": "tpu.google.com",
                    "allocationMode": "ExactCount",
                    "count": chips,
                },
            )
            before = len(prober.placed)
            if all(prober.place(template, {}, {HOSTNAME: vm}) for vm in vms):
                fits += 1
                size = float(chips * len(vms))
            else:
                for key in prober.placed[before:]:
                    prober.backend.delete_pod(key)
                del prober.placed[before:]
            del slice_name
        prober.clear()
    return {
        "probe": probe,
        "label": probe_label(probe),
        "fits": fits,
        "capped": capped,
        "size": size,
    }


def _chips(replay: Replay, node: str) -> int:
    view = replay.cache.gpu_view()
    i = replay.cache.node_index[node]
    return int(view.gpu_count[i])


def measure(replay: Replay, probes: Sequence[str]) -> dict[str, Any]:
    """The cluster at the replay's end: per node its topology labels and accelerators held
    and in service, and per probe shape how many more fit (see the module docstring)."""
    cache = replay.cache
    view = cache.gpu_view()
    names = list(cache.node_names)
    levels = list(replay.cluster.levels)
    total: list[int] = []
    used: list[float] = []
    for name in names:
        i = cache.node_index[name]
        count = int(view.gpu_count[i])
        free = float(view.gpu_free[i][:count].sum()) / 1000.0
        total.append(count)
        used.append(round(count - free, 3))
    free_total = round(sum(total) - sum(used), 3)
    prober = _Prober(replay)
    shapes = []
    for probe in probes:
        shape = _probe(prober, probe, replay)
        shape["stranded"] = round(max(free_total - shape["fits"] * shape["size"], 0.0), 3)
        shapes.append(shape)
    return {
        "time": replay.config.horizon,
        "levels": levels,
        "nodes": names,
        "labels": [
            {k: v for k, v in cache.nodes[n].metadata.labels.items() if k in levels} for n in names
        ],
        "accelerators": total,
        "used": used,
        "free": free_total,
        "shapes": shapes,
    }
