"""Framework-level cycle-state keys that carry a decision from one plugin to another.

Plugins never call each other and keep their own data under private keys. The one
exception is the device-choice channel: in ``--device-choice policy`` mode a scoring policy
(FGD, BestFit, …) also decides *which* device of the chosen node to use, as the FGD paper's
scheduler does. It writes its per-node preference here; DynamicResources reads it at
Reserve and tries those devices first. In ``first-fit`` mode nobody writes it, and the
allocator walks devices in upstream order, exactly as a stock kube-scheduler does.
"""

from __future__ import annotations

from collections.abc import Mapping

from scheduler.dra.inventory import DeviceID
from scheduler.framework.cycle_state import StateKey

DEVICE_PREFERENCE: StateKey[Mapping[int, tuple[DeviceID, ...]]] = StateKey("DevicePreference")
"""Dense node id -> devices to try first on that node, in order."""
