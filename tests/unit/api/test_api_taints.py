"""Toleration matching, rule by rule, for node and device taints."""

from __future__ import annotations

from typing import Any

import pytest

from scheduler.api import (
    DeviceTaint,
    DeviceToleration,
    Taint,
    Toleration,
    find_untolerated,
    is_tolerated,
    taint_text,
    tolerates,
)


def tol(
    key: str | None, op: str | None, value: str | None = None, effect: str | None = None
) -> dict[str, Any]:
    return {"key": key, "operator": op, "value": value, "effect": effect}


def taint(key: str, value: str | None, effect: str) -> dict[str, Any]:
    return {"key": key, "value": value, "effect": effect}


BAD = taint("gpu", "bad", "NoSchedule")
NO_EXEC = taint("gpu", None, "NoExecute")

# (toleration, taint, tolerated?)
RULES: list[tuple[dict[str, Any], dict[str, Any], bool]] = [
    (tol("gpu", "Equal", "bad", "NoSchedule"), BAD, True),
    (tol("gpu", None, "bad", "NoSchedule"), BAD, True),  # operator defaults to Equal
    (tol("gpu", "Equal", "good"), BAD, False),  # values differ
    (tol("gpu", "Equal"), BAD, False),  # "" != "bad"
    (tol("gpu", "Equal"), taint("gpu", None, "NoSchedule"), True),  # "" == ""
    (tol("gpu", "Exists"), BAD, True),  # Exists ignores the value
    (tol("gpu", "Exists", "x"), BAD, True),
    (tol("other", "Exists"), BAD, False),  # keys differ
    (tol(None, "Exists"), BAD, True),  # empty key + Exists tolerates everything
    (tol("", "Exists"), taint("x", None, "NoExecute"), True),
    (tol(None, "Equal", "bad"), BAD, True),  # an empty key is a wildcard for Equal too
    (tol("gpu", "Exists"), NO_EXEC, True),  # empty effect matches every effect
    (tol("gpu", "Exists", effect="NoSchedule"), BAD, True),
    (tol("gpu", "Exists", effect="NoExecute"), BAD, False),  # NoExecute does not cover NoSchedule
    (tol("gpu", "Exists", effect="NoSchedule"), NO_EXEC, False),
    (tol("gpu", "Exists", effect="None"), taint("gpu", None, "None"), True),
    (tol("gpu", "Gt", "1"), BAD, False),  # unknown operator tolerates nothing
    (tol("gpu", "exists"), BAD, False),  # operators are case-sensitive
]


@pytest.mark.parametrize(("toleration", "taint", "expected"), RULES)
def test_tolerates(toleration: dict[str, Any], taint: dict[str, Any], expected: bool) -> None:
    """Each rule of ToleratesTaint, for node and (same models) device taints."""
    assert tolerates(Toleration.model_validate(toleration), Taint.model_validate(taint)) is expected
    device = tolerates(
        DeviceToleration.model_validate(toleration), DeviceTaint.model_validate(taint)
    )
    assert device is expected


def test_find_untolerated_filters_effects_and_keeps_order() -> None:
    """Only taints with a listed effect count; untolerated ones come back in order."""
    taints = [
        Taint(key="a", effect="NoSchedule"),
        Taint(key="b", effect="PreferNoSchedule"),
        Taint(key="c", effect="NoExecute"),
        Taint(key="d", effect="None"),
    ]
    tolerations = [Toleration(key="a", operator="Exists")]
    blocking = {"NoSchedule", "NoExecute"}
    assert [t.key for t in find_untolerated(taints, tolerations, blocking)] == ["c"]
    assert [t.key for t in find_untolerated(taints, tolerations)] == ["b", "c", "d"]
    assert find_untolerated(taints, [Toleration(operator="Exists")]) == []


def test_is_tolerated_needs_one_match() -> None:
    """is_tolerated is true when any toleration tolerates the taint."""
    taint = Taint(key="a", value="1", effect="NoSchedule")
    assert is_tolerated([Toleration(key="b"), Toleration(key="a", value="1")], taint)
    assert not is_tolerated([], taint)


def test_unknown_effect_loads() -> None:
    """A taint with an effect the API does not know still loads (the allocator ignores it)."""
    assert DeviceTaint.model_validate({"key": "k", "effect": "Sometimes"}).effect == "Sometimes"


def test_taint_text() -> None:
    """Taints print as key=value:effect, or key:effect without a value."""
    assert taint_text(Taint(key="gpu", value="bad", effect="NoSchedule")) == "gpu=bad:NoSchedule"
    assert taint_text(Taint(key="gpu", effect="NoExecute")) == "gpu:NoExecute"
