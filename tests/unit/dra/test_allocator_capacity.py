"""Consumable capacity (docs/semantics/dra.md §4.7): how a request is rounded by the device's
requestPolicy, what is consumed without a request, and when the device is full."""

from __future__ import annotations

from fractions import Fraction

import pytest

from scheduler.dra.capacity import consumed_capacity
from scheduler.dra.inventory import Capacity, CompiledDevice, Number, RequestPolicy

RANGE = RequestPolicy(default=10, range_min=10, range_max=60, range_step=5)
RANGE_NO_STEP = RequestPolicy(range_min=10, range_max=60)
RANGE_NO_MAX = RequestPolicy(range_min=0, range_step=1)
HALF_STEPS = RequestPolicy(range_min=1, range_step=Fraction(1, 2))
VALUES = RequestPolicy(default=10, valid_values=(10, 20, 50))
DEFAULT_ONLY = RequestPolicy(default=7)


def device(policy: RequestPolicy | None, value: Number = 100) -> CompiledDevice:
    """A device with one capacity ``bw`` of ``value`` under ``policy``."""
    return CompiledDevice(name="d", attributes={}, capacity={"bw": Capacity(value, policy)})


ROUNDING_TABLE: list[tuple[RequestPolicy | None, Number | None, Number | None]] = [
    # policy, requested (None = no request), consumed (None = device rejected)
    (None, 37, 37),  # no policy: the request as is
    (None, None, 100),  # no policy, no request: the full value
    (RANGE, 12, 15),  # max(12, 10) = 12; 10 + ceil((12 - 10) / 5) * 5 = 10 + 1*5 = 15
    (RANGE, 3, 10),  # below min: max(3, 10) = 10; ceil(0 / 5) = 0 -> 10
    (RANGE, 10, 10),  # exactly min
    (RANGE, 15, 15),  # on the grid: ceil(5 / 5) = 1 -> 15
    (RANGE, 58, 60),  # 10 + ceil(48 / 5) * 5 = 10 + 10*5 = 60 <= max 60
    (RANGE, 60, 60),  # exactly max
    (RANGE, 61, None),  # 10 + ceil(51 / 5) * 5 = 10 + 11*5 = 65 > max 60: rejected
    (RANGE, None, 10),  # no request: the policy default 10
    (RANGE_NO_STEP, 12, 12),  # no step: max(12, 10) = 12 unchanged
    (RANGE_NO_STEP, 61, None),  # 61 > max 60
    (RANGE_NO_MAX, 0, 0),  # min 0 step 1: 0 + ceil(0 / 1) * 1 = 0
    (RANGE_NO_MAX, None, 100),  # no request, no default: the full value
    (HALF_STEPS, Fraction(5, 4), Fraction(3, 2)),  # 1 + ceil((1/4) / (1/2)) * 1/2 = 1 + 1/2
    (HALF_STEPS, 2, 2),  # 1 + ceil(1 / (1/2)) * 1/2 = 1 + 2*1/2 = 2
    (VALUES, 15, 20),  # smallest valid value >= 15 of [10, 20, 50]
    (VALUES, 20, 20),  # a valid value itself
    (VALUES, 1, 10),  # below every valid value: the smallest, 10
    (VALUES, 51, None),  # above every valid value: the request stays 51, not valid -> rejected
    (VALUES, None, 10),  # no request: the default 10
    (DEFAULT_ONLY, None, 7),  # default without range/values
    (DEFAULT_ONLY, 33, 33),  # a request overrides the default, no rounding
    (RANGE, 101, None),  # 10 + ceil(91/5)*5 = 105 > max 60 (and > value 100)
]


@pytest.mark.parametrize(("policy", "requested", "consumed"), ROUNDING_TABLE)
def test_rounding_table(
    policy: RequestPolicy | None, requested: Number | None, consumed: Number | None
) -> None:
    """Each request is rounded as dra.md §4.7 describes (or the device is rejected)."""
    requests = {"bw": requested} if requested is not None else None
    got = consumed_capacity(device(policy), requests, None, None)
    if consumed is None:
        assert got is None
    else:
        assert got == {"bw": consumed}


IN_USE_TABLE: list[tuple[Number, Number, Number, bool]] = [
    # already allocated, being allocated in this call, requested, fits (value 100)
    (60, 30, 10, True),  # 60 + 30 + 10 = 100 <= 100
    (60, 30, 15, False),  # 60 + 30 + 15 = 105 > 100
    (0, 0, 100, True),  # 0 + 0 + 100 = 100
    (0, 0, 101, False),  # 101 > 100
    (99, 0, 1, True),  # 99 + 1 = 100
    (0, 99, 2, False),  # 99 + 2 = 101: the running total of this call counts too
]


@pytest.mark.parametrize(("already", "allocating", "requested", "fits"), IN_USE_TABLE)
def test_in_use_capacity(
    already: Number, allocating: Number, requested: Number, fits: bool
) -> None:
    """A share fits only while allocated + being allocated + consumed <= value."""
    got = consumed_capacity(device(None), {"bw": requested}, {"bw": already}, {"bw": allocating})
    assert (got is not None) == fits
    if fits:
        assert got == {"bw": requested}


def test_rounded_value_is_what_must_fit() -> None:
    """The rounded amount, not the raw request, is checked against what is left."""
    # RANGE: request 12 rounds to 15; 90 already used: 90 + 12 = 102 would not fit either,
    # but 86 used: 86 + 12 = 98 fits raw while 86 + 15 = 101 does not.
    assert consumed_capacity(device(RANGE), {"bw": 12}, {"bw": 86}, None) is None
    assert consumed_capacity(device(RANGE), {"bw": 12}, {"bw": 85}, None) == {"bw": 15}


def test_unknown_capacity_request_rejects_device() -> None:
    """Requesting a capacity the device does not define makes the device ineligible."""
    assert consumed_capacity(device(None), {"memory": 1}, None, None) is None


def test_every_capacity_of_the_device_is_consumed() -> None:
    """Capacities the request does not name consume their default, or their full value."""
    d = CompiledDevice(
        name="d",
        attributes={},
        capacity={"bw": Capacity(100, DEFAULT_ONLY), "mem": Capacity(8), "cores": Capacity(4)},
    )
    # bw: requested 12 (no range: as is); mem: no policy -> full 8; cores: full 4
    assert consumed_capacity(d, {"bw": 12}, None, None) == {"bw": 12, "mem": 8, "cores": 4}
    # nothing requested: bw default 7, mem 8, cores 4
    assert consumed_capacity(d, None, None, None) == {"bw": 7, "mem": 8, "cores": 4}
    # cores already half used by other shares: the full-value default 4 no longer fits
    assert consumed_capacity(d, None, {"cores": 2}, None) is None


def test_device_without_capacity_fits_any_number_of_times() -> None:
    """A device with no capacities consumes nothing and is never full."""
    d = CompiledDevice(name="d", attributes={}, capacity={})
    assert consumed_capacity(d, None, None, None) == {}
    assert consumed_capacity(d, {}, {}, {}) == {}
