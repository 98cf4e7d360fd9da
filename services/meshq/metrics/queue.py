"""Queue metrics: counters and histograms pushed from the engine's hooks, gauges read at scrape.

``PrometheusQueueObserver`` is the engine's ``observer=``: the engine loop has no metric calls
of its own (as dramatiq's Prometheus middleware keeps them out of the worker).
``QueueStatsCollector`` reads ``list_rooms()`` / ``list_queues(room)`` when Prometheus scrapes,
so gauges are never stale and cost nothing between scrapes.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, NamedTuple

from prometheus_client import CollectorRegistry, Counter
from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from meshq.core.errors import NotFound
from meshq.metrics.batch_histogram import HistogramSeries
from meshq.metrics.definitions import QUEUE_GAUGES, QueueMetrics, metrics_for
from meshq.queue.model import Delivery, QueueInfo
from meshq.queue.observer import QueueObserver

if TYPE_CHECKING:
    from meshq.queue.backend import QueueBackend

logger = logging.getLogger(__name__)

SNAPSHOT_TIMEOUT_SECONDS = 5.0  # a scrape waits this long for the engine's loop, then skips


class PrometheusQueueObserver(QueueObserver):
    """Moves the queue counters, histograms and the open-streams gauge."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self._m = metrics_for(QueueMetrics, registry)
        # The labelled children of the per-delivery metrics, per (room, queue): ``labels()``
        # costs a lock and a dict lookup per call, on the hottest paths of the engine.
        self._children: dict[tuple[str, str], _Children] = {}

    def _for(self, room: str, queue: str) -> _Children:
        children = self._children.get((room, queue))
        if children is None:
            m = self._m
            children = self._children[(room, queue)] = _Children(
                m.sent.labels(room, queue), m.delivered.labels(room, queue),
                m.time_in_queue.labels(room, queue), m.redelivered.labels(room, queue),
                m.acked.labels(room, queue), m.held.labels(room, queue))
        return children

    def sent(self, room: str, queue: str, count: int) -> None:
        if count > 0:
            self._for(room, queue).sent.inc(count)

    def delivered(self, room: str, queue: str, deliveries: Sequence[Delivery], now: float) -> None:
        if not deliveries:
            return
        children = self._for(room, queue)
        children.delivered.inc(len(deliveries))
        first = [now - d.enqueued_at for d in deliveries if d.attempt <= 1]
        if first:
            children.time_in_queue.observe_many(first)
        if len(first) < len(deliveries):
            children.redelivered.inc(len(deliveries) - len(first))

    def acked(self, room: str, queue: str, held_seconds: Sequence[float]) -> None:
        if not held_seconds:
            return
        children = self._for(room, queue)
        children.acked.inc(len(held_seconds))
        children.held.observe_many(held_seconds)

    def nacked(self, room: str, queue: str, count: int) -> None:
        if count > 0:
            self._m.nacked.labels(room, queue).inc(count)

    def lease_expired(self, room: str, queue: str, count: int) -> None:
        if count > 0:
            self._m.lease_expired.labels(room, queue).inc(count)

    def dead_lettered(self, room: str, queue: str, count: int) -> None:
        if count > 0:
            self._m.dead_lettered.labels(room, queue).inc(count)

    def stale_settled(self, room: str, queue: str, count: int) -> None:
        if count > 0:
            self._m.stale_settled.labels(room, queue).inc(count)

    def rate_limit_waited(self, room: str, queue: str, seconds: float) -> None:
        if seconds > 0:
            self._m.rate_limit_wait.labels(room, queue).inc(seconds)

    def stream_opened(self, room: str, queue: str) -> None:
        self._m.open_streams.labels(room, queue).inc()

    def stream_closed(self, room: str, queue: str) -> None:
        self._m.open_streams.labels(room, queue).dec()


class _Children(NamedTuple):
    sent: Counter
    delivered: Counter
    time_in_queue: HistogramSeries
    redelivered: Counter
    acked: Counter
    held: HistogramSeries


class QueueStatsCollector(Collector):
    """Queue gauges (depth, in flight, delayed, dead-lettered, oldest age) read at scrape time.

    Prometheus scrapes on the metrics server's thread while the engine lives on an event loop;
    given ``loop``, the collector reads the engine on that loop (waiting at most ``timeout``)
    so it never sees the engine's state half-changed. Without ``loop`` it reads directly
    (tests, or a caller already on the loop).
    """

    def __init__(
        self,
        engine: QueueBackend,
        *,
        loop: asyncio.AbstractEventLoop | None = None,
        timeout: float = SNAPSHOT_TIMEOUT_SECONDS,
    ) -> None:
        self._engine = engine
        self._loop = loop
        self._timeout = timeout

    def describe(self) -> Iterable[Metric]:
        """Nothing: registering the collector must not touch the engine."""
        return []

    def collect(self) -> Iterable[Metric]:
        families = [
            GaugeMetricFamily(name, doc, labels=["room", "queue"]) for name, doc in QUEUE_GAUGES
        ]
        for room, info in self._snapshot():
            labels = [room, info.name]
            values = (
                info.depth,
                info.in_flight,
                info.delayed,
                info.dead_lettered,
                info.oldest_age_seconds,
            )
            for family, value in zip(families, values, strict=True):
                family.add_metric(labels, float(value))
        return families

    def _snapshot(self) -> list[tuple[str, QueueInfo]]:
        loop = self._loop
        if loop is None or _safe_here(loop):
            return self._read()
        try:
            future = asyncio.run_coroutine_threadsafe(self._read_async(), loop)
        except RuntimeError:  # the loop is closed: the server is going away
            return []
        try:
            return future.result(self._timeout)
        except concurrent.futures.TimeoutError:
            future.cancel()
            logger.warning(
                "queue stats skipped: the engine's loop did not answer in %.1fs", self._timeout
            )
            return []

    async def _read_async(self) -> list[tuple[str, QueueInfo]]:
        """Through the ``QueueBackend`` reads: any backend, on its loop."""
        stats: list[tuple[str, QueueInfo]] = []
        if not self._engine.healthy:  # a failed commit: it refuses all calls
            return stats
        for room in await self._engine.list_rooms():
            try:
                queues = await self._engine.list_queues(room.name)
            except NotFound:  # deleted between the two calls
                continue
            stats.extend((room.name, info) for info in queues)
        return stats

    def _read(self) -> list[tuple[str, QueueInfo]]:
        """Synchronously, from the embedded engine's registry (a backend without one has
        no synchronous reads: its gauges are read only through ``loop``)."""
        stats: list[tuple[str, QueueInfo]] = []
        registry = getattr(self._engine, "registry", None)
        if registry is None or not self._engine.healthy:
            return stats
        for room in registry.list_rooms():
            try:
                queues = registry.list_queues(room.name)
            except NotFound:  # deleted between the two calls
                continue
            stats.extend((room.name, info) for info in queues)
        return stats


def _safe_here(loop: asyncio.AbstractEventLoop) -> bool:
    """True when reading the engine directly is safe: on its loop, or while it is not running."""
    if not loop.is_running():
        return True
    try:
        return asyncio.get_running_loop() is loop
    except RuntimeError:
        return False
