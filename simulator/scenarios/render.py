"""A generated trace as Kubernetes objects: what ``kubectl get -o yaml`` would have shown.

Who calls: ``tessera scenario render``. The output directory holds three multi-document YAML
files, which :func:`simulator.inputs.read_trace` reads back (as a dump) into the same trace:

* ``objects.yaml`` — PriorityClasses, ResourceClaimTemplates, LeaderWorkerSets (their pods
  are in ``pods.yaml``, so the dump reader does not expand them) and PodGroups;
* ``pods.yaml`` — every pod in trace order, with ``metadata.creationTimestamp`` (creation),
  ``tessera.io/finished-at`` (deletion), ``tessera.io/duration-seconds`` (a Job pod's work)
  and ``tessera.io/checkpoint-seconds``;
* ``faults.yaml`` — a DeviceTaintRule (``resource.k8s.io/v1beta2``, ``NoExecute``, created at
  the failure, ``tessera.io/finished-at`` = repair) per device failure, and a Node stub
  carrying the node lifecycle controller's ``node.kubernetes.io/unreachable:NoExecute``
  taint (``timeAdded`` = failure, ``tessera.io/finished-at`` = repair) per node failure.

The directory is written all-or-nothing (:func:`simulator.atomic.staged_directory`).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from scheduler.api.loaders import dump_objects
from simulator.atomic import staged_directory
from simulator.scenarios.generate import rfc3339
from simulator.traces.model import ANNOTATION_FINISHED_AT, Fault, Trace

RENDER_FILES = ("objects.yaml", "pods.yaml", "faults.yaml")
NODE_LOST_TAINT = "node.kubernetes.io/unreachable"


def fault_objects(faults: list[Fault], epoch: dt.datetime, name: str) -> list[dict[str, Any]]:
    """The faults as DeviceTaintRules and Node stubs (see the module docstring)."""
    out: list[dict[str, Any]] = []
    for k, fault in enumerate(faults):
        notes = {}
        if fault.repair_after is not None:
            notes[ANNOTATION_FINISHED_AT] = rfc3339(epoch, fault.time + fault.repair_after)
        when = rfc3339(epoch, fault.time)
        if fault.device is not None:
            driver, pool, device = fault.device
            out.append(
                {
                    "apiVersion": "resource.k8s.io/v1beta2",
                    "kind": "DeviceTaintRule",
                    "metadata": {
                        "name": f"{name}-fault-{k:04d}",
                        "creationTimestamp": when,
                        "annotations": notes,
                    },
                    "spec": {
                        "deviceSelector": {"driver": driver, "pool": pool, "device": device},
                        "taint": {
                            "key": fault.key,
                            "value": fault.value,
                            "effect": fault.effect,
                            "timeAdded": when,
                        },
                    },
                }
            )
        elif fault.node is not None:
            out.append(
                {
                    "apiVersion": "v1",
                    "kind": "Node",
                    "metadata": {"name": fault.node, "annotations": notes},
                    "spec": {
                        "taints": [
                            {"key": NODE_LOST_TAINT, "effect": "NoExecute", "timeAdded": when}
                        ]
                    },
                }
            )
    return out


def render(trace: Trace, out: Path, epoch: dt.datetime) -> list[Path]:
    """Write ``trace`` into ``out`` (see the module docstring); the files written."""
    import yaml  # noqa: PLC0415 - only here

    with staged_directory(Path(out), RENDER_FILES) as staging:
        (staging / "objects.yaml").write_text(dump_objects(trace.objects), encoding="utf-8")
        (staging / "pods.yaml").write_text(
            dump_objects(item.pod for item in trace.items), encoding="utf-8"
        )
        faults = fault_objects(trace.faults, epoch, trace.name)
        text = yaml.safe_dump_all(faults, sort_keys=False) if faults else ""
        (staging / "faults.yaml").write_text(text, encoding="utf-8")
    return [Path(out) / name for name in RENDER_FILES]
