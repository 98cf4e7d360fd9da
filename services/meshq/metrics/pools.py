"""Pool metrics: replicas wanted and running, jobs, restarts; series dropped with the pool."""

from __future__ import annotations

import threading
from collections.abc import Sequence

from prometheus_client import CollectorRegistry
from prometheus_client.metrics import MetricWrapperBase

from meshq.metrics.definitions import PoolMetrics, metrics_for
from meshq.metrics.worker import PrometheusWorkerObserver
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
        self._workers = PrometheusWorkerObserver(registry)
        self._last: dict[tuple[str, str, str, str], int] = {}
        self._lock = threading.Lock()

    def replicas(self, pool: str, room: str, queue: str, wanted: int, running: int) -> None:
        self._workers.worker_started(queue)  # its replicas' worker series exist from now
        self._m.restarts.labels(pool, room, queue)  # at 0 until the first restart
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

    def unsubscribed(self, pool: str, room: str, queue: str, count: int) -> None:
        self._m.unsubscribed.labels(pool, room, queue).set(count)

    def worker_activity(self, pool: str, room: str, queue: str, *,
                        jobs: Sequence[tuple[str, float]],
                        tokens: Sequence[tuple[str, int, int]],
                        retries: Sequence[float] = ()) -> None:
        """Pool actors' jobs and tokens land in the worker metrics (``meshq_worker_*``,
        ``meshq_llm_tokens_total``), like those of a `process join` agent."""
        for outcome, seconds in jobs:
            self._workers.job_finished(queue, outcome, seconds)
        for model, input_tokens, output_tokens in tokens:
            self._workers.llm_tokens(model, input_tokens, output_tokens)
        for backoff in retries:
            self._workers.receive_retry(queue, backoff)

    def backend_restarted(self, backend: str) -> None:
        self._m.backend_restarts.labels(backend).inc()

    def restarted(self, pool: str, room: str, queue: str, index: int) -> None:
        self._m.restarts.labels(pool, room, queue).inc()

    def removed(self, pool: str, room: str, queue: str) -> None:
        labels = (pool, room, queue)
        m = self._m
        for metric in (m.wanted, m.running, m.in_flight, m.restarts, m.unsubscribed):
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
