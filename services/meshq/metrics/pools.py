"""Pool metrics: replicas wanted and running, jobs, restarts; series dropped with the pool."""

from __future__ import annotations

import threading

from prometheus_client import CollectorRegistry
from prometheus_client.metrics import MetricWrapperBase

from meshq.metrics.definitions import PoolMetrics, metrics_for
from meshq.pools.observer import PoolObserver

JOB_OUTCOMES = ("done", "failed")


class PrometheusPoolObserver(PoolObserver):
    """Pass as ``ctx.settings["pool_observer"]``.

    The supervisor reports job counts as totals since the pool started; the observer turns
    them into counter increments (a total that went down means the pool restarted: count it
    from zero again), so ``rate()`` works across restarts as Prometheus expects.
    """

    def __init__(self, registry: CollectorRegistry) -> None:
        self._m = metrics_for(PoolMetrics, registry)
        self._last: dict[tuple[str, str, str, str], int] = {}
        self._lock = threading.Lock()

    def replicas(self, pool: str, room: str, queue: str, wanted: int, running: int) -> None:
        self._m.wanted.labels(pool, room, queue).set(wanted)
        self._m.running.labels(pool, room, queue).set(running)

    def jobs(
        self, pool: str, room: str, queue: str, *, in_flight: int, done: int, failed: int
    ) -> None:
        self._m.in_flight.labels(pool, room, queue).set(in_flight)
        for outcome, total in zip(JOB_OUTCOMES, (done, failed), strict=True):
            key = (pool, room, queue, outcome)
            with self._lock:
                last = self._last.get(key, 0)
                self._last[key] = total
            increment = total - last if total >= last else total
            # Touch the series even at 0 so that rate() has it from the pool's first pass.
            self._m.jobs.labels(*key).inc(max(0, increment))

    def restarted(self, pool: str, room: str, queue: str, index: int) -> None:
        self._m.restarts.labels(pool, room, queue).inc()

    def removed(self, pool: str, room: str, queue: str) -> None:
        labels = (pool, room, queue)
        m = self._m
        for metric in (m.wanted, m.running, m.in_flight, m.restarts):
            _forget(metric, labels)
        for outcome in JOB_OUTCOMES:
            _forget(m.jobs, (*labels, outcome))
            with self._lock:
                self._last.pop((*labels, outcome), None)


def _forget(metric: MetricWrapperBase, labels: tuple[str, ...]) -> None:
    """Drop one labelled series if it exists (``remove`` raises KeyError when it does not)."""
    try:
        metric.remove(*labels)
    except KeyError:
        pass
