"""meshq_rate_limit_wait_seconds_total: the time deliveries waited on a queue's rate limit."""

from __future__ import annotations

from prometheus_client import CollectorRegistry

from meshq.metrics.queue import PrometheusQueueObserver
from meshq.queue.engine import QueueEngine
from meshq.queue.memory_store import MemoryQueueStore
from meshq.queue.model import NewMessage, QueueOptions

from .conftest import value
from .test_queue_metrics import LABELS, QUEUE, ROOM


class FakeClock:
    """Seconds that move only when the test says so (the engine's wall and monotonic clock)."""

    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


async def test_time_waiting_on_the_rate_limit_is_counted(registry: CollectorRegistry) -> None:
    clock = FakeClock()
    engine = QueueEngine(MemoryQueueStore(), observer=PrometheusQueueObserver(registry),
                         clock=clock)
    await engine.start()
    try:
        # Given a queue limited to 2 deliveries a second, its burst of 1 spent
        await engine.open_queue(ROOM, QUEUE, QueueOptions(rate_limit=2, rate_burst=1))
        await engine.send(ROOM, QUEUE, [NewMessage(body="1"), NewMessage(body="2")])
        assert len(await engine.receive(ROOM, QUEUE, auto_ack=True)) == 1
        # When a consumer finds no token, and gets one 0.5 s later
        assert await engine.receive(ROOM, QUEUE, auto_ack=True) == []
        clock.advance(0.5)
        assert len(await engine.receive(ROOM, QUEUE, auto_ack=True)) == 1
        # Then those 0.5 s were spent waiting on the limit
        assert value(registry, "meshq_rate_limit_wait_seconds_total", **LABELS) == 0.5
    finally:
        await engine.close()
