"""The scheduling queue with kube-scheduler's behaviour: activeQ priority order, backoff
(1 s doubling to 10 s), unschedulable pods moved back by cluster events or the 5-minute
flush, and removal."""

from __future__ import annotations

import pytest

from scheduler.framework.podinfo import PodInfo, pod_info
from simulator.queue import QueuedPod, SchedulingQueue
from tests.builders import make_pod


def pod(name: str, priority: int = 0) -> PodInfo:
    """A PodInfo of the given priority."""
    return pod_info(make_pod(name, priority=priority))


def pop_all(queue: SchedulingQueue, now: float) -> list[str]:
    """Names popped from activeQ at ``now`` until it is empty."""
    out = []
    while (queued := queue.pop(now)) is not None:
        out.append(queued.info.name)
    return out


def test_active_queue_orders_by_priority_then_enqueue_time_then_insertion() -> None:
    """Higher priority first; equal priority by enqueue time; equal time by insertion."""
    queue = SchedulingQueue()
    queue.add(pod("low-early", 0), 1.0)
    queue.add(pod("high-late", 10), 3.0)
    queue.add(pod("low-b", 0), 2.0)
    queue.add(pod("low-a", 0), 2.0)
    queue.add(pod("high-early", 10), 2.5)
    assert len(queue) == 5 and "default/low-a" in queue
    assert pop_all(queue, 4.0) == ["high-early", "high-late", "low-early", "low-b", "low-a"]
    assert len(queue) == 0 and queue.pop(5.0) is None


@pytest.mark.parametrize(
    ("attempts", "backoff"),
    # 1 x 2^(attempts-1) seconds, capped at 10: 1, 2, 4, 8, 10, 10
    [(1, 1.0), (2, 2.0), (3, 4.0), (4, 8.0), (5, 10.0), (6, 10.0)],
)
def test_backoff_doubles_from_one_second_to_ten(attempts: int, backoff: float) -> None:
    """backoff_until = failed_at + min(1 x 2^(attempts-1), 10)."""
    queued = QueuedPod(pod("p"), 0.0, 0.0, attempts=attempts, failed_at=100.0)
    assert queued.backoff_until(1.0, 10.0) == 100.0 + backoff


def test_error_requeue_waits_out_the_backoff() -> None:
    """After an error the pod waits out its backoff (1 s, then 2 s) in backoffQ."""
    queue = SchedulingQueue()
    queue.add(pod("p"), 0.0)
    queued = queue.pop(0.0)
    assert queued is not None
    queue.requeue_error(queued, 10.0)  # attempt 1 -> until 11
    assert queue.pop(10.9) is None
    assert queue.next_timer() == 11.0
    again = queue.pop(11.0)
    assert again is not None and again.attempts == 1
    queue.requeue_error(again, 20.0)  # attempt 2 -> until 22
    assert queue.pop(21.5) is None
    assert pop_all(queue, 22.0) == ["p"]


def test_unschedulable_pods_wait_for_a_cluster_event() -> None:
    """move_all sends unschedulable pods to activeQ, or to backoffQ while backing off."""
    queue = SchedulingQueue()
    for name in ("a", "b"):
        queue.add(pod(name), 0.0)
    a, b = queue.pop(0.0), queue.pop(0.0)
    assert a is not None and b is not None
    queue.requeue_unschedulable(a, 0.0)  # backoff until 1.0
    queue.requeue_unschedulable(b, 5.0)  # backoff until 6.0
    assert set(queue.unschedulable) == {"default/a", "default/b"}
    assert queue.pop(100.0) is None  # not retried without an event (before 300 s)
    assert queue.move_all(5.5) == 2
    assert queue.unschedulable == {}
    assert pop_all(queue, 5.5) == ["a"]  # b is still backing off
    assert queue.next_timer() == 6.0
    assert pop_all(queue, 6.0) == ["b"]


def test_unschedulable_pods_are_flushed_after_five_minutes() -> None:
    """Without any event, a pod unschedulable for 300 s goes back to activeQ."""
    queue = SchedulingQueue()
    queue.add(pod("stuck"), 0.0)
    queued = queue.pop(0.0)
    assert queued is not None
    queue.requeue_unschedulable(queued, 10.0)
    assert queue.next_timer() == 310.0
    assert queue.pop(309.9) is None
    assert pop_all(queue, 310.0) == ["stuck"]
    assert queue.unschedulable == {}


def test_requeue_active_retries_at_once_with_its_priority() -> None:
    """After preempting, the pod goes straight back to activeQ ahead of lower priorities."""
    queue = SchedulingQueue()
    queue.add(pod("batch", -10), 0.0)
    queue.add(pod("serve", 100), 1.0)
    serve = queue.pop(1.0)
    assert serve is not None and serve.info.name == "serve"
    queue.requeue_active(serve, 1.0)
    assert serve.attempts == 1
    assert pop_all(queue, 1.0) == ["serve", "batch"]


def test_requeue_active_goes_first_among_its_priority_after_higher_ones() -> None:
    """A preemptor's nominated node counts against pods of equal or lower priority only:
    it retries before the pods of its priority already waiting (earlier enqueue times
    included), after those of higher priority."""
    queue = SchedulingQueue()
    queue.add(pod("serve-a", 100), 0.0)
    queue.add(pod("serve-b", 100), 0.0)
    queue.add(pod("urgent", 200), 2.0)
    first = queue.pop(0.0)
    assert first is not None and first.info.name == "urgent"
    queue.requeue_unschedulable(first, 2.0)
    preemptor = queue.pop(2.0)
    assert preemptor is not None and preemptor.info.name == "serve-a"
    queue.requeue_active(preemptor, 2.0)
    queue.move_all(2.0)  # urgent back to activeQ, behind nothing of its priority
    assert pop_all(queue, 20.0) == ["urgent", "serve-a", "serve-b"]


def test_remove_drops_a_pod_from_any_sub_queue() -> None:
    """remove() takes a pod out of any sub-queue; stale heap entries are skipped."""
    queue = SchedulingQueue()
    for name in ("back", "unsched", "act"):
        queue.add(pod(name), 0.0)
    back, unsched = queue.pop(0.0), queue.pop(0.0)
    assert back is not None and unsched is not None
    queue.requeue_error(back, 0.0)
    queue.requeue_unschedulable(unsched, 0.0)
    for name in ("act", "back", "unsched"):
        removed = queue.remove(f"default/{name}")
        assert removed is not None and removed.info.name == name
    assert queue.remove("default/act") is None
    assert len(queue) == 0 and queue.unschedulable == {}
    assert pop_all(queue, 1000.0) == []
    queue.add(pod("act"), 1000.0)
    assert pop_all(queue, 1000.0) == ["act"]


def test_pending_lists_every_waiting_pod() -> None:
    """pending() covers active, backoff and unschedulable pods; has_active only live ones."""
    queue = SchedulingQueue()
    for name in ("a", "b", "c"):
        queue.add(pod(name), 0.0)
    a, b = queue.pop(0.0), queue.pop(0.0)
    assert a is not None and b is not None and (a.info.name, b.info.name) == ("a", "b")
    queue.requeue_error(a, 0.0)  # backoffQ until 1.0
    queue.requeue_unschedulable(b, 0.0)
    assert sorted(q.info.name for q in queue.pending()) == ["a", "b", "c"]
    assert queue.has_active
    queue.remove("default/b")
    assert pop_all(queue, 0.0) == ["c"]
    assert not queue.has_active
    assert [q.info.name for q in queue.pending()] == ["a"]


def test_backoff_of_a_long_starving_pod_stays_capped() -> None:
    """A pod that failed 1,100 times still backs off the 10 s cap, without overflow."""
    queue = SchedulingQueue()
    queue.add(pod("starving"), 0.0)
    queued = queue.pop(0.0)
    assert queued is not None
    queued.attempts = 1_099
    queue.requeue_unschedulable(queued, 50_000.0)  # attempt 1,100
    assert queued.backoff_until(1.0, 10.0) == 50_010.0
    assert queue.move_all(50_020.0) == 1
    assert pop_all(queue, 50_020.0) == ["starving"]


# -- SchedulerPopFromBackoffQ (kube-scheduler 1.33+ default) -----------------------------------


def failed(queue: SchedulingQueue, name: str, at: float, priority: int = 0) -> QueuedPod:
    """Add ``name``, pop it and park it as unschedulable at ``at``."""
    queue.add(pod(name, priority), at)
    popped = queue.pop(at)
    assert popped is not None and popped.info.name == name
    queue.requeue_unschedulable(popped, at)
    return popped


def test_pop_from_backoff_takes_a_backing_off_pod_when_active_is_empty() -> None:
    """A pod an event moved while it backs off is popped at once when activeQ is empty, but
    only after every pod in activeQ; without the gate it waits out its backoff."""
    for enabled, expected in ((True, ["new", "moved"]), (False, ["new"])):
        queue = SchedulingQueue(pop_from_backoff=enabled)
        failed(queue, "moved", 10.0)
        assert queue.move_all(10.0) == 1  # backing off until 11
        queue.add(pod("new"), 10.0)
        assert pop_all(queue, 10.0) == expected


def test_pop_from_backoff_never_takes_a_pod_backing_off_after_an_error() -> None:
    """podErrorBackoffQ is not popped early: the errored pod waits out its backoff."""
    queue = SchedulingQueue(pop_from_backoff=True)
    queue.add(pod("p"), 0.0)
    popped = queue.pop(0.0)
    assert popped is not None
    queue.requeue_error(popped, 10.0)  # expires at 11, flushed at the 12 s window
    assert queue.pop(10.0) is None
    assert queue.pop(11.5) is None
    assert queue.next_timer() == 12.0
    assert pop_all(queue, 12.0) == ["p"]


@pytest.mark.parametrize("failed_at", [10.0, 10.3, 10.9])
def test_pop_from_backoff_aligns_backoff_to_whole_second_windows(failed_at: float) -> None:
    """The expiry (failure + 1 s) is truncated to its second, and the pod backs off until the
    window after it (isPodBackingoff: ``!expiry.Before(alignToWindow(now))``): failed at
    10.0, 10.3 or 10.9, an event at 11.5 still finds it backing off, flushed at 12.0; an
    event at 12.0 sends it straight to activeQ."""
    queue = SchedulingQueue(pop_from_backoff=True)
    failed(queue, "p", failed_at)
    queue.move_all(11.5)
    assert queue.next_timer() == 12.0
    later = SchedulingQueue(pop_from_backoff=True)
    failed(later, "p", failed_at)
    later.move_all(12.0)
    assert later.next_timer() is None and later.has_active


def test_backoff_queue_orders_a_window_by_priority_then_failure_time() -> None:
    """Pods whose backoff ends in the same window pop by priority, then the earlier failure
    (lessBackoffCompletedWithPriority); an earlier window comes first whatever the
    priority."""
    queue = SchedulingQueue(pop_from_backoff=True)
    failed(queue, "early-low", 9.0, priority=0)  # expiry 10
    failed(queue, "late-low", 10.6, priority=0)  # expiry 11
    failed(queue, "mid-low", 10.2, priority=0)  # expiry 11
    failed(queue, "high", 10.8, priority=5)  # expiry 11
    assert queue.move_all(10.9) == 4
    assert pop_all(queue, 10.9) == ["early-low", "high", "mid-low", "late-low"]
