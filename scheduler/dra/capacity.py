"""Consumable capacity (DRAConsumableCapacity, docs/semantics/dra.md §4.7).

:func:`consumed_capacity` answers, for one request and one device, how much of each of the
device's capacities the allocation would consume, or None when the device cannot serve the
request (a requested capacity is missing, a rounded request breaks the policy, or the
remaining capacity is too small).
"""

from __future__ import annotations

from collections.abc import Mapping

from scheduler.dra.inventory import Capacity, CompiledDevice, Number


def _round(requested: Number, capacity: Capacity) -> Number | None:
    """Round a request up by the capacity's policy; None when the policy forbids it."""
    policy = capacity.policy
    if policy is None:
        return requested
    if policy.valid_values:
        for valid in policy.valid_values:
            if valid >= requested:
                return valid
        return None  # above every valid value
    if policy.has_range:
        low = policy.range_min
        assert low is not None
        value = max(requested, low)
        step = policy.range_step
        if step:
            steps = -(-(value - low) // step)  # ceil division, exact for ints and Fractions
            value = low + steps * step
        if policy.range_max is not None and value > policy.range_max:
            return None
        return value
    return requested


def consumed_capacity(
    device: CompiledDevice,
    requests: Mapping[str, Number] | None,
    already: Mapping[str, Number] | None,
    allocating: Mapping[str, Number] | None,
) -> dict[str, Number] | None:
    """Per-capacity consumption of one allocation of ``device``, or None if it does not fit.

    ``already`` is the capacity consumed by existing shares (cluster state), ``allocating``
    what earlier picks of the same allocate call consume. For every capacity the device
    defines, the consumption is the request (rounded by the request policy), else the
    policy default, else the whole value (dra.md §4.7).
    """
    requests = requests or {}
    for name in requests:
        if name not in device.capacity:
            return None
    consumed: dict[str, Number] = {}
    for name, capacity in device.capacity.items():
        if name in requests:
            amount = _round(requests[name], capacity)
            if amount is None:
                return None
        elif capacity.policy is not None and capacity.policy.default is not None:
            amount = capacity.policy.default
        else:
            amount = capacity.value
        in_use = (already or {}).get(name, 0) + (allocating or {}).get(name, 0)
        if in_use + amount > capacity.value:
            return None
        consumed[name] = amount
    return consumed
