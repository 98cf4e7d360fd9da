"""Queue metrics move as a scripted flow runs through a real QueueEngine (in-memory store).

The engine's clock is the wall clock plus an offset the test moves forward, so waiting times
are known without sleeping; lease expiry runs on the engine's real loop timer.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest
from prometheus_client import CollectorRegistry

from meshq.metrics.queue import PrometheusQueueObserver, QueueStatsCollector
from meshq.queue.engine import QueueEngine
from meshq.queue.memory_store import MemoryQueueStore
from meshq.queue.model import NackItem, NewMessage, QueueOptions, SettleOutcome

from .conftest import value

ROOM, QUEUE = "room-a", "jobs"
LABELS = {"room": ROOM, "queue": QUEUE}


@dataclass
class Clock:
    offset: float = 0.0
    start: float = field(default_factory=time.time)

    def __call__(self) -> float:
        return time.time() + self.offset

    def advance(self, seconds: float) -> None:
        self.offset += seconds


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def engine(registry: CollectorRegistry, clock: Clock) -> AsyncIterator[QueueEngine]:
    engine = QueueEngine(
        MemoryQueueStore(), observer=PrometheusQueueObserver(registry), clock=clock
    )
    await engine.start()
    await engine.open_queue(ROOM, QUEUE, QueueOptions(max_deliveries=2))
    registry.register(QueueStatsCollector(engine))
    yield engine
    await engine.close()


def metric(registry: CollectorRegistry, name: str, queue: str = QUEUE, **labels: str) -> float:
    return value(registry, name, room=ROOM, queue=queue, **labels)


async def send(engine: QueueEngine, *bodies: str, delay: float = 0.0) -> None:
    await engine.send(ROOM, QUEUE, [NewMessage(body=b, delay_seconds=delay) for b in bodies])


async def test_send_deliver_ack_count_and_time_waiting_and_held(
    engine: QueueEngine, registry: CollectorRegistry, clock: Clock
) -> None:
    # Given three messages sent, which then wait 2 s
    await send(engine, '"a"', '"b"', '"c"')
    clock.advance(2.0)

    # When they are delivered, then two are acked 0.3 s later
    deliveries = await engine.receive(ROOM, QUEUE, max_messages=3)
    clock.advance(0.3)
    await engine.ack(ROOM, QUEUE, [d.lease_token for d in deliveries[:2]])

    # Then sends, deliveries and acks count, time in queue saw three ~2 s waits,
    # delivery-to-ack two ~0.3 s holds
    assert metric(registry, "meshq_messages_sent_total") == 3
    assert metric(registry, "meshq_messages_delivered_total") == 3
    assert metric(registry, "meshq_messages_redelivered_total") == 0
    assert metric(registry, "meshq_messages_acked_total") == 2
    assert metric(registry, "meshq_time_in_queue_seconds_count") == 3
    assert metric(registry, "meshq_time_in_queue_seconds_bucket", le="1.0") == 0
    assert metric(registry, "meshq_time_in_queue_seconds_bucket", le="2.5") == 3
    assert metric(registry, "meshq_delivery_to_ack_seconds_count") == 2
    assert metric(registry, "meshq_delivery_to_ack_seconds_bucket", le="0.25") == 0
    assert metric(registry, "meshq_delivery_to_ack_seconds_bucket", le="0.5") == 2
    # and the gauges show one message still in flight, none ready
    assert metric(registry, "meshq_queue_in_flight_messages") == 1
    assert metric(registry, "meshq_queue_depth_messages") == 0


async def test_nack_redelivery_and_stale_ack(
    engine: QueueEngine, registry: CollectorRegistry
) -> None:
    # Given a delivered message that is acked once
    await send(engine, '"x"', '"y"')
    first, second = await engine.receive(ROOM, QUEUE, max_messages=2)
    await engine.ack(ROOM, QUEUE, [first.lease_token])

    # When its token is acked again, and the other message is nacked and received again
    outcomes = await engine.ack(ROOM, QUEUE, [first.lease_token])
    await engine.nack(ROOM, QUEUE, [NackItem(lease_token=second.lease_token, error="boom")])
    (again,) = await engine.receive(ROOM, QUEUE)

    # Then the second ack is stale, the nack counts, and the redelivery counts as one but
    # adds no time-in-queue sample (that is for first deliveries)
    assert outcomes == [SettleOutcome.STALE]
    assert again.message_id == second.message_id
    assert metric(registry, "meshq_stale_settles_total") == 1
    assert metric(registry, "meshq_messages_nacked_total") == 1
    assert metric(registry, "meshq_messages_delivered_total") == 3
    assert metric(registry, "meshq_messages_redelivered_total") == 1
    assert metric(registry, "meshq_time_in_queue_seconds_count") == 2


async def test_lease_expiry_then_dead_letter(
    engine: QueueEngine, registry: CollectorRegistry
) -> None:
    # Given a queue that dead-letters on the second failed delivery, and one message
    await send(engine, '"poison"')

    # When its first lease expires unsettled (the engine's timer), and the redelivery is nacked
    await engine.receive(ROOM, QUEUE, lease_seconds=0.05)
    (again,) = await engine.receive(ROOM, QUEUE, wait_seconds=10.0)
    await engine.nack(ROOM, QUEUE, [NackItem(lease_token=again.lease_token, error="bad")])

    # Then one lease expired, the message was dead-lettered, and the gauges say where it is
    assert metric(registry, "meshq_lease_expirations_total") == 1
    assert metric(registry, "meshq_messages_dead_lettered_total") == 1
    assert metric(registry, "meshq_messages_redelivered_total") == 1
    assert metric(registry, "meshq_queue_dead_lettered_messages") == 1
    assert metric(registry, "meshq_queue_depth_messages", queue=QUEUE + ".dlq") == 1
    assert metric(registry, "meshq_queue_depth_messages") == 0


async def test_gauges_read_at_scrape_time(
    engine: QueueEngine, registry: CollectorRegistry, clock: Clock
) -> None:
    # Given two ready messages, one delayed, and 40 s passing
    await send(engine, '"1"', '"2"')
    await send(engine, '"later"', delay=3600.0)
    clock.advance(40.0)

    # Then a scrape reads depth, delayed and the oldest message's age from the engine
    assert metric(registry, "meshq_queue_depth_messages") == 2
    assert metric(registry, "meshq_queue_delayed_messages") == 1
    assert metric(registry, "meshq_queue_in_flight_messages") == 0
    assert 40.0 <= metric(registry, "meshq_queue_oldest_message_age_seconds") < 45.0

    # When both ready messages are consumed, the next scrape follows
    for delivery in await engine.receive(ROOM, QUEUE, max_messages=2):
        await engine.ack(ROOM, QUEUE, [delivery.lease_token])
    assert metric(registry, "meshq_queue_depth_messages") == 0
    assert metric(registry, "meshq_queue_oldest_message_age_seconds") == 0


async def test_open_streams_follow_subscribe_and_close(
    engine: QueueEngine, registry: CollectorRegistry
) -> None:
    # When two streams open and one closes
    first = await engine.subscribe(ROOM, QUEUE, max_in_flight=4)
    second = await engine.subscribe(ROOM, QUEUE, max_in_flight=4)
    opened = metric(registry, "meshq_open_streams")
    await first.close()
    await first.close()  # closing twice counts once

    # Then the gauge went to two, and back to one
    assert opened == 2
    assert metric(registry, "meshq_open_streams") == 1
    await second.close()
    assert metric(registry, "meshq_open_streams") == 0


async def test_the_collector_reads_the_engine_on_its_own_loop(
    engine: QueueEngine, registry: CollectorRegistry
) -> None:
    # Given a collector told the engine's loop, as the metrics server thread uses it
    await send(engine, '"q"')
    collector = QueueStatsCollector(engine, loop=asyncio.get_running_loop())

    # When a scrape happens on another thread (the loop stays free to answer)
    families = await asyncio.to_thread(lambda: list(collector.collect()))

    # Then it got the engine's numbers through the loop
    depth = next(f for f in families if f.name == "meshq_queue_depth_messages")
    assert [(s.labels, s.value) for s in depth.samples] == [(LABELS, 1.0)]
