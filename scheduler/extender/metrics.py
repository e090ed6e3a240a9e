"""The webhook's Prometheus metrics (prometheus-client), in a registry of their own.

Every :class:`WebhookMetrics` owns a fresh ``CollectorRegistry``, so several webhooks in one
process (tests, benchmarks) never share or clash over series; ``GET /metrics`` renders it
(:meth:`WebhookMetrics.render`). The series, all prefixed ``tessera_extender_``:

========================================  ===========  ==========================================
name                                      type         labels / meaning
========================================  ===========  ==========================================
``request_seconds``                       histogram    ``verb``: wall time of each verb's request
``requests_total``                        counter      ``verb``, ``outcome`` (``ok``, ``error``
                                                       — 200 with ``Error`` or an empty answer —,
                                                       ``bad_request``, ``too_large``)
``filter_nodes_total``                    counter      ``result``: ``passed``, ``failed``,
                                                       ``unresolvable`` — the filter decisions
``preemptions_total``                     counter      ``result``: ``victims`` or ``none``
``binds_total``                           counter      ``result``: ``bound``, ``already_bound``,
                                                       ``failed``
``gang_plans_total``                      counter      ``result``: ``planned``, ``unschedulable``,
                                                       ``waiting`` (quorum), ``released``,
                                                       ``expired``
``gang_preemptions_total``                counter      ``result``: ``started``, ``completed``
                                                       (victims gone), ``expired``, ``refused``
                                                       — gangs preempting (``--preempt-gangs``)
``evictions_total``                       counter      ``result``: ``evicted``, ``failed`` —
                                                       victims' condition + DELETE written
``gang_held_binds``                       gauge        gang members whose bind is held now
``gang_hold_seconds``                     histogram    first held bind of a gang to its release
``gang_releases_total``                   counter      ``outcome``: ``bound``, ``expired``,
                                                       ``failed``
``assumed_pods``                          gauge        pods assumed in the cache (planned gang
                                                       members, binds not yet seen)
``dra_predictions_total``                 counter      predicted claim allocations checked
                                                       against the allocation written
``dra_prediction_mismatches_total``       counter      ... that differed (other devices)
``cache_age_seconds``                     gauge        seconds since the last cluster event
``cache_objects``                         gauge        ``kind``: objects in the cache
========================================  ===========  ==========================================
"""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

__all__ = ["CONTENT_TYPE", "WebhookMetrics"]

CONTENT_TYPE = CONTENT_TYPE_LATEST
"""The ``Content-Type`` of :meth:`WebhookMetrics.render`."""

_PREFIX = "tessera_extender_"
_LATENCY_BUCKETS = (
    0.0005,
    0.001,
    0.002,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
    60.0,
    120.0,
)


class WebhookMetrics:
    """The metric families (see the module docstring) in their own registry."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self._refresh: list[Callable[[WebhookMetrics], None]] = []
        r = self.registry
        self.request_seconds = Histogram(
            _PREFIX + "request_seconds",
            "Wall time of extender requests, by verb.",
            ["verb"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.requests = Counter(
            _PREFIX + "requests",
            "Extender requests by verb and outcome.",
            ["verb", "outcome"],
            registry=r,
        )
        self.filter_nodes = Counter(
            _PREFIX + "filter_nodes",
            "Filter decisions per candidate node.",
            ["result"],
            registry=r,
        )
        self.preemptions = Counter(
            _PREFIX + "preemptions",
            "Preempt answers: with victims or none.",
            ["result"],
            registry=r,
        )
        self.binds = Counter(_PREFIX + "binds", "Bind outcomes.", ["result"], registry=r)
        self.gang_plans = Counter(
            _PREFIX + "gang_plans", "Gang plan events.", ["result"], registry=r
        )
        self.gang_preemptions = Counter(
            _PREFIX + "gang_preemptions",
            "Gang preemptions carried out by the webhook, by outcome.",
            ["result"],
            registry=r,
        )
        self.evictions = Counter(
            _PREFIX + "evictions",
            "Preemption victims evicted by the webhook (condition, then DELETE).",
            ["result"],
            registry=r,
        )
        self.gang_held = Gauge(
            _PREFIX + "gang_held_binds", "Gang members whose bind is held now.", registry=r
        )
        self.gang_hold_seconds = Histogram(
            _PREFIX + "gang_hold_seconds",
            "Seconds from a gang's first held bind to its release.",
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.gang_releases = Counter(
            _PREFIX + "gang_releases", "Gang hold outcomes.", ["outcome"], registry=r
        )
        self.assumed_pods = Gauge(
            _PREFIX + "assumed_pods", "Pods assumed in the cache.", registry=r
        )
        self.predictions = Counter(
            _PREFIX + "dra_predictions",
            "Predicted claim allocations checked against the written allocation.",
            registry=r,
        )
        self.prediction_mismatches = Counter(
            _PREFIX + "dra_prediction_mismatches",
            "Predicted claim allocations that differed from the written allocation.",
            registry=r,
        )
        self.cache_age = Gauge(
            _PREFIX + "cache_age_seconds", "Seconds since the last cluster event.", registry=r
        )
        self.cache_objects = Gauge(
            _PREFIX + "cache_objects", "Objects in the cache, by kind.", ["kind"], registry=r
        )

    def on_scrape(self, refresh: Callable[[WebhookMetrics], None]) -> None:
        """Call ``refresh(self)`` before each :meth:`render` (it sets the live gauges and
        catches the counters up with state kept elsewhere)."""
        self._refresh.append(refresh)

    def render(self) -> bytes:
        """The exposition text of every series."""
        for refresh in self._refresh:
            refresh(self)
        return generate_latest(self.registry)
