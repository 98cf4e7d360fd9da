"""Queue gauges with several replicas: exported by one replica at a time.

Depth, in-flight, delayed, dead-lettered and oldest-age are read from the shared tables, so
every replica would report the same figures and a dashboard summing over instances would
count each queue once per replica. Instead the replica that holds the session advisory lock
``EXPORTER_LOCK`` (on a connection of its own) exports them; the others export none. When
the exporter dies its session ends, the lock is free, and another replica takes it within
``REFRESH_SECONDS``. ``meshq_queue_gauges_exporter`` (1 on the exporter, 0 elsewhere) says
which one it is. Counters and histograms (sends, deliveries, acks...) stay per replica and
are summed as before: each event happens on exactly one replica.

The figures are refreshed in the background every ``REFRESH_SECONDS``; a scrape returns the
latest snapshot and never waits for the database.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterable
from typing import Any

import asyncpg
from prometheus_client import CollectorRegistry
from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from meshq.core.errors import NotFound
from meshq.core.tasks import cancel_and_wait
from meshq.metrics.definitions import QUEUE_GAUGES
from meshq.postgres.pool import CONNECT_TIMEOUT
from meshq.queue.backend import QueueBackend
from meshq.queue.model import QueueInfo

logger = logging.getLogger(__name__)

EXPORTER_LOCK = 0x6D65_7368_7100_0002  # "meshq" + 2: the queue-gauge exporter's lease
REFRESH_SECONDS = 5.0


class ExporterGauges(Collector):
    """Queue gauges of the shared database, on the replica holding the exporter lock."""

    def __init__(self, backend: QueueBackend, url: str) -> None:
        self._backend = backend
        self._url = url
        self._snapshot: list[tuple[str, QueueInfo]] = []
        self._exporter = False
        self._conn: asyncpg.Connection | None = None
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(),
                                                            name="meshq-pg-gauges")

    async def stop(self) -> None:
        await cancel_and_wait(self._task)
        self._task = None
        await self._drop()

    def cancel(self) -> None:
        """Stop at once (a synchronous shutdown callback): the lock goes with the session."""
        if self._task is not None:
            self._task.cancel()
            self._task = None
        if self._conn is not None:
            self._conn.terminate()
            self._conn = None

    def describe(self) -> Iterable[Metric]:
        return []

    def collect(self) -> Iterable[Metric]:
        families = [GaugeMetricFamily(name, doc, labels=["room", "queue"])
                    for name, doc in QUEUE_GAUGES]
        for room, info in self._snapshot:
            values = (info.depth, info.in_flight, info.delayed, info.dead_lettered,
                      info.oldest_age_seconds)
            for family, value in zip(families, values, strict=True):
                family.add_metric([room, info.name], float(value))
        exporter = GaugeMetricFamily(
            "meshq_queue_gauges_exporter",
            "1 on the replica that exports the queue gauges of the shared database, else 0")
        exporter.add_metric([], 1.0 if self._exporter else 0.0)
        return [*families, exporter]

    async def _run(self) -> None:
        while True:
            try:
                self._exporter = await self._hold_lock()
                self._snapshot = await self._read() if self._exporter else []
            except asyncio.CancelledError:
                raise
            except Exception as err:  # unreachable: try again next round
                logger.debug("queue gauges not refreshed: %s", err)
                self._exporter = False
                self._snapshot = []
                await self._drop()
            await asyncio.sleep(REFRESH_SECONDS)

    async def _hold_lock(self) -> bool:
        if self._conn is None or self._conn.is_closed():
            self._conn = await asyncpg.connect(self._url, timeout=CONNECT_TIMEOUT)
            self._exporter = False
        if self._exporter:
            await self._conn.fetchval("SELECT 1")  # still our session: still our lock
            return True
        return bool(await self._conn.fetchval("SELECT pg_try_advisory_lock($1)", EXPORTER_LOCK))

    async def _read(self) -> list[tuple[str, QueueInfo]]:
        out: list[tuple[str, QueueInfo]] = []
        for room in await self._backend.list_rooms():
            try:
                out.extend((room.name, q) for q in await self._backend.list_queues(room.name))
            except NotFound:
                continue
        return out

    async def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None and not conn.is_closed():
            with contextlib.suppress(Exception):
                await asyncio.wait_for(conn.close(), timeout=2.0)


def register_queue_gauges(registry: CollectorRegistry, stack: Any) -> ExporterGauges:
    """Register and start the exporter-lease gauges for a stack on PostgreSQL."""
    gauges = ExporterGauges(stack.context.engine, str(stack.context.settings.database.url))
    registry.register(gauges)
    gauges.start()
    stack.extras.append(gauges.cancel)
    return gauges
