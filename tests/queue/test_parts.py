"""Properties of the embedded engine's parts: tokens, clocks, observers, the cold index."""

from __future__ import annotations

import asyncio
import base64
import json
import tracemalloc
from collections.abc import Sequence
from pathlib import Path

from conftest import FakeClock

from meshq.queue.engine import QueueEngine
from meshq.queue.memory_store import MemoryQueueStore
from meshq.queue.model import Delivery, NackItem, NewMessage, QueueOptions, SettleOutcome
from meshq.queue.observer import QueueObserver
from meshq.queue.sqlite_store import SqliteQueueStore
from meshq.queue.store import StoredBody

R, Q = "room", "parts"


def msgs(n: int, body: str = '{"n": 1}') -> list[NewMessage]:
    return [NewMessage(body=body) for _ in range(n)]


async def test_lease_tokens_are_96_random_bits_each(tmp_path: Path) -> None:
    # Given many deliveries of one queue
    e = QueueEngine(SqliteQueueStore(tmp_path / "q.db"))
    await e.start()
    await e.send(R, Q, msgs(500), create=True)
    await e.send(R, Q, msgs(500))
    tokens = [d.lease_token for d in await e.receive(R, Q, max_messages=1000)]
    # Then each token is 12 random bytes: none shares a prefix with another, as a per-process
    # prefix plus a counter would
    raw = [base64.urlsafe_b64decode(t) for t in tokens]
    assert all(len(b) == 12 for b in raw)
    assert len({b[:4] for b in raw}) > 990
    await e.close()


async def test_a_wall_clock_step_neither_expires_leases_nor_ends_delays(tmp_path: Path) -> None:
    # Given a leased message and a delayed one, on separate wall and monotonic clocks
    wall, mono = FakeClock(), FakeClock(100.0)
    e = QueueEngine(SqliteQueueStore(tmp_path / "q.db"), clock=wall, monotonic=mono)
    await e.start()
    await e.send(R, Q, msgs(1), create=True)
    await e.send(R, Q, [NewMessage(body='"later"', delay_seconds=60)])
    [d] = await e.receive(R, Q, lease_seconds=30)
    assert d.lease_expires_at == wall.now + 30  # the instant is on the wall clock
    # When the wall clock jumps a day ahead (an NTP step)
    wall.advance(86_400)
    e.process_due()
    # Then the lease still holds and the delay still runs
    info = await e.queue_info(R, Q)
    assert (info.in_flight, info.delayed, info.depth) == (1, 1, 0)
    # And when 31 s really pass, the lease expires and (after 60 s) the delay ends
    mono.advance(31)
    e.process_due()
    assert (await e.queue_info(R, Q)).in_flight == 0
    mono.advance(30)
    e.process_due()
    assert (await e.queue_info(R, Q)).delayed == 0
    await e.close()


class Exploding(QueueObserver):
    def __init__(self) -> None:
        self.calls = 0

    def _boom(self) -> None:
        self.calls += 1
        raise RuntimeError("observer bug")

    def sent(self, room: str, queue: str, count: int) -> None:
        self._boom()

    def delivered(self, room: str, queue: str, deliveries: Sequence[Delivery], now: float) -> None:
        self._boom()

    def acked(self, room: str, queue: str, held_seconds: Sequence[float]) -> None:
        self._boom()

    def stream_opened(self, room: str, queue: str) -> None:
        self._boom()


async def test_an_observer_that_raises_never_strands_a_send_or_a_lease(tmp_path: Path) -> None:
    # Given an observer whose every hook raises
    observer = Exploding()
    e = QueueEngine(SqliteQueueStore(tmp_path / "q.db"), observer=observer)
    await e.start()
    # When messages are sent, delivered through a stream and acked
    await e.send(R, Q, msgs(3), create=True)
    sub = await e.subscribe(R, Q, max_in_flight=10)
    batch = await sub.next_batch()
    # Then everything happened anyway: three leased, then acked for good
    assert len(batch) == 3 and sub.unsettled == 3
    assert await e.ack(R, Q, [d.lease_token for d in batch]) == [SettleOutcome.OK] * 3
    assert sub.unsettled == 0 and (await e.queue_info(R, Q)).depth == 0
    assert observer.calls >= 4
    await sub.close()
    await e.close()


async def test_a_restart_loads_the_index_only_at_under_200_bytes_a_message(
        tmp_path: Path) -> None:
    # Given 20,000 messages of ~200 bytes on disk
    body = json.dumps({"job": "x" * 180})
    e = QueueEngine(SqliteQueueStore(tmp_path / "q.db"))
    await e.start()
    for _ in range(20):
        await e.send(R, Q, msgs(1000, body), create=True)
    await e.close()
    # When the engine restarts
    again = QueueEngine(SqliteQueueStore(tmp_path / "q.db"))
    tracemalloc.start()
    before = tracemalloc.take_snapshot()
    await again.start()
    after = tracemalloc.take_snapshot()
    tracemalloc.stop()
    grown = sum(s.size_diff for s in after.compare_to(before, "filename"))
    # Then memory grew by at most 200 bytes a message and no body was read
    assert grown / 20_000 <= 200, f"{grown / 20_000:.0f} bytes a message"
    q = again.registry.find(R, Q)
    assert q is not None and not q.msgs and q.n_ready == 20_000
    # And the bodies come from the store at delivery, in order
    first = await again.receive(R, Q, max_messages=1000)
    assert len(first) == 1000 and all(d.body == body for d in first)
    assert (await again.message_state(R, Q, first[0].message_id)).attempt == 1
    assert (await again.message_state(R, Q, (await again.peek(R, Q, 1))[0].message_id)
            ).state.value == "ready"
    await again.close()


class GatedReads(MemoryQueueStore):
    """A memory store whose body reads wait until the test opens the gate."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = asyncio.Event()
        self.reading = asyncio.Event()

    async def read(self, seqs: Sequence[int]) -> list[StoredBody]:
        self.reading.set()
        await self.gate.wait()
        return await super().read(seqs)


async def _cold_engine(store: MemoryQueueStore, n: int) -> QueueEngine:
    """An engine over ``store`` holding ``n`` cold messages (sent, then restarted)."""
    e = QueueEngine(store)
    await e.start()
    await e.send(R, Q, [NewMessage(body=str(i)) for i in range(n)], create=True)
    await e.close()
    e = QueueEngine(store)
    await e.start()
    return e


async def test_a_drain_while_bodies_are_read_delivers_nothing() -> None:
    # Given a consumer whose take waits for the bodies of cold messages
    store = GatedReads()
    e = await _cold_engine(store, 3)
    sub = await e.subscribe(R, Q, max_in_flight=10)
    taking = asyncio.create_task(sub.next_batch())
    await store.reading.wait()
    assert (await e.queue_info(R, Q)).in_flight == 3  # being read counts as in flight
    # When the queue is drained before the read returns
    assert await e.drain_queue(R, Q) == 3
    store.gate.set()
    await asyncio.sleep(0)
    # Then nothing is delivered or leased, and nothing is left
    assert not taking.done() or taking.result() == []
    info = await e.queue_info(R, Q)
    assert (info.depth, info.in_flight) == (0, 0) and sub.unsettled == 0
    await sub.close()
    taking.cancel()
    await e.close()


async def test_a_stream_closed_while_bodies_are_read_hands_them_back() -> None:
    # Given a consumer whose take waits for the bodies of cold messages
    store = GatedReads()
    e = await _cold_engine(store, 2)
    sub = await e.subscribe(R, Q, max_in_flight=10)
    taking = asyncio.create_task(sub.next_batch())
    await store.reading.wait()
    # When the stream closes first, then the read returns
    await sub.close()
    store.gate.set()
    assert await taking == []
    # Then both messages are ready again, attempt unchanged
    info = await e.queue_info(R, Q)
    assert (info.depth, info.in_flight) == (2, 0)
    got = await e.receive(R, Q, max_messages=5)
    assert [(d.body, d.attempt) for d in got] == [("0", 1), ("1", 1)]
    await e.close()


async def test_cold_dead_letters_redrive_after_a_restart(tmp_path: Path) -> None:
    # Given two dead-lettered messages, cold after a restart
    e = QueueEngine(SqliteQueueStore(tmp_path / "q.db"))
    await e.start()
    await e.open_queue(R, Q, QueueOptions(max_deliveries=1))
    await e.send(R, Q, [NewMessage(body='"a"'), NewMessage(body='"b"')])
    got = await e.receive(R, Q, max_messages=2)
    await e.nack(R, Q, [NackItem(lease_token=d.lease_token, error="bad") for d in got])
    await e.close()
    e = QueueEngine(SqliteQueueStore(tmp_path / "q.db"))
    await e.start()
    assert (await e.queue_info(R, Q)).dead_lettered == 2
    [peeked] = await e.peek(R, Q + ".dlq", 1)
    assert peeked.body == '"a"' and peeked.headers["x-meshq-last-error"] == "bad"
    # When one is redriven, then the other
    assert await e.redrive(R, Q, max_messages=1) == 1
    assert await e.redrive(R, Q) == 1
    # Then both are back, oldest first, attempts reset, headers kept, also after a restart
    await e.close()
    e = QueueEngine(SqliteQueueStore(tmp_path / "q.db"))
    await e.start()
    got = await e.receive(R, Q, max_messages=5)
    assert [(d.body, d.attempt, d.headers["x-meshq-last-error"]) for d in got] == [
        ('"a"', 1, "bad"), ('"b"', 1, "bad")]
    assert (await e.queue_info(R, Q)).dead_lettered == 0
    await e.close()


async def test_a_consumer_waiting_on_a_redrive_of_cold_dead_letters_sees_attempt_one(
        tmp_path: Path) -> None:
    # Given a dead-lettered message, cold after a restart, and a consumer long-polling its queue
    e = QueueEngine(SqliteQueueStore(tmp_path / "q.db"))
    await e.start()
    await e.open_queue(R, Q, QueueOptions(max_deliveries=1))
    await e.send(R, Q, [NewMessage(body='"a"')])
    [d] = await e.receive(R, Q)
    await e.nack(R, Q, [NackItem(lease_token=d.lease_token, error="bad")])
    await e.close()
    e = QueueEngine(SqliteQueueStore(tmp_path / "q.db"))
    await e.start()
    waiting = asyncio.ensure_future(e.receive(R, Q, wait_seconds=30))
    await asyncio.sleep(0)  # the consumer is parked on the empty queue
    # When the message is redriven: the consumer wakes while the reset is being committed
    assert await e.redrive(R, Q) == 1
    [got] = await waiting
    # Then it reads the row as the redrive left it: back in its queue, at attempt 1
    assert (got.body, got.attempt, got.queue) == ('"a"', 1, Q)
    await e.close()
